/* The shared CPU loops (impl_cpu/) called directly, for properties the
 * verify tolerances are too wide to see.
 *
 * Batch norm's one-pass statistics sum about a shift, the channel's first
 * element; when that element is far from the mean the difference
 * E[(x-k)^2] - E[x-k]^2 cancels, and the loops must notice and measure about
 * the mean (cpu_bn.c). With 1e5 first among values in [0, 1) the one pass
 * alone gives y to 2e-6 (verify's tolerance there is 1.7e-4): held here to
 * 4 u, which it meets only by the second pass. A channel of ordinary data
 * takes one pass, to the same bound.
 *
 * Dropout's vector kernels (cpu_dropout_x86.c) must give the scalar mask
 * bit for bit, the multiply included (NaN, inf and -0 inputs), at counters
 * past 2^32 (word 1 of the counter), and stop at the last whole group of
 * their width, leaving what follows untouched. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_dropout_simd.h"
#include "cpu_ops.h"
#include "philox.h"
#include "test_util.h"

#define U 5.9604644775390625e-8 /* 2^-24 */

/* Relative L2 error of the training forward's y and channel 0's save_mean
 * against statistics in double. */
static void bn_accuracy(const char *what, float first)
{
    enum { N = 4, C = 8, HW = 32 * 32 };
    const int64_t total = (int64_t)N * C * HW, m = (int64_t)N * HW;
    float *x = malloc(sizeof(float) * total), *y = malloc(sizeof(float) * total);
    float *ref = malloc(sizeof(float) * total);
    float gamma[C], beta[C], rmean[C], rvar[C], smean[C], sinv[C];
    double mean0 = 0.0;
    TU_CHECK(x && y && ref, "out of memory");
    if (!x || !y || !ref)
        goto out;
    uint64_t rng = 7;
    for (int64_t i = 0; i < total; i++)
        x[i] = tu_uniform(&rng, 0.0f, 1.0f);
    x[0] = first;
    for (int c = 0; c < C; c++)
        gamma[c] = 1.0f, beta[c] = 0.0f, rmean[c] = 0.0f, rvar[c] = 1.0f;
    for (int c = 0; c < C; c++) {
        double s = 0.0, q = 0.0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++)
                s += x[((int64_t)n * C + c) * HW + i];
        const double mean = s / (double)m;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                const double t = x[((int64_t)n * C + c) * HW + i] - mean;
                q += t * t;
            }
        const double invstd = 1.0 / sqrt(q / (double)m + 1e-5);
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                const int64_t k = ((int64_t)n * C + c) * HW + i;
                ref[k] = (float)((x[k] - mean) * invstd);
            }
        if (c == 0)
            mean0 = mean;
    }
    cnn_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.opts.threads = 1;
    cnn_bn_desc d = {.n = N, .c = C, .h = 32, .w = 32, .eps = 1e-5, .momentum = 0.1};
    TU_EXPECT_OK(
        cnn_cpu_bn_fwd_train(&ctx, &d, x, gamma, beta, y, rmean, rvar, smean, sinv, NULL, 0));
    const double err = tu_rel_l2(y, ref, total), merr = fabs(smean[0] - mean0) / fabs(mean0);
    TU_CHECK(err <= 4 * U, "%s: y off by %.3g (rel L2), want <= %.3g", what, err, 4 * U);
    TU_CHECK(merr <= 2 * U, "%s: save_mean[0] off by %.3g, want <= %.3g", what, merr, 2 * U);
out:
    free(x), free(y), free(ref);
}

/* One kernel over blocks [b0, b0 + nb) against kernels/philox.h. */
static void dropout_kernel_case(const char *isa, cnn_dropout_blocks_fn kernel, int width,
                                int64_t b0, int64_t nb, uint64_t seed, double p)
{
    const int64_t n = 4 * nb;
    float *x = malloc(sizeof(float) * (size_t)(n + 1)),
          *y = malloc(sizeof(float) * (size_t)(n + 1));
    TU_CHECK(x && y, "out of memory");
    if (!x || !y)
        goto out;
    static const float specials[] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f, -3.5f, 1e-40f};
    uint64_t rng = seed ^ 0x5851f42d4c957f2dull;
    for (int64_t i = 0; i < n; i++)
        x[i] = i % 13 == 5 ? specials[(i / 13) % 7] : tu_uniform(&rng, -2.0f, 2.0f);
    for (int64_t i = 0; i <= n; i++)
        y[i] = 12345.0f;
    const uint32_t t = (uint32_t)ceil(p * 16777216.0);
    const float scale = (float)(1.0 / (1.0 - p));
    const int64_t end = kernel(x, y, b0, b0 + nb, seed, t, scale);
    TU_CHECK(end >= b0 && end <= b0 + nb && (b0 + nb - end) < width && (end - b0) % width == 0,
             "dropout %s blocks [%lld, +%lld): stopped at %lld", isa, (long long)b0, (long long)nb,
             (long long)end);
    int64_t bad = -1;
    for (int64_t b = b0; b < b0 + nb && bad < 0; b++) {
        const cnn_philox4 r = cnn_philox4x32((uint64_t)b, seed);
        for (int j = 0; j < 4; j++) {
            const int64_t i = 4 * (b - b0) + j;
            const float want = b < end ? x[i] * ((r.v[j] >> 8) >= t ? scale : 0.0f) : 12345.0f;
            if (memcmp(&want, &y[i], sizeof want) != 0)
                bad = i;
        }
    }
    TU_CHECK(bad < 0 && y[n] == 12345.0f,
             "dropout %s blocks [%lld, +%lld) p %g: element %lld differs from the scalar mask", isa,
             (long long)b0, (long long)nb, p, (long long)bad);
out:
    free(x);
    free(y);
}

static void dropout_kernels(void)
{
    const struct {
        const char *isa;
        cnn_dropout_blocks_fn kernel;
        bool has;
        int width;
    } k[] = {
        {"avx2", cnn_cpu_dropout_blocks_avx2, cnn_cpu_dropout_has_avx2(), 8},
        {"avx512", cnn_cpu_dropout_blocks_avx512, cnn_cpu_dropout_has_avx512(), 16},
    };
    for (int i = 0; i < 2; i++) {
        if (!k[i].has) {
            printf("test_cpu_ops: this CPU has no %s: its dropout kernel not run\n", k[i].isa);
            continue;
        }
        dropout_kernel_case(k[i].isa, k[i].kernel, k[i].width, 0, 1000, 1, 0.5);
        dropout_kernel_case(k[i].isa, k[i].kernel, k[i].width, 3, 37, 0x123456789abcdefull, 0.3);
        dropout_kernel_case(k[i].isa, k[i].kernel, k[i].width, 5, 7, 9, 0.25); /* < one group */
        /* counters across 2^32: word 1 of the counter is 1 */
        dropout_kernel_case(k[i].isa, k[i].kernel, k[i].width, (1ll << 32) - 21, 64,
                            0xfedcba9876543210ull, 0.9);
        /* t = 1 (keep nearly all) and t = 2^24 (keep none) */
        dropout_kernel_case(k[i].isa, k[i].kernel, k[i].width, 11, 200, 4, 1e-9);
        dropout_kernel_case(k[i].isa, k[i].kernel, k[i].width, 11, 200, 4, 1.0 - 1e-9);
    }
}

int main(void)
{
    dropout_kernels();
    bn_accuracy("batch norm, ordinary first element", 0.5f);
    bn_accuracy("batch norm, first element 1e5", 1e5f);
    return tu_finish("test_cpu_ops");
}
