#include "registry.h"

#include <stdio.h>
#include <string.h>

/* The tables of the backends compiled in (CNN_HAVE_<NAME>). */
static const cnn_backend *const table[] = {
    &cnn_backend_naive,
#ifdef CNN_HAVE_IM2COL
    &cnn_backend_im2col,
#endif
#ifdef CNN_HAVE_WINOGRAD
    &cnn_backend_winograd, &cnn_backend_winograd_f2x3, &cnn_backend_winograd_f4x3,
#endif
#ifdef CNN_HAVE_ONEDNN
    &cnn_backend_onednn,
#endif
#ifdef CNN_HAVE_CUDNN
    &cnn_backend_cudnn,
#endif
};

int cnn_backend_count(void)
{
    return (int)(sizeof table / sizeof table[0]);
}

const cnn_backend *cnn_backend_at(int i)
{
    return i >= 0 && i < cnn_backend_count() ? table[i] : NULL;
}

const cnn_backend *cnn_backend_find(const char *name)
{
    for (int i = 0; i < cnn_backend_count(); i++)
        if (strcmp(table[i]->name, name) == 0)
            return table[i];
    return NULL;
}

char *cnn_backend_names(char *buf, size_t n)
{
    size_t used = 0;
    if (n)
        buf[0] = '\0';
    for (int i = 0; i < cnn_backend_count() && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "", table[i]->name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}
