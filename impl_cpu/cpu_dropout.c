/* Inverted dropout with the mask drawn from Philox at (seed, i): the same
 * mask as every other backend, in any thread layout. One Philox call gives
 * the words of four consecutive elements (element i uses word i % 4 of
 * block i / 4), so the loop runs over blocks. Where the CPU has AVX-512 or
 * AVX2 the blocks go to the hand-vectorised kernels (cpu_dropout_x86.c,
 * 2-3.4x the compiler's vectorisation of the loop below), which leave the
 * last few blocks of each thread's range to it. */
#include "cpu_dropout_simd.h"
#include "cpu_ops.h"
#include "cpu_parallel.h"
#include "cpu_simd.h"
#include "philox.h"

#include <math.h>

/* keep_word(w) of cnn_dropout_keep() is (float)(w >> 8) * 2^-24 >= p: the
 * product is exact, so it is (w >> 8) >= ceil(p * 2^24), an integer test.
 * For p in (0, 1). */
static uint32_t keep_threshold(double p)
{
    return (uint32_t)ceil(p * 16777216.0);
}

/* y[i] = x[i] * (keep ? scale : 0) over the whole blocks [b0, b1): a
 * multiply, not a select, so that a NaN or inf in a dropped element stays
 * NaN, as in PyTorch's x * mask / (1 - p). */
static CNN_CPU_VEC void apply_blocks(const float *restrict x, float *restrict y, int64_t b0,
                                     int64_t b1, uint64_t seed, uint32_t t, float scale)
{
    for (int64_t b = b0; b < b1; b++) {
        const cnn_philox4 r = cnn_philox4x32((uint64_t)b, seed);
        for (int j = 0; j < 4; j++)
            y[b * 4 + j] = x[b * 4 + j] * ((r.v[j] >> 8) >= t ? scale : 0.0f);
    }
}

/* The widest kernel this CPU runs (fn NULL: the loop above alone), and
 * the name the algorithm column gives it. */
typedef struct dropout_kernel {
    cnn_dropout_blocks_fn fn;
    const char *name;
} dropout_kernel;

static dropout_kernel pick_kernel(void)
{
    if (cnn_cpu_dropout_has_avx512())
        return (dropout_kernel){cnn_cpu_dropout_blocks_avx512, "cpu loops, philox avx512"};
    if (cnn_cpu_dropout_has_avx2())
        return (dropout_kernel){cnn_cpu_dropout_blocks_avx2, "cpu loops, philox avx2"};
    return (dropout_kernel){NULL, "cpu loops, philox scalar"};
}

static void dropout_apply(const cnn_ctx *ctx, const cnn_dropout_desc *d, const float *restrict x,
                          float *restrict y)
{
    const int64_t n = d->count, whole = n / 4;
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
    const uint32_t t = keep_threshold(d->p);
    const cnn_dropout_blocks_fn simd = pick_kernel().fn;
    /* each thread a contiguous range of whole blocks */
#pragma omp parallel num_threads(nt)
    {
        int64_t b0, b1;
        cnn_cpu_share(whole, &b0, &b1);
        if (simd)
            b0 = simd(x + 4 * b0, y + 4 * b0, b0, b1, d->seed, t, scale);
        apply_blocks(x, y, b0, b1, d->seed, t, scale);
    }
    if (n > whole * 4) { /* the last, partial block */
        const cnn_philox4 r = cnn_philox4x32((uint64_t)whole, d->seed);
        for (int64_t i = whole * 4; i < n; i++)
            y[i] = x[i] * ((r.v[i - whole * 4] >> 8) >= t ? scale : 0.0f);
    }
}

const char *cnn_cpu_ops_algorithm(const cnn_op *op)
{
    return op->kind == CNN_OP_DROPOUT ? pick_kernel().name : "cpu loops";
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
