/* The cudnn backend against the naive reference, through the checked
 * dispatch and device memory: every op and pass, inputs uploaded with
 * cnn_mem_upload, outputs pre-filled with NaN on the device (an element left
 * unwritten fails) and downloaded. Workspaces are device allocations of
 * exactly the size asked for.
 *
 * Where there is no GPU (or no driver) the test checks that available()
 * says so with a reason and that creating a context fails cleanly instead of
 * crashing, prints the reason and exits 77, which ctest reports as skipped.
 *
 * Tolerances, as relative L2 error against the reference (which sums in
 * double and rounds once, so it is within half an ulp, 6e-8, of exact):
 *  - TOL_FP32 = 1e-5: cuBLAS sgemm, 1x1 convolutions (no Winograd applies)
 *    and conv bwd_bias. Float sums of K random-signed products err by about
 *    sqrt(K) * 2^-24 relative; the longest here, K = 784 (linear) and
 *    N*P*Q = 1568 (conv bwd_filter), give ~2e-6. TF32 inputs (10-bit
 *    mantissas) would give ~3e-4, so this bound also proves that neither
 *    cuDNN nor cuBLAS ran in TF32.
 *  - TOL_CONV = 1e-4: the other convolutions. cuDNN picks the algorithm by
 *    timing and may pick FFT or Winograd, whose transforms add rounding
 *    that grows with the tile (F(4x4,3x3) loses about a decimal digit);
 *    an indexing error costs O(1).
 *  - TOL_BN = 1e-5 forward, TOL_BN_BWD = 1e-4 backward: cuDNN reduces
 *    m = n*h*w values per channel in float (m up to 1568 here), a few ulp
 *    times log2(m) for tree sums; the backward pass subtracts two such sums
 *    from m*dy, which cancels part of the result.
 *  - TOL_ELT = 1e-6: pooling, adaptive pooling, sigmoid: a few float
 *    roundings per element (expf is within 2 ulp).
 *  - TOL_XENT = 5e-6: softmax rounds the shifted logit (|l - max| up to 10)
 *    and log(sum) (up to 7) before expf: ~1e-6 absolute in the exponent.
 *  - Exact (bitwise): copies (concat), add, relu, max-pool forward, dropout
 *    (the same Philox mask, the same double scaling) and the softmax
 *    gradient (computed in double exactly as the reference does).
 * Pooling and the deterministic cuDNN convolution algorithms also run twice
 * and must agree bitwise: a difference between runs is a race. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "registry.h"
#include "test_util.h"

#define TOL_FP32 1e-5
#define TOL_CONV 1e-4
#define TOL_BN 1e-5
#define TOL_BN_BWD 1e-4
#define TOL_ELT 1e-6
#define TOL_XENT 5e-6

static cnn_ctx *ref, *gpu;
static uint64_t rng = 2024;

/* ---- host and device buffers ------------------------------------------- */

static float *copy_buf(const float *src, int64_t n)
{
    float *p = tu_xmalloc(sizeof(float) * (size_t)n);
    memcpy(p, src, sizeof(float) * (size_t)n);
    return p;
}

static void *dev_alloc(size_t bytes)
{
    void *p = NULL;
    if (cnn_mem_alloc(gpu, bytes, &p) != CNN_OK) {
        fprintf(stderr, "device allocation of %zu bytes failed: %s\n", bytes, cnn_last_error());
        exit(2);
    }
    return p;
}

static void dev_free(void *p)
{
    cnn_mem_free(gpu, p);
}

static void *dev_up_bytes(const void *host, size_t bytes)
{
    void *d = dev_alloc(bytes);
    TU_EXPECT_OK(cnn_mem_upload(gpu, d, host, bytes));
    return d;
}

static float *dev_up(const float *host, int64_t n)
{
    return dev_up_bytes(host, sizeof(float) * (size_t)n);
}

/* Device buffer of n NaNs. */
static float *dev_nan(int64_t n)
{
    float *h = tu_nan_buf(n);
    float *d = dev_up(h, n);
    free(h);
    return d;
}

/* A host copy of a device result (NaN where the download failed). */
static float *dev_down(const float *d, int64_t n)
{
    float *h = tu_nan_buf(n);
    TU_EXPECT_OK(cnn_mem_download(gpu, h, d, sizeof(float) * (size_t)n));
    return h;
}

/* A device workspace of exactly the size asked for. */
static void *dev_ws(const cnn_op *op, cnn_pass pass, size_t *size)
{
    *size = cnn_workspace_size(gpu, op, pass);
    return *size ? dev_alloc(*size) : NULL;
}

/* ---- comparisons ------------------------------------------------------- */

/* Relative L2 error within tol (NaN fails), and a reference that is not all
 * zeros: a comparison of zeros with zeros proves nothing. */
static void expect_close(const char *what, const char *key, const float *got, const float *ref_,
                         int64_t n, double tol)
{
    double err = tu_rel_l2(got, ref_, n);
    if (getenv("V"))
        printf("  %-44s %-52s %.3g\n", what, key, err);
    TU_CHECK(tu_norm2(ref_, n) > 0.0, "%s %s: reference is all zeros", what, key);
    TU_CHECK(err <= tol, "%s %s: rel L2 error %.3g > %.1g", what, key, err, tol);
}

/* Bitwise equality, NaN matching NaN. */
static void expect_same(const char *what, const char *key, const float *got, const float *ref_,
                        int64_t n)
{
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(&got[i], &ref_[i], sizeof(float)) != 0 && !(isnan(got[i]) && isnan(ref_[i]))) {
            bad++;
            if (first < 0)
                first = i;
        }
    }
    if (getenv("V"))
        printf("  %-44s %-52s %s\n", what, key, bad ? "DIFFERS" : "bitwise equal");
    TU_CHECK(bad == 0, "%s %s: %lld of %lld elements differ, first at %lld (%.9g vs %.9g)", what,
             key, (long long)bad, (long long)n, (long long)first, first >= 0 ? got[first] : 0.0,
             first >= 0 ? ref_[first] : 0.0);
}

/* expect_close on a device result. */
static void check_dev(const char *what, const char *key, const float *dev, const float *want,
                      int64_t n, double tol)
{
    float *got = dev_down(dev, n);
    expect_close(what, key, got, want, n, tol);
    free(got);
}

/* ---- availability ------------------------------------------------------- */

/* Without a usable GPU: a reason, and a context that is refused cleanly. */
static int check_unavailable(const cnn_backend *be, const char *why)
{
    printf("test_cudnn: cudnn backend not available here: %s\n", why);
    cnn_ctx *ctx = NULL;
    cnn_status st = cnn_ctx_create(be, NULL, &ctx);
    if (why[0] == '\0' || st == CNN_OK || ctx != NULL) {
        fprintf(stderr, "FAIL: unavailable backend gave reason \"%s\", ctx_create %s\n", why,
                cnn_status_str(st));
        if (ctx)
            cnn_ctx_destroy(ctx);
        return 1;
    }
    printf("test_cudnn: context creation refused as expected (%s): %s\n", cnn_status_str(st),
           cnn_last_error());
    printf("test_cudnn: skipped\n");
    return 77;
}

/* ---- convolution -------------------------------------------------------- */

static const tu_conv_case conv_cases[] = {
    {2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, true},     /* odd, non-square */
    {3, 5, 11, 6, 7, 3, 2, 2, 1, 1, 0, true},    /* rectangular kernel and stride */
    {2, 3, 35, 35, 8, 11, 11, 4, 4, 2, 2, true}, /* 11x11 stride 4 (AlexNet conv1) */
    {2, 4, 13, 13, 6, 5, 5, 3, 3, 3, 3, true},   /* stride 3, padding 3 */
    {1, 1, 9, 9, 1, 3, 3, 1, 1, 1, 1, true},     /* C = K = 1 */
    {2, 6, 9, 9, 10, 1, 1, 2, 2, 0, 0, true},    /* 1x1 stride 2 (downsample) */
    {2, 3, 5, 5, 4, 1, 1, 1, 1, 1, 1, true},     /* 1x1 with padding */
    {1, 2, 3, 3, 2, 5, 5, 1, 1, 2, 2, false},    /* kernel larger than the input */
    {2, 3, 10, 10, 4, 2, 2, 3, 3, 0, 0, false},  /* stride > kernel: inputs never read */
    {2, 3, 12, 10, 5, 7, 1, 1, 1, 3, 0, true},   /* 7x1 */
    {2, 32, 14, 14, 32, 3, 3, 1, 1, 1, 1, true}, /* Winograd-friendly 3x3 */
    {2, 16, 28, 28, 16, 5, 5, 1, 1, 2, 2, true}, /* FFT-friendly 5x5 */
};

/* 1x1 convolutions: no Winograd variant applies, so every algorithm is a
 * dot product (or an FFT, near 1e-6), and they are held to TOL_FP32, which
 * TF32 would miss by more than an order of magnitude. */
static const tu_conv_case conv_fp32_cases[] = {
    {4, 64, 8, 7, 32, 1, 1, 1, 1, 0, 0, false},
    {8, 16, 14, 14, 24, 1, 1, 1, 1, 0, 0, true},
};

/* One pass on the device; a host copy of its output. */
static float *gpu_conv(const cnn_op *op, const tu_conv_io *dio, cnn_pass pass)
{
    const int64_t n = tu_conv_out_size(&op->conv, pass);
    size_t ws_size;
    void *ws = dev_ws(op, pass, &ws_size);
    float *out = dev_nan(n);
    TU_EXPECT_OK(tu_conv_pass(gpu, &op->conv, dio, pass, out, ws, ws_size));
    float *h = dev_down(out, n);
    dev_free(out);
    dev_free(ws);
    return h;
}

static void test_conv(const tu_conv_case *cc, double tol)
{
    static const cnn_pass passes[] = {CNN_FWD, CNN_BWD_DATA, CNN_BWD_WEIGHT, CNN_BWD_BIAS};
    cnn_op op = tu_conv_op(cc);
    TU_EXPECT_OK(cnn_op_init(&op));
    const cnn_conv_desc *d = &op.conv;
    const int64_t nx = tu_conv_out_size(d, CNN_BWD_DATA), nw = tu_conv_out_size(d, CNN_BWD_WEIGHT),
                  ny = tu_conv_out_size(d, CNN_FWD);
    float *x = tu_rand_buf(nx, &rng, -1, 1), *w = tu_rand_buf(nw, &rng, -1, 1),
          *b = tu_rand_buf(d->k, &rng, -1, 1), *dy = tu_rand_buf(ny, &rng, -1, 1);
    tu_conv_io hio = {x, w, cc->bias ? b : NULL, dy};
    tu_conv_io dio = {dev_up(x, nx), dev_up(w, nw), cc->bias ? dev_up(b, d->k) : NULL,
                      dev_up(dy, ny)};
    char key[160], what[160];
    cnn_op_str(&op, key, sizeof key);
    for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++) {
        const cnn_pass pass = passes[i];
        const int64_t n = tu_conv_out_size(d, pass);
        float *want = tu_nan_buf(n);
        TU_EXPECT_OK(tu_conv_pass(ref, &op.conv, &hio, pass, want, NULL, 0));
        float *got = gpu_conv(&op, &dio, pass);
        const char *algo = cnn_algorithm(gpu, &op, pass);
        size_t ws = cnn_workspace_size(gpu, &op, pass);
        printf("  conv %-10s %-52s %-42s ws %zu, err %.2g\n", cnn_pass_str(pass), key, algo, ws,
               tu_rel_l2(got, want, n));
        snprintf(what, sizeof what, "conv %s [%s]", cnn_pass_str(pass), algo);
        expect_close(what, key, got, want, n, pass == CNN_BWD_BIAS ? TOL_FP32 : tol);
        TU_CHECK(ws == cnn_workspace_size(gpu, &op, pass), "%s: workspace size changed", key);
        if (!strstr(algo, "nondeterministic")) {
            float *again = gpu_conv(&op, &dio, pass);
            snprintf(what, sizeof what, "conv %s rerun", cnn_pass_str(pass));
            expect_same(what, key, again, got, n);
            free(again);
        }
        /* The dispatch must refuse a workspace one byte short. */
        if (ws > 0) {
            void *short_ws = dev_alloc(ws);
            float *out = dev_nan(n);
            cnn_status st = tu_conv_pass(gpu, &op.conv, &dio, pass, out, short_ws, ws - 1);
            TU_CHECK(st == CNN_ERR_INVALID_ARG, "%s %s: short workspace gave %s", key,
                     cnn_pass_str(pass), cnn_status_str(st));
            dev_free(out);
            dev_free(short_ws);
        }
        free(want);
        free(got);
    }
    dev_free((void *)dio.x), dev_free((void *)dio.w), dev_free((void *)dio.b);
    dev_free((void *)dio.dy);
    free(x), free(w), free(b), free(dy);
}

/* ---- pooling ------------------------------------------------------------ */

/* Max pooling gets inputs of a few distinct values, so ties are common and
 * the first-maximum rule (and where backward sends the gradient) is
 * exercised; `nans` puts NaNs in, which must win their windows. */
static void test_pool(cnn_pool_desc pd, bool nans)
{
    cnn_op op = {.kind = CNN_OP_POOL, .pool = pd};
    TU_EXPECT_OK(cnn_op_init(&op));
    const cnn_pool_desc *d = &op.pool;
    const int64_t nx = (int64_t)d->n * d->c * d->h * d->w, ny = (int64_t)d->n * d->c * d->p * d->q;
    float *x = tu_rand_buf(nx, &rng, -2, 2), *dy = tu_rand_buf(ny, &rng, -1, 1);
    if (d->mode == CNN_POOL_MAX)
        for (int64_t i = 0; i < nx; i++)
            x[i] = floorf(x[i]);
    if (nans)
        for (int64_t i = 3; i < nx; i += 17)
            x[i] = NAN;
    float *y = tu_nan_buf(ny), *dx = tu_nan_buf(nx);
    TU_EXPECT_OK(cnn_pool_fwd(ref, d, x, y, NULL, 0));
    TU_EXPECT_OK(cnn_pool_bwd(ref, d, x, y, dy, dx, NULL, 0));

    float *dx_in = dev_up(x, nx), *ddy = dev_up(dy, ny);
    float *gy[2], *gdx[2];
    for (int rep = 0; rep < 2; rep++) {
        float *dyv = dev_nan(ny), *ddx = dev_nan(nx);
        TU_EXPECT_OK(cnn_pool_fwd(gpu, d, dx_in, dyv, NULL, 0));
        TU_EXPECT_OK(cnn_pool_bwd(gpu, d, dx_in, dyv, ddy, ddx, NULL, 0));
        gy[rep] = dev_down(dyv, ny);
        gdx[rep] = dev_down(ddx, nx);
        dev_free(dyv), dev_free(ddx);
    }
    char key[160];
    cnn_op_str(&op, key, sizeof key);
    if (d->mode == CNN_POOL_MAX)
        expect_same("maxpool fwd", key, gy[0], y, ny);
    else
        expect_close("avgpool fwd", key, gy[0], y, ny, TOL_ELT);
    expect_close("pool bwd", key, gdx[0], dx, nx, TOL_ELT);
    expect_same("pool fwd rerun", key, gy[1], gy[0], ny);
    expect_same("pool bwd rerun", key, gdx[1], gdx[0], nx);
    for (int rep = 0; rep < 2; rep++)
        free(gy[rep]), free(gdx[rep]);
    dev_free(dx_in), dev_free(ddy);
    free(x), free(dy), free(y), free(dx);
}

static void test_pools(void)
{
    const cnn_pool_mode MAX = CNN_POOL_MAX, AVG = CNN_POOL_AVG;
    test_pool(tu_pool(MAX, 2, 3, 8, 8, 2, 2, 2, 2, 0, 0, false), false);
    test_pool(tu_pool(MAX, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, false), false);
    test_pool(tu_pool(MAX, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, true), false);
    test_pool(tu_pool(MAX, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, true), true);
    test_pool(tu_pool(MAX, 1, 2, 6, 7, 3, 2, 3, 1, 1, 0, false), false);
    test_pool(tu_pool(MAX, 2, 1, 7, 7, 2, 2, 2, 2, 0, 0, true), false);   /* ceil adds a window */
    test_pool(tu_pool(MAX, 1, 3, 13, 11, 4, 4, 4, 4, 2, 1, true), false); /* stride 4 */
    test_pool(tu_pool(MAX, 2, 2, 5, 6, 1, 1, 1, 1, 0, 0, false), false);  /* 1x1: identity */
    test_pool(tu_pool(AVG, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, true), false);
    test_pool(tu_pool(AVG, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, false), false);
    test_pool(tu_pool(AVG, 2, 2, 6, 5, 3, 2, 2, 1, 1, 0, false), false);
    /* A ceil-mode window that starts in the right padding: divisor 1. */
    test_pool(tu_pool(AVG, 1, 2, 5, 5, 2, 2, 2, 2, 1, 1, true), false);
    test_pool(tu_pool(AVG, 1, 4, 11, 10, 5, 3, 3, 2, 2, 1, true), false);
    test_pool(tu_pool(AVG, 8, 16, 32, 32, 2, 2, 2, 2, 0, 0, false), false);
}

static void test_adapool(int n, int c, int h, int w, int p, int q)
{
    cnn_op op = {.kind = CNN_OP_ADAPOOL, .adapool = {n, c, h, w, p, q}};
    TU_EXPECT_OK(cnn_op_init(&op));
    const int64_t nx = (int64_t)n * c * h * w, ny = (int64_t)n * c * p * q;
    float *x = tu_rand_buf(nx, &rng, -1, 1), *dy = tu_rand_buf(ny, &rng, -1, 1);
    float *y = tu_nan_buf(ny), *dx = tu_nan_buf(nx);
    TU_EXPECT_OK(cnn_adapool_fwd(ref, &op.adapool, x, y, NULL, 0));
    TU_EXPECT_OK(cnn_adapool_bwd(ref, &op.adapool, dy, dx, NULL, 0));
    float *dxin = dev_up(x, nx), *ddy = dev_up(dy, ny), *dyv = dev_nan(ny), *ddx = dev_nan(nx);
    TU_EXPECT_OK(cnn_adapool_fwd(gpu, &op.adapool, dxin, dyv, NULL, 0));
    TU_EXPECT_OK(cnn_adapool_bwd(gpu, &op.adapool, ddy, ddx, NULL, 0));
    float *gy = dev_down(dyv, ny), *gdx = dev_down(ddx, nx);
    char key[96];
    cnn_op_str(&op, key, sizeof key);
    expect_close("adapool fwd", key, gy, y, ny, TOL_ELT);
    expect_close("adapool bwd", key, gdx, dx, nx, TOL_ELT);
    dev_free(dxin), dev_free(ddy), dev_free(dyv), dev_free(ddx);
    free(x), free(dy), free(y), free(dx), free(gy), free(gdx);
}

/* ---- batch norm ---------------------------------------------------------- */

/* x has mean ~1 and spread ~1.2 per channel. n*h*w = 6 in the first case,
 * where the unbiased running variance is 6/5 of the biased one: a 20%
 * error if cuDNN folded in the other. The backward pass takes the
 * reference's saved statistics, so it is checked on its own. */
static void test_bn(int n, int c, int h, int w, double eps, double momentum)
{
    cnn_op op = {.kind = CNN_OP_BN, .bn = {n, c, h, w, eps, momentum}};
    TU_EXPECT_OK(cnn_op_init(&op));
    const cnn_bn_desc *d = &op.bn;
    const int64_t nx = (int64_t)n * c * h * w;
    float *x = tu_rand_buf(nx, &rng, -1, 3), *dy = tu_rand_buf(nx, &rng, -1, 1),
          *gamma = tu_rand_buf(c, &rng, 0.5f, 1.5f), *beta = tu_rand_buf(c, &rng, -1, 1),
          *rm0 = tu_rand_buf(c, &rng, -1, 1), *rv0 = tu_rand_buf(c, &rng, 0.5f, 2);
    float *y = tu_nan_buf(nx), *yi = tu_nan_buf(nx), *dx = tu_nan_buf(nx), *sm = tu_nan_buf(c),
          *si = tu_nan_buf(c), *dg = tu_nan_buf(c), *db = tu_nan_buf(c);
    float *rm = copy_buf(rm0, c), *rv = copy_buf(rv0, c);
    TU_EXPECT_OK(cnn_bn_fwd_train(ref, d, x, gamma, beta, y, rm, rv, sm, si, NULL, 0));
    TU_EXPECT_OK(cnn_bn_fwd_infer(ref, d, x, gamma, beta, rm0, rv0, yi, NULL, 0));
    TU_EXPECT_OK(cnn_bn_bwd(ref, d, x, dy, gamma, sm, si, dx, dg, db, NULL, 0));

    float *gx = dev_up(x, nx), *gdy = dev_up(dy, nx), *ggamma = dev_up(gamma, c),
          *gbeta = dev_up(beta, c), *grm = dev_up(rm0, c), *grv = dev_up(rv0, c),
          *grm0 = dev_up(rm0, c), *grv0 = dev_up(rv0, c), *gsm_ref = dev_up(sm, c),
          *gsi_ref = dev_up(si, c);
    float *gy = dev_nan(nx), *gyi = dev_nan(nx), *gdx = dev_nan(nx), *gsm = dev_nan(c),
          *gsi = dev_nan(c), *gdg = dev_nan(c), *gdb = dev_nan(c);
    size_t ws_size;
    void *ws = dev_ws(&op, CNN_FWD, &ws_size);
    TU_EXPECT_OK(cnn_bn_fwd_train(gpu, d, gx, ggamma, gbeta, gy, grm, grv, gsm, gsi, ws, ws_size));
    dev_free(ws);
    ws = dev_ws(&op, CNN_FWD_INFER, &ws_size);
    TU_EXPECT_OK(cnn_bn_fwd_infer(gpu, d, gx, ggamma, gbeta, grm0, grv0, gyi, ws, ws_size));
    dev_free(ws);
    ws = dev_ws(&op, CNN_BWD_DATA, &ws_size);
    TU_EXPECT_OK(cnn_bn_bwd(gpu, d, gx, gdy, ggamma, gsm_ref, gsi_ref, gdx, gdg, gdb, ws, ws_size));
    dev_free(ws);

    char key[96];
    cnn_op_str(&op, key, sizeof key);
    check_dev("bn fwd y", key, gy, y, nx, TOL_BN);
    check_dev("bn save_mean", key, gsm, sm, c, TOL_BN);
    check_dev("bn save_invstd", key, gsi, si, c, TOL_BN);
    check_dev("bn running_mean", key, grm, rm, c, TOL_BN);
    check_dev("bn running_var (unbiased)", key, grv, rv, c, TOL_BN);
    check_dev("bn fwd_infer y", key, gyi, yi, nx, TOL_BN);
    check_dev("bn bwd dx", key, gdx, dx, nx, TOL_BN_BWD);
    check_dev("bn bwd dgamma", key, gdg, dg, c, TOL_BN_BWD);
    check_dev("bn bwd dbeta", key, gdb, db, c, TOL_BN_BWD);
    float *all[] = {gx,      gdy, ggamma, gbeta, grm, grv, grm0, grv0, gsm_ref,
                    gsi_ref, gy,  gyi,    gdx,   gsm, gsi, gdg,  gdb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        dev_free(all[i]);
    free(x), free(dy), free(gamma), free(beta), free(rm0), free(rv0);
    free(y), free(yi), free(dx), free(sm), free(si), free(dg), free(db), free(rm), free(rv);
}

/* ---- linear --------------------------------------------------------------- */

static void test_linear(int n, int in, int out, bool bias)
{
    cnn_op op = {.kind = CNN_OP_LINEAR, .linear = {.n = n, .in = in, .out = out, .has_bias = bias}};
    TU_EXPECT_OK(cnn_op_init(&op));
    const cnn_linear_desc *d = &op.linear;
    const int64_t nx = (int64_t)n * in, ny = (int64_t)n * out, nw = (int64_t)out * in;
    float *x = tu_rand_buf(nx, &rng, -1, 1), *w = tu_rand_buf(nw, &rng, -1, 1),
          *b = tu_rand_buf(out, &rng, -1, 1), *dy = tu_rand_buf(ny, &rng, -1, 1);
    float *y = tu_nan_buf(ny), *dx = tu_nan_buf(nx), *dw = tu_nan_buf(nw), *db = tu_nan_buf(out);
    TU_EXPECT_OK(cnn_linear_fwd(ref, d, x, w, bias ? b : NULL, y, NULL, 0));
    TU_EXPECT_OK(cnn_linear_bwd_data(ref, d, dy, w, dx, NULL, 0));
    TU_EXPECT_OK(cnn_linear_bwd_weight(ref, d, x, dy, dw, bias ? db : NULL, NULL, 0));

    float *gx = dev_up(x, nx), *gw = dev_up(w, nw), *gb = dev_up(b, out), *gdy = dev_up(dy, ny);
    float *gy = dev_nan(ny), *gdx = dev_nan(nx), *gdw = dev_nan(nw), *gdb = dev_nan(out);
    size_t ws_size;
    void *ws = dev_ws(&op, CNN_FWD, &ws_size);
    TU_EXPECT_OK(cnn_linear_fwd(gpu, d, gx, gw, bias ? gb : NULL, gy, ws, ws_size));
    dev_free(ws);
    ws = dev_ws(&op, CNN_BWD_DATA, &ws_size);
    TU_EXPECT_OK(cnn_linear_bwd_data(gpu, d, gdy, gw, gdx, ws, ws_size));
    dev_free(ws);
    ws = dev_ws(&op, CNN_BWD_WEIGHT, &ws_size);
    TU_EXPECT_OK(cnn_linear_bwd_weight(gpu, d, gx, gdy, gdw, bias ? gdb : NULL, ws, ws_size));
    dev_free(ws);

    char key[64];
    cnn_op_str(&op, key, sizeof key);
    float *hy = dev_down(gy, ny), *hdx = dev_down(gdx, nx), *hdw = dev_down(gdw, nw),
          *hdb = dev_down(gdb, out);
    expect_close("linear fwd", key, hy, y, ny, TOL_FP32);
    expect_close("linear bwd_data", key, hdx, dx, nx, TOL_FP32);
    expect_close("linear bwd_weight", key, hdw, dw, nw, TOL_FP32);
    if (bias)
        expect_close("linear bwd_bias", key, hdb, db, out, TOL_FP32);
    dev_free(gx), dev_free(gw), dev_free(gb), dev_free(gdy);
    dev_free(gy), dev_free(gdx), dev_free(gdw), dev_free(gdb);
    free(hy), free(hdx), free(hdw), free(hdb);
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db);
}

/* ---- element-wise ---------------------------------------------------------- */

/* relu gets exact zeros, -0.0 and NaN among its inputs, which it must pass
 * through bit for bit as torch.relu does. */
static void test_act(cnn_act_mode mode, int64_t count)
{
    cnn_op op = {.kind = CNN_OP_ACT, .act = {.mode = mode, .count = count}};
    TU_EXPECT_OK(cnn_op_init(&op));
    float *x = tu_rand_buf(count, &rng, -8, 8), *dy = tu_rand_buf(count, &rng, -1, 1);
    if (mode == CNN_ACT_RELU) {
        for (int64_t i = 0; i < count; i += 101)
            x[i] = 0.0f;
        for (int64_t i = 50; i < count; i += 101)
            x[i] = -0.0f;
        for (int64_t i = 77; i < count; i += 997)
            x[i] = NAN;
    }
    float *y = tu_nan_buf(count), *dx = tu_nan_buf(count);
    TU_EXPECT_OK(cnn_act_fwd(ref, &op.act, x, y));
    TU_EXPECT_OK(cnn_act_bwd(ref, &op.act, y, dy, dx));
    float *gx = dev_up(x, count), *gdy = dev_up(dy, count), *gy = dev_nan(count),
          *gdx = dev_nan(count);
    TU_EXPECT_OK(cnn_act_fwd(gpu, &op.act, gx, gy));
    TU_EXPECT_OK(cnn_act_bwd(gpu, &op.act, gy, gdy, gdx));
    float *hy = dev_down(gy, count), *hdx = dev_down(gdx, count);
    char key[64];
    cnn_op_str(&op, key, sizeof key);
    if (mode == CNN_ACT_RELU) {
        expect_same("relu fwd", key, hy, y, count);
        expect_same("relu bwd", key, hdx, dx, count);
    } else {
        expect_close("sigmoid fwd", key, hy, y, count, TOL_ELT);
        expect_close("sigmoid bwd", key, hdx, dx, count, TOL_ELT);
    }
    dev_free(gx), dev_free(gdy), dev_free(gy), dev_free(gdx);
    free(x), free(dy), free(y), free(dx), free(hy), free(hdx);
}

static void test_dropout(int64_t count, double p, uint64_t seed)
{
    cnn_op op = {.kind = CNN_OP_DROPOUT, .dropout = {.count = count, .p = p, .seed = seed}};
    TU_EXPECT_OK(cnn_op_init(&op));
    float *x = tu_rand_buf(count, &rng, -1, 1), *dy = tu_rand_buf(count, &rng, -1, 1);
    float *y = tu_nan_buf(count), *dx = tu_nan_buf(count);
    TU_EXPECT_OK(cnn_dropout_fwd(ref, &op.dropout, x, y));
    TU_EXPECT_OK(cnn_dropout_bwd(ref, &op.dropout, dy, dx));
    float *gx = dev_up(x, count), *gdy = dev_up(dy, count), *gy = dev_nan(count),
          *gdx = dev_nan(count);
    TU_EXPECT_OK(cnn_dropout_fwd(gpu, &op.dropout, gx, gy));
    TU_EXPECT_OK(cnn_dropout_bwd(gpu, &op.dropout, gdy, gdx));
    float *hy = dev_down(gy, count), *hdx = dev_down(gdx, count);
    char key[64];
    cnn_op_str(&op, key, sizeof key);
    expect_same("dropout fwd (mask and values)", key, hy, y, count);
    expect_same("dropout bwd", key, hdx, dx, count);
    int64_t kept = 0;
    for (int64_t i = 0; i < count; i++)
        kept += hy[i] != 0.0f;
    /* The mask is the reference's; this only guards against a reference and
     * a kernel that agree on nonsense (4.5 sigma of a binomial). */
    double expect = (1.0 - p) * (double)count, sd = sqrt(count * p * (1.0 - p));
    TU_CHECK(fabs((double)kept - expect) <= 4.5 * sd + 1.0, "dropout %s: kept %lld of %lld", key,
             (long long)kept, (long long)count);
    dev_free(gx), dev_free(gdy), dev_free(gy), dev_free(gdx);
    free(x), free(dy), free(y), free(dx), free(hy), free(hdx);
}

static void test_add(int64_t count)
{
    cnn_op op = {.kind = CNN_OP_ADD, .add = {.count = count}};
    TU_EXPECT_OK(cnn_op_init(&op));
    float *a = tu_rand_buf(count, &rng, -1, 1), *b = tu_rand_buf(count, &rng, -1, 1),
          *y = tu_nan_buf(count);
    TU_EXPECT_OK(cnn_add_fwd(ref, &op.add, a, b, y));
    float *ga = dev_up(a, count), *gb = dev_up(b, count), *gy = dev_nan(count);
    TU_EXPECT_OK(cnn_add_fwd(gpu, &op.add, ga, gb, gy));
    float *hy = dev_down(gy, count);
    char key[64];
    cnn_op_str(&op, key, sizeof key);
    expect_same("add", key, hy, y, count);
    dev_free(ga), dev_free(gb), dev_free(gy);
    free(a), free(b), free(y), free(hy);
}

/* ---- softmax + cross-entropy ---------------------------------------------- */

static void test_xent(int n, int classes, float scale)
{
    cnn_op op = {.kind = CNN_OP_XENT, .xent = {.n = n, .classes = classes}};
    TU_EXPECT_OK(cnn_op_init(&op));
    const int64_t nl = (int64_t)n * classes;
    float *logits = tu_rand_buf(nl, &rng, -scale, scale);
    int32_t *labels = tu_xmalloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++)
        labels[i] = (int32_t)(tu_next(&rng) % (uint64_t)classes);
    float *prob = tu_nan_buf(nl), *dl = tu_nan_buf(nl), loss = NAN;
    TU_EXPECT_OK(cnn_xent_fwd(ref, &op.xent, logits, labels, prob, &loss));
    TU_EXPECT_OK(cnn_xent_bwd(ref, &op.xent, prob, labels, dl));

    float *glog = dev_up(logits, nl), *gprob = dev_nan(nl), *gloss = dev_nan(1),
          *gprob_ref = dev_up(prob, nl), *gdl = dev_nan(nl);
    int32_t *glab = dev_up_bytes(labels, sizeof(int32_t) * (size_t)n);
    TU_EXPECT_OK(cnn_xent_fwd(gpu, &op.xent, glog, glab, gprob, gloss));
    TU_EXPECT_OK(cnn_xent_bwd(gpu, &op.xent, gprob_ref, glab, gdl));
    float *hprob = dev_down(gprob, nl), *hloss = dev_down(gloss, 1), *hdl = dev_down(gdl, nl);
    char key[64];
    cnn_op_str(&op, key, sizeof key);
    expect_close("xent prob", key, hprob, prob, nl, TOL_XENT);
    double loss_err = fabs((double)hloss[0] - loss) / fmax(fabs(loss), 1e-30);
    if (getenv("V"))
        printf("  %-44s %-52s %.3g\n", "xent loss", key, loss_err);
    TU_CHECK(loss_err <= TOL_XENT, "xent %s: loss %.9g vs %.9g (rel %.3g)", key, hloss[0], loss,
             loss_err);
    expect_same("xent bwd", key, hdl, dl, nl);

    /* A label out of range cannot be reported without a device sync: it
     * poisons the loss and its row's gradient instead. */
    int32_t bad = classes;
    TU_EXPECT_OK(cnn_mem_upload(gpu, glab, &bad, sizeof bad));
    TU_EXPECT_OK(cnn_xent_fwd(gpu, &op.xent, glog, glab, gprob, gloss));
    TU_EXPECT_OK(cnn_xent_bwd(gpu, &op.xent, gprob_ref, glab, gdl));
    free(hloss);
    free(hdl);
    hloss = dev_down(gloss, 1);
    hdl = dev_down(gdl, nl);
    TU_CHECK(isnan(hloss[0]), "xent %s: a bad label gave loss %g, not NaN", key, hloss[0]);
    TU_CHECK(isnan(hdl[0]) && isnan(hdl[classes - 1]), "xent %s: a bad label's row is not NaN",
             key);
    dev_free(glog), dev_free(gprob), dev_free(gloss), dev_free(gprob_ref), dev_free(gdl);
    dev_free(glab);
    free(logits), free(labels), free(prob), free(dl), free(hprob), free(hloss), free(hdl);
}

/* ---- concat ----------------------------------------------------------------- */

static void test_concat(int n, int h, int w, int count, const int *c)
{
    cnn_op op = {.kind = CNN_OP_CONCAT, .concat = {.n = n, .h = h, .w = w, .count = count}};
    for (int i = 0; i < count; i++)
        op.concat.c[i] = c[i];
    TU_EXPECT_OK(cnn_op_init(&op));
    const cnn_concat_desc *d = &op.concat;
    const int64_t ny = (int64_t)n * d->c_out * h * w;
    float *xs[CNN_MAX_CONCAT], *dxs[CNN_MAX_CONCAT], *gxs[CNN_MAX_CONCAT], *gdxs[CNN_MAX_CONCAT];
    float *dy = tu_rand_buf(ny, &rng, -1, 1), *y = tu_nan_buf(ny);
    for (int i = 0; i < count; i++) {
        const int64_t ni = (int64_t)n * c[i] * h * w;
        xs[i] = tu_rand_buf(ni, &rng, -1, 1);
        dxs[i] = tu_nan_buf(ni);
        gxs[i] = dev_up(xs[i], ni);
        gdxs[i] = dev_nan(ni);
    }
    TU_EXPECT_OK(cnn_concat_fwd(ref, d, (const float *const *)xs, y));
    TU_EXPECT_OK(cnn_concat_bwd(ref, d, dy, dxs));
    float *gy = dev_nan(ny), *gdy = dev_up(dy, ny);
    TU_EXPECT_OK(cnn_concat_fwd(gpu, d, (const float *const *)gxs, gy));
    TU_EXPECT_OK(cnn_concat_bwd(gpu, d, gdy, gdxs));
    char key[96];
    cnn_op_str(&op, key, sizeof key);
    float *hy = dev_down(gy, ny);
    expect_same("concat fwd", key, hy, y, ny);
    free(hy);
    for (int i = 0; i < count; i++) {
        const int64_t ni = (int64_t)n * c[i] * h * w;
        float *hdx = dev_down(gdxs[i], ni);
        expect_same("concat bwd", key, hdx, dxs[i], ni);
        free(hdx);
        dev_free(gxs[i]), dev_free(gdxs[i]);
        free(xs[i]), free(dxs[i]);
    }
    dev_free(gy), dev_free(gdy);
    free(dy), free(y);
}

/* ---- main ------------------------------------------------------------------- */

int main(void)
{
    const cnn_backend *be = cnn_backend_find("cudnn");
    if (!be) {
        printf("test_cudnn: this build has no cudnn backend; skipped\n");
        return 77;
    }
    char why[256] = "";
    if (!cnn_backend_available(be, why, sizeof why))
        return check_unavailable(be, why);
    if (cnn_ctx_create(cnn_backend_find("naive"), NULL, &ref) != CNN_OK ||
        cnn_ctx_create(be, NULL, &gpu) != CNN_OK) {
        fprintf(stderr, "FAIL: cannot create contexts: %s\n", cnn_last_error());
        return 1;
    }
    printf("test_cudnn: %s\n", be->about);

    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        test_conv(&conv_cases[i], TOL_CONV);
    for (size_t i = 0; i < sizeof conv_fp32_cases / sizeof conv_fp32_cases[0]; i++)
        test_conv(&conv_fp32_cases[i], TOL_FP32);

    test_pools();
    test_adapool(2, 3, 7, 7, 1, 1);   /* global */
    test_adapool(2, 3, 10, 9, 3, 4);  /* cells overlap */
    test_adapool(1, 2, 6, 6, 3, 3);   /* cells tile */
    test_adapool(1, 2, 5, 4, 7, 6);   /* more cells than inputs */
    test_adapool(4, 8, 14, 14, 7, 7); /* ResNet-style 2x2 */

    test_bn(2, 3, 1, 3, 1e-5, 0.1); /* m = 6: unbiased running variance */
    test_bn(4, 5, 7, 6, 1e-5, 0.1);
    test_bn(3, 1, 5, 5, 1e-3, 1.0); /* C = 1, running stats replaced */
    test_bn(8, 16, 14, 14, 1e-5, 0.1);

    test_linear(4, 17, 9, true);
    test_linear(1, 1, 1, true);
    test_linear(33, 128, 10, false);
    test_linear(64, 784, 256, true);

    test_act(CNN_ACT_RELU, 1000003);
    test_act(CNN_ACT_SIGMOID, 1000003);
    test_act(CNN_ACT_RELU, 1);
    test_dropout(1001, 0.5, 1);
    test_dropout(1000003, 0.25, 0x123456789abcdefull);
    test_dropout(4097, 0.0, 7);
    test_dropout(4097, 1.0, 7);
    test_add(1000003);
    test_add(3);

    test_xent(4, 10, 5.0f);
    test_xent(37, 1000, 5.0f);
    test_xent(300, 3, 5.0f);  /* more rows than the loss kernel's threads */
    test_xent(16, 10, 80.0f); /* large logits: stability */

    const int c3[] = {3, 1, 4}, c2[] = {2, 5}, c1[] = {4};
    test_concat(2, 5, 3, 3, c3);
    test_concat(3, 1, 1, 2, c2);
    test_concat(2, 4, 4, 1, c1);

    TU_EXPECT_OK(cnn_sync(gpu));
    cnn_ctx_destroy(gpu);
    cnn_ctx_destroy(ref);
    return tu_finish("test_cudnn");
}
