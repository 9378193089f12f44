/* Linear layers at batches of 9 to 32 rows (AlexNet's classifier at batch
 * 16): the weight is still the large operand, but the weight-streaming
 * loops of cpu_linear.c (8-float vectors along the input, a horizontal sum
 * per output, mul + add) ran out of arithmetic there, and OpenBLAS packs
 * the weight before multiplying it by a few rows. Measured on AlexNet's
 * classifier.1 (9216 -> 4096) at batch 16, 2 threads, this project's
 * 2-core Xeon (AVX-512): sgemm 25-30 ms forward, 39-44 data gradient,
 * 22-30 weight gradient; the weight-streaming loops 22 / 29 / 20; the
 * weight alone is 151 MB, 6 ms at the measured triad. These loops put the
 * batch (forward) or the weight's row (gradients) in vector lanes and feed
 * a register tile of fused multiply-adds with one broadcast scalar each
 * (cpu_linear_lanes_body.h), compiled for AVX-512 and for AVX2 + FMA and
 * picked by the CPU at run time; elsewhere the BLAS backends keep sgemm.
 * Same shape, AVX-512 half: 12-14 ms forward (11.7 GB/s of weight), 17-18
 * data gradient, 13-17 weight gradient; at batch 32, 26 / 28 / 25 against
 * sgemm's 26 / 42 / 26. The data gradient stays the slowest: perf puts 40%
 * of it in copying w's rows into its L1 panel (memory), and a software
 * prefetch of the panel after next did not help. */
#include "cpu_linear_lanes.h"
#include "cpu_parallel.h"

enum lanes_isa { LANES_NONE, LANES_AVX2, LANES_AVX512 };

static enum lanes_isa lanes_isa(void)
{
#if defined(CNN_CPU_HAVE_LANES) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"))
        return LANES_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return LANES_AVX2;
#endif
    return LANES_NONE;
}

bool cnn_cpu_linear_lanes_apply(const cnn_linear_desc *d)
{
    return d->n > CNN_CPU_LINEAR_SMALL_N && d->n <= CNN_CPU_LINEAR_LANES_N &&
           lanes_isa() != LANES_NONE;
}

size_t cnn_cpu_linear_lanes_ws(const cnn_linear_desc *d, cnn_pass pass)
{
    if (pass != CNN_FWD || !cnn_cpu_linear_lanes_apply(d))
        return 0;
    const size_t panels =
        ((size_t)d->n + CNN_CPU_LINEAR_LANES_PANEL - 1) / CNN_CPU_LINEAR_LANES_PANEL;
    return panels * CNN_CPU_LINEAR_LANES_PANEL * (size_t)d->in * sizeof(float);
}

const char *cnn_cpu_linear_lanes_name(void)
{
    return lanes_isa() == LANES_AVX512 ? "batch-lane loops, avx512" : "batch-lane loops, avx2";
}

/* xT[p][i][l] = x[p * PANEL + l][i], zero past the batch: the thread's
 * share of i. */
static void transpose_share(const cnn_linear_desc *d, const float *x, float *xt)
{
    enum { P = CNN_CPU_LINEAR_LANES_PANEL };
    const int panels = (d->n + P - 1) / P;
    int64_t lo, hi;
    cnn_cpu_share(d->in, &lo, &hi);
    for (int p = 0; p < panels; p++) {
        float *xp = xt + (size_t)p * d->in * P;
        for (int64_t i = lo; i < hi; i++)
            for (int l = 0; l < P; l++) {
                const int b = p * P + l;
                xp[i * P + l] = b < d->n ? x[(size_t)b * d->in + i] : 0.0f;
            }
    }
}

#ifdef CNN_CPU_HAVE_LANES
#define LANES_CALL(name, ...)                                                                      \
    (lanes_isa() == LANES_AVX512 ? name##_avx512(__VA_ARGS__) : name##_avx2(__VA_ARGS__))
#else
#define LANES_CALL(name, ...) ((void)0)
#endif

void cnn_cpu_linear_fwd_lanes(const cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                              const float *w, const float *b, float *y, float *ws)
{
#pragma omp parallel num_threads(cnn_cpu_team(ctx, (int64_t)d->out * d->in))
    {
        transpose_share(d, x, ws);
#pragma omp barrier
        LANES_CALL(cnn_cpu_linear_fwd_lanes_share, d, ws, w, b, y);
    }
}

void cnn_cpu_linear_bwd_data_lanes(const cnn_ctx *ctx, const cnn_linear_desc *d, const float *dy,
                                   const float *w, float *dx)
{
#pragma omp parallel num_threads(cnn_cpu_team(ctx, (int64_t)d->out * d->in))
    LANES_CALL(cnn_cpu_linear_bwd_data_lanes_share, d, dy, w, dx);
}

void cnn_cpu_linear_bwd_weight_lanes(const cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                     const float *dy, float *dw)
{
#pragma omp parallel num_threads(cnn_cpu_team(ctx, (int64_t)d->out * d->in))
    LANES_CALL(cnn_cpu_linear_bwd_weight_lanes_share, d, x, dy, dw);
}
