/* Concatenation along channels: input i fills output channels
 * [c[0] + ... + c[i-1], c[0] + ... + c[i]). Backward splits dy the same way.
 * Pure copies, so the result is exact. */
#include "naive.h"

#include <string.h>

/* First output channel of input i. */
static int channel_offset(const cnn_concat_desc *d, int i)
{
    int offset = 0;
    for (int j = 0; j < i; j++)
        offset += d->c[j];
    return offset;
}

cnn_status cnn_naive_concat_fwd(cnn_ctx *ctx, const cnn_concat_desc *d, const float *const *xs,
                                float *y)
{
    const int64_t hw = (int64_t)d->h * d->w;
#pragma omp parallel for collapse(2) schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int n = 0; n < d->n; n++) {
        for (int i = 0; i < d->count; i++) {
            const float *src = xs[i] + (int64_t)n * d->c[i] * hw;
            float *dst = y + at4(n, channel_offset(d, i), 0, 0, d->c_out, d->h, d->w);
            memcpy(dst, src, (size_t)d->c[i] * hw * sizeof(float));
        }
    }
    return CNN_OK;
}

cnn_status cnn_naive_concat_bwd(cnn_ctx *ctx, const cnn_concat_desc *d, const float *dy,
                                float *const *dxs)
{
    const int64_t hw = (int64_t)d->h * d->w;
#pragma omp parallel for collapse(2) schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int n = 0; n < d->n; n++) {
        for (int i = 0; i < d->count; i++) {
            const float *src = dy + at4(n, channel_offset(d, i), 0, 0, d->c_out, d->h, d->w);
            float *dst = dxs[i] + (int64_t)n * d->c[i] * hw;
            memcpy(dst, src, (size_t)d->c[i] * hw * sizeof(float));
        }
    }
    return CNN_OK;
}
