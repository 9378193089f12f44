/* Element-wise activations and the residual add: one flat loop each, split
 * across threads and vectorised by the compiler. */
#include "cpu_exp.h"
#include "cpu_ops.h"
#include "cpu_parallel.h"
#include "cpu_simd.h"

#include <math.h>

/* relu keeps NaN (as torch.relu does): only values below zero are cut. */
static void relu_fwd(const float *restrict x, float *restrict y, int64_t n, int nt)
{
#pragma omp parallel for simd num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

/* A select, not dy * (y > 0), so that an infinite dy where y <= 0 gives 0
 * as PyTorch's threshold_backward does, not NaN. dy is loaded whatever y
 * says: with the load inside the select GCC 12 kept a scalar branch per
 * element, mispredicted half the time on real gradients (8x64x112x112:
 * 17.5 ms, 4.4 GB/s, against 1.7 ms for the forward); loaded first, the
 * select is a vector blend (measured 6x faster standalone). */
static void relu_bwd(const float *restrict y, const float *restrict dy, float *restrict dx,
                     int64_t n, int nt)
{
#pragma omp parallel for simd num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float g = dy[i];
        dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
}

/* With e = e^-|x| (never overflows): 1 / (1 + e) for x >= 0, e / (1 + e)
 * below, so that neither end loses accuracy; the exponential is the
 * softmax's polynomial (within 2 ulp; 0 below -87.3, where sigmoid is
 * under 1.2e-38), and NaN stays NaN. */
static CNN_CPU_VEC_WIDE void sigmoid_fwd(const float *restrict x, float *restrict y, int64_t n,
                                         int nt)
{
#pragma omp parallel for simd num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        const float e = cnn_cpu_exp_nonpos(v < 0.0f ? v : -v);
        const float q = 1.0f / (1.0f + e);
        y[i] = v < 0.0f ? e * q : q;
    }
}

static void sigmoid_bwd(const float *restrict y, const float *restrict dy, float *restrict dx,
                        int64_t n, int nt)
{
#pragma omp parallel for simd num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++)
        dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

cnn_status cnn_cpu_act_fwd(cnn_ctx *ctx, const cnn_act_desc *d, const float *x, float *y)
{
    const int nt = cnn_cpu_team(ctx, d->count);
    if (d->mode == CNN_ACT_RELU)
        relu_fwd(x, y, d->count, nt);
    else
        sigmoid_fwd(x, y, d->count, nt);
    return CNN_OK;
}

cnn_status cnn_cpu_act_bwd(cnn_ctx *ctx, const cnn_act_desc *d, const float *y, const float *dy,
                           float *dx)
{
    const int nt = cnn_cpu_team(ctx, d->count);
    if (d->mode == CNN_ACT_RELU)
        relu_bwd(y, dy, dx, d->count, nt);
    else
        sigmoid_bwd(y, dy, dx, d->count, nt);
    return CNN_OK;
}

cnn_status cnn_cpu_add_fwd(cnn_ctx *ctx, const cnn_add_desc *d, const float *a, const float *b,
                           float *y)
{
    const int64_t n = d->count;
    const int nt = cnn_cpu_team(ctx, n);
    /* y may alias a or b (an in-place residual add), so no restrict here. */
#pragma omp parallel for simd num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
    return CNN_OK;
}
