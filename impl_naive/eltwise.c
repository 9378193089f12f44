/* Element-wise operations: activations, dropout and the residual add. Each
 * element is independent, so these are single rounded expressions. */
#include "naive.h"

#include <math.h>

#include "philox.h"

/* relu keeps NaN and -0.0 as torch.relu does (x < 0 is false for both). */
cnn_status cnn_naive_act_fwd(cnn_ctx *ctx, const cnn_act_desc *d, const float *x, float *y)
{
    const bool relu = d->mode == CNN_ACT_RELU;
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int64_t i = 0; i < d->count; i++) {
        if (relu)
            y[i] = x[i] < 0.0f ? 0.0f : x[i];
        else
            y[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
    }
    return CNN_OK;
}

/* Written in terms of the output y, as ops.h specifies:
 * relu' = (y > 0), sigmoid' = y * (1 - y). */
cnn_status cnn_naive_act_bwd(cnn_ctx *ctx, const cnn_act_desc *d, const float *y, const float *dy,
                             float *dx)
{
    const bool relu = d->mode == CNN_ACT_RELU;
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int64_t i = 0; i < d->count; i++) {
        if (relu)
            dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        else
            dx[i] = (float)((double)dy[i] * y[i] * (1.0 - y[i]));
    }
    return CNN_OK;
}

/* Inverted dropout: kept elements are scaled by 1/(1-p) so that the
 * expectation of y is x. The mask is a pure function of (seed, i), so the
 * backward pass regenerates it. p == 1 keeps nothing (and has no scale).
 * A dropped element is multiplied by 0, not set to 0, as PyTorch does, so a
 * NaN or Inf input stays NaN in y. */
static double dropout_scale(double p)
{
    return p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
}

cnn_status cnn_naive_dropout_fwd(cnn_ctx *ctx, const cnn_dropout_desc *d, const float *x, float *y)
{
    const double scale = dropout_scale(d->p);
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int64_t i = 0; i < d->count; i++)
        y[i] = (float)(x[i] * (cnn_dropout_keep(d->seed, (uint64_t)i, d->p) ? scale : 0.0));
    return CNN_OK;
}

cnn_status cnn_naive_dropout_bwd(cnn_ctx *ctx, const cnn_dropout_desc *d, const float *dy,
                                 float *dx)
{
    const double scale = dropout_scale(d->p);
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int64_t i = 0; i < d->count; i++)
        dx[i] = (float)(dy[i] * (cnn_dropout_keep(d->seed, (uint64_t)i, d->p) ? scale : 0.0));
    return CNN_OK;
}

/* A float sum is already correctly rounded. */
cnn_status cnn_naive_add_fwd(cnn_ctx *ctx, const cnn_add_desc *d, const float *a, const float *b,
                             float *y)
{
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int64_t i = 0; i < d->count; i++)
        y[i] = a[i] + b[i];
    return CNN_OK;
}
