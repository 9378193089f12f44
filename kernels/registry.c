#include "registry.h"

#include <ctype.h>
#include <stdbool.h>
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

static bool named(const cnn_backend *be, const char *name, size_t len)
{
    return strlen(be->name) == len && strncmp(be->name, name, len) == 0;
}

/* The backend called name[0..len), the tables of `extra` first. */
static const cnn_backend *lookup(const char *name, size_t len, const cnn_backend *const *extra)
{
    for (const cnn_backend *const *t = extra; t && *t; t++)
        if (named(*t, name, len))
            return *t;
    for (int i = 0; i < cnn_backend_count(); i++)
        if (named(table[i], name, len))
            return table[i];
    return NULL;
}

const cnn_backend *cnn_backend_find(const char *name)
{
    return lookup(name, strlen(name), NULL);
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

/* ---- backend lists ---------------------------------------------------- */

static cnn_status unknown(const char *name, size_t len, const cnn_backend *const *extra)
{
    char names[512];
    cnn_backend_names(names, sizeof names);
    for (const cnn_backend *const *t = extra; t && *t; t++) {
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, ", %s", (*t)->name);
    }
    return cnn_fail(CNN_ERR_INVALID_ARG, "unknown backend '%.*s'; valid backends: %s", (int)len,
                    name, names);
}

cnn_status cnn_backend_resolve(const char *name, const cnn_backend *const *extra,
                               const cnn_backend **out)
{
    *out = lookup(name, strlen(name), extra);
    return *out ? CNN_OK : unknown(name, strlen(name), extra);
}

static cnn_status parse_list(const char *list, const cnn_backend *const *extra, int max,
                             const cnn_backend **out, int *n)
{
    const char *p = list ? list : "";
    while (isspace((unsigned char)*p))
        p++;
    if (!*p) {
        char names[512];
        return cnn_fail(CNN_ERR_INVALID_ARG, "the backend list is empty; give one or more of: %s",
                        cnn_backend_names(names, sizeof names));
    }
    for (int item = 1;; item++) {
        const char *end = strchr(p, ','), *stop = end ? end : p + strlen(p);
        while (p < stop && isspace((unsigned char)*p))
            p++;
        while (stop > p && isspace((unsigned char)stop[-1]))
            stop--;
        size_t len = (size_t)(stop - p);
        if (!len)
            return cnn_fail(CNN_ERR_INVALID_ARG, "backend list '%s': item %d is empty", list, item);
        const cnn_backend *be = lookup(p, len, extra);
        if (!be)
            return unknown(p, len, extra);
        for (int i = 0; i < *n; i++)
            if (out[i] == be)
                return cnn_fail(CNN_ERR_INVALID_ARG, "backend list '%s': %s is given twice", list,
                                be->name);
        if (*n == max)
            return cnn_fail(CNN_ERR_INVALID_ARG, "backend list '%s': more than %d backends", list,
                            max);
        out[(*n)++] = be;
        if (!end)
            return CNN_OK;
        p = end + 1;
    }
}

cnn_status cnn_backend_list_parse(const char *list, const cnn_backend *const *extra, int max,
                                  const cnn_backend **out, int *n)
{
    *n = 0;
    cnn_status st = parse_list(list, extra, max, out, n);
    if (st != CNN_OK)
        *n = 0;
    return st;
}

/* ---- fallbacks ------------------------------------------------------------ */

const char *const *cnn_default_fallbacks(cnn_device device)
{
    static const char *const host[] = {"onednn", "im2col", NULL};
    static const char *const cuda[] = {"cudnn", NULL};
    static const char *const none[] = {NULL};
    switch (device) {
    case CNN_DEVICE_HOST: return host;
    case CNN_DEVICE_CUDA: return cuda;
    default: return none;
    }
}

typedef struct order_acc {
    const cnn_backend **out;
    int n, max;
    cnn_device device;
} order_acc;

/* Append be unless it is there already, on another device or, as a
 * fallback (check), not usable here. */
static void order_add(order_acc *o, const cnn_backend *be, bool check)
{
    if (!be || o->n == o->max || be->device != o->device)
        return;
    for (int i = 0; i < o->n; i++)
        if (o->out[i] == be)
            return;
    char why[256];
    if (check && !cnn_backend_available(be, why, sizeof why))
        return;
    o->out[o->n++] = be;
}

static void order_add_named(order_acc *o, const char *name, const cnn_backend *const *extra)
{
    if (name)
        order_add(o, lookup(name, strlen(name), extra), true);
}

int cnn_backend_order(const cnn_backend *const *list, int n, const cnn_backend *const *extra,
                      const cnn_backend **out, int max)
{
    if (n < 1)
        return 0;
    order_acc o = {.out = out, .max = max, .device = list[0]->device};
    for (int i = 0; i < n; i++)
        order_add(&o, list[i], false);
    for (int i = 0; i < n; i++)
        order_add_named(&o, list[i]->fallback, extra);
    for (const char *const *d = cnn_default_fallbacks(o.device); *d; d++)
        order_add_named(&o, *d, extra);
    if (o.device == CNN_DEVICE_HOST)
        order_add_named(&o, "naive", extra);
    return o.n;
}
