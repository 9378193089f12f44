/* The im2col backend against the naive reference, through the checked
 * dispatch: every conv pass on shapes chosen to reach each code path (odd
 * and rectangular sizes, strides 2 to 4, padding wider than 1, kernels
 * larger than the input, 1x1 with and without the GEMM-only shortcut, batch
 * chunking, output-row tiling, a single row wider than the workspace cap),
 * linear layers, and the shared CPU ops. Outputs start as NaN so an element
 * left unwritten fails; workspaces are allocated at exactly the size asked
 * for, so a backend writing past it trips ASan.
 *
 * Tolerances, as relative L2 error against the reference (which sums in
 * double and rounds once, so it is within half an ulp, 6e-8, of exact):
 *  - GEMM-based passes sum K float products in float. Rounding errors of
 *    random-signed terms grow like sqrt(K) * 2^-24 relative to the result's
 *    scale; the longest reductions here are conv bwd-filter over N*P*Q = 1600
 *    terms and forward over C*R*S = 968, giving ~2.4e-6 and ~1.9e-6 at worst.
 *    TOL_GEMM = 1e-5 keeps a 4x margin over that, while an indexing error
 *    (a wrong pixel, tap or channel) costs O(1).
 *  - Pooling, adaptive pooling and batch norm round a handful of float
 *    operations per element (the reference: one): TOL_ELT = 1e-6.
 *  - Copies, max pooling and dropout masks are exact: compared bitwise. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "im2col.h"
#include "registry.h"
#include "test_util.h"

#define TOL_GEMM 1e-5
#define TOL_ELT 1e-6
/* Small enough that the tiling cases below tile, large enough that their
 * batched case takes three images per GEMM. */
#define TINY_CAP ((size_t)64 << 10)

static cnn_ctx *naive, *fast, *tiny;
static uint64_t rng = 77;
/* Which thread layout the checks run under (see main). */
static const char *layout = "";

/* Relative L2 error within tol, and a reference that is not all zeros (a
 * comparison of zeros with zeros proves nothing). */
static void expect_close(const char *what, const char *key, const float *got, const float *ref,
                         int64_t n, double tol)
{
    double err = tu_rel_l2(got, ref, n);
    if (getenv("V"))
        printf("%-60s %-50s %.3g\n", what, key, err);
    TU_CHECK(tu_norm2(ref, n) > 0.0, "%s%s %s: reference is all zeros", layout, what, key);
    TU_CHECK(err <= tol, "%s%s %s: rel L2 error %.3g > %.1g", layout, what, key, err, tol);
}

/* Bitwise equality, NaN included. */
static void expect_same(const char *what, const char *key, const float *got, const float *ref,
                        int64_t n)
{
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&got[i], &ref[i], sizeof(float)) != 0 && !(isnan(got[i]) && isnan(ref[i])))
            bad++, first = first < 0 ? i : first;
    TU_CHECK(bad == 0, "%s%s %s: %lld elements differ, first at %lld (%g vs %g)", layout, what, key,
             (long long)bad, (long long)first, first >= 0 ? got[first] : 0.0,
             first >= 0 ? ref[first] : 0.0);
}

/* ---- convolution ------------------------------------------------------ */

static const tu_conv_case conv_cases[] = {
    {2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, true},     /* odd, non-square */
    {3, 5, 11, 6, 7, 3, 2, 2, 1, 1, 0, true},    /* rectangular kernel and stride */
    {2, 3, 35, 35, 8, 11, 11, 4, 4, 2, 2, true}, /* 11x11 stride 4 (AlexNet conv1) */
    {2, 4, 13, 13, 6, 5, 5, 3, 3, 3, 3, true},   /* stride 3, padding 3 */
    {1, 1, 9, 9, 1, 3, 3, 1, 1, 1, 1, true},     /* C = K = 1 */
    {2, 8, 40, 40, 6, 1, 1, 1, 1, 0, 0, true},   /* 1x1: sgemm alone */
    {4, 8, 10, 10, 16, 1, 1, 1, 1, 0, 0, false}, /* 1x1, small weights: sgemm alone */
    {4, 128, 3, 3, 128, 1, 1, 1, 1, 0, 0, true}, /* 1x1, large weights: batched */
    {2, 6, 9, 9, 10, 1, 1, 2, 2, 0, 0, true},    /* 1x1 stride 2 (downsample) */
    {2, 3, 5, 5, 4, 1, 1, 1, 1, 1, 1, true},     /* 1x1 with padding */
    {1, 2, 3, 3, 2, 5, 5, 1, 1, 2, 2, true},     /* kernel larger than the input */
    {2, 3, 10, 10, 4, 2, 2, 3, 3, 0, 0, false},  /* stride > kernel: untouched inputs */
    {8, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1, true}, /* VGG-like, batched */
    {1, 4, 41, 40, 5, 3, 3, 1, 1, 1, 1, true},   /* row tiles under TINY_CAP */
    {1, 3, 37, 29, 4, 5, 5, 2, 2, 2, 2, true},   /* row tiles, windows overlap tiles */
    {7, 12, 7, 6, 8, 3, 3, 1, 1, 1, 1, true},    /* chunks of 3 under TINY_CAP */
    {1, 16, 4, 300, 2, 3, 3, 1, 1, 1, 1, false}, /* one row exceeds TINY_CAP */
    {2, 32, 34, 40, 8, 3, 3, 1, 1, 1, 1, true},  /* per-tap GEMMs; tiles under TINY_CAP */
    {1, 33, 20, 70, 5, 3, 5, 1, 1, 1, 2, false}, /* per tap, rectangular kernel */
    {2, 32, 12, 40, 4, 3, 3, 1, 1, 0, 0, true},  /* per tap, no padding */
    {1, 32, 9, 36, 3, 2, 2, 1, 1, 2, 2, true},   /* per tap, padding wider than the kernel */
};

typedef struct conv_data {
    cnn_op op;
    float *x, *w, *b, *dy;
    float *y, *dx, *dw, *db; /* reference results */
} conv_data;

static void run_conv(cnn_ctx *ctx, conv_data *cd, cnn_pass pass, float *out)
{
    size_t ws_size;
    void *ws = tu_ws_for(ctx, &cd->op, pass, &ws_size);
    tu_conv_io io = {cd->x, cd->w, cd->b, cd->dy};
    TU_EXPECT_OK(tu_conv_pass(ctx, &cd->op.conv, &io, pass, out, ws, ws_size));
    free(ws);
}

static void check_conv_ctx(cnn_ctx *ctx, const char *name, conv_data *cd)
{
    static const cnn_pass passes[] = {CNN_FWD, CNN_BWD_DATA, CNN_BWD_WEIGHT, CNN_BWD_BIAS};
    const cnn_conv_desc *d = &cd->op.conv;
    char key[160], what[64];
    cnn_op_str(&cd->op, key, sizeof key);
    for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++) {
        const cnn_pass pass = passes[i];
        const float *ref = pass == CNN_FWD          ? cd->y
                           : pass == CNN_BWD_DATA   ? cd->dx
                           : pass == CNN_BWD_WEIGHT ? cd->dw
                                                    : cd->db;
        const int64_t n = tu_conv_out_size(d, pass);
        float *out = tu_nan_buf(n);
        run_conv(ctx, cd, pass, out);
        snprintf(what, sizeof what, "%s conv %s [%s]", name, cnn_pass_str(pass),
                 cnn_algorithm(ctx, &cd->op, pass));
        expect_close(what, key, out, ref, n, TOL_GEMM);
        free(out);
    }
}

/* What the tiny-cap context must have done with the cases built to tile,
 * chunk or overflow the cap; a case that silently took another path would
 * leave that path untested. */
static void check_conv_plan(const conv_data *cd)
{
    const cnn_conv_desc *d = &cd->op.conv;
    const char *fwd = cnn_algorithm(tiny, &cd->op, CNN_FWD);
    size_t ws = cnn_workspace_size(tiny, &cd->op, CNN_FWD);
    size_t one_row = sizeof(float) * (size_t)d->c * d->r * d->s * d->q;
    TU_CHECK(ws <= TINY_CAP || ws == one_row, "workspace %zu exceeds cap %zu", ws, TINY_CAP);
    if (d->n == 1 && d->h >= 37)
        TU_CHECK(strstr(fwd, "row tiles") != NULL, "expected row tiles, got %s", fwd);
    if (d->n == 7)
        TU_CHECK(strstr(fwd, "batched") != NULL, "expected batches, got %s", fwd);
    if (d->w == 300)
        TU_CHECK(ws == one_row, "one row needs %zu bytes, asked %zu", one_row, ws);
    const bool stride1 = d->stride_h == 1 && d->stride_w == 1;
    const bool pointwise = d->r == 1 && d->s == 1 && stride1 && d->pad_h == 0;
    const char *fast_fwd = cnn_algorithm(fast, &cd->op, CNN_FWD);
    if (pointwise && d->c < 128)
        TU_CHECK(strcmp(fast_fwd, "sgemm (1x1)") == 0 &&
                     cnn_workspace_size(fast, &cd->op, CNN_FWD) == 0,
                 "1x1 conv with small weights should be sgemm alone, got %s", fast_fwd);
    if (pointwise && d->c >= 128)
        TU_CHECK(strstr(fast_fwd, "batched") != NULL, "expected batches, got %s", fast_fwd);
    if (stride1 && d->c >= 32 && d->r * d->s > 1) {
        TU_CHECK(strcmp(fast_fwd, "sgemm per tap") == 0, "expected per-tap GEMMs, got %s",
                 fast_fwd);
        TU_CHECK(strcmp(fwd, "sgemm per tap") == 0 || d->h < 34 || d->k == 64,
                 "expected per-tap GEMMs under the small cap, got %s", fwd);
        TU_CHECK(strcmp(fwd, "sgemm per tap") != 0 || d->k != 64,
                 "per-tap weights do not fit the small cap, yet got %s", fwd);
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
        cd.y = tu_nan_buf(tu_conv_out_size(d, CNN_FWD));
        cd.dx = tu_nan_buf(tu_conv_out_size(d, CNN_BWD_DATA));
        cd.dw = tu_nan_buf(tu_conv_out_size(d, CNN_BWD_WEIGHT));
        cd.db = tu_nan_buf(d->k);
        run_conv(naive, &cd, CNN_FWD, cd.y);
        run_conv(naive, &cd, CNN_BWD_DATA, cd.dx);
        run_conv(naive, &cd, CNN_BWD_WEIGHT, cd.dw);
        run_conv(naive, &cd, CNN_BWD_BIAS, cd.db);
        check_conv_ctx(fast, "im2col", &cd);
        check_conv_ctx(tiny, "im2col(64KiB cap)", &cd);
        check_conv_plan(&cd);
        free(cd.x), free(cd.w), free(cd.b), free(cd.dy);
        free(cd.y), free(cd.dx), free(cd.dw), free(cd.db);
    }
}

/* VGG-16's conv1_2 lowers to 115 MB per image and conv4_2 would like four
 * images per GEMM: the default cap must hold both to 32 MiB. */
static void test_conv_cap(void)
{
    static const tu_conv_case vgg[] = {
        {4, 64, 224, 224, 64, 3, 3, 1, 1, 1, 1, true},
        {4, 512, 28, 28, 512, 3, 3, 1, 1, 1, 1, true},
    };
    for (size_t i = 0; i < sizeof vgg / sizeof vgg[0]; i++) {
        cnn_op op = tu_conv_op(&vgg[i]);
        TU_EXPECT_OK(cnn_op_init(&op));
        static const cnn_pass passes[] = {CNN_FWD, CNN_BWD_DATA, CNN_BWD_WEIGHT};
        for (size_t j = 0; j < 3; j++) {
            size_t ws = cnn_workspace_size(fast, &op, passes[j]);
            TU_CHECK(ws > 0 && ws <= CNN_IM2COL_DEFAULT_WS_CAP, "VGG layer %zu %s workspace %zu", i,
                     cnn_pass_str(passes[j]), ws);
        }
    }
}

/* ---- linear ------------------------------------------------------------ */

static void test_linear(int n, int in, int out, bool bias)
{
    cnn_op op = {.kind = CNN_OP_LINEAR, .linear = {.n = n, .in = in, .out = out, .has_bias = bias}};
    TU_EXPECT_OK(cnn_op_init(&op));
    const cnn_linear_desc *d = &op.linear;
    const int64_t nx = (int64_t)d->n * d->in, ny = (int64_t)d->n * d->out,
                  nw = (int64_t)d->out * d->in;
    float *x = tu_rand_buf(nx, &rng, -1, 1), *w = tu_rand_buf(nw, &rng, -1, 1),
          *b = tu_rand_buf(d->out, &rng, -1, 1), *dy = tu_rand_buf(ny, &rng, -1, 1);
    cnn_ctx *ctxs[2] = {naive, fast};
    float *y[2], *dx[2], *dw[2], *db[2];
    for (int i = 0; i < 2; i++) {
        y[i] = tu_nan_buf(ny), dx[i] = tu_nan_buf(nx);
        dw[i] = tu_nan_buf(nw), db[i] = tu_nan_buf(d->out);
        TU_EXPECT_OK(cnn_linear_fwd(ctxs[i], d, x, w, bias ? b : NULL, y[i], NULL, 0));
        TU_EXPECT_OK(cnn_linear_bwd_data(ctxs[i], d, dy, w, dx[i], NULL, 0));
        TU_EXPECT_OK(cnn_linear_bwd_weight(ctxs[i], d, x, dy, dw[i], bias ? db[i] : NULL, NULL, 0));
    }
    char key[64];
    cnn_op_str(&op, key, sizeof key);
    expect_close("linear fwd", key, y[1], y[0], ny, TOL_GEMM);
    expect_close("linear bwd_data", key, dx[1], dx[0], nx, TOL_GEMM);
    expect_close("linear bwd_weight", key, dw[1], dw[0], nw, TOL_GEMM);
    if (bias)
        expect_close("linear bwd_bias", key, db[1], db[0], d->out, TOL_GEMM);
    for (int i = 0; i < 2; i++)
        free(y[i]), free(dx[i]), free(dw[i]), free(db[i]);
    free(x), free(w), free(b), free(dy);
}

/* ---- pooling ----------------------------------------------------------- */

/* Inputs of a few distinct values make ties common, so the first-maximum
 * rule (and where backward sends the gradient) is exercised; `nans` puts
 * NaNs in, which must win their windows. */
static void test_pool(cnn_pool_desc pd, bool nans)
{
    cnn_op op = {.kind = CNN_OP_POOL, .pool = pd};
    TU_EXPECT_OK(cnn_op_init(&op));
    const cnn_pool_desc *d = &op.pool;
    const int64_t nx = (int64_t)d->n * d->c * d->h * d->w, ny = (int64_t)d->n * d->c * d->p * d->q;
    float *x = tu_rand_buf(nx, &rng, 0, 4), *dy = tu_rand_buf(ny, &rng, -1, 1);
    for (int64_t i = 0; i < nx; i++)
        x[i] = floorf(x[i]);
    if (nans)
        for (int64_t i = 3; i < nx; i += 17)
            x[i] = NAN;
    float *y[2] = {tu_nan_buf(ny), tu_nan_buf(ny)}, *dx[2] = {tu_nan_buf(nx), tu_nan_buf(nx)};
    cnn_ctx *ctxs[2] = {naive, fast};
    for (int i = 0; i < 2; i++) {
        TU_EXPECT_OK(cnn_pool_fwd(ctxs[i], d, x, y[i], NULL, 0));
        TU_EXPECT_OK(cnn_pool_bwd(ctxs[i], d, x, y[i], dy, dx[i], NULL, 0));
    }
    char key[160];
    cnn_op_str(&op, key, sizeof key);
    if (d->mode == CNN_POOL_MAX) {
        expect_same("maxpool fwd", key, y[1], y[0], ny);
    } else {
        expect_close("avgpool fwd", key, y[1], y[0], ny, TOL_ELT);
    }
    expect_close("pool bwd", key, dx[1], dx[0], nx, TOL_ELT);
    for (int i = 0; i < 2; i++)
        free(y[i]), free(dx[i]);
    free(x), free(dy);
}

static void test_pools(void)
{
    const cnn_pool_mode MAX = CNN_POOL_MAX, AVG = CNN_POOL_AVG;
    test_pool(tu_pool(MAX, 2, 3, 8, 8, 2, 2, 2, 2, 0, 0, false), false);
    test_pool(tu_pool(MAX, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, true), false);
    test_pool(tu_pool(MAX, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, true), true);
    test_pool(tu_pool(MAX, 1, 2, 6, 7, 3, 2, 3, 1, 1, 0, false), false);
    test_pool(tu_pool(AVG, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, true), false);
    test_pool(tu_pool(AVG, 2, 2, 6, 5, 3, 2, 2, 1, 1, 0, false), false);
    /* A ceil-mode window that starts in the right padding: divisor 1. */
    test_pool(tu_pool(AVG, 1, 2, 5, 5, 2, 2, 2, 2, 1, 1, true), false);
    test_pool(tu_pool(AVG, 8, 16, 32, 32, 2, 2, 2, 2, 0, 0, false), false);
    /* Rows of more than 256 outputs: max backward scans them in chunks. */
    test_pool(tu_pool(MAX, 1, 2, 5, 601, 3, 3, 1, 2, 1, 1, true), true);
    test_pool(tu_pool(MAX, 2, 3, 4, 700, 2, 3, 2, 1, 1, 1, false), false);
}

static void test_adapool(int n, int c, int h, int w, int p, int q)
{
    cnn_op op = {.kind = CNN_OP_ADAPOOL, .adapool = {n, c, h, w, p, q}};
    TU_EXPECT_OK(cnn_op_init(&op));
    const int64_t nx = (int64_t)n * c * h * w, ny = (int64_t)n * c * p * q;
    float *x = tu_rand_buf(nx, &rng, -1, 1), *dy = tu_rand_buf(ny, &rng, -1, 1);
    float *y[2] = {tu_nan_buf(ny), tu_nan_buf(ny)}, *dx[2] = {tu_nan_buf(nx), tu_nan_buf(nx)};
    cnn_ctx *ctxs[2] = {naive, fast};
    for (int i = 0; i < 2; i++) {
        TU_EXPECT_OK(cnn_adapool_fwd(ctxs[i], &op.adapool, x, y[i], NULL, 0));
        TU_EXPECT_OK(cnn_adapool_bwd(ctxs[i], &op.adapool, dy, dx[i], NULL, 0));
    }
    char key[96];
    cnn_op_str(&op, key, sizeof key);
    expect_close("adapool fwd", key, y[1], y[0], ny, TOL_ELT);
    expect_close("adapool bwd", key, dx[1], dx[0], nx, TOL_ELT);
    for (int i = 0; i < 2; i++)
        free(y[i]), free(dx[i]);
    free(x), free(dy);
}

/* ---- batch norm ---------------------------------------------------------- */

/* x has mean ~10 and spread ~1, so computing (x - mean) late would cancel. */
static void test_bn(int n, int c, int h, int w)
{
    cnn_op op = {.kind = CNN_OP_BN, .bn = {n, c, h, w, 1e-5, 0.1}};
    TU_EXPECT_OK(cnn_op_init(&op));
    const cnn_bn_desc *d = &op.bn;
    const int64_t nx = (int64_t)n * c * h * w;
    float *x = tu_rand_buf(nx, &rng, 9, 11), *dy = tu_rand_buf(nx, &rng, -1, 1),
          *gamma = tu_rand_buf(c, &rng, 0.5f, 1.5f), *beta = tu_rand_buf(c, &rng, -1, 1),
          *rm0 = tu_rand_buf(c, &rng, -1, 1), *rv0 = tu_rand_buf(c, &rng, 0.5f, 2);
    float *y[2], *yi[2], *dx[2], *rm[2], *rv[2], *sm[2], *si[2], *dg[2], *db[2];
    cnn_ctx *ctxs[2] = {naive, fast};
    for (int i = 0; i < 2; i++) {
        y[i] = tu_nan_buf(nx), yi[i] = tu_nan_buf(nx), dx[i] = tu_nan_buf(nx);
        sm[i] = tu_nan_buf(c), si[i] = tu_nan_buf(c), dg[i] = tu_nan_buf(c), db[i] = tu_nan_buf(c);
        rm[i] = tu_xmalloc(sizeof(float) * (size_t)c);
        rv[i] = tu_xmalloc(sizeof(float) * (size_t)c);
        memcpy(rm[i], rm0, sizeof(float) * (size_t)c);
        memcpy(rv[i], rv0, sizeof(float) * (size_t)c);
        TU_EXPECT_OK(cnn_bn_fwd_train(ctxs[i], d, x, gamma, beta, y[i], rm[i], rv[i], sm[i], si[i],
                                      NULL, 0));
        TU_EXPECT_OK(cnn_bn_fwd_infer(ctxs[i], d, x, gamma, beta, rm0, rv0, yi[i], NULL, 0));
        TU_EXPECT_OK(
            cnn_bn_bwd(ctxs[i], d, x, dy, gamma, sm[0], si[0], dx[i], dg[i], db[i], NULL, 0));
    }
    char key[96];
    cnn_op_str(&op, key, sizeof key);
    expect_close("bn fwd y", key, y[1], y[0], nx, TOL_ELT);
    expect_close("bn running_mean", key, rm[1], rm[0], c, TOL_ELT);
    expect_close("bn running_var", key, rv[1], rv[0], c, TOL_ELT);
    expect_close("bn save_mean", key, sm[1], sm[0], c, TOL_ELT);
    expect_close("bn save_invstd", key, si[1], si[0], c, TOL_ELT);
    expect_close("bn fwd_infer y", key, yi[1], yi[0], nx, TOL_ELT);
    expect_close("bn bwd dx", key, dx[1], dx[0], nx, TOL_ELT);
    expect_close("bn bwd dgamma", key, dg[1], dg[0], c, TOL_ELT);
    expect_close("bn bwd dbeta", key, db[1], db[0], c, TOL_ELT);
    for (int i = 0; i < 2; i++) {
        free(y[i]), free(yi[i]), free(dx[i]), free(rm[i]), free(rv[i]);
        free(sm[i]), free(si[i]), free(dg[i]), free(db[i]);
    }
    free(x), free(dy), free(gamma), free(beta), free(rm0), free(rv0);
}

/* ---- element-wise, loss, concat -------------------------------------------- */

static void test_act(cnn_act_mode mode, int64_t count)
{
    cnn_act_desc d = {.mode = mode, .count = count};
    TU_EXPECT_OK(cnn_act_init(&d));
    float *x = tu_rand_buf(count, &rng, -6, 6), *dy = tu_rand_buf(count, &rng, -1, 1);
    x[1] = NAN, x[2] = -0.0f, x[3] = 0.0f, x[4] = -100.0f, x[5] = 100.0f;
    float *y[2] = {tu_nan_buf(count), tu_nan_buf(count)},
          *dx[2] = {tu_nan_buf(count), tu_nan_buf(count)};
    cnn_ctx *ctxs[2] = {naive, fast};
    for (int i = 0; i < 2; i++) {
        TU_EXPECT_OK(cnn_act_fwd(ctxs[i], &d, x, y[i]));
        TU_EXPECT_OK(cnn_act_bwd(ctxs[i], &d, y[0], dy, dx[i]));
    }
    const char *name = mode == CNN_ACT_RELU ? "relu" : "sigmoid";
    TU_CHECK(isnan(y[1][1]), "%s(NaN) must be NaN", name);
    if (mode == CNN_ACT_RELU) {
        expect_same("fwd", name, y[1], y[0], count);
        expect_same("bwd", name, dx[1], dx[0], count);
    } else {
        /* Restricted to finite entries: expf vs exp round differently. */
        y[0][1] = y[1][1] = 0.0f;
        expect_close("fwd", name, y[1], y[0], count, TOL_ELT);
        dx[0][1] = dx[1][1] = 0.0f;
        expect_close("bwd", name, dx[1], dx[0], count, TOL_ELT);
    }
    for (int i = 0; i < 2; i++)
        free(y[i]), free(dx[i]);
    free(x), free(dy);
}

/* Masks must match the reference bit for bit: the same elements dropped.
 * Kept values may differ by the rounding of 1/(1-p). Counts not a multiple
 * of 4 reach the partial last Philox block; the large one spreads blocks
 * over threads. */
static void test_dropout(int64_t count, double p)
{
    cnn_dropout_desc d = {.count = count, .p = p, .seed = 0x5eed0000u + (uint64_t)count};
    TU_EXPECT_OK(cnn_dropout_init(&d));
    float *x = tu_rand_buf(count, &rng, 0.5f, 1.5f);
    float *y[2] = {tu_nan_buf(count), tu_nan_buf(count)},
          *dx[2] = {tu_nan_buf(count), tu_nan_buf(count)};
    cnn_ctx *ctxs[2] = {naive, fast};
    for (int i = 0; i < 2; i++) {
        TU_EXPECT_OK(cnn_dropout_fwd(ctxs[i], &d, x, y[i]));
        TU_EXPECT_OK(cnn_dropout_bwd(ctxs[i], &d, x, dx[i]));
    }
    int64_t mask_diff = 0, kept = 0;
    for (int64_t i = 0; i < count; i++) {
        mask_diff += (y[0][i] == 0.0f) != (y[1][i] == 0.0f);
        mask_diff += (dx[1][i] == 0.0f) != (y[1][i] == 0.0f);
        kept += y[1][i] != 0.0f;
    }
    char key[64];
    snprintf(key, sizeof key, "n%lldp%g", (long long)count, p);
    TU_CHECK(mask_diff == 0, "dropout %s: %lld mask differences", key, (long long)mask_diff);
    if (p > 0.0 && p < 1.0) {
        double rate = (double)kept / (double)count, sd = sqrt(p * (1 - p) / (double)count);
        TU_CHECK(fabs(rate - (1 - p)) < 5 * sd + 1e-12, "dropout %s keeps %.4f", key, rate);
    }
    if (p < 1.0) {
        expect_close("dropout fwd", key, y[1], y[0], count, TOL_ELT);
        expect_close("dropout bwd", key, dx[1], dx[0], count, TOL_ELT);
    } else {
        expect_same("dropout fwd", key, y[1], y[0], count);
    }
    for (int i = 0; i < 2; i++)
        free(y[i]), free(dx[i]);
    free(x);
}

static void test_add(void)
{
    cnn_add_desc d = {.count = 100003};
    TU_EXPECT_OK(cnn_add_init(&d));
    float *a = tu_rand_buf(d.count, &rng, -1, 1), *b = tu_rand_buf(d.count, &rng, -1, 1);
    float *y[2] = {tu_nan_buf(d.count), tu_nan_buf(d.count)};
    TU_EXPECT_OK(cnn_add_fwd(naive, &d, a, b, y[0]));
    TU_EXPECT_OK(cnn_add_fwd(fast, &d, a, b, y[1]));
    expect_same("add", "n100003", y[1], y[0], d.count);
    free(a), free(b), free(y[0]), free(y[1]);
}

/* Row 0 has logits far apart (1000 and -1000): a naive softmax overflows. */
static void test_xent(int n, int classes)
{
    cnn_xent_desc d = {.n = n, .classes = classes};
    TU_EXPECT_OK(cnn_xent_init(&d));
    const int64_t nl = (int64_t)d.n * d.classes;
    float *logits = tu_rand_buf(nl, &rng, -5, 5);
    logits[0] = 1000.0f, logits[1] = -1000.0f, logits[2] = 999.0f;
    int32_t *labels = tu_xmalloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++)
        labels[i] = (int32_t)(tu_next(&rng) % (uint64_t)classes);
    char key[32];
    snprintf(key, sizeof key, "mb%dnc%d", n, classes);
    float *prob[2] = {tu_nan_buf(nl), tu_nan_buf(nl)}, *g[2] = {tu_nan_buf(nl), tu_nan_buf(nl)};
    float loss[2] = {NAN, NAN};
    cnn_ctx *ctxs[2] = {naive, fast};
    for (int i = 0; i < 2; i++) {
        TU_EXPECT_OK(cnn_xent_fwd(ctxs[i], &d, logits, labels, prob[i], &loss[i]));
        TU_EXPECT_OK(cnn_xent_bwd(ctxs[i], &d, prob[0], labels, g[i]));
    }
    TU_CHECK(isfinite(loss[1]), "xent loss %g must be finite", loss[1]);
    expect_close("xent prob", key, prob[1], prob[0], nl, TOL_ELT);
    expect_close("xent loss", key, &loss[1], &loss[0], 1, TOL_ELT);
    expect_close("xent bwd", key, g[1], g[0], nl, TOL_ELT);
    labels[n - 1] = classes;
    TU_CHECK(cnn_xent_fwd(fast, &d, logits, labels, prob[1], &loss[1]) == CNN_ERR_INVALID_ARG,
             "xent %s: label = classes must be rejected in forward", key);
    labels[n - 1] = -1;
    TU_CHECK(cnn_xent_bwd(fast, &d, prob[0], labels, g[1]) == CNN_ERR_INVALID_ARG,
             "xent %s: label -1 must be rejected in backward", key);
    for (int i = 0; i < 2; i++)
        free(prob[i]), free(g[i]);
    free(logits), free(labels);
}

static void test_concat(int n, int h, int w)
{
    cnn_concat_desc d = {.n = n, .h = h, .w = w, .count = 3, .c = {1, 4, 2}};
    TU_EXPECT_OK(cnn_concat_init(&d));
    const int64_t hw = (int64_t)d.h * d.w, ny = (int64_t)d.n * d.c_out * hw;
    float *xs[3], *dxs[2][3];
    for (int i = 0; i < 3; i++) {
        xs[i] = tu_rand_buf(d.n * d.c[i] * hw, &rng, -1, 1);
        dxs[0][i] = tu_nan_buf(d.n * d.c[i] * hw);
        dxs[1][i] = tu_nan_buf(d.n * d.c[i] * hw);
    }
    float *y[2] = {tu_nan_buf(ny), tu_nan_buf(ny)};
    cnn_ctx *ctxs[2] = {naive, fast};
    for (int i = 0; i < 2; i++) {
        TU_EXPECT_OK(cnn_concat_fwd(ctxs[i], &d, (const float *const *)xs, y[i]));
        TU_EXPECT_OK(cnn_concat_bwd(ctxs[i], &d, y[0], dxs[i]));
    }
    expect_same("concat fwd", "1+4+2", y[1], y[0], ny);
    for (int i = 0; i < 3; i++) {
        expect_same("concat bwd", "1+4+2", dxs[1][i], dxs[0][i], d.n * d.c[i] * hw);
        expect_same("concat round trip", "1+4+2", dxs[1][i], xs[i], d.n * d.c[i] * hw);
        free(xs[i]), free(dxs[0][i]), free(dxs[1][i]);
    }
    free(y[0]), free(y[1]);
}

static void run_all(void)
{
    test_conv();
    test_conv_cap();
    test_linear(5, 37, 9, true);
    test_linear(5, 37, 9, false);
    test_linear(128, 300, 300, true);
    test_pools();
    test_adapool(2, 3, 7, 5, 3, 2);
    test_adapool(2, 4, 6, 6, 1, 1);
    test_adapool(1, 2, 5, 3, 7, 4);
    test_adapool(4, 16, 24, 24, 5, 3);
    test_bn(4, 3, 5, 6);
    test_bn(1, 5, 2, 2);
    test_bn(8, 16, 7, 7);
    test_bn(4, 8, 32, 32);
    test_act(CNN_ACT_RELU, 100003);
    test_act(CNN_ACT_SIGMOID, 1003);
    test_dropout(1003, 0.3);
    test_dropout(100002, 0.5);
    test_dropout(7, 0.0);
    test_dropout(9, 1.0);
    test_add();
    test_xent(6, 11);
    test_xent(64, 1000);
    test_concat(3, 5, 7);
    test_concat(4, 64, 64);
}

int main(void)
{
    const cnn_backend *nb = cnn_backend_find("naive"), *ib = cnn_backend_find("im2col");
    if (!nb || !ib) {
        fprintf(stderr, "test_im2col: naive or im2col backend not built\n");
        return 1;
    }
    TU_EXPECT_OK(cnn_ctx_create(nb, NULL, &naive));
    TU_EXPECT_OK(cnn_ctx_create(ib, NULL, &fast));
    TU_EXPECT_OK(cnn_ctx_create(ib, NULL, &tiny));
    if (!naive || !fast || !tiny)
        return tu_finish("test_im2col");
    TU_EXPECT_OK(cnn_im2col_set_workspace_cap(tiny, TINY_CAP));
    TU_CHECK(cnn_im2col_set_workspace_cap(naive, 1) == CNN_ERR_INVALID_ARG,
             "the cap of a non-im2col context must be refused");

    /* Twice, with OpenBLAS at its default thread count and at one, so that
     * the loops between a convolution's GEMMs run both on the calling thread
     * and on an OpenMP team (cnn_im2col_tile_threads): with a pthreads
     * OpenBLAS they get a team only in the second pass; with the OpenMP
     * build, whose thread count is OpenMP's own, only in the first. The
     * contexts have threads = 0, so they leave the setting alone. */
    const int blas_threads = openblas_get_num_threads();
    for (int pass = 0; pass < 2; pass++) {
        layout = pass ? "[1 BLAS thread] " : "";
        openblas_set_num_threads(pass ? 1 : blas_threads);
        run_all();
    }
    openblas_set_num_threads(blas_threads);

    cnn_ctx_destroy(naive);
    cnn_ctx_destroy(fast);
    cnn_ctx_destroy(tiny);
    return tu_finish("test_im2col");
}
