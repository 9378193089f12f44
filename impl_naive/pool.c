/* Max and average pooling with PyTorch's exact window rules.
 *
 * Output o along an axis of size `in` covers input indices
 * [o*stride - pad, o*stride - pad + k). Max pooling clips that to the input
 * (padding is -inf, so it never wins). Average pooling counts padding in the
 * divisor (count_include_pad=True) but clips the window at in + pad first,
 * so a ceil-mode window hanging past the right padding is divided by what
 * lies inside input plus padding only; then it sums over the real elements. */
#include "naive.h"

#include <math.h>

typedef struct window {
    int lo, hi; /* real input elements [lo, hi) */
    int size;   /* average pooling's divisor along this axis */
} window;

static window window_at(int o, int k, int stride, int pad, int in)
{
    int start = o * stride - pad;
    int end = start + k < in + pad ? start + k : in + pad;
    window win = {start > 0 ? start : 0, end < in ? end : in, end - start};
    return win;
}

/* The outputs whose window contains input index i: o*stride - pad <= i and
 * i < o*stride - pad + k. Clipping never removes a real index, so this holds
 * for both max and average windows. Returns the range [*lo, *hi). */
static void outputs_covering(int i, int k, int stride, int pad, int out, int *lo, int *hi)
{
    int first = i + pad - k + 1; /* smallest o*stride */
    *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
    int last = (i + pad) / stride + 1;
    *hi = last < out ? last : out;
}

/* Position (row-major within the plane) of the maximum of a window, ties to
 * the first. A NaN wins and propagates as in PyTorch: `val > max || isnan(val)`. */
static int64_t argmax(const float *plane, int w, window wh, window ww)
{
    float best = -INFINITY;
    int64_t arg = (int64_t)wh.lo * w + ww.lo;
    for (int ih = wh.lo; ih < wh.hi; ih++) {
        for (int iw = ww.lo; iw < ww.hi; iw++) {
            float v = plane[(int64_t)ih * w + iw];
            if (v > best || isnan(v)) {
                best = v;
                arg = (int64_t)ih * w + iw;
            }
        }
    }
    return arg;
}

cnn_status cnn_naive_pool_fwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, float *y,
                              CNN_WS)
{
    CNN_NAIVE_NO_WS;
#pragma omp parallel for collapse(2) schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int n = 0; n < d->n; n++) {
        for (int c = 0; c < d->c; c++) {
            const float *xp = x + at4(n, c, 0, 0, d->c, d->h, d->w);
            float *yp = y + at4(n, c, 0, 0, d->c, d->p, d->q);
            for (int p = 0; p < d->p; p++) {
                window wh = window_at(p, d->kh, d->stride_h, d->pad_h, d->h);
                for (int q = 0; q < d->q; q++) {
                    window ww = window_at(q, d->kw, d->stride_w, d->pad_w, d->w);
                    if (d->mode == CNN_POOL_MAX) {
                        yp[(int64_t)p * d->q + q] = xp[argmax(xp, d->w, wh, ww)];
                        continue;
                    }
                    double sum = 0.0;
                    for (int ih = wh.lo; ih < wh.hi; ih++)
                        for (int iw = ww.lo; iw < ww.hi; iw++)
                            sum += xp[(int64_t)ih * d->w + iw];
                    yp[(int64_t)p * d->q + q] = (float)(sum / ((double)wh.size * ww.size));
                }
            }
        }
    }
    return CNN_OK;
}

/* dx[i] = sum over the windows containing i of that window's share of its
 * dy: all of it where i is the window's argmax (max), dy / divisor (avg).
 * Gathered per input element, so every dx is summed by one thread in double.
 * The argmax is recomputed from x; y is not needed. */
cnn_status cnn_naive_pool_bwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, const float *y,
                              const float *dy, float *dx, CNN_WS)
{
    CNN_NAIVE_NO_WS;
    (void)y;
#pragma omp parallel for collapse(2) schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int n = 0; n < d->n; n++) {
        for (int c = 0; c < d->c; c++) {
            const float *xp = x + at4(n, c, 0, 0, d->c, d->h, d->w);
            const float *dyp = dy + at4(n, c, 0, 0, d->c, d->p, d->q);
            float *dxp = dx + at4(n, c, 0, 0, d->c, d->h, d->w);
            for (int ih = 0; ih < d->h; ih++) {
                int p_lo, p_hi;
                outputs_covering(ih, d->kh, d->stride_h, d->pad_h, d->p, &p_lo, &p_hi);
                for (int iw = 0; iw < d->w; iw++) {
                    int q_lo, q_hi;
                    outputs_covering(iw, d->kw, d->stride_w, d->pad_w, d->q, &q_lo, &q_hi);
                    double acc = 0.0;
                    for (int p = p_lo; p < p_hi; p++) {
                        window wh = window_at(p, d->kh, d->stride_h, d->pad_h, d->h);
                        for (int q = q_lo; q < q_hi; q++) {
                            window ww = window_at(q, d->kw, d->stride_w, d->pad_w, d->w);
                            double g = dyp[(int64_t)p * d->q + q];
                            if (d->mode == CNN_POOL_AVG)
                                acc += g / ((double)wh.size * ww.size);
                            else if (argmax(xp, d->w, wh, ww) == (int64_t)ih * d->w + iw)
                                acc += g;
                        }
                    }
                    dxp[(int64_t)ih * d->w + iw] = (float)acc;
                }
            }
        }
    }
    return CNN_OK;
}
