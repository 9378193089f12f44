/* The oneDNN backend against the naive reference, through the checked
 * dispatch: every implemented op and pass, on shapes chosen for the corners
 * (odd and rectangular sizes, rectangular kernels, strides 2 to 4, padding
 * wider than 1, C = 1, K = 1, 1x1, 11x11 stride 4, a kernel larger than the
 * input, layers of VGG and ResNet at small batch), plus what this backend
 * adds: the primitive cache, its thread-count key, supports() refusing what
 * oneDNN would get wrong, and the reorder clock. Outputs start as NaN so an
 * element left unwritten fails; workspaces are allocated at exactly the size
 * asked for (malloc'd, so not 64-byte aligned) and ASan sees any overrun.
 *
 * Tolerances, as relative L2 error against the reference (which sums in
 * double and rounds once: within half an ulp, 6e-8, of exact):
 *  - oneDNN sums in float. Rounding errors of a sum of K random-signed
 *    products grow like sqrt(K) * 2^-24 relative to the result's scale, so a
 *    pass reducing K terms gets tol(K) = max(1e-6, 4 * sqrt(K) * 2^-24):
 *    a 4x margin over that estimate (blocked sums do better), while an
 *    indexing error (a wrong pixel, tap or channel) costs O(1). K is C*R*S
 *    for conv forward, K*R*S for backward data, N*P*Q for backward weights
 *    and bias, `in`, `out` and `n` for the linear passes, the window for
 *    pooling.
 *  - Batch norm reduces m = n*h*w values per channel in float; an error in
 *    the mean of about sqrt(m) * 2^-24 * |mean| reaches y scaled by
 *    1/stddev. The inputs have mean 1.5 and stddev 0.58, so tol(m) is
 *    multiplied by 1 + 1.5/0.58 < 4.
 *  - Direct f32 only: oneDNN picks no Winograd for f32 on AVX2 (its f32
 *    Winograd needs AVX-512); should it pick one on another machine, the
 *    transforms' amplified rounding gets WINO_TOL, as benchdnn also loosens.
 *  - Max pooling, relu, add and concat move or compare values without
 *    arithmetic: compared bitwise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "registry.h"
#include "test_util.h"

#define TOL_MIN 1e-6
#define WINO_TOL 1e-3
#define BN_SCALE 4.0

static cnn_ctx *naive, *dnn, *dnn1;
static uint64_t rng = 2024;

static double tol(int64_t k)
{
    double t = 4.0 * sqrt((double)k) * ldexp(1.0, -24);
    return t > TOL_MIN ? t : TOL_MIN;
}

/* Relative L2 error within tol, against a reference that is not all zeros
 * (zeros matching zeros proves nothing). V=1 prints every comparison. */
static void expect_close(const char *what, const char *key, const float *got, const float *ref,
                         int64_t n, double t)
{
    double err = tu_rel_l2(got, ref, n);
    if (getenv("V"))
        printf("%-58s %-52s %.2e (tol %.1e)\n", what, key, err, t);
    TU_CHECK(tu_norm2(ref, n) > 0.0, "%s %s: reference is all zeros", what, key);
    TU_CHECK(err <= t, "%s %s: rel L2 error %.3g > %.2g", what, key, err, t);
}

/* ||got - ref|| / scale: for results that are small differences of large
 * terms, judged against the size of the terms. */
static void expect_close_to_scale(const char *what, const char *key, const float *got,
                                  const float *ref, int64_t n, double scale, double t)
{
    double num = 0.0;
    for (int64_t i = 0; i < n; i++)
        num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
    double err = sqrt(num) / scale;
    if (getenv("V"))
        printf("%-58s %-52s %.2e (tol %.1e, of the terms)\n", what, key, err, t);
    TU_CHECK(scale > 0.0, "%s %s: zero scale", what, key);
    TU_CHECK(err <= t, "%s %s: L2 error %.3g of the terms' scale > %.2g", what, key, err, t);
}

/* Exactly equal values (NaN matches NaN; -0 matches 0, which relu's
 * gradient gives as -0 in oneDNN where dy < 0 and y = 0). */
static void expect_same(const char *what, const char *key, const float *got, const float *ref,
                        int64_t n)
{
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++)
        if (got[i] != ref[i] && !(isnan(got[i]) && isnan(ref[i])))
            bad++, first = first < 0 ? i : first;
    if (getenv("V"))
        printf("%-58s %-52s %lld differ\n", what, key, (long long)bad);
    TU_CHECK(tu_norm2(ref, n) > 0.0, "%s %s: reference is all zeros", what, key);
    TU_CHECK(bad == 0, "%s %s: %lld of %lld elements differ, first at %lld (%g vs %g)", what, key,
             (long long)bad, (long long)n, (long long)first, first >= 0 ? got[first] : 0.0,
             first >= 0 ? ref[first] : 0.0);
}

/* ---- convolution ------------------------------------------------------ */

static const tu_conv_case conv_cases[] = {
    {2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, true},        /* odd, non-square */
    {3, 5, 11, 6, 7, 3, 2, 2, 1, 1, 0, true},       /* rectangular kernel and stride */
    {2, 3, 35, 35, 8, 11, 11, 4, 4, 2, 2, true},    /* 11x11 stride 4 (AlexNet conv1) */
    {2, 4, 13, 13, 6, 5, 5, 3, 3, 3, 3, true},      /* stride 3, padding 3 */
    {2, 4, 9, 10, 4, 3, 3, 4, 4, 1, 1, true},       /* stride 4 on 3x3 */
    {1, 1, 9, 9, 1, 3, 3, 1, 1, 1, 1, true},        /* C = K = 1 */
    {2, 1, 12, 11, 8, 3, 3, 1, 1, 1, 1, false},     /* C = 1 */
    {2, 8, 12, 12, 1, 3, 3, 1, 1, 1, 1, true},      /* K = 1 */
    {2, 16, 10, 10, 24, 1, 1, 1, 1, 0, 0, true},    /* 1x1 */
    {2, 32, 9, 9, 16, 1, 1, 2, 2, 0, 0, true},      /* 1x1 stride 2 (downsample) */
    {2, 3, 5, 5, 4, 1, 1, 1, 1, 1, 1, true},        /* 1x1 with padding */
    {1, 2, 3, 3, 2, 5, 5, 1, 1, 2, 2, true},        /* kernel larger than the input */
    {1, 3, 5, 5, 4, 5, 5, 1, 1, 0, 0, true},        /* 1x1 output, n = 1: db is dy */
    {3, 3, 5, 4, 4, 5, 4, 1, 1, 0, 0, true},        /* 1x1 output: db sums the batch */
    {2, 3, 10, 10, 4, 2, 2, 3, 3, 0, 0, false},     /* stride > kernel: rows never read */
    {2, 8, 15, 15, 8, 3, 3, 2, 2, 1, 1, true},      /* odd size, stride 2 */
    {2, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1, true},    /* 3x3 */
    {2, 64, 28, 28, 64, 3, 3, 1, 1, 1, 1, false},   /* VGG-like 3x3 */
    {2, 3, 32, 32, 16, 7, 7, 2, 2, 3, 3, false},    /* ResNet stem, smaller */
    {2, 64, 28, 28, 64, 1, 1, 1, 1, 0, 0, false},   /* ResNet bottleneck 1x1 */
    {2, 128, 14, 14, 256, 3, 3, 2, 2, 1, 1, false}, /* ResNet downsampling 3x3 */
};

typedef struct conv_data {
    cnn_op op;
    float *x, *w, *b, *dy;
    float *ref[4]; /* y, dx, dw, db from the reference */
} conv_data;

static const cnn_pass conv_passes[4] = {CNN_FWD, CNN_BWD_DATA, CNN_BWD_WEIGHT, CNN_BWD_BIAS};

static int64_t conv_reduction(const cnn_conv_desc *d, cnn_pass pass)
{
    switch (pass) {
    case CNN_FWD: return (int64_t)d->c * d->r * d->s;
    case CNN_BWD_DATA: return (int64_t)d->k * d->r * d->s;
    default: return (int64_t)d->n * d->p * d->q;
    }
}

static void run_conv(cnn_ctx *ctx, conv_data *cd, cnn_pass pass, float *out)
{
    size_t ws_size;
    void *ws = tu_ws_for(ctx, &cd->op, pass, &ws_size);
    tu_conv_io io = {cd->x, cd->w, cd->b, cd->dy};
    TU_EXPECT_OK(tu_conv_pass(ctx, &cd->op.conv, &io, pass, out, ws, ws_size));
    free(ws);
}

static void check_conv(cnn_ctx *ctx, const char *name, conv_data *cd)
{
    const cnn_conv_desc *d = &cd->op.conv;
    char key[160], what[160];
    cnn_op_str(&cd->op, key, sizeof key);
    for (int i = 0; i < 4; i++) {
        const cnn_pass pass = conv_passes[i];
        const int64_t n = tu_conv_out_size(d, pass);
        const char *alg = cnn_algorithm(ctx, &cd->op, pass);
        double t = tol(conv_reduction(d, pass));
        if (strstr(alg, "wino"))
            t = WINO_TOL;
        float *out = tu_nan_buf(n), *again = tu_nan_buf(n);
        run_conv(ctx, cd, pass, out);
        snprintf(what, sizeof what, "%s conv %s [%s]", name, cnn_pass_str(pass), alg);
        expect_close(what, key, out, cd->ref[i], n, t);
        /* The second call takes the cached primitive: the same bits. */
        run_conv(ctx, cd, pass, again);
        snprintf(what, sizeof what, "%s conv %s cached", name, cnn_pass_str(pass));
        expect_same(what, key, again, out, n);
        free(out);
        free(again);
    }
}

static void test_conv(void)
{
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) {
        const tu_conv_case *cc = &conv_cases[i];
        conv_data cd = {.op = tu_conv_op(cc)};
        TU_EXPECT_OK(cnn_op_init(&cd.op));
        const cnn_conv_desc *d = &cd.op.conv;
        cd.x = tu_rand_buf(tu_conv_out_size(d, CNN_BWD_DATA), &rng, -1.0f, 1.0f);
        cd.w = tu_rand_buf(tu_conv_out_size(d, CNN_BWD_WEIGHT), &rng, -1.0f, 1.0f);
        cd.b = cc->bias ? tu_rand_buf(d->k, &rng, -1.0f, 1.0f) : NULL;
        cd.dy = tu_rand_buf(tu_conv_out_size(d, CNN_FWD), &rng, -1.0f, 1.0f);
        for (int p = 0; p < 4; p++) {
            cd.ref[p] = tu_nan_buf(tu_conv_out_size(d, conv_passes[p]));
            run_conv(naive, &cd, conv_passes[p], cd.ref[p]);
        }
        check_conv(dnn, "onednn", &cd);
        /* One thread: another primitive (the count is in the cache key). */
        if (i % 4 == 0)
            check_conv(dnn1, "onednn(1 thread)", &cd);
        free(cd.x), free(cd.w), free(cd.b), free(cd.dy);
        for (int p = 0; p < 4; p++)
            free(cd.ref[p]);
    }
}

/* oneDNN's blocked layouts cost reorders, and the clock says so. */
static void test_reorder_clock(void)
{
    cnn_op op = {.kind = CNN_OP_CONV,
                 .conv = {.n = 2,
                          .c = 32,
                          .h = 20,
                          .w = 20,
                          .k = 32,
                          .r = 3,
                          .s = 3,
                          .stride_h = 1,
                          .stride_w = 1,
                          .pad_h = 1,
                          .pad_w = 1}};
    TU_EXPECT_OK(cnn_op_init(&op));
    const char *alg = cnn_algorithm(dnn, &op, CNN_FWD);
    conv_data cd = {.op = op};
    cd.x = tu_rand_buf(tu_conv_out_size(&op.conv, CNN_BWD_DATA), &rng, -1, 1);
    cd.w = tu_rand_buf(tu_conv_out_size(&op.conv, CNN_BWD_WEIGHT), &rng, -1, 1);
    float *y = tu_nan_buf(tu_conv_out_size(&op.conv, CNN_FWD));
    const char *what;
    double spent;
    run_conv(dnn, &cd, CNN_FWD, y);
    TU_CHECK(cnn_side_time(dnn, &what, &spent), "onednn reports no side time");
    if (strstr(alg, "+reorder"))
        TU_CHECK(spent > 0.0, "%s: reorders ran but the clock says %g s", alg, spent);
    else
        TU_CHECK(spent == 0.0, "%s: no reorders, but the clock moved %g s", alg, spent);
    TU_CHECK(!cnn_side_time(naive, &what, &spent), "naive context has a reorder clock");
    free(cd.x), free(cd.w), free(y);
}

/* ---- linear ------------------------------------------------------------ */

static void test_linear(int n, int in, int out, bool bias)
{
    cnn_op op = {.kind = CNN_OP_LINEAR, .linear = {.n = n, .in = in, .out = out, .has_bias = bias}};
    TU_EXPECT_OK(cnn_op_init(&op));
    const cnn_linear_desc *d = &op.linear;
    const int64_t nx = (int64_t)n * in, ny = (int64_t)n * out, nw = (int64_t)out * in;
    float *x = tu_rand_buf(nx, &rng, -1, 1), *w = tu_rand_buf(nw, &rng, -1, 1),
          *b = tu_rand_buf(out, &rng, -1, 1), *dy = tu_rand_buf(ny, &rng, -1, 1);
    cnn_ctx *ctxs[2] = {naive, dnn};
    float *y[2], *dx[2], *dw[2], *db[2], *dw_nob = tu_nan_buf(nw);
    for (int i = 0; i < 2; i++) {
        size_t s0, s1, s2;
        void *w0 = tu_ws_for(ctxs[i], &op, CNN_FWD, &s0),
             *w1 = tu_ws_for(ctxs[i], &op, CNN_BWD_DATA, &s1),
             *w2 = tu_ws_for(ctxs[i], &op, CNN_BWD_WEIGHT, &s2);
        y[i] = tu_nan_buf(ny), dx[i] = tu_nan_buf(nx);
        dw[i] = tu_nan_buf(nw), db[i] = tu_nan_buf(out);
        TU_EXPECT_OK(cnn_linear_fwd(ctxs[i], d, x, w, bias ? b : NULL, y[i], w0, s0));
        TU_EXPECT_OK(cnn_linear_bwd_data(ctxs[i], d, dy, w, dx[i], w1, s1));
        TU_EXPECT_OK(cnn_linear_bwd_weight(ctxs[i], d, x, dy, dw[i], bias ? db[i] : NULL, w2, s2));
        /* A caller may leave db out even with a bias. */
        if (i == 1 && bias)
            TU_EXPECT_OK(cnn_linear_bwd_weight(dnn, d, x, dy, dw_nob, NULL, w2, s2));
        free(w0), free(w1), free(w2);
    }
    char key[64], what[128];
    cnn_op_str(&op, key, sizeof key);
    snprintf(what, sizeof what, "linear fwd [%s]", cnn_algorithm(dnn, &op, CNN_FWD));
    expect_close(what, key, y[1], y[0], ny, tol(in));
    snprintf(what, sizeof what, "linear bwd_data [%s]", cnn_algorithm(dnn, &op, CNN_BWD_DATA));
    expect_close(what, key, dx[1], dx[0], nx, tol(out));
    snprintf(what, sizeof what, "linear bwd_weight [%s]", cnn_algorithm(dnn, &op, CNN_BWD_WEIGHT));
    expect_close(what, key, dw[1], dw[0], nw, tol(n));
    if (bias) {
        expect_close("linear bwd_bias", key, db[1], db[0], out, tol(n));
        expect_same("linear bwd_weight without db", key, dw_nob, dw[1], nw);
    }
    for (int i = 0; i < 2; i++)
        free(y[i]), free(dx[i]), free(dw[i]), free(db[i]);
    free(x), free(w), free(b), free(dy), free(dw_nob);
}

/* ---- pooling ----------------------------------------------------------- */

typedef enum fill { FILL_RANDOM, FILL_FEW_VALUES, FILL_CONSTANT } fill;

/* FILL_FEW_VALUES (0..3) and FILL_CONSTANT make ties common or universal:
 * the first-maximum rule decides where backward sends the gradient. */
static void test_pool(cnn_pool_desc pd, fill f)
{
    cnn_op op = {.kind = CNN_OP_POOL, .pool = pd};
    TU_EXPECT_OK(cnn_op_init(&op));
    const cnn_pool_desc *d = &op.pool;
    const int64_t nx = (int64_t)d->n * d->c * d->h * d->w, ny = (int64_t)d->n * d->c * d->p * d->q;
    float *x = tu_rand_buf(nx, &rng, -2, 2), *dy = tu_rand_buf(ny, &rng, -1, 1);
    for (int64_t i = 0; i < nx; i++)
        x[i] = f == FILL_CONSTANT ? 1.0f : f == FILL_FEW_VALUES ? floorf(x[i]) : x[i];
    float *y[2] = {tu_nan_buf(ny), tu_nan_buf(ny)}, *dx[2] = {tu_nan_buf(nx), tu_nan_buf(nx)};
    cnn_ctx *ctxs[2] = {naive, dnn};
    for (int i = 0; i < 2; i++) {
        size_t s0, s1;
        void *w0 = tu_ws_for(ctxs[i], &op, CNN_FWD, &s0),
             *w1 = tu_ws_for(ctxs[i], &op, CNN_BWD_DATA, &s1);
        TU_EXPECT_OK(cnn_pool_fwd(ctxs[i], d, x, y[i], w0, s0));
        TU_EXPECT_OK(cnn_pool_bwd(ctxs[i], d, x, y[i], dy, dx[i], w1, s1));
        free(w0), free(w1);
    }
    char key[160], what[160];
    cnn_op_str(&op, key, sizeof key);
    const char *ties = f == FILL_RANDOM ? "" : f == FILL_FEW_VALUES ? " (ties)" : " (all tied)";
    snprintf(what, sizeof what, "pool fwd%s [%s]", ties, cnn_algorithm(dnn, &op, CNN_FWD));
    if (d->mode == CNN_POOL_MAX)
        expect_same(what, key, y[1], y[0], ny);
    else
        expect_close(what, key, y[1], y[0], ny, tol((int64_t)d->kh * d->kw));
    /* Backward adds the dy of overlapping windows, in float. */
    snprintf(what, sizeof what, "pool bwd%s [%s]", ties, cnn_algorithm(dnn, &op, CNN_BWD_DATA));
    expect_close(what, key, dx[1], dx[0], nx, tol((int64_t)d->kh * d->kw));
    for (int i = 0; i < 2; i++)
        free(y[i]), free(dx[i]);
    free(x), free(dy);
}

/* PyTorch divides a ceil-mode average window that hangs past the right
 * padding by less than the kernel; oneDNN cannot, so the backend declines. */
static void test_pool_refused(cnn_pool_desc pd)
{
    cnn_op op = {.kind = CNN_OP_POOL, .pool = pd};
    TU_EXPECT_OK(cnn_op_init(&op));
    char key[160];
    cnn_op_str(&op, key, sizeof key);
    TU_CHECK(!cnn_supports(dnn, &op, CNN_FWD) && !cnn_supports(dnn, &op, CNN_BWD_DATA),
             "%s: avg pool with an overhanging ceil window must be refused", key);
    float *x = tu_rand_buf((int64_t)pd.n * pd.c * pd.h * pd.w, &rng, -1, 1);
    float *y = tu_nan_buf((int64_t)pd.n * pd.c * op.pool.p * op.pool.q);
    TU_CHECK(cnn_pool_fwd(dnn, &op.pool, x, y, NULL, 0) == CNN_ERR_UNSUPPORTED,
             "%s: pool_fwd must answer unsupported", key);
    free(x), free(y);
}

static void test_pools(void)
{
    const cnn_pool_mode MAX = CNN_POOL_MAX, AVG = CNN_POOL_AVG;
    test_pool(tu_pool(MAX, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, false), FILL_RANDOM);
    test_pool(tu_pool(MAX, 2, 3, 8, 10, 3, 3, 2, 2, 0, 0, true),
              FILL_RANDOM); /* extra ceil windows */
    test_pool(tu_pool(MAX, 1, 4, 13, 11, 3, 2, 2, 3, 1, 1, true), FILL_RANDOM);
    test_pool(tu_pool(MAX, 2, 2, 6, 6, 2, 2, 2, 2, 0, 0, false), FILL_RANDOM);
    test_pool(tu_pool(MAX, 2, 8, 56, 56, 3, 3, 2, 2, 1, 1, false), FILL_RANDOM); /* ResNet */
    test_pool(tu_pool(MAX, 2, 3, 9, 9, 3, 3, 2, 2, 1, 1, false), FILL_FEW_VALUES);
    test_pool(tu_pool(MAX, 2, 3, 8, 8, 3, 3, 2, 2, 0, 0, true), FILL_FEW_VALUES);
    test_pool(tu_pool(MAX, 2, 3, 8, 8, 3, 3, 1, 1, 1, 1, false), FILL_CONSTANT);
    test_pool(tu_pool(MAX, 2, 3, 8, 8, 2, 2, 2, 2, 0, 0, false), FILL_CONSTANT);
    test_pool(tu_pool(AVG, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, false), FILL_RANDOM);
    test_pool(tu_pool(AVG, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, true), FILL_RANDOM); /* ceil = floor */
    test_pool(tu_pool(AVG, 2, 4, 8, 8, 2, 2, 2, 2, 0, 0, false), FILL_RANDOM);
    test_pool(tu_pool(AVG, 1, 3, 10, 7, 5, 3, 3, 2, 2, 1, false), FILL_RANDOM);
    /* A ceil window that ends exactly at the right padding is fine. */
    test_pool(tu_pool(AVG, 1, 2, 5, 5, 2, 2, 2, 2, 1, 1, true), FILL_RANDOM);
    /* Ceil mode adds a window only when it overhangs the right padding. */
    test_pool_refused(tu_pool(AVG, 2, 3, 8, 10, 3, 3, 2, 2, 0, 0, true));
    test_pool_refused(tu_pool(AVG, 1, 2, 6, 8, 2, 3, 2, 2, 0, 1, true)); /* width only */
    test_pool_refused(tu_pool(AVG, 1, 2, 4, 6, 3, 2, 2, 2, 1, 0, true)); /* height only */
}

static void test_adapool(int n, int c, int h, int w, int p, int q)
{
    cnn_op op = {.kind = CNN_OP_ADAPOOL, .adapool = {n, c, h, w, p, q}};
    TU_EXPECT_OK(cnn_op_init(&op));
    char key[96];
    cnn_op_str(&op, key, sizeof key);
    if (h % p || w % q) {
        TU_CHECK(!cnn_supports(dnn, &op, CNN_FWD) && !cnn_supports(dnn, &op, CNN_BWD_DATA),
                 "%s: uneven adaptive windows must be refused", key);
        return;
    }
    const int64_t nx = (int64_t)n * c * h * w, ny = (int64_t)n * c * p * q;
    float *x = tu_rand_buf(nx, &rng, -1, 1), *dy = tu_rand_buf(ny, &rng, -1, 1);
    float *y[2] = {tu_nan_buf(ny), tu_nan_buf(ny)}, *dx[2] = {tu_nan_buf(nx), tu_nan_buf(nx)};
    cnn_ctx *ctxs[2] = {naive, dnn};
    for (int i = 0; i < 2; i++) {
        size_t s0, s1;
        void *w0 = tu_ws_for(ctxs[i], &op, CNN_FWD, &s0),
             *w1 = tu_ws_for(ctxs[i], &op, CNN_BWD_DATA, &s1);
        TU_EXPECT_OK(cnn_adapool_fwd(ctxs[i], &op.adapool, x, y[i], w0, s0));
        TU_EXPECT_OK(cnn_adapool_bwd(ctxs[i], &op.adapool, dy, dx[i], w1, s1));
        free(w0), free(w1);
    }
    int64_t window = (int64_t)(h / p) * (w / q);
    expect_close("adapool fwd", key, y[1], y[0], ny, tol(window));
    expect_close("adapool bwd", key, dx[1], dx[0], nx, tol(window));
    for (int i = 0; i < 2; i++)
        free(y[i]), free(dx[i]);
    free(x), free(dy);
}

/* ---- batch norm -------------------------------------------------------- */

static void test_bn(int n, int c, int h, int w)
{
    cnn_op op = {.kind = CNN_OP_BN, .bn = {n, c, h, w, 1e-5, 0.1}};
    TU_EXPECT_OK(cnn_op_init(&op));
    const cnn_bn_desc *d = &op.bn;
    const int64_t nx = (int64_t)n * c * h * w, m = (int64_t)n * h * w;
    float *x = tu_rand_buf(nx, &rng, 0.5f, 2.5f), *dy = tu_rand_buf(nx, &rng, -1, 1),
          *gamma = tu_rand_buf(c, &rng, 0.5f, 1.5f), *beta = tu_rand_buf(c, &rng, -1, 1),
          *rm0 = tu_rand_buf(c, &rng, -1, 1), *rv0 = tu_rand_buf(c, &rng, 0.5f, 2);
    float *y[2], *yi[2], *dx[2], *rm[2], *rv[2], *sm[2], *si[2], *dg[2], *db[2];
    cnn_ctx *ctxs[2] = {naive, dnn};
    for (int i = 0; i < 2; i++) {
        size_t s0, s1, s2;
        void *w0 = tu_ws_for(ctxs[i], &op, CNN_FWD, &s0),
             *w1 = tu_ws_for(ctxs[i], &op, CNN_FWD_INFER, &s1),
             *w2 = tu_ws_for(ctxs[i], &op, CNN_BWD_DATA, &s2);
        y[i] = tu_nan_buf(nx), yi[i] = tu_nan_buf(nx), dx[i] = tu_nan_buf(nx);
        sm[i] = tu_nan_buf(c), si[i] = tu_nan_buf(c), dg[i] = tu_nan_buf(c), db[i] = tu_nan_buf(c);
        rm[i] = tu_xmalloc(sizeof(float) * (size_t)c);
        rv[i] = tu_xmalloc(sizeof(float) * (size_t)c);
        memcpy(rm[i], rm0, sizeof(float) * (size_t)c);
        memcpy(rv[i], rv0, sizeof(float) * (size_t)c);
        TU_EXPECT_OK(
            cnn_bn_fwd_train(ctxs[i], d, x, gamma, beta, y[i], rm[i], rv[i], sm[i], si[i], w0, s0));
        TU_EXPECT_OK(cnn_bn_fwd_infer(ctxs[i], d, x, gamma, beta, rm0, rv0, yi[i], w1, s1));
        /* Both backwards start from the reference's saved statistics. */
        TU_EXPECT_OK(
            cnn_bn_bwd(ctxs[i], d, x, dy, gamma, sm[0], si[0], dx[i], dg[i], db[i], w2, s2));
        free(w0), free(w1), free(w2);
    }
    char key[96], what[128];
    cnn_op_str(&op, key, sizeof key);
    const double t = BN_SCALE * tol(m);
    snprintf(what, sizeof what, "bn fwd y [%s]", cnn_algorithm(dnn, &op, CNN_FWD));
    expect_close(what, key, y[1], y[0], nx, t);
    expect_close("bn save_mean", key, sm[1], sm[0], c, t);
    expect_close("bn save_invstd", key, si[1], si[0], c, t);
    expect_close("bn running_mean", key, rm[1], rm[0], c, t);
    expect_close("bn running_var (unbiased)", key, rv[1], rv[0], c, t);
    snprintf(what, sizeof what, "bn fwd_infer y [%s]", cnn_algorithm(dnn, &op, CNN_FWD_INFER));
    expect_close(what, key, yi[1], yi[0], nx, TOL_MIN);
    /* dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)) cancels
     * (to exactly 0 when m = 2), so it is judged against the size of its
     * first term. */
    double term = 0.0;
    for (int64_t i = 0; i < nx; i++) {
        int ch = (int)(i / ((int64_t)h * w) % c);
        double v = (double)gamma[ch] * si[0][ch] * dy[i];
        term += v * v;
    }
    snprintf(what, sizeof what, "bn bwd dx [%s]", cnn_algorithm(dnn, &op, CNN_BWD_DATA));
    expect_close_to_scale(what, key, dx[1], dx[0], nx, sqrt(term), t);
    expect_close("bn bwd dgamma", key, dg[1], dg[0], c, t);
    expect_close("bn bwd dbeta", key, db[1], db[0], c, t);
    for (int i = 0; i < 2; i++) {
        free(y[i]), free(yi[i]), free(dx[i]), free(rm[i]), free(rv[i]);
        free(sm[i]), free(si[i]), free(dg[i]), free(db[i]);
    }
    free(x), free(dy), free(gamma), free(beta), free(rm0), free(rv0);
}

/* ---- element-wise, add, concat ------------------------------------------ */

static void test_act(cnn_act_mode mode, int64_t count)
{
    cnn_op op = {.kind = CNN_OP_ACT, .act = {.mode = mode, .count = count}};
    TU_EXPECT_OK(cnn_op_init(&op));
    float *x = tu_rand_buf(count, &rng, -6, 6), *dy = tu_rand_buf(count, &rng, -1, 1);
    x[0] = 1.5f; /* so that even a count of 1 has something to compare */
    for (int64_t i = 3; i < count; i += 7)
        x[i] = 0.0f; /* relu's kink: y = 0 sends no gradient */
    float *y[2] = {tu_nan_buf(count), tu_nan_buf(count)},
          *dx[2] = {tu_nan_buf(count), tu_nan_buf(count)};
    cnn_ctx *ctxs[2] = {naive, dnn};
    for (int i = 0; i < 2; i++) {
        TU_EXPECT_OK(cnn_act_fwd(ctxs[i], &op.act, x, y[i]));
        /* Both backwards from the reference's y. */
        TU_EXPECT_OK(cnn_act_bwd(ctxs[i], &op.act, y[0], dy, dx[i]));
    }
    char key[64], what[128];
    cnn_op_str(&op, key, sizeof key);
    snprintf(what, sizeof what, "act fwd [%s]", cnn_algorithm(dnn, &op, CNN_FWD));
    if (mode == CNN_ACT_RELU) {
        expect_same(what, key, y[1], y[0], count);
        expect_same("act bwd", key, dx[1], dx[0], count);
    } else {
        /* oneDNN's exp is a polynomial good to a few ulps; the gradient
         * rounds three products. */
        expect_close(what, key, y[1], y[0], count, TOL_MIN);
        expect_close("act bwd", key, dx[1], dx[0], count, TOL_MIN);
    }
    for (int i = 0; i < 2; i++)
        free(y[i]), free(dx[i]);
    free(x), free(dy);
}

static void test_add(int64_t count)
{
    cnn_op op = {.kind = CNN_OP_ADD, .add = {.count = count}};
    TU_EXPECT_OK(cnn_op_init(&op));
    float *a = tu_rand_buf(count, &rng, -1, 1), *b = tu_rand_buf(count, &rng, -1, 1);
    float *y[2] = {tu_nan_buf(count), tu_nan_buf(count)};
    TU_EXPECT_OK(cnn_add_fwd(naive, &op.add, a, b, y[0]));
    TU_EXPECT_OK(cnn_add_fwd(dnn, &op.add, a, b, y[1]));
    char key[64];
    cnn_op_str(&op, key, sizeof key);
    expect_same("add (one rounding, as the reference)", key, y[1], y[0], count);
    free(a), free(b), free(y[0]), free(y[1]);
}

static void test_concat(int n, int h, int w, int count, const int *c)
{
    cnn_op op = {.kind = CNN_OP_CONCAT, .concat = {.n = n, .h = h, .w = w, .count = count}};
    memcpy(op.concat.c, c, sizeof(int) * (size_t)count);
    TU_EXPECT_OK(cnn_op_init(&op));
    const cnn_concat_desc *d = &op.concat;
    const int64_t plane = (int64_t)h * w, ny = (int64_t)n * d->c_out * plane;
    float *xs[CNN_MAX_CONCAT], *dx[2][CNN_MAX_CONCAT];
    for (int i = 0; i < count; i++) {
        xs[i] = tu_rand_buf((int64_t)n * c[i] * plane, &rng, -1, 1);
        dx[0][i] = tu_nan_buf((int64_t)n * c[i] * plane);
        dx[1][i] = tu_nan_buf((int64_t)n * c[i] * plane);
    }
    float *dy = tu_rand_buf(ny, &rng, -1, 1), *y[2] = {tu_nan_buf(ny), tu_nan_buf(ny)};
    cnn_ctx *ctxs[2] = {naive, dnn};
    for (int k = 0; k < 2; k++) {
        TU_EXPECT_OK(cnn_concat_fwd(ctxs[k], d, (const float *const *)xs, y[k]));
        TU_EXPECT_OK(cnn_concat_bwd(ctxs[k], d, dy, dx[k]));
    }
    char key[96];
    cnn_op_str(&op, key, sizeof key);
    expect_same("concat fwd", key, y[1], y[0], ny);
    for (int i = 0; i < count; i++)
        expect_same("concat bwd", key, dx[1][i], dx[0][i], (int64_t)n * c[i] * plane);
    for (int i = 0; i < count; i++)
        free(xs[i]), free(dx[0][i]), free(dx[1][i]);
    free(dy), free(y[0]), free(y[1]);
}

/* Entries the backend does not provide are NULL: the dispatch says
 * unsupported rather than computing something that is not oneDNN's. */
static void test_not_provided(void)
{
    cnn_op drop = {.kind = CNN_OP_DROPOUT, .dropout = {.count = 10, .p = 0.5, .seed = 1}};
    cnn_op xent = {.kind = CNN_OP_XENT, .xent = {.n = 2, .classes = 3}};
    TU_EXPECT_OK(cnn_op_init(&drop));
    TU_EXPECT_OK(cnn_op_init(&xent));
    TU_CHECK(!cnn_supports(dnn, &drop, CNN_FWD) && !cnn_supports(dnn, &xent, CNN_FWD),
             "dropout and softmax cross-entropy are not oneDNN operations");
}

int main(void)
{
    const cnn_backend *nb = cnn_backend_find("naive"), *ob = cnn_backend_find("onednn");
    if (!nb || !ob) {
        fprintf(stderr, "test_onednn: naive or onednn backend not built\n");
        return 1;
    }
    const cnn_ctx_opts one = {.threads = 1};
    TU_EXPECT_OK(cnn_ctx_create(nb, NULL, &naive));
    TU_EXPECT_OK(cnn_ctx_create(ob, NULL, &dnn));
    TU_EXPECT_OK(cnn_ctx_create(ob, &one, &dnn1));
    if (!naive || !dnn || !dnn1)
        return tu_finish("test_onednn");

    test_conv();
    test_reorder_clock();
    test_linear(4, 32, 10, true);
    test_linear(3, 7, 5, false);
    test_linear(16, 256, 128, true);
    test_linear(1, 1, 1, true);
    test_linear(2, 784, 10, true);
    test_pools();
    test_adapool(2, 4, 14, 14, 1, 1); /* global average pooling */
    test_adapool(2, 3, 12, 8, 3, 2);
    test_adapool(2, 3, 7, 7, 3, 3); /* uneven: refused */
    test_bn(4, 3, 5, 7);
    test_bn(2, 16, 8, 8);
    test_bn(8, 32, 4, 4);
    test_bn(2, 2, 1, 1); /* m = 2: the unbiased factor is 2 */
    test_bn(2, 8, 28, 28);
    test_act(CNN_ACT_RELU, 1000);
    test_act(CNN_ACT_RELU, 1);
    test_act(CNN_ACT_SIGMOID, 4097);
    test_act(CNN_ACT_SIGMOID, 3);
    test_add(1001);
    test_add(1);
    test_concat(2, 5, 7, 3, (const int[]){3, 1, 4});
    test_concat(1, 3, 3, 1, (const int[]){2});
    test_concat(2, 4, 6, 8, (const int[]){1, 2, 3, 4, 5, 6, 7, 8});
    test_not_provided();

    cnn_ctx_destroy(dnn1);
    cnn_ctx_destroy(dnn);
    cnn_ctx_destroy(naive);
    return tu_finish("test_onednn");
}
