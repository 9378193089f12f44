#include "tensor.h"

#include <math.h>
#include <stdio.h>

const char *cnn_device_str(cnn_device d)
{
    switch (d) {
    case CNN_DEVICE_HOST: return "host";
    case CNN_DEVICE_CUDA: return "cuda";
    default: return "unknown";
    }
}

cnn_shape cnn_shape1(int64_t d0)
{
    return (cnn_shape){1, {d0}};
}

cnn_shape cnn_shape2(int64_t d0, int64_t d1)
{
    return (cnn_shape){2, {d0, d1}};
}

cnn_shape cnn_shape4(int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    return (cnn_shape){4, {d0, d1, d2, d3}};
}

int64_t cnn_shape_numel(const cnn_shape *s)
{
    /* INT64_MAX when the product overflows, so that a size check refuses it. */
    int64_t n = 1;
    bool over = false;
    for (int i = 0; i < s->ndim; i++) {
        if (s->dim[i] == 0)
            return 0;
        if (s->dim[i] > 0 && n > INT64_MAX / s->dim[i])
            over = true;
        else
            n *= s->dim[i];
    }
    return over ? INT64_MAX : n;
}

bool cnn_shape_eq(const cnn_shape *a, const cnn_shape *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dim[i] != b->dim[i])
            return false;
    return true;
}

char *cnn_shape_str(const cnn_shape *s, char *buf, size_t n)
{
    size_t used = 0;
    if (n == 0)
        return buf;
    buf[0] = '\0';
    if (s->ndim == 0)
        snprintf(buf, n, "scalar");
    for (int i = 0; i < s->ndim && used < n; i++) {
        int w = snprintf(buf + used, n - used, i ? "x%lld" : "%lld", (long long)s->dim[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

int64_t cnn_count_nonfinite(const float *x, int64_t n)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += !isfinite(x[i]);
    return bad;
}
