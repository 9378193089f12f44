/* Max and average pooling, PyTorch semantics (see ops.h). One OpenMP task
 * per (image, channel) plane, so backward scatters never race. */
#include "cpu_ops.h"
#include "cpu_parallel.h"

#include <limits.h>
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

/* Output columns q whose window holds input column q*stride + off, i.e.
 * q*stride + off in [0, in): [lo, hi), possibly empty. */
typedef struct q_range {
    int lo, hi;
} q_range;

static q_range columns_reading(int off, int stride, int in, int out)
{
    q_range g = {off >= 0 ? 0 : (-off + stride - 1) / stride, 0};
    g.hi = in - 1 - off < 0 ? 0 : (in - 1 - off) / stride + 1;
    g.hi = g.hi < out ? g.hi : out;
    g.lo = g.lo < g.hi ? g.lo : g.hi;
    return g;
}

/* Forward a row of outputs at a time: for each window element (ih, j), in
 * the window's row-major order, update every output of the row that reads
 * it, a loop over q the compiler vectorises. Maxima need no index here:
 * ties give the same value, and any NaN makes the result NaN. */
static void pool_fwd_plane(const cnn_pool_desc *d, const float *restrict x, float *restrict y)
{
    const bool max = d->mode == CNN_POOL_MAX;
    const int sw = d->stride_w;
    for (int p = 0; p < d->p; p++) {
        pool_span sh = window_at(p, d->kh, d->stride_h, d->pad_h, d->h);
        float *restrict yr = y + (int64_t)p * d->q;
        for (int q = 0; q < d->q; q++)
            yr[q] = max ? -INFINITY : 0.0f;
        for (int ih = sh.lo; ih < sh.hi; ih++) {
            const float *restrict xr = x + (int64_t)ih * d->w;
            for (int j = 0; j < d->kw; j++) {
                const int off = j - d->pad_w;
                q_range g = columns_reading(off, sw, d->w, d->q);
                if (max)
                    for (int q = g.lo; q < g.hi; q++) {
                        const float v = xr[q * sw + off];
                        yr[q] = v > yr[q] || v != v ? v : yr[q];
                    }
                else
                    for (int q = g.lo; q < g.hi; q++)
                        yr[q] += xr[q * sw + off];
            }
        }
        if (!max)
            for (int q = 0; q < d->q; q++)
                yr[q] /= (float)(sh.span * window_at(q, d->kw, sw, d->pad_w, d->w).span);
    }
}

/* Backward max pooling a chunk of one output row at a time, by the same
 * scan as forward, keeping each output's argmax by PyTorch's rule: a later
 * element replaces the maximum only when strictly greater, so ties keep the
 * first in row-major window order; a NaN always replaces it, so the
 * gradient goes to a window's last NaN. The argmax is kept as an offset
 * from the start of the window's first input row, -1 for none greater than
 * -inf yet (then the window's first real element, as in PyTorch): a 32-bit
 * lane beside the float maximum, so the scan vectorises (cnn_cpu_pool_bwd
 * checks that kh rows of input fit such an offset). Chunks keep the scratch
 * on the stack. */
#define ARGMAX_CHUNK 256

static void max_bwd_row(const cnn_pool_desc *d, const float *restrict x, int p,
                        const float *restrict dyr, float *restrict dx)
{
    const int sw = d->stride_w;
    const pool_span sh = window_at(p, d->kh, d->stride_h, d->pad_h, d->h);
    float m[ARGMAX_CHUNK];
    int arg[ARGMAX_CHUNK];
    for (int q0 = 0; q0 < d->q; q0 += ARGMAX_CHUNK) {
        const int q1 = d->q - q0 < ARGMAX_CHUNK ? d->q : q0 + ARGMAX_CHUNK;
        for (int i = 0; i < q1 - q0; i++)
            m[i] = -INFINITY, arg[i] = -1;
        for (int ih = sh.lo; ih < sh.hi; ih++) {
            const float *restrict xr = x + (int64_t)ih * d->w;
            for (int j = 0; j < d->kw; j++) {
                const int off = j - d->pad_w, at = (ih - sh.lo) * d->w + off;
                const q_range g = columns_reading(off, sw, d->w, d->q);
                const int lo = g.lo > q0 ? g.lo : q0, hi = g.hi < q1 ? g.hi : q1;
                float *restrict mq = m - q0;
                int *restrict aq = arg - q0;
                for (int q = lo; q < hi; q++) {
                    const float v = xr[q * sw + off];
                    const bool take = v > mq[q] || v != v;
                    mq[q] = take ? v : mq[q];
                    aq[q] = take ? at + q * sw : aq[q];
                }
            }
        }
        float *restrict row0 = dx + (int64_t)sh.lo * d->w;
        for (int q = q0; q < q1; q++) {
            const int start = q * sw - d->pad_w, a = arg[q - q0];
            row0[a >= 0 ? a : start > 0 ? start : 0] += dyr[q];
        }
    }
}

static void pool_bwd_plane(const cnn_pool_desc *d, const float *restrict x,
                           const float *restrict dy, float *restrict dx)
{
    memset(dx, 0, sizeof(float) * (size_t)d->h * (size_t)d->w);
    for (int p = 0; p < d->p; p++) {
        if (d->mode == CNN_POOL_MAX) {
            max_bwd_row(d, x, p, dy + (int64_t)p * d->q, dx);
            continue;
        }
        pool_span sh = window_at(p, d->kh, d->stride_h, d->pad_h, d->h);
        for (int q = 0; q < d->q; q++) {
            pool_span sw = window_at(q, d->kw, d->stride_w, d->pad_w, d->w);
            const float g = dy[(int64_t)p * d->q + q] / (float)(sh.span * sw.span);
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
    if (d->mode == CNN_POOL_MAX && (int64_t)d->kh * d->w > INT_MAX)
        return cnn_fail(CNN_ERR_UNSUPPORTED,
                        "maxpool2d backward: %d kernel rows of width %d exceed 32-bit offsets",
                        d->kh, d->w);
    const int64_t planes = (int64_t)d->n * d->c, in = (int64_t)d->h * d->w,
                  out = (int64_t)d->p * d->q;
    const int nt = cnn_cpu_team(ctx, planes * (in + out));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < planes; i++)
        pool_bwd_plane(d, x ? x + i * in : NULL, dy + i * out, dx + i * in);
    return CNN_OK;
}
