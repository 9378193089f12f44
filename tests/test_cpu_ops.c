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
 * their width, leaving what follows untouched.
 *
 * The batch-lane linear loops (cpu_linear_lanes_body.h), each ISA's half
 * the CPU has, on one thread: every output within the bound of a
 * length-K float sum, (K + 1) u sum |a_k b_k| against double, for sums of
 * K = 1 to 300 terms; and the AVX2 and AVX-512 halves bitwise equal (the
 * same fused multiply-adds in the same order), the claim that lets either
 * run the same model.
 *
 * Max-pool backward (cpu_pool.c and its forms), through cnn_cpu_pool_bwd
 * on one thread: bit for bit PyTorch's scatter, dx zeroed and dy added at
 * each window's argmax (the first strict maximum in row-major order, the
 * last NaN, the first real element of a window of -inf) over the outputs
 * in row-major order, so sums where windows share an argmax round alike;
 * on ties, NaNs and -inf, padded or not, ceil mode or not. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_dropout_simd.h"
#include "cpu_linear_lanes.h"
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

#ifdef CNN_CPU_HAVE_LANES
typedef struct lanes_out {
    float *y, *dx, *dw;
} lanes_out;

/* Within (K + 1) u sum |terms| of the double sum, K terms. */
static void lanes_bound(const char *what, const char *isa, const cnn_linear_desc *d, float got,
                        double sum, double mag, int k, int64_t at, int *bad)
{
    const double err = fabs((double)got - sum), bound = (k + 1) * U * mag;
    if (err > bound && (*bad)++ == 0)
        TU_CHECK(0,
                 "linear lanes %s %s n%d in%d out%d: element %lld is %.9g, double %.9g "
                 "(error %.3g > bound %.3g)",
                 isa, what, d->n, d->in, d->out, (long long)at, got, sum, err, bound);
}

static void lanes_case(const char *isa, int n, int in, int out, lanes_out *o, uint64_t seed)
{
    const cnn_linear_desc d = {.n = n, .in = in, .out = out, .has_bias = true};
    const size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
    const size_t panels = (size_t)(n + CNN_CPU_LINEAR_LANES_PANEL - 1) / CNN_CPU_LINEAR_LANES_PANEL;
    float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw);
    float *b = malloc(sizeof(float) * out), *dy = malloc(sizeof(float) * ny);
    float *xt = calloc(panels * CNN_CPU_LINEAR_LANES_PANEL * (size_t)in, sizeof(float));
    o->y = malloc(sizeof(float) * ny), o->dx = malloc(sizeof(float) * nx);
    o->dw = malloc(sizeof(float) * nw);
    TU_CHECK(x && w && b && dy && xt && o->y && o->dx && o->dw, "out of memory");
    if (!x || !w || !b || !dy || !xt || !o->y || !o->dx || !o->dw)
        goto out;
    uint64_t rng = seed;
    for (size_t i = 0; i < nx; i++)
        x[i] = tu_uniform(&rng, -1.0f, 1.0f);
    for (size_t i = 0; i < nw; i++)
        w[i] = tu_uniform(&rng, -1.0f, 1.0f);
    for (int i = 0; i < out; i++)
        b[i] = tu_uniform(&rng, -1.0f, 1.0f);
    for (size_t i = 0; i < ny; i++)
        dy[i] = tu_uniform(&rng, -1.0f, 1.0f);
    for (int bi = 0; bi < n; bi++)
        for (int i = 0; i < in; i++)
            xt[((size_t)(bi / CNN_CPU_LINEAR_LANES_PANEL) * in + i) * CNN_CPU_LINEAR_LANES_PANEL +
               bi % CNN_CPU_LINEAR_LANES_PANEL] = x[(size_t)bi * in + i];
    const bool wide = strcmp(isa, "avx512") == 0;
    if (wide) {
        cnn_cpu_linear_fwd_lanes_share_avx512(&d, xt, w, b, o->y);
        cnn_cpu_linear_bwd_data_lanes_share_avx512(&d, dy, w, o->dx);
        cnn_cpu_linear_bwd_weight_lanes_share_avx512(&d, x, dy, o->dw);
    } else {
        cnn_cpu_linear_fwd_lanes_share_avx2(&d, xt, w, b, o->y);
        cnn_cpu_linear_bwd_data_lanes_share_avx2(&d, dy, w, o->dx);
        cnn_cpu_linear_bwd_weight_lanes_share_avx2(&d, x, dy, o->dw);
    }
    int bad = 0;
    for (int bi = 0; bi < n; bi++)
        for (int j = 0; j < out; j++) {
            double s = b[j], m = fabs(b[j]);
            for (int i = 0; i < in; i++) {
                const double t = (double)x[(size_t)bi * in + i] * w[(size_t)j * in + i];
                s += t, m += fabs(t);
            }
            lanes_bound("forward", isa, &d, o->y[(size_t)bi * out + j], s, m, in + 1,
                        (int64_t)bi * out + j, &bad);
        }
    for (int bi = 0; bi < n; bi++)
        for (int i = 0; i < in; i++) {
            double s = 0.0, m = 0.0;
            for (int j = 0; j < out; j++) {
                const double t = (double)dy[(size_t)bi * out + j] * w[(size_t)j * in + i];
                s += t, m += fabs(t);
            }
            lanes_bound("data gradient", isa, &d, o->dx[(size_t)bi * in + i], s, m, out,
                        (int64_t)bi * in + i, &bad);
        }
    for (int j = 0; j < out; j++)
        for (int i = 0; i < in; i++) {
            double s = 0.0, m = 0.0;
            for (int bi = 0; bi < n; bi++) {
                const double t = (double)dy[(size_t)bi * out + j] * x[(size_t)bi * in + i];
                s += t, m += fabs(t);
            }
            lanes_bound("weight gradient", isa, &d, o->dw[(size_t)j * in + i], s, m, n,
                        (int64_t)j * in + i, &bad);
        }
out:
    free(x), free(w), free(b), free(dy), free(xt);
}

static void lanes_free(lanes_out *o)
{
    free(o->y), free(o->dx), free(o->dw);
    *o = (lanes_out){0};
}

static void linear_lanes(void)
{
    const bool has[2] = {__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"),
                         __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")};
    static const char *const isa[2] = {"avx2", "avx512"};
    /* n in out: one and two panels, column strips and tails, row tiles and
     * their remainders, two data-gradient panels (out > 256) */
    static const int shapes[][3] = {{9, 40, 17},    {16, 64, 12}, {32, 70, 29},
                                    {17, 300, 300}, {24, 7, 5},   {13, 1, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        lanes_out o[2] = {{0}};
        for (int k = 0; k < 2; k++) {
            if (!has[k]) {
                if (s == 0)
                    printf("test_cpu_ops: this CPU has no %s: its linear loops not run\n", isa[k]);
                continue;
            }
            lanes_case(isa[k], shapes[s][0], shapes[s][1], shapes[s][2], &o[k], 11 + s);
        }
        if (o[0].y && o[1].y) {
            const size_t ny = (size_t)shapes[s][0] * shapes[s][2];
            const size_t nx = (size_t)shapes[s][0] * shapes[s][1];
            const size_t nw = (size_t)shapes[s][2] * shapes[s][1];
            TU_CHECK(memcmp(o[0].y, o[1].y, ny * sizeof(float)) == 0 &&
                         memcmp(o[0].dx, o[1].dx, nx * sizeof(float)) == 0 &&
                         memcmp(o[0].dw, o[1].dw, nw * sizeof(float)) == 0,
                     "linear lanes n%d in%d out%d: the avx2 and avx512 halves differ", shapes[s][0],
                     shapes[s][1], shapes[s][2]);
        }
        lanes_free(&o[0]);
        lanes_free(&o[1]);
    }
}
#endif

/* PyTorch's max-pool backward for one plane, in float. */
static void pool_scatter(const cnn_pool_desc *d, const float *x, const float *dy, float *dx)
{
    memset(dx, 0, sizeof(float) * (size_t)d->h * (size_t)d->w);
    for (int p = 0; p < d->p; p++)
        for (int q = 0; q < d->q; q++) {
            const int h0 = p * d->stride_h - d->pad_h, w0 = q * d->stride_w - d->pad_w;
            const int r0 = h0 > 0 ? h0 : 0, c0 = w0 > 0 ? w0 : 0;
            const int r1 = h0 + d->kh < d->h ? h0 + d->kh : d->h,
                      c1 = w0 + d->kw < d->w ? w0 + d->kw : d->w;
            float m = -INFINITY;
            int at = r0 * d->w + c0;
            for (int r = r0; r < r1; r++)
                for (int c = c0; c < c1; c++) {
                    const float v = x[r * d->w + c];
                    if (v > m || v != v)
                        m = v, at = r * d->w + c;
                }
            dx[at] += dy[p * d->q + q];
        }
}

static void pool_scatter_order(void)
{
    /* h w kh stride pad ceil: the models' 3x3 at stride 2 (ResNet's and
     * GoogLeNet's maxpool2 by rows, maxpool3 and 4 in quarters, the largest
     * quarters, the smallest rows), rows past their buffers (the row
     * form), stride 1, 2x2 */
    static const int shapes[][6] = {
        {112, 112, 3, 2, 1, 0}, {56, 56, 3, 2, 0, 1}, {28, 28, 3, 2, 0, 1}, {40, 40, 3, 2, 1, 0},
        {48, 48, 3, 2, 1, 0},   {14, 14, 3, 2, 0, 1}, {9, 10, 3, 2, 1, 1},  {7, 1, 3, 2, 1, 0},
        {5, 600, 3, 2, 1, 0},   {14, 13, 3, 1, 1, 1}, {9, 11, 2, 2, 0, 0},
    };
    cnn_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.opts.threads = 1;
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++)
        for (int fill = 0; fill < 3; fill++) {
            const int *s = shapes[t];
            cnn_pool_desc d = {CNN_POOL_MAX, 1,    2,    s[0], s[1],      s[2], s[2],
                               s[3],         s[3], s[4], s[4], s[5] != 0, 0,    0};
            TU_EXPECT_OK(cnn_pool_init(&d));
            const int64_t in = (int64_t)d.h * d.w, out = (int64_t)d.p * d.q;
            float *x = malloc(sizeof(float) * 2 * in), *dx = malloc(sizeof(float) * 2 * in);
            float *ref = malloc(sizeof(float) * in), *dy = malloc(sizeof(float) * 2 * out);
            TU_CHECK(x && dx && ref && dy, "out of memory");
            if (!x || !dx || !ref || !dy)
                goto next;
            uint64_t rng = 11 + t;
            /* ties (four values), ties and a NaN every 17, mostly -inf */
            for (int64_t i = 0; i < 2 * in; i++) {
                const float u = tu_uniform(&rng, 0.0f, 1.0f);
                x[i] = fill == 0   ? floorf(4.0f * u)
                       : fill == 1 ? (i % 17 == 3 ? NAN : floorf(4.0f * u))
                                   : (i % 5 == 2 ? u : -INFINITY);
            }
            for (int64_t i = 0; i < 2 * out; i++)
                dy[i] = tu_uniform(&rng, -1.0f, 1.0f);
            TU_EXPECT_OK(cnn_cpu_pool_bwd(&ctx, &d, x, NULL, dy, dx, NULL, 0));
            for (int c = 0; c < 2; c++) {
                pool_scatter(&d, x + c * in, dy + c * out, ref);
                int64_t bad = -1;
                for (int64_t i = 0; i < in && bad < 0; i++)
                    if (memcmp(&ref[i], &dx[c * in + i], sizeof(float)) != 0)
                        bad = i;
                TU_CHECK(bad < 0,
                         "max-pool bwd %dx%d k%d s%d p%d%s fill %d: dx[%lld] = %.9g, "
                         "the scatter gives %.9g",
                         d.h, d.w, d.kh, d.stride_h, d.pad_h, d.ceil_mode ? " ceil" : "", fill,
                         (long long)bad, bad < 0 ? 0.0 : dx[c * in + bad],
                         bad < 0 ? 0.0 : ref[bad]);
            }
        next:
            free(x), free(dx), free(ref), free(dy);
        }
}

int main(void)
{
    pool_scatter_order();
#ifdef CNN_CPU_HAVE_LANES
    linear_lanes();
#endif
    dropout_kernels();
    bn_accuracy("batch norm, ordinary first element", 0.5f);
    bn_accuracy("batch norm, first element 1e5", 1e5f);
    return tu_finish("test_cpu_ops");
}
