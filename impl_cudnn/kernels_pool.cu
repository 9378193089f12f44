/* Max, average and adaptive average pooling with PyTorch's exact rules, as
 * kernels/ops.h states them. cuDNN's pooling has no ceil mode, divides a
 * padded window differently, and does not promise which of tied maxima
 * gets the gradient, so these are our own.
 *
 * Forward: one thread per output element. Backward: one thread per input
 * element, which gathers from the windows that contain it (no atomics), so
 * every result is computed in a fixed order and is the same on every run.
 * The max pool's argmax is recomputed from x in backward: ties go to the
 * first maximum in row-major window order, and a NaN wins (PyTorch's
 * `val > max || isnan(val)`), so the gradient goes where PyTorch sends it. */
#include <math.h>

#include "cudnn_impl.h"
#include "kernels_grid.cuh"

/* Window o along one axis covers [o*stride - pad, o*stride - pad + k). Its
 * real elements are that range clipped to [0, in); average pooling's
 * divisor counts padding but stops at in + pad, so that the part of a
 * ceil-mode window hanging past the right padding is not counted. */
typedef struct window {
    int lo, hi; /* real elements [lo, hi) */
    int size;   /* average pooling's divisor along this axis */
} window;

static __device__ window window_at(int o, int k, int stride, int pad, int in)
{
    int start = o * stride - pad;
    int end = min(start + k, in + pad);
    window win;
    win.lo = max(start, 0);
    win.hi = min(end, in);
    win.size = end - start;
    return win;
}

/* The windows that contain input index i: those with
 * o*stride - pad <= i < o*stride - pad + k, as [*lo, *hi). */
static __device__ void windows_covering(int i, int k, int stride, int pad, int out, int *lo,
                                        int *hi)
{
    int a = i + pad - k; /* o*stride > a */
    *lo = a < 0 ? 0 : a / stride + 1;
    *hi = min((i + pad) / stride + 1, out);
}

/* Offset within the plane of the window's maximum. */
static __device__ int window_argmax(const float *plane, int w, window wh, window ww)
{
    float best = -INFINITY;
    int arg = wh.lo * w + ww.lo;
    for (int ih = wh.lo; ih < wh.hi; ih++) {
        for (int iw = ww.lo; iw < ww.hi; iw++) {
            float v = plane[ih * w + iw];
            if (v > best || isnan(v)) {
                best = v;
                arg = ih * w + iw;
            }
        }
    }
    return arg;
}

/* Everything a pooling kernel needs, passed by value. Planes are indexed
 * with int (h*w <= 2^31 is checked before launch); tensors with int64. */
typedef struct pool_args {
    int h, w, p, q;
    int kh, kw, sh, sw, ph, pw;
    bool max;
} pool_args;

static __global__ void pool_fwd_kernel(pool_args a, const float *x, float *y, int64_t total)
{
    GRID_STRIDE(i, total)
    {
        const int oq = (int)(i % a.q);
        const int op = (int)((i / a.q) % a.p);
        const int64_t plane = i / ((int64_t)a.p * a.q);
        const float *xp = x + plane * a.h * a.w;
        window wh = window_at(op, a.kh, a.sh, a.ph, a.h);
        window ww = window_at(oq, a.kw, a.sw, a.pw, a.w);
        if (a.max) {
            y[i] = xp[window_argmax(xp, a.w, wh, ww)];
            continue;
        }
        float sum = 0.0f;
        for (int ih = wh.lo; ih < wh.hi; ih++)
            for (int iw = ww.lo; iw < ww.hi; iw++)
                sum += xp[ih * a.w + iw];
        y[i] = sum / (float)(wh.size * ww.size);
    }
}

static __global__ void pool_bwd_kernel(pool_args a, const float *x, const float *dy, float *dx,
                                       int64_t total)
{
    GRID_STRIDE(i, total)
    {
        const int iw = (int)(i % a.w);
        const int ih = (int)((i / a.w) % a.h);
        const int64_t plane = i / ((int64_t)a.h * a.w);
        const float *xp = x + plane * a.h * a.w;
        const float *dyp = dy + plane * a.p * a.q;
        const int me = ih * a.w + iw;
        int p_lo, p_hi, q_lo, q_hi;
        windows_covering(ih, a.kh, a.sh, a.ph, a.p, &p_lo, &p_hi);
        windows_covering(iw, a.kw, a.sw, a.pw, a.q, &q_lo, &q_hi);
        float acc = 0.0f;
        for (int op = p_lo; op < p_hi; op++) {
            window wh = window_at(op, a.kh, a.sh, a.ph, a.h);
            for (int oq = q_lo; oq < q_hi; oq++) {
                window ww = window_at(oq, a.kw, a.sw, a.pw, a.w);
                float g = dyp[op * a.q + oq];
                if (!a.max)
                    acc += g / (float)(wh.size * ww.size);
                else if (window_argmax(xp, a.w, wh, ww) == me)
                    acc += g;
            }
        }
        dx[i] = acc;
    }
}

static pool_args pool_args_of(const cnn_pool_desc *d)
{
    pool_args a;
    a.h = d->h;
    a.w = d->w;
    a.p = d->p;
    a.q = d->q;
    a.kh = d->kh;
    a.kw = d->kw;
    a.sh = d->stride_h;
    a.sw = d->stride_w;
    a.ph = d->pad_h;
    a.pw = d->pad_w;
    a.max = d->mode == CNN_POOL_MAX;
    return a;
}

/* Plane offsets are int inside the kernels. */
static cnn_status check_planes(int64_t in_plane, int64_t out_plane)
{
    if (in_plane > INT32_MAX || out_plane > INT32_MAX)
        return cnn_fail(CNN_ERR_UNSUPPORTED, "cudnn: pooling planes over 2^31 elements");
    return CNN_OK;
}

cnn_status cudnn_pool_fwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, float *y, CNN_WS)
{
    (void)ws;
    (void)ws_size;
    cnn_status s = check_planes((int64_t)d->h * d->w, (int64_t)d->p * d->q);
    if (s != CNN_OK)
        return s;
    const int64_t total = (int64_t)d->n * d->c * d->p * d->q;
    pool_fwd_kernel<<<blocks_for(total), BLOCK, 0, cudnn_st(ctx)->stream>>>(pool_args_of(d), x, y,
                                                                            total);
    CUDA_CHECK_LAUNCH();
    return CNN_OK;
}

/* y is not needed: the argmax comes from x, which decides ties and NaN
 * exactly as the forward pass did. */
cnn_status cudnn_pool_bwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, const float *y,
                          const float *dy, float *dx, CNN_WS)
{
    (void)y;
    (void)ws;
    (void)ws_size;
    cnn_status s = check_planes((int64_t)d->h * d->w, (int64_t)d->p * d->q);
    if (s != CNN_OK)
        return s;
    const int64_t total = (int64_t)d->n * d->c * d->h * d->w;
    pool_bwd_kernel<<<blocks_for(total), BLOCK, 0, cudnn_st(ctx)->stream>>>(pool_args_of(d), x, dy,
                                                                            dx, total);
    CUDA_CHECK_LAUNCH();
    return CNN_OK;
}

/* ---- adaptive average pooling ----
 * Cell o of `out` along an axis of size `in` averages
 * [floor(o*in/out), ceil((o+1)*in/out)); neighbouring cells overlap by one
 * element when out does not divide in. */

static __device__ int cell_start(int o, int in, int out)
{
    return (int)(((int64_t)o * in) / out);
}

static __device__ int cell_end(int o, int in, int out)
{
    return (int)(((int64_t)(o + 1) * in + out - 1) / out);
}

/* Cells containing index i: start(o) <= i  <=>  o < (i+1)*out/in, and
 * end(o) > i  <=>  o >= floor(i*out/in). */
static __device__ void cells_covering(int i, int in, int out, int *lo, int *hi)
{
    *lo = (int)(((int64_t)i * out) / in);
    *hi = min((int)(((int64_t)(i + 1) * out + in - 1) / in), out);
}

static __global__ void adapool_fwd_kernel(pool_args a, const float *x, float *y, int64_t total)
{
    GRID_STRIDE(i, total)
    {
        const int oq = (int)(i % a.q);
        const int op = (int)((i / a.q) % a.p);
        const int64_t plane = i / ((int64_t)a.p * a.q);
        const float *xp = x + plane * a.h * a.w;
        const int h0 = cell_start(op, a.h, a.p), h1 = cell_end(op, a.h, a.p);
        const int w0 = cell_start(oq, a.w, a.q), w1 = cell_end(oq, a.w, a.q);
        float sum = 0.0f;
        for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++)
                sum += xp[ih * a.w + iw];
        y[i] = sum / (float)((h1 - h0) * (w1 - w0));
    }
}

static __global__ void adapool_bwd_kernel(pool_args a, const float *dy, float *dx, int64_t total)
{
    GRID_STRIDE(i, total)
    {
        const int iw = (int)(i % a.w);
        const int ih = (int)((i / a.w) % a.h);
        const int64_t plane = i / ((int64_t)a.h * a.w);
        const float *dyp = dy + plane * a.p * a.q;
        int p_lo, p_hi, q_lo, q_hi;
        cells_covering(ih, a.h, a.p, &p_lo, &p_hi);
        cells_covering(iw, a.w, a.q, &q_lo, &q_hi);
        float acc = 0.0f;
        for (int op = p_lo; op < p_hi; op++) {
            const int h0 = cell_start(op, a.h, a.p), h1 = cell_end(op, a.h, a.p);
            if (ih < h0 || ih >= h1)
                continue;
            for (int oq = q_lo; oq < q_hi; oq++) {
                const int w0 = cell_start(oq, a.w, a.q), w1 = cell_end(oq, a.w, a.q);
                if (iw < w0 || iw >= w1)
                    continue;
                acc += dyp[op * a.q + oq] / (float)((h1 - h0) * (w1 - w0));
            }
        }
        dx[i] = acc;
    }
}

static pool_args adapool_args_of(const cnn_adapool_desc *d)
{
    pool_args a = {};
    a.h = d->h;
    a.w = d->w;
    a.p = d->p;
    a.q = d->q;
    return a;
}

cnn_status cudnn_adapool_fwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *x, float *y,
                             CNN_WS)
{
    (void)ws;
    (void)ws_size;
    cnn_status s = check_planes((int64_t)d->h * d->w, (int64_t)d->p * d->q);
    if (s != CNN_OK)
        return s;
    const int64_t total = (int64_t)d->n * d->c * d->p * d->q;
    adapool_fwd_kernel<<<blocks_for(total), BLOCK, 0, cudnn_st(ctx)->stream>>>(adapool_args_of(d),
                                                                               x, y, total);
    CUDA_CHECK_LAUNCH();
    return CNN_OK;
}

cnn_status cudnn_adapool_bwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *dy, float *dx,
                             CNN_WS)
{
    (void)ws;
    (void)ws_size;
    cnn_status s = check_planes((int64_t)d->h * d->w, (int64_t)d->p * d->q);
    if (s != CNN_OK)
        return s;
    const int64_t total = (int64_t)d->n * d->c * d->h * d->w;
    adapool_bwd_kernel<<<blocks_for(total), BLOCK, 0, cudnn_st(ctx)->stream>>>(adapool_args_of(d),
                                                                               dy, dx, total);
    CUDA_CHECK_LAUNCH();
    return CNN_OK;
}
