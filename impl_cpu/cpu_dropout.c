/* Inverted dropout with the mask drawn from Philox at (seed, i): the same
 * mask as every other backend, in any thread layout. One Philox call gives
 * the words of four consecutive elements (element i uses word i % 4 of
 * block i / 4), so the loop runs over blocks. */
#include "cpu_ops.h"
#include "cpu_parallel.h"
#include "philox.h"

/* Must match cnn_philox_uniform() and cnn_dropout_keep() bit for bit. */
static bool keep_word(uint32_t word, double p)
{
    return (double)((float)(word >> 8) * (1.0f / 16777216.0f)) >= p;
}

/* y[i] = x[i] * (keep ? scale : 0), forward and backward alike: a
 * multiply, not a select, so that a NaN or inf in a dropped element stays
 * NaN, as in PyTorch's x * mask / (1 - p). */
static void dropout_apply(const cnn_ctx *ctx, const cnn_dropout_desc *d, const float *restrict x,
                          float *restrict y)
{
    const int64_t n = d->count, blocks = (n + 3) / 4;
    const int nt = cnn_cpu_team(ctx, n);
    /* p = 0 keeps every u in [0, 1); p = 1 keeps none: no draws needed. */
    if (d->p <= 0.0 || d->p >= 1.0) {
        const float k = d->p <= 0.0 ? 1.0f : 0.0f;
#pragma omp parallel for simd num_threads(nt) schedule(static)
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * k;
        return;
    }
    const float scale = (float)(1.0 / (1.0 - d->p));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        cnn_philox4 r = cnn_philox4x32((uint64_t)b, d->seed);
        int64_t base = b * 4, len = n - base < 4 ? n - base : 4;
        for (int64_t j = 0; j < len; j++)
            y[base + j] = x[base + j] * (keep_word(r.v[j], d->p) ? scale : 0.0f);
    }
}

cnn_status cnn_cpu_dropout_fwd(cnn_ctx *ctx, const cnn_dropout_desc *d, const float *x, float *y)
{
    dropout_apply(ctx, d, x, y);
    return CNN_OK;
}

cnn_status cnn_cpu_dropout_bwd(cnn_ctx *ctx, const cnn_dropout_desc *d, const float *dy, float *dx)
{
    dropout_apply(ctx, d, dy, dx);
    return CNN_OK;
}
