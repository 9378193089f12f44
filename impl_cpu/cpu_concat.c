/* Channel concatenation: for each image, input i's planes form one
 * contiguous block of y, so both passes are block copies. */
#include "cpu_ops.h"
#include "cpu_parallel.h"

#include <string.h>

/* Offsets (in planes) of each input's block within one image of y. */
static void block_offsets(const cnn_concat_desc *d, int64_t off[CNN_MAX_CONCAT])
{
    int64_t acc = 0;
    for (int i = 0; i < d->count; i++) {
        off[i] = acc;
        acc += d->c[i];
    }
}

cnn_status cnn_cpu_concat_fwd(cnn_ctx *ctx, const cnn_concat_desc *d, const float *const *xs,
                              float *y)
{
    int64_t off[CNN_MAX_CONCAT];
    block_offsets(d, off);
    const int64_t hw = (int64_t)d->h * d->w, jobs = (int64_t)d->n * d->count;
    const int nt = cnn_cpu_team(ctx, (int64_t)d->n * d->c_out * hw);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t j = 0; j < jobs; j++) {
        int64_t n = j / d->count;
        int i = (int)(j % d->count);
        memcpy(y + (n * d->c_out + off[i]) * hw, xs[i] + n * d->c[i] * hw,
               sizeof(float) * (size_t)(d->c[i] * hw));
    }
    return CNN_OK;
}

cnn_status cnn_cpu_concat_bwd(cnn_ctx *ctx, const cnn_concat_desc *d, const float *dy,
                              float *const *dxs)
{
    int64_t off[CNN_MAX_CONCAT];
    block_offsets(d, off);
    const int64_t hw = (int64_t)d->h * d->w, jobs = (int64_t)d->n * d->count;
    const int nt = cnn_cpu_team(ctx, (int64_t)d->n * d->c_out * hw);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t j = 0; j < jobs; j++) {
        int64_t n = j / d->count;
        int i = (int)(j % d->count);
        memcpy(dxs[i] + n * d->c[i] * hw, dy + (n * d->c_out + off[i]) * hw,
               sizeof(float) * (size_t)(d->c[i] * hw));
    }
    return CNN_OK;
}
