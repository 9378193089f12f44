/* Max and average pooling, PyTorch semantics (see ops.h). One OpenMP task
 * per (image, channel) plane, so backward scatters never race. */
#include "cpu_ops.h"
#include "cpu_parallel.h"

#include <math.h>
#include <string.h>

/* A window along one axis: [lo, hi) clipped to the input, and `span`, its
 * extent clipped only to the right padding, which is the average's divisor
 * (count_include_pad, minus what a ceil-mode window adds past the padding). */
typedef struct pool_span {
    int lo, hi, span;
} pool_span;

static pool_span window_at(int o, int k, int stride, int pad, int in)
{
    int start = o * stride - pad;
    int end = start + k < in + pad ? start + k : in + pad;
    pool_span s = {start < 0 ? 0 : start, end < in ? end : in, end - start};
    return s;
}

/* PyTorch's rule: a later element replaces the maximum only when strictly
 * greater, so ties keep the first; a NaN always replaces it, so a window
 * with a NaN yields NaN and sends its gradient to the last NaN. The window
 * is never empty (cnn_pool_init), so the start index is a real element. */
static int64_t window_argmax(const float *restrict x, int w, pool_span sh, pool_span sw)
{
    int64_t best = (int64_t)sh.lo * w + sw.lo;
    float m = -INFINITY;
    for (int ih = sh.lo; ih < sh.hi; ih++)
        for (int iw = sw.lo; iw < sw.hi; iw++) {
            float v = x[(int64_t)ih * w + iw];
            if (v > m || isnan(v)) {
                m = v;
                best = (int64_t)ih * w + iw;
            }
        }
    return best;
}

static float window_sum(const float *restrict x, int w, pool_span sh, pool_span sw)
{
    float acc = 0.0f;
    for (int ih = sh.lo; ih < sh.hi; ih++)
        for (int iw = sw.lo; iw < sw.hi; iw++)
            acc += x[(int64_t)ih * w + iw];
    return acc;
}

static void pool_fwd_plane(const cnn_pool_desc *d, const float *restrict x, float *restrict y)
{
    for (int p = 0; p < d->p; p++) {
        pool_span sh = window_at(p, d->kh, d->stride_h, d->pad_h, d->h);
        for (int q = 0; q < d->q; q++) {
            pool_span sw = window_at(q, d->kw, d->stride_w, d->pad_w, d->w);
            float v;
            if (d->mode == CNN_POOL_MAX)
                v = x[window_argmax(x, d->w, sh, sw)];
            else
                v = window_sum(x, d->w, sh, sw) / (float)(sh.span * sw.span);
            y[(int64_t)p * d->q + q] = v;
        }
    }
}

static void pool_bwd_plane(const cnn_pool_desc *d, const float *restrict x,
                           const float *restrict dy, float *restrict dx)
{
    memset(dx, 0, sizeof(float) * (size_t)d->h * (size_t)d->w);
    for (int p = 0; p < d->p; p++) {
        pool_span sh = window_at(p, d->kh, d->stride_h, d->pad_h, d->h);
        for (int q = 0; q < d->q; q++) {
            pool_span sw = window_at(q, d->kw, d->stride_w, d->pad_w, d->w);
            float g = dy[(int64_t)p * d->q + q];
            if (d->mode == CNN_POOL_MAX) {
                dx[window_argmax(x, d->w, sh, sw)] += g;
                continue;
            }
            g /= (float)(sh.span * sw.span);
            for (int ih = sh.lo; ih < sh.hi; ih++)
                for (int iw = sw.lo; iw < sw.hi; iw++)
                    dx[(int64_t)ih * d->w + iw] += g;
        }
    }
}

cnn_status cnn_cpu_pool_fwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, float *y, CNN_WS)
{
    (void)ws, (void)ws_size;
    const int64_t planes = (int64_t)d->n * d->c, in = (int64_t)d->h * d->w,
                  out = (int64_t)d->p * d->q;
    const int nt = cnn_cpu_team(ctx, planes * (in + out));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < planes; i++)
        pool_fwd_plane(d, x + i * in, y + i * out);
    return CNN_OK;
}

/* Average pooling ignores x and y; max pooling finds each window's argmax
 * again in x, which costs less than storing indices in forward. */
cnn_status cnn_cpu_pool_bwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, const float *y,
                            const float *dy, float *dx, CNN_WS)
{
    (void)y, (void)ws, (void)ws_size;
    if (d->mode == CNN_POOL_MAX && !x)
        return cnn_fail(CNN_ERR_INVALID_ARG, "maxpool2d backward needs the forward input x");
    const int64_t planes = (int64_t)d->n * d->c, in = (int64_t)d->h * d->w,
                  out = (int64_t)d->p * d->q;
    const int nt = cnn_cpu_team(ctx, planes * (in + out));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < planes; i++)
        pool_bwd_plane(d, x ? x + i * in : NULL, dy + i * out, dx + i * in);
    return CNN_OK;
}
