/* The reference backend checked against first principles: every backward
 * pass against central finite differences of its own forward pass, and the
 * forward passes against small cases worked out by hand (and confirmed with
 * PyTorch 1.13's torch.nn.functional).
 *
 * Finite differences: with a fixed random g, L(x) = sum_i g_i * y_i(x) is
 * accumulated in double from the float outputs, so dL/dx = J^T g, which is
 * exactly what a backward pass given dy = g returns. The numeric derivative
 * is (L(x + h e_j) - L(x - h e_j)) / (x_j^+ - x_j^-), dividing by the step
 * the float input actually took. Its error has two sources:
 *  - rounding: each y_i is rounded to float (relative 2^-24 = 6e-8). Only the
 *    outputs that depend on x_j change, so with A of them of size |y| the
 *    difference of two losses is off by about sqrt(A) * |g| |y| 6e-8, divided
 *    by 2h;
 *  - truncation: h^2/6 * L''' for smooth nonlinear ops, zero for ops that
 *    are linear in the perturbed input (conv, linear, pooling, dropout, ...),
 *    and zero for max pooling and relu as long as no perturbation crosses a
 *    tie or a kink, which the inputs below are built to avoid.
 * For linear ops h = 1e-2: rounding gives ~1e-5 relative to gradients of
 * order one (6e-6 measured), so TOL_LINEAR = 2e-4 leaves a wide margin while
 * any indexing mistake (errors of order 1e-1) still fails. For smooth
 * nonlinear ops h = 1e-3 balances the two (each ~1e-5 to 1e-4; 8e-5
 * measured, in batch norm), so TOL_SMOOTH = 1e-3. The error is the relative
 * L2 norm over the whole gradient; the worst ones are printed at the end. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "philox.h"
#include "registry.h"
#include "test_util.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define H_LINEAR 1e-2
#define H_SMOOTH 1e-3
#define TOL_LINEAR 2e-4
#define TOL_SMOOTH 1e-3

static cnn_ctx *ctx;
static uint64_t rng = 20240601;

static float *alloc_floats(int64_t n)
{
    float *p = calloc((size_t)n, sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* Distinct values spaced `gap` apart in random order, centred on zero, so
 * that no perturbation by less than gap/2 changes which element is largest. */
static float *distinct_floats(int64_t n, float gap)
{
    float *p = alloc_floats(n);
    for (int64_t i = 0; i < n; i++)
        p[i] = gap * (float)(i - n / 2);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(tu_next(&rng) % (uint64_t)(i + 1));
        float t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    return p;
}

/* ---- the finite-difference engine -------------------------------------- */

/* An operation under test: forward() recomputes out[0..n_out) from the
 * current contents of its inputs; L = sum g * out. */
typedef struct probe {
    void (*forward)(void *state);
    void *state;
    const float *out;
    int64_t n_out;
    const float *g;
} probe;

static double loss_of(const probe *pr)
{
    pr->forward(pr->state);
    double l = 0.0;
    for (int64_t i = 0; i < pr->n_out; i++)
        l += (double)pr->g[i] * pr->out[i];
    return l;
}

/* Relative L2 distance between `analytic` and the central differences of L
 * with respect to param[0..n). Leaves param and the outputs as they were. */
static double fd_error(const probe *pr, float *param, int64_t n, const float *analytic, double h)
{
    double num = 0.0, den = 0.0;
    for (int64_t j = 0; j < n; j++) {
        const float saved = param[j];
        param[j] = (float)(saved + h);
        const double x_plus = param[j], l_plus = loss_of(pr);
        param[j] = (float)(saved - h);
        const double x_minus = param[j], l_minus = loss_of(pr);
        param[j] = saved;
        const double fd = (l_plus - l_minus) / (x_plus - x_minus);
        num += (analytic[j] - fd) * (analytic[j] - fd);
        den += fd * fd;
    }
    pr->forward(pr->state);
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

/* The worst error seen under each tolerance, printed at the end so that a
 * reader can see how much margin the tolerances leave. */
static double worst_linear, worst_smooth;

static void check_grad(const char *what, const probe *pr, float *param, int64_t n,
                       const float *analytic, double h, double tol)
{
    double e = fd_error(pr, param, n, analytic, h);
    TU_CHECK(e <= tol, "%s: relative L2 error %.3g > %.3g", what, e, tol);
    double *worst = tol == TOL_LINEAR ? &worst_linear : &worst_smooth;
    if (e > *worst || isnan(e))
        *worst = e;
}

/* ---- convolution -------------------------------------------------------- */

typedef struct conv_state {
    cnn_conv_desc d;
    float *x, *w, *b, *y;
} conv_state;

static void conv_forward(void *s)
{
    conv_state *c = s;
    TU_EXPECT_OK(cnn_conv_fwd(ctx, &c->d, c->x, c->w, c->b, c->y, NULL, 0));
}

static void gradcheck_conv(cnn_conv_desc d)
{
    char name[128], what[160];
    TU_EXPECT_OK(cnn_conv_init(&d));
    cnn_op op = {.kind = CNN_OP_CONV, .conv = d};
    cnn_op_str(&op, name, sizeof name);
    const int64_t nx = (int64_t)d.n * d.c * d.h * d.w, nw = (int64_t)d.k * d.c * d.r * d.s;
    const int64_t ny = (int64_t)d.n * d.k * d.p * d.q;
    conv_state st = {d, tu_rand_buf(nx, &rng, -1, 1), tu_rand_buf(nw, &rng, -1, 1),
                     d.has_bias ? tu_rand_buf(d.k, &rng, -1, 1) : NULL, alloc_floats(ny)};
    float *g = tu_rand_buf(ny, &rng, -1, 1);
    float *dx = alloc_floats(nx), *dw = alloc_floats(nw), *db = alloc_floats(d.k);
    TU_EXPECT_OK(cnn_conv_bwd_data(ctx, &d, g, st.w, dx, NULL, 0));
    TU_EXPECT_OK(cnn_conv_bwd_filter(ctx, &d, st.x, g, dw, NULL, 0));
    TU_EXPECT_OK(cnn_conv_bwd_bias(ctx, &d, NULL, g, db, NULL, NULL, 0));

    probe pr = {conv_forward, &st, st.y, ny, g};
    snprintf(what, sizeof what, "conv dx %s", name);
    check_grad(what, &pr, st.x, nx, dx, H_LINEAR, TOL_LINEAR);
    snprintf(what, sizeof what, "conv dw %s", name);
    check_grad(what, &pr, st.w, nw, dw, H_LINEAR, TOL_LINEAR);
    if (d.has_bias) {
        snprintf(what, sizeof what, "conv db %s", name);
        check_grad(what, &pr, st.b, d.k, db, H_LINEAR, TOL_LINEAR);
    }
    free(st.x), free(st.w), free(st.b), free(st.y), free(g), free(dx), free(dw), free(db);
}

static void test_conv_gradients(void)
{
    /* n, c, h, w, k, r, s, stride_h, stride_w, pad_h, pad_w, has_bias */
    const cnn_conv_desc cases[] = {
        {2, 3, 5, 7, 4, 3, 3, 1, 1, 1, 1, true, 0, 0, false},  /* odd, non-square input */
        {1, 2, 7, 6, 3, 3, 2, 2, 3, 2, 1, true, 0, 0, false},  /* r != s, per-axis stride and pad */
        {2, 1, 6, 5, 1, 1, 1, 1, 1, 0, 0, true, 0, 0, false},  /* C = 1, K = 1, 1x1 kernel */
        {1, 2, 8, 9, 2, 5, 5, 3, 3, 2, 2, false, 0, 0, false}, /* stride 3, pad 2, no bias */
        {2, 3, 4, 5, 2, 2, 3, 2, 1, 0, 1, true, 0, 0, false},  /* even kernel height */
        {1, 2, 3, 3, 3, 3, 3, 1, 1, 3, 3, true, 0, 0, false},  /* padding > the kernel's half */
        {1, 4, 5, 5, 2, 1, 1, 2, 2, 0, 0, true, 0, 0, false},  /* strided 1x1 (ResNet downsample) */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        gradcheck_conv(cases[i]);
}

/* ---- pooling ------------------------------------------------------------ */

typedef struct pool_state {
    cnn_pool_desc d;
    float *x, *y;
} pool_state;

static void pool_forward(void *s)
{
    pool_state *p = s;
    TU_EXPECT_OK(cnn_pool_fwd(ctx, &p->d, p->x, p->y, NULL, 0));
}

static void gradcheck_pool(cnn_pool_desc d)
{
    char name[128], what[160];
    TU_EXPECT_OK(cnn_pool_init(&d));
    cnn_op op = {.kind = CNN_OP_POOL, .pool = d};
    cnn_op_str(&op, name, sizeof name);
    const int64_t nx = (int64_t)d.n * d.c * d.h * d.w, ny = (int64_t)d.n * d.c * d.p * d.q;
    /* Spacing 4h: a perturbation of h never reorders two elements. */
    pool_state st = {d, distinct_floats(nx, (float)(4 * H_LINEAR)), alloc_floats(ny)};
    float *g = tu_rand_buf(ny, &rng, -1, 1), *dx = alloc_floats(nx);
    pool_forward(&st);
    TU_EXPECT_OK(cnn_pool_bwd(ctx, &d, st.x, st.y, g, dx, NULL, 0));
    probe pr = {pool_forward, &st, st.y, ny, g};
    snprintf(what, sizeof what, "pool dx %s", name);
    check_grad(what, &pr, st.x, nx, dx, H_LINEAR, TOL_LINEAR);
    free(st.x), free(st.y), free(g), free(dx);
}

static void test_pool_gradients(void)
{
    const cnn_pool_mode modes[] = {CNN_POOL_MAX, CNN_POOL_AVG};
    /* n, c, h, w, kh, kw, stride_h, stride_w, pad_h, pad_w, ceil_mode */
    const int shapes[][11] = {
        {2, 2, 7, 6, 3, 2, 2, 2, 1, 1, 0}, /* floor, padded, rectangular window */
        {1, 2, 5, 6, 2, 3, 2, 2, 1, 1, 1}, /* ceil: a window hangs past the padding */
        {1, 3, 4, 4, 3, 3, 2, 2, 1, 1, 1}, /* ceil: PyTorch's clipped divisor */
        {2, 1, 6, 5, 3, 3, 1, 1, 1, 1, 0}, /* overlapping windows, stride 1 */
        {1, 2, 8, 7, 3, 3, 3, 2, 0, 1, 1}, /* stride 3, ceil */
    };
    for (size_t m = 0; m < 2; m++) {
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const int *s = shapes[i];
            cnn_pool_desc d = {modes[m], s[0], s[1], s[2], s[3],       s[4], s[5],
                               s[6],     s[7], s[8], s[9], s[10] != 0, 0,    0};
            gradcheck_pool(d);
        }
    }
}

typedef struct adapool_state {
    cnn_adapool_desc d;
    float *x, *y;
} adapool_state;

static void adapool_forward(void *s)
{
    adapool_state *a = s;
    TU_EXPECT_OK(cnn_adapool_fwd(ctx, &a->d, a->x, a->y, NULL, 0));
}

static void test_adapool_gradients(void)
{
    /* n, c, h, w, p, q: non-divisible sizes overlap neighbouring cells. */
    const cnn_adapool_desc cases[] = {
        {2, 2, 5, 7, 3, 2}, {1, 3, 7, 5, 2, 3}, {2, 2, 6, 6, 4, 4}, {1, 2, 3, 4, 1, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cnn_adapool_desc d = cases[i];
        TU_EXPECT_OK(cnn_adapool_init(&d));
        const int64_t nx = (int64_t)d.n * d.c * d.h * d.w, ny = (int64_t)d.n * d.c * d.p * d.q;
        adapool_state st = {d, tu_rand_buf(nx, &rng, -1, 1), alloc_floats(ny)};
        float *g = tu_rand_buf(ny, &rng, -1, 1), *dx = alloc_floats(nx);
        TU_EXPECT_OK(cnn_adapool_bwd(ctx, &d, g, dx, NULL, 0));
        probe pr = {adapool_forward, &st, st.y, ny, g};
        char what[96];
        snprintf(what, sizeof what, "adaptive avg pool dx %dx%d -> %dx%d", d.h, d.w, d.p, d.q);
        check_grad(what, &pr, st.x, nx, dx, H_LINEAR, TOL_LINEAR);
        free(st.x), free(st.y), free(g), free(dx);
    }
}

/* ---- batch norm --------------------------------------------------------- */

typedef struct bn_state {
    cnn_bn_desc d;
    float *x, *gamma, *beta, *y, *mean, *invstd;
} bn_state;

/* Training mode without running statistics, so repeated calls are pure. */
static void bn_forward(void *s)
{
    bn_state *b = s;
    TU_EXPECT_OK(cnn_bn_fwd_train(ctx, &b->d, b->x, b->gamma, b->beta, b->y, NULL, NULL, b->mean,
                                  b->invstd, NULL, 0));
}

static void test_bn_gradients(void)
{
    const cnn_bn_desc cases[] = {{2, 3, 3, 2, 1e-5, 0.1, false, false},
                                 {4, 2, 1, 1, 1e-5, 0.1, false, false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cnn_bn_desc d = cases[i];
        TU_EXPECT_OK(cnn_bn_init(&d));
        const int64_t nx = (int64_t)d.n * d.c * d.h * d.w;
        bn_state st = {d,
                       tu_rand_buf(nx, &rng, -2, 2),
                       tu_rand_buf(d.c, &rng, 0.5f, 1.5f),
                       tu_rand_buf(d.c, &rng, -0.5f, 0.5f),
                       alloc_floats(nx),
                       alloc_floats(d.c),
                       alloc_floats(d.c)};
        float *g = tu_rand_buf(nx, &rng, -1, 1), *dx = alloc_floats(nx);
        float *dgamma = alloc_floats(d.c), *dbeta = alloc_floats(d.c);
        bn_forward(&st);
        TU_EXPECT_OK(cnn_bn_bwd(ctx, &d, st.x, NULL, g, st.gamma, st.mean, st.invstd, dx, dgamma,
                                dbeta, NULL, 0));
        probe pr = {bn_forward, &st, st.y, nx, g};
        char what[96];
        snprintf(what, sizeof what, "bn dx %dx%dx%dx%d", d.n, d.c, d.h, d.w);
        check_grad(what, &pr, st.x, nx, dx, H_SMOOTH, TOL_SMOOTH);
        /* y is linear in gamma and beta. */
        snprintf(what, sizeof what, "bn dgamma %dx%dx%dx%d", d.n, d.c, d.h, d.w);
        check_grad(what, &pr, st.gamma, d.c, dgamma, H_LINEAR, TOL_LINEAR);
        snprintf(what, sizeof what, "bn dbeta %dx%dx%dx%d", d.n, d.c, d.h, d.w);
        check_grad(what, &pr, st.beta, d.c, dbeta, H_LINEAR, TOL_LINEAR);
        free(st.x), free(st.gamma), free(st.beta), free(st.y), free(st.mean), free(st.invstd);
        free(g), free(dx), free(dgamma), free(dbeta);
    }
}

/* Eval mode: inference forward with running statistics, and the frozen-
 * statistics backward (global_stats) fed the running mean and variance. */
typedef struct bn_frozen_state {
    cnn_bn_desc d;
    float *x, *gamma, *beta, *y, *rmean, *rvar;
} bn_frozen_state;

static void bn_infer(void *s)
{
    bn_frozen_state *b = s;
    TU_EXPECT_OK(
        cnn_bn_fwd_infer(ctx, &b->d, b->x, b->gamma, b->beta, b->rmean, b->rvar, b->y, NULL, 0));
}

static void test_bn_frozen_gradients(void)
{
    cnn_bn_desc d = {3, 4, 2, 3, 1e-3, 0.1, true, false};
    TU_EXPECT_OK(cnn_bn_init(&d));
    const int64_t nx = (int64_t)d.n * d.c * d.h * d.w;
    bn_frozen_state st = {d,
                          tu_rand_buf(nx, &rng, -2, 2),
                          tu_rand_buf(d.c, &rng, 0.5f, 1.5f),
                          tu_rand_buf(d.c, &rng, -0.5f, 0.5f),
                          alloc_floats(nx),
                          tu_rand_buf(d.c, &rng, -0.5f, 0.5f),
                          tu_rand_buf(d.c, &rng, 0.5f, 1.5f)};
    float *g = tu_rand_buf(nx, &rng, -1, 1), *dx = alloc_floats(nx);
    float *dgamma = alloc_floats(d.c), *dbeta = alloc_floats(d.c);
    bn_infer(&st);
    TU_EXPECT_OK(cnn_bn_bwd(ctx, &d, st.x, NULL, g, st.gamma, st.rmean, st.rvar, dx, dgamma, dbeta,
                            NULL, 0));
    probe pr = {bn_infer, &st, st.y, nx, g};
    /* with frozen statistics y is affine in x, gamma and beta */
    check_grad("bn frozen dx", &pr, st.x, nx, dx, H_LINEAR, TOL_LINEAR);
    check_grad("bn frozen dgamma", &pr, st.gamma, d.c, dgamma, H_LINEAR, TOL_LINEAR);
    check_grad("bn frozen dbeta", &pr, st.beta, d.c, dbeta, H_LINEAR, TOL_LINEAR);
    free(st.x), free(st.gamma), free(st.beta), free(st.y), free(st.rmean), free(st.rvar);
    free(g), free(dx), free(dgamma), free(dbeta);
}

/* ---- linear ------------------------------------------------------------- */

typedef struct linear_state {
    cnn_linear_desc d;
    float *x, *w, *b, *y;
} linear_state;

static void linear_forward(void *s)
{
    linear_state *l = s;
    TU_EXPECT_OK(cnn_linear_fwd(ctx, &l->d, l->x, l->w, l->b, l->y, NULL, 0));
}

static void test_linear_gradients(void)
{
    const cnn_linear_desc cases[] = {{3, 7, 5, true}, {1, 4, 9, false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cnn_linear_desc d = cases[i];
        TU_EXPECT_OK(cnn_linear_init(&d));
        const int64_t nx = (int64_t)d.n * d.in, nw = (int64_t)d.out * d.in,
                      ny = (int64_t)d.n * d.out;
        linear_state st = {d, tu_rand_buf(nx, &rng, -1, 1), tu_rand_buf(nw, &rng, -1, 1),
                           d.has_bias ? tu_rand_buf(d.out, &rng, -1, 1) : NULL, alloc_floats(ny)};
        float *g = tu_rand_buf(ny, &rng, -1, 1), *dx = alloc_floats(nx), *dw = alloc_floats(nw);
        float *db = d.has_bias ? alloc_floats(d.out) : NULL;
        TU_EXPECT_OK(cnn_linear_bwd_data(ctx, &d, g, st.w, dx, NULL, 0));
        TU_EXPECT_OK(cnn_linear_bwd_weight(ctx, &d, st.x, g, dw, db, NULL, 0));
        probe pr = {linear_forward, &st, st.y, ny, g};
        check_grad("linear dx", &pr, st.x, nx, dx, H_LINEAR, TOL_LINEAR);
        check_grad("linear dw", &pr, st.w, nw, dw, H_LINEAR, TOL_LINEAR);
        if (d.has_bias)
            check_grad("linear db", &pr, st.b, d.out, db, H_LINEAR, TOL_LINEAR);
        free(st.x), free(st.w), free(st.b), free(st.y), free(g), free(dx), free(dw), free(db);
    }
}

/* ---- element-wise ------------------------------------------------------- */

typedef struct act_state {
    cnn_act_desc d;
    float *x, *y;
} act_state;

static void act_forward(void *s)
{
    act_state *a = s;
    TU_EXPECT_OK(cnn_act_fwd(ctx, &a->d, a->x, a->y));
}

static void test_act_gradients(void)
{
    const int64_t n = 64;
    for (int mode = 0; mode < CNN_ACT_MODE_COUNT; mode++) {
        act_state st = {{(cnn_act_mode)mode, n}, alloc_floats(n), alloc_floats(n)};
        TU_EXPECT_OK(cnn_act_init(&st.d));
        const bool relu = mode == CNN_ACT_RELU;
        for (int64_t i = 0; i < n; i++) {
            /* relu: |x| >= 5h keeps every perturbation on one side of the kink. */
            float mag = tu_uniform(&rng, relu ? (float)(5 * H_LINEAR) : 0.0f, 4.0f);
            st.x[i] = (tu_next(&rng) & 1) ? mag : -mag;
        }
        float *g = tu_rand_buf(n, &rng, -1, 1), *dx = alloc_floats(n);
        act_forward(&st);
        TU_EXPECT_OK(cnn_act_bwd(ctx, &st.d, st.y, g, dx));
        probe pr = {act_forward, &st, st.y, n, g};
        if (relu)
            check_grad("relu dx", &pr, st.x, n, dx, H_LINEAR, TOL_LINEAR);
        else
            check_grad("sigmoid dx", &pr, st.x, n, dx, H_SMOOTH, TOL_SMOOTH);
        free(st.x), free(st.y), free(g), free(dx);
    }
}

typedef struct dropout_state {
    cnn_dropout_desc d;
    float *x, *y;
} dropout_state;

static void dropout_forward(void *s)
{
    dropout_state *p = s;
    TU_EXPECT_OK(cnn_dropout_fwd(ctx, &p->d, p->x, p->y));
}

static void test_dropout(void)
{
    const int64_t n = 200;
    dropout_state st = {{n, 0.3, 12345}, tu_rand_buf(n, &rng, -1, 1), alloc_floats(n)};
    TU_EXPECT_OK(cnn_dropout_init(&st.d));
    float *g = tu_rand_buf(n, &rng, -1, 1), *dx = alloc_floats(n);
    TU_EXPECT_OK(cnn_dropout_bwd(ctx, &st.d, g, dx));
    /* The mask is a pure function of (seed, i): dx = dy * mask / (1 - p). */
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double want = cnn_dropout_keep(st.d.seed, (uint64_t)i, st.d.p) ? g[i] / (1.0 - st.d.p) : 0;
        bad += fabs(dx[i] - want) > 1e-6 * fabs(want);
    }
    TU_CHECK(bad == 0, "dropout dx != dy * mask / (1-p) at %d of %lld elements", bad, (long long)n);
    probe pr = {dropout_forward, &st, st.y, n, g};
    check_grad("dropout dx", &pr, st.x, n, dx, H_LINEAR, TOL_LINEAR);
    free(st.x), free(st.y), free(g), free(dx);

    /* Kept fraction over 2^20 elements: binomial, sd = sqrt(p(1-p)/N) <= 4.9e-4;
     * 6 sd = 3e-3 is never exceeded by a correct mask. */
    const int64_t big = (int64_t)1 << 20;
    float *ones = alloc_floats(big), *a = alloc_floats(big), *b = alloc_floats(big);
    for (int64_t i = 0; i < big; i++)
        ones[i] = 1.0f;
    const double ps[] = {0.0, 0.1, 0.5, 0.9, 1.0};
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        cnn_dropout_desc d = {big, ps[k], 7};
        TU_EXPECT_OK(cnn_dropout_init(&d));
        TU_EXPECT_OK(cnn_dropout_fwd(ctx, &d, ones, a));
        int64_t kept = 0, wrong_value = 0;
        const float scale = ps[k] < 1.0 ? (float)(1.0 / (1.0 - ps[k])) : 0.0f;
        for (int64_t i = 0; i < big; i++) {
            kept += a[i] != 0.0f;
            wrong_value += a[i] != 0.0f && a[i] != scale;
        }
        double frac = (double)kept / big;
        TU_CHECK(fabs(frac - (1.0 - ps[k])) <= 3e-3, "dropout p=%g kept %.5f, want %.5f", ps[k],
                 frac, 1.0 - ps[k]);
        TU_CHECK(wrong_value == 0, "dropout p=%g: %lld kept values are not 1/(1-p)", ps[k],
                 (long long)wrong_value);
    }
    cnn_dropout_desc d = {big, 0.5, 99};
    TU_EXPECT_OK(cnn_dropout_fwd(ctx, &d, ones, a));
    TU_EXPECT_OK(cnn_dropout_fwd(ctx, &d, ones, b));
    TU_CHECK(memcmp(a, b, (size_t)big * sizeof(float)) == 0, "dropout: same seed, different masks");
    d.seed = 100;
    TU_EXPECT_OK(cnn_dropout_fwd(ctx, &d, ones, b));
    int64_t differ = 0;
    for (int64_t i = 0; i < big; i++)
        differ += a[i] != b[i];
    /* Independent masks at p = 0.5 disagree on half the elements. */
    TU_CHECK(fabs((double)differ / big - 0.5) < 3e-3, "dropout: seeds 99 and 100 differ at %.4f",
             (double)differ / big);
    free(ones), free(a), free(b);
}

typedef struct xent_state {
    cnn_xent_desc d;
    float *logits, *prob, loss;
    int32_t *labels;
} xent_state;

static void xent_forward(void *s)
{
    xent_state *x = s;
    TU_EXPECT_OK(cnn_xent_fwd(ctx, &x->d, x->logits, x->labels, x->prob, &x->loss));
}

static void test_xent(void)
{
    cnn_xent_desc d = {4, 7};
    TU_EXPECT_OK(cnn_xent_init(&d));
    int32_t labels[4] = {0, 6, 3, 3};
    xent_state st = {d, tu_rand_buf(28, &rng, -3, 3), alloc_floats(28), 0, labels};
    float *dlogits = alloc_floats(28), one = 1.0f;
    xent_forward(&st);
    TU_EXPECT_OK(cnn_xent_bwd(ctx, &d, st.prob, labels, dlogits));
    /* L is the float loss itself (|L| ~ 2, rounding 1e-7): h = 1e-2 keeps the
     * rounding at 1e-5 against gradients ~0.05, and the truncation h^2/6 *
     * L''' ~ 1e-5 as well. */
    probe pr = {xent_forward, &st, &st.loss, 1, &one};
    check_grad("softmax_xent dlogits", &pr, st.logits, 28, dlogits, H_LINEAR, TOL_SMOOTH);

    /* Two equal logits: prob 1/2 each, loss ln 2. */
    cnn_xent_desc d2 = {1, 2};
    TU_EXPECT_OK(cnn_xent_init(&d2));
    float logits[2] = {3.0f, 3.0f}, prob[2], loss;
    int32_t label = 1;
    TU_EXPECT_OK(cnn_xent_fwd(ctx, &d2, logits, &label, prob, &loss));
    TU_CHECK(fabsf(loss - 0.69314718f) < 1e-6f && prob[0] == 0.5f && prob[1] == 0.5f,
             "xent of equal logits: loss %.8f prob %g %g, want ln 2 and 1/2", loss, prob[0],
             prob[1]);
    /* Huge logits must not overflow: the shift by the maximum handles them. */
    logits[0] = 1000.0f, logits[1] = 0.0f;
    TU_EXPECT_OK(cnn_xent_fwd(ctx, &d2, logits, &label, prob, &loss));
    TU_CHECK(fabsf(loss - 1000.0f) < 1e-3f, "xent with logit 1000: loss %g, want 1000", loss);
    labels[2] = 7;
    cnn_status s = cnn_xent_fwd(ctx, &d, st.logits, labels, st.prob, &st.loss);
    TU_CHECK(s == CNN_ERR_INVALID_ARG && strstr(cnn_last_error(), "batch element 2") &&
                 strstr(cnn_last_error(), "7"),
             "xent with label 7 of 7 classes: status %d, '%s'", (int)s, cnn_last_error());
    labels[2] = -1;
    s = cnn_xent_bwd(ctx, &d, st.prob, labels, dlogits);
    TU_CHECK(s == CNN_ERR_INVALID_ARG, "xent bwd with label -1: status %d", (int)s);
    free(st.logits), free(st.prob), free(dlogits);
}

typedef struct concat_state {
    cnn_concat_desc d;
    float *xs[3], *y;
} concat_state;

static void concat_forward(void *s)
{
    concat_state *c = s;
    TU_EXPECT_OK(cnn_concat_fwd(ctx, &c->d, (const float *const *)c->xs, c->y));
}

static void test_concat_and_add(void)
{
    concat_state st = {{2, 3, 2, 3, {1, 3, 2}, 0}, {NULL}, NULL};
    TU_EXPECT_OK(cnn_concat_init(&st.d));
    const int64_t hw = 6, ny = 2 * 6 * hw;
    float *dxs[3];
    for (int i = 0; i < 3; i++) {
        st.xs[i] = tu_rand_buf(2 * st.d.c[i] * hw, &rng, -1, 1);
        dxs[i] = alloc_floats(2 * st.d.c[i] * hw);
    }
    st.y = alloc_floats(ny);
    float *g = tu_rand_buf(ny, &rng, -1, 1);
    concat_forward(&st);
    /* Input 1's channel 2 of batch element 1 is output channel 1 + 2 = 3. */
    TU_CHECK(memcmp(st.y + (1 * 6 + 3) * hw, st.xs[1] + (1 * 3 + 2) * hw, hw * sizeof(float)) == 0,
             "concat: input 1 channel 2 is not at output channel 3");
    TU_EXPECT_OK(cnn_concat_bwd(ctx, &st.d, g, dxs));
    probe pr = {concat_forward, &st, st.y, ny, g};
    for (int i = 0; i < 3; i++)
        check_grad("concat dx", &pr, st.xs[i], 2 * st.d.c[i] * hw, dxs[i], H_LINEAR, TOL_LINEAR);
    for (int i = 0; i < 3; i++)
        free(st.xs[i]), free(dxs[i]);
    free(st.y), free(g);

    cnn_add_desc ad = {5};
    TU_EXPECT_OK(cnn_add_init(&ad));
    float a[5] = {1, -2, 0.5f, 1e8f, 3}, b[5] = {2, 2, 0.25f, 1, -3}, y[5];
    TU_EXPECT_OK(cnn_add_fwd(ctx, &ad, a, b, y));
    int bad = 0;
    for (int i = 0; i < 5; i++)
        bad += y[i] != a[i] + b[i];
    TU_CHECK(bad == 0, "add: %d of 5 sums differ from the float sum", bad);
}

/* ---- forward passes against hand-computed values ----------------------- */

static void expect_values(const char *what, const float *got, const double *want, int n, double tol)
{
    for (int i = 0; i < n; i++)
        TU_CHECK(fabs(got[i] - want[i]) <= tol * fmax(1.0, fabs(want[i])),
                 "%s[%d] = %.8g, want %.8g", what, i, got[i], want[i]);
}

static void test_hand_forward(void)
{
    /* x = w = [1..9] as 3x3, pad 1, bias 0.5. The centre sees all of x:
     * sum i^2 = 285; the corner (0,0) sees x[0..1][0..1] under w[1..2][1..2]:
     * 1*5 + 2*6 + 4*8 + 5*9 = 94. */
    float x9[9], w9[9], b = 0.5f, y9[9];
    for (int i = 0; i < 9; i++)
        x9[i] = w9[i] = (float)(i + 1);
    cnn_conv_desc cd = {1, 1, 3, 3, 1, 3, 3, 1, 1, 1, 1, true, 0, 0, false};
    TU_EXPECT_OK(cnn_conv_init(&cd));
    TU_EXPECT_OK(cnn_conv_fwd(ctx, &cd, x9, w9, &b, y9, NULL, 0));
    const double conv_want[9] = {94.5, 154.5, 106.5, 186.5, 285.5, 186.5, 106.5, 154.5, 94.5};
    expect_values("conv 3x3", y9, conv_want, 9, 0);

    /* 2x2 windows, stride 2, ceil mode over the 3x3 [1..9]: the last row and
     * column get 2x1, 1x2 and 1x1 windows. Average divides by what lies in
     * input + padding (no padding here): (3+6)/2, (7+8)/2, 9/1. */
    float y4[4];
    cnn_pool_desc pd = {CNN_POOL_MAX, 1, 1, 3, 3, 2, 2, 2, 2, 0, 0, true, 0, 0};
    TU_EXPECT_OK(cnn_pool_init(&pd));
    TU_EXPECT_OK(cnn_pool_fwd(ctx, &pd, x9, y4, NULL, 0));
    expect_values("maxpool 2x2 ceil", y4, (const double[]){5, 6, 8, 9}, 4, 0);
    pd.mode = CNN_POOL_AVG;
    TU_EXPECT_OK(cnn_pool_fwd(ctx, &pd, x9, y4, NULL, 0));
    expect_values("avgpool 2x2 ceil", y4, (const double[]){3, 4.5, 7.5, 9}, 4, 0);

    /* 3x3 windows, stride 2, pad 1, ceil mode over the 4x4 [1..16] (3x3 out).
     * Window 2 along an axis starts at 3 and would end at 6; PyTorch clips it
     * to the right padding edge 4 + 1 = 5, so its divisor is 2 (one real
     * element, one padding) and window 0's is 3 (one padding, two real).
     * Corner (2,2): x[3][3] / (2*2) = 16/4 = 4. Edge (2,0): rows {3} x cols
     * {0,1}, (13+14) / (2*3) = 4.5. Centre (1,1): rows and cols 1..3,
     * divisor 9: (6+7+8+10+11+12+14+15+16)/9 = 11. */
    float x16[16], y3[9];
    for (int i = 0; i < 16; i++)
        x16[i] = (float)(i + 1);
    cnn_pool_desc pa = {CNN_POOL_AVG, 1, 1, 4, 4, 3, 3, 2, 2, 1, 1, true, 0, 0};
    TU_EXPECT_OK(cnn_pool_init(&pa));
    TU_CHECK(pa.p == 3 && pa.q == 3, "avgpool 4x4 k3 s2 p1 ceil: %dx%d, want 3x3", pa.p, pa.q);
    TU_EXPECT_OK(cnn_pool_fwd(ctx, &pa, x16, y3, NULL, 0));
    const double avg_want[9] = {14.0 / 9, 30.0 / 9, 12.0 / 6, 57.0 / 9, 11,
                                36.0 / 6, 27.0 / 6, 45.0 / 6, 4};
    expect_values("avgpool 4x4 k3 s2 p1 ceil", y3, avg_want, 9, 1e-7);
    pa.mode = CNN_POOL_MAX;
    TU_EXPECT_OK(cnn_pool_fwd(ctx, &pa, x16, y3, NULL, 0));
    expect_values("maxpool 4x4 k3 s2 p1 ceil", y3,
                  (const double[]){6, 8, 8, 14, 16, 16, 14, 16, 16}, 9, 0);

    /* Max pooling: NaN wins its window; ties send the gradient to the first
     * maximum in row-major order. */
    float xt[4] = {1, 1, 1, 1}, yt, dyt = 2.5f, dxt[4];
    cnn_pool_desc pt = {CNN_POOL_MAX, 1, 1, 2, 2, 2, 2, 2, 2, 0, 0, false, 0, 0};
    TU_EXPECT_OK(cnn_pool_init(&pt));
    TU_EXPECT_OK(cnn_pool_fwd(ctx, &pt, xt, &yt, NULL, 0));
    TU_EXPECT_OK(cnn_pool_bwd(ctx, &pt, xt, &yt, &dyt, dxt, NULL, 0));
    expect_values("maxpool tie dx", dxt, (const double[]){2.5, 0, 0, 0}, 4, 0);
    xt[2] = NAN;
    TU_EXPECT_OK(cnn_pool_fwd(ctx, &pt, xt, &yt, NULL, 0));
    TU_CHECK(isnan(yt), "maxpool over a NaN gave %g, want NaN", yt);

    /* Batch norm of one channel [1, 2, 3, 4]: mean 2.5, biased variance 1.25,
     * unbiased 5/3. With momentum 0.1 from running (0, 1):
     * running_mean = 0.25, running_var = 0.9 + 0.1 * 5/3 = 1.0666667.
     * y = 2 * (x - 2.5) / sqrt(1.25 + 1e-5) + 1. */
    float xb[4] = {1, 2, 3, 4}, gamma = 2, beta = 1, yb[4], rm = 0, rv = 1, sm, si;
    cnn_bn_desc bd = {4, 1, 1, 1, 1e-5, 0.1, false, false};
    TU_EXPECT_OK(cnn_bn_init(&bd));
    TU_EXPECT_OK(cnn_bn_fwd_train(ctx, &bd, xb, &gamma, &beta, yb, &rm, &rv, &sm, &si, NULL, 0));
    const double invstd = 1.0 / sqrt(1.25 + 1e-5);
    const double bn_want[4] = {1 - 3 * invstd, 1 - invstd, 1 + invstd, 1 + 3 * invstd};
    expect_values("bn train y", yb, bn_want, 4, 1e-7);
    expect_values("bn running_mean", &rm, (const double[]){0.25}, 1, 1e-7);
    expect_values("bn running_var", &rv, (const double[]){0.9 + 0.1 * 5.0 / 3.0}, 1, 1e-7);
    expect_values("bn save_mean", &sm, (const double[]){2.5}, 1, 0);
    expect_values("bn save_invstd", &si, &invstd, 1, 1e-7);
    /* Inference with those running statistics. */
    TU_EXPECT_OK(cnn_bn_fwd_infer(ctx, &bd, xb, &gamma, &beta, &rm, &rv, yb, NULL, 0));
    double inv_run = 1.0 / sqrt((double)rv + 1e-5), infer_want[4];
    for (int i = 0; i < 4; i++)
        infer_want[i] = 2 * (xb[i] - (double)rm) * inv_run + 1;
    expect_values("bn infer y", yb, infer_want, 4, 1e-7);

    /* Two values per channel: the normalised outputs are +-1 whatever x is,
     * up to eps, so the exact gradient is tiny. With u = (x0 - x1) / 2,
     * y0 = gamma * u / sqrt(u^2 + eps) + beta and y1 mirrors it, so
     * dx0 = -dx1 = gamma * (g0 - g1) / 2 * eps / (u^2 + eps)^1.5 (~1e-5 here).
     * The general formula's terms cancel to 1 part in 1e5; the reference must
     * still be right to float precision (1e-6 relative). */
    float x2[2] = {0.5f, 2.5f}, g2[2] = {0.75f, -0.25f}, y2[2], dx2[2], dg2, db2;
    cnn_bn_desc b2 = {2, 1, 1, 1, 1e-5, 0.1, false, false};
    TU_EXPECT_OK(cnn_bn_init(&b2));
    TU_EXPECT_OK(cnn_bn_fwd_train(ctx, &b2, x2, &gamma, &beta, y2, NULL, NULL, &sm, &si, NULL, 0));
    TU_EXPECT_OK(cnn_bn_bwd(ctx, &b2, x2, NULL, g2, &gamma, &sm, &si, dx2, &dg2, &db2, NULL, 0));
    const double dx0 = 2.0 * (0.75 + 0.25) / 2 * 1e-5 / pow(1.0 + 1e-5, 1.5);
    expect_values("bn dx with two values", dx2, (const double[]){dx0, -dx0}, 2, 1e-6 * dx0);

    /* Adaptive average pooling 5 -> 3 uses rows {0,1}, {1,2,3}, {3,4}. */
    float xa[5] = {1, 2, 4, 8, 16}, ya[3];
    cnn_adapool_desc ad = {1, 1, 1, 5, 1, 3};
    TU_EXPECT_OK(cnn_adapool_init(&ad));
    TU_EXPECT_OK(cnn_adapool_fwd(ctx, &ad, xa, ya, NULL, 0));
    expect_values("adaptive 5->3", ya, (const double[]){1.5, 14.0 / 3, 12}, 3, 1e-7);
}

/* ---- determinism -------------------------------------------------------- */

#ifdef _OPENMP
typedef struct det_out {
    float *dw, *y, *rm, *rv, *dx, *dgamma, *dbeta;
} det_out;

static void run_reductions(const cnn_conv_desc *cd, const cnn_bn_desc *bd, const float *x,
                           const float *dy, det_out *o)
{
    TU_EXPECT_OK(cnn_conv_bwd_filter(ctx, cd, x, dy, o->dw, NULL, 0));
    const float gamma[5] = {1, 0.5f, 2, 1.5f, 0.75f}, beta[5] = {0, 0.1f, -0.2f, 0.3f, 0};
    float sm[5], si[5];
    for (int c = 0; c < 5; c++)
        o->rm[c] = 0.0f, o->rv[c] = 1.0f;
    TU_EXPECT_OK(cnn_bn_fwd_train(ctx, bd, x, gamma, beta, o->y, o->rm, o->rv, sm, si, NULL, 0));
    TU_EXPECT_OK(
        cnn_bn_bwd(ctx, bd, x, NULL, o->y, gamma, sm, si, o->dx, o->dgamma, o->dbeta, NULL, 0));
}

static void test_determinism(void)
{
    cnn_conv_desc cd = {6, 5, 9, 9, 4, 3, 3, 1, 1, 1, 1, true, 0, 0, false};
    cnn_bn_desc bd = {6, 5, 9, 9, 1e-5, 0.1, false, false};
    TU_EXPECT_OK(cnn_conv_init(&cd));
    TU_EXPECT_OK(cnn_bn_init(&bd));
    const int64_t nx = 6 * 5 * 81, ny = 6 * 4 * 81, nw = 4 * 5 * 9;
    float *x = tu_rand_buf(nx, &rng, -1, 1), *dy = tu_rand_buf(ny, &rng, -1, 1);
    det_out out[3];
    const int threads[3] = {1, 2, 3}, saved = omp_get_max_threads();
    for (int t = 0; t < 3; t++) {
        out[t] = (det_out){alloc_floats(nw), alloc_floats(nx), alloc_floats(5), alloc_floats(5),
                           alloc_floats(nx), alloc_floats(5),  alloc_floats(5)};
        omp_set_num_threads(threads[t]);
        run_reductions(&cd, &bd, x, dy, &out[t]);
    }
    for (int t = 1; t < 3; t++) {
        TU_CHECK(!memcmp(out[0].dw, out[t].dw, nw * 4), "conv dw: 1 vs %d threads", threads[t]);
        TU_CHECK(!memcmp(out[0].y, out[t].y, nx * 4) && !memcmp(out[0].rm, out[t].rm, 20) &&
                     !memcmp(out[0].rv, out[t].rv, 20),
                 "bn forward: 1 vs %d threads", threads[t]);
        TU_CHECK(!memcmp(out[0].dx, out[t].dx, nx * 4) &&
                     !memcmp(out[0].dgamma, out[t].dgamma, 20) &&
                     !memcmp(out[0].dbeta, out[t].dbeta, 20),
                 "bn backward: 1 vs %d threads", threads[t]);
    }
    for (int t = 0; t < 3; t++)
        free(out[t].dw), free(out[t].y), free(out[t].rm), free(out[t].rv), free(out[t].dx),
            free(out[t].dgamma), free(out[t].dbeta);
    free(x), free(dy);
    omp_set_num_threads(saved);
}

/* Every conv pass and linear's backward data, run with 1, 2 and 3 threads,
 * gives the same bits: on a strided, padded shape with odd sizes and r != s
 * (the kernels' general-stride copy), and on a unit-stride one whose filter
 * and channel counts leave partial blocks (the unit-stride copy). */
static void test_pass_determinism(void)
{
    const cnn_conv_desc shapes[2] = {
        {3, 7, 23, 19, 13, 3, 5, 2, 2, 1, 2, true, 0, 0, false},
        {2, 5, 11, 13, 17, 3, 3, 1, 1, 1, 1, true, 0, 0, false},
    };
    const int threads[3] = {1, 2, 3}, saved = omp_get_max_threads();
    for (int i = 0; i < 2; i++) {
        cnn_conv_desc d = shapes[i];
        TU_EXPECT_OK(cnn_conv_init(&d));
        const int64_t nx = (int64_t)d.n * d.c * d.h * d.w, ny = (int64_t)d.n * d.k * d.p * d.q,
                      nw = (int64_t)d.k * d.c * d.r * d.s;
        float *x = tu_rand_buf(nx, &rng, -1, 1), *w = tu_rand_buf(nw, &rng, -1, 1),
              *b = tu_rand_buf(d.k, &rng, -1, 1), *dy = tu_rand_buf(ny, &rng, -1, 1);
        float *y[3], *dx[3], *dw[3];
        for (int t = 0; t < 3; t++) {
            y[t] = alloc_floats(ny), dx[t] = alloc_floats(nx), dw[t] = alloc_floats(nw);
            omp_set_num_threads(threads[t]);
            TU_EXPECT_OK(cnn_conv_fwd(ctx, &d, x, w, b, y[t], NULL, 0));
            TU_EXPECT_OK(cnn_conv_bwd_data(ctx, &d, dy, w, dx[t], NULL, 0));
            TU_EXPECT_OK(cnn_conv_bwd_filter(ctx, &d, x, dy, dw[t], NULL, 0));
        }
        for (int t = 1; t < 3; t++) {
            TU_CHECK(!memcmp(y[0], y[t], ny * 4), "conv y, shape %d: 1 vs %d threads", i,
                     threads[t]);
            TU_CHECK(!memcmp(dx[0], dx[t], nx * 4), "conv dx, shape %d: 1 vs %d threads", i,
                     threads[t]);
            TU_CHECK(!memcmp(dw[0], dw[t], nw * 4), "conv dw, shape %d: 1 vs %d threads", i,
                     threads[t]);
        }
        for (int t = 0; t < 3; t++)
            free(y[t]), free(dx[t]), free(dw[t]);
        free(x), free(w), free(b), free(dy);
    }

    cnn_linear_desc ld = {3, 600, 7, true};
    TU_EXPECT_OK(cnn_linear_init(&ld));
    float *lw = tu_rand_buf(600 * 7, &rng, -1, 1), *ldy = tu_rand_buf(3 * 7, &rng, -1, 1);
    float *ldx[3];
    for (int t = 0; t < 3; t++) {
        ldx[t] = alloc_floats(3 * 600);
        omp_set_num_threads(threads[t]);
        TU_EXPECT_OK(cnn_linear_bwd_data(ctx, &ld, ldy, lw, ldx[t], NULL, 0));
    }
    for (int t = 1; t < 3; t++)
        TU_CHECK(!memcmp(ldx[0], ldx[t], 3 * 600 * 4), "linear dx: 1 vs %d threads", threads[t]);
    for (int t = 0; t < 3; t++)
        free(ldx[t]);
    free(lw), free(ldy);
    omp_set_num_threads(saved);
}
#endif

int main(void)
{
    const cnn_backend *be = cnn_backend_find("naive");
    if (!be || cnn_ctx_create(be, NULL, &ctx) != CNN_OK) {
        fprintf(stderr, "no naive backend: %s\n", cnn_last_error());
        return 1;
    }
    test_hand_forward();
    test_conv_gradients();
    test_pool_gradients();
    test_adapool_gradients();
    test_bn_gradients();
    test_bn_frozen_gradients();
    test_linear_gradients();
    test_act_gradients();
    test_dropout();
    test_xent();
    test_concat_and_add();
#ifdef _OPENMP
    test_determinism();
    test_pass_determinism();
#else
    printf("built without OpenMP: thread-count determinism not tested\n");
#endif
    printf("worst finite-difference error: %.3g (linear ops, tolerance %g), %.3g (smooth, %g)\n",
           worst_linear, TOL_LINEAR, worst_smooth, TOL_SMOOTH);
    cnn_ctx_destroy(ctx);
    return tu_finish("test_naive_gradcheck");
}
