/* The three Winograd backends against the naive reference, through the
 * checked dispatch: every conv pass (forward and backward data in Winograd,
 * backward filter delegated to im2col, bias gradient a reduction) on odd and
 * non-square sizes, C = 1, K = 1, paddings 0 to 3 and pad_h != pad_w (a
 * padding of 3 makes backward data read dy with padding -1), outputs smaller
 * than a tile, and VGG-16 / ResNet layer shapes at small batch (full size
 * with --layers). Outputs start
 * as NaN so an element left unwritten fails; workspaces are allocated at
 * exactly the size asked for, so writing past one trips ASan.
 *
 * Tolerances, as relative L2 error against the reference (which sums in
 * double and rounds once):
 *  - forward and backward data: verify's tolerance for the error class the
 *    backend reports (CNN_ERROR_WINOGRAD, tile, reduction channels), whose
 *    derivation and measurements are in impl_winograd/winograd.h; the data here are drawn as there
 *    (uniform [-1,1] inputs and gradients, He-scaled weights);
 *  - backward filter (im2col): a float sum over N*P*Q products, whose
 *    rounding grows like sqrt(N*P*Q) eps; 4x that, plus 1e-6 for the short
 *    sums where the GEMM's blocking dominates;
 *  - bias gradient: both sum in double and round once, so each element is
 *    within an ulp: 2.4e-7 (2 eps).
 * A result whose reference is all zeros would prove nothing, so that fails. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "registry.h"
#include "test_util.h"
#include "verify.h"

#define EPS32 5.9604644775390625e-08
#define NBACKENDS 3

static const char *const names[NBACKENDS] = {"winograd", "winograd_f2x3", "winograd_f4x3"};
static cnn_ctx *naive, *wino[NBACKENDS];
static uint64_t rng = 2015;

/* Uniform in [-a, a]: a = 1 for data, sqrt(3) * sqrt(2 / (9C)) for He
 * weights (the uniform with He's variance). */
static float *rand_buf(int64_t n, float a)
{
    return tu_rand_buf(n, &rng, -a, a);
}

typedef struct layer {
    const char *what;
    int n, c, h, w, k, pad_h, pad_w;
} layer;

static const layer layers[] = {
    {"3x3 input, pad 0: 1x1 output", 1, 2, 3, 3, 2, 0, 0},
    {"1x1 input, pad 1", 2, 3, 1, 1, 2, 1, 1},
    {"2x2 output", 1, 4, 2, 2, 3, 1, 1},
    {"odd, non-square", 2, 3, 7, 5, 4, 1, 1},
    {"C = 1", 1, 1, 9, 11, 3, 1, 1},
    {"K = 1", 2, 5, 10, 6, 1, 1, 1},
    {"pad 0", 1, 4, 13, 9, 3, 0, 0},
    {"pad 2", 1, 3, 6, 7, 2, 2, 2},
    {"pad 3", 2, 2, 5, 4, 3, 3, 3},
    {"pad_h 0, pad_w 2", 1, 3, 8, 5, 2, 0, 2},
    {"pad_h 3, pad_w 1", 1, 2, 4, 9, 3, 3, 1},
    {"pad_h 1, pad_w 0, 6x17 output", 3, 6, 6, 19, 5, 1, 0},
    /* Real channel counts on small images, cheap enough for the sanitizer
     * pass; the full-size layers are in big_layers. */
    {"VGG-16 conv1_1 (3->64) at 32x32", 2, 3, 32, 32, 64, 1, 1},
    {"ResNet-18 conv2_x (64->64) at 16x16", 2, 64, 16, 16, 64, 1, 1},
    {"ResNet-18 conv5_x C (512->32) at 7x7", 1, 512, 7, 7, 32, 1, 1},
    {"ResNet-18 conv5_x K (32->512) at 7x7", 1, 32, 7, 7, 512, 1, 1},
};

/* With --layers (ctest's test_winograd_layers, labelled slow: seconds in a
 * release build, minutes under the sanitizers): full-size layers, whose
 * many tiles take several chunks. */
static const layer big_layers[] = {
    {"VGG-16 conv1_1", 1, 3, 224, 224, 64, 1, 1},
    {"ResNet-18 conv2_x", 2, 64, 56, 56, 64, 1, 1},
    {"ResNet-18 conv4_x", 2, 256, 14, 14, 256, 1, 1},
    {"ResNet-18 conv5_x", 2, 512, 7, 7, 512, 1, 1},
};

typedef struct bufs {
    float *x, *w, *b, *dy;
} bufs;

/* Run one pass on ctx into a fresh NaN-filled buffer of `count` floats. */
static float *run_pass(cnn_ctx *ctx, const cnn_conv_desc *d, cnn_pass pass, const bufs *in,
                       int64_t count)
{
    cnn_op op = {.kind = CNN_OP_CONV, .conv = *d};
    size_t ws_size;
    void *ws = tu_ws_for(ctx, &op, pass, &ws_size);
    float *out = tu_nan_buf(count);
    tu_conv_io io = {in->x, in->w, in->b, in->dy};
    TU_EXPECT_OK(tu_conv_pass(ctx, d, &io, pass, out, ws, ws_size));
    free(ws);
    return out;
}

static double tolerance(cnn_ctx *ctx, const cnn_conv_desc *d, cnn_pass pass)
{
    cnn_op op = {.kind = CNN_OP_CONV, .conv = *d};
    switch (pass) {
    case CNN_FWD:
    case CNN_BWD_DATA: {
        const cnn_algo a = cnn_algorithm_info(ctx, &op, pass);
        return verify_tolerance(&a.error, &op, pass, VT_Y);
    }
    case CNN_BWD_WEIGHT: return 4 * EPS32 * sqrt((double)d->n * d->p * d->q) + 1e-6;
    default: return 2 * EPS32;
    }
}

static void check_layer(const layer *l)
{
    cnn_conv_desc d = {.n = l->n,
                       .c = l->c,
                       .h = l->h,
                       .w = l->w,
                       .k = l->k,
                       .r = 3,
                       .s = 3,
                       .stride_h = 1,
                       .stride_w = 1,
                       .pad_h = l->pad_h,
                       .pad_w = l->pad_w,
                       .has_bias = true};
    if (cnn_conv_init(&d) != CNN_OK) {
        TU_CHECK(false, "%s: %s", l->what, cnn_last_error());
        return;
    }
    const int64_t nx = (int64_t)d.n * d.c * d.h * d.w, ny = (int64_t)d.n * d.k * d.p * d.q;
    const int64_t nw = (int64_t)d.k * d.c * 9;
    bufs in = {rand_buf(nx, 1.0f), rand_buf(nw, (float)sqrt(3.0 * 2.0 / (9.0 * d.c))),
               rand_buf(d.k, 1.0f), rand_buf(ny, 1.0f)};
    const cnn_pass passes[] = {CNN_FWD, CNN_BWD_DATA, CNN_BWD_WEIGHT, CNN_BWD_BIAS};
    const int64_t counts[] = {ny, nx, nw, d.k};
    char desc[128];
    cnn_op op = {.kind = CNN_OP_CONV, .conv = d};
    cnn_op_str(&op, desc, sizeof desc);

    for (int p = 0; p < 4; p++) {
        float *ref = run_pass(naive, &d, passes[p], &in, counts[p]);
        TU_CHECK(tu_norm2(ref, counts[p]) > 0, "%s %s: reference is all zeros", l->what,
                 cnn_pass_str(passes[p]));
        for (int b = 0; b < NBACKENDS; b++) {
            TU_CHECK(cnn_supports(wino[b], &op, passes[p]), "%s declines %s %s", names[b], desc,
                     cnn_pass_str(passes[p]));
            float *got = run_pass(wino[b], &d, passes[p], &in, counts[p]);
            double err = tu_rel_l2(got, ref, counts[p]), tol = tolerance(wino[b], &d, passes[p]);
            TU_CHECK(err <= tol, "%s %s (%s) %s [%s]: rel L2 %.3g > %.3g", names[b],
                     cnn_pass_str(passes[p]), cnn_algorithm(wino[b], &op, passes[p]), desc, l->what,
                     err, tol);
            free(got);
        }
        free(ref);
    }
    free(in.x);
    free(in.w);
    free(in.b);
    free(in.dy);
}

static void check_declines(void)
{
    const struct {
        const char *what;
        int r, s, stride;
    } no[] = {{"5x5", 5, 5, 1}, {"1x1", 1, 1, 1}, {"3x3 stride 2", 3, 3, 2}, {"3x5", 3, 5, 1}};
    const cnn_pass passes[] = {CNN_FWD, CNN_BWD_DATA, CNN_BWD_WEIGHT, CNN_BWD_BIAS};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        cnn_op op = {.kind = CNN_OP_CONV,
                     .conv = {.n = 1,
                              .c = 4,
                              .h = 12,
                              .w = 12,
                              .k = 4,
                              .r = no[i].r,
                              .s = no[i].s,
                              .stride_h = no[i].stride,
                              .stride_w = no[i].stride,
                              .pad_h = 1,
                              .pad_w = 1}};
        TU_EXPECT_OK(cnn_op_init(&op));
        for (int b = 0; b < NBACKENDS; b++)
            for (int p = 0; p < 4; p++)
                TU_CHECK(!cnn_supports(wino[b], &op, passes[p]), "%s accepts %s %s", names[b],
                         no[i].what, cnn_pass_str(passes[p]));
    }
    /* And the dispatch turns a declined call into CNN_ERR_UNSUPPORTED. */
    cnn_conv_desc d = {
        .n = 1, .c = 1, .h = 5, .w = 5, .k = 1, .r = 5, .s = 5, .stride_h = 1, .stride_w = 1};
    TU_EXPECT_OK(cnn_conv_init(&d));
    float x[25] = {0}, w[25] = {0}, y[1];
    TU_CHECK(cnn_conv_fwd(wino[0], &d, x, w, NULL, y, NULL, 0) == CNN_ERR_UNSUPPORTED,
             "5x5 forward was not refused");
}

static void check_algorithms(void)
{
    cnn_op small = {.kind = CNN_OP_CONV,
                    .conv = {.n = 1,
                             .c = 8,
                             .h = 2,
                             .w = 2,
                             .k = 8,
                             .r = 3,
                             .s = 3,
                             .stride_h = 1,
                             .stride_w = 1,
                             .pad_h = 1,
                             .pad_w = 1}};
    cnn_op big = small;
    big.conv.h = big.conv.w = 56;
    TU_EXPECT_OK(cnn_op_init(&small));
    TU_EXPECT_OK(cnn_op_init(&big));
    const char *f2 = "winograd F(2x2,3x3)", *f4 = "winograd F(4x4,3x3)";
    TU_CHECK(!strcmp(cnn_algorithm(wino[0], &small, CNN_FWD), f2), "auto picks %s for 2x2",
             cnn_algorithm(wino[0], &small, CNN_FWD));
    TU_CHECK(!strcmp(cnn_algorithm(wino[0], &big, CNN_FWD), f4), "auto picks %s for 56x56",
             cnn_algorithm(wino[0], &big, CNN_FWD));
    TU_CHECK(!strcmp(cnn_algorithm(wino[1], &big, CNN_BWD_DATA), f2), "f2x3 says %s",
             cnn_algorithm(wino[1], &big, CNN_BWD_DATA));
    TU_CHECK(!strcmp(cnn_algorithm(wino[2], &small, CNN_FWD), f4), "f4x3 says %s",
             cnn_algorithm(wino[2], &small, CNN_FWD));
    for (int b = 0; b < NBACKENDS; b++)
        TU_CHECK(!strcmp(cnn_algorithm(wino[b], &big, CNN_BWD_WEIGHT), "im2col (delegated)"),
                 "%s bwd_weight says %s", names[b], cnn_algorithm(wino[b], &big, CNN_BWD_WEIGHT));
}

/* Linear layers are delegated to im2col; check that the delegation works. */
static void check_linear(void)
{
    cnn_linear_desc d = {.n = 3, .in = 37, .out = 11, .has_bias = true};
    TU_EXPECT_OK(cnn_linear_init(&d));
    float *x = rand_buf(3 * 37, 1.0f), *w = rand_buf(11 * 37, 0.3f), *b = rand_buf(11, 1.0f);
    float *ref = tu_nan_buf(3 * 11), *got = tu_nan_buf(3 * 11);
    cnn_op op = {.kind = CNN_OP_LINEAR, .linear = d};
    size_t ws_size;
    void *ws = tu_ws_for(wino[0], &op, CNN_FWD, &ws_size);
    TU_EXPECT_OK(cnn_linear_fwd(naive, &d, x, w, b, ref, NULL, 0));
    TU_EXPECT_OK(cnn_linear_fwd(wino[0], &d, x, w, b, got, ws, ws_size));
    TU_CHECK(tu_rel_l2(got, ref, 3 * 11) <= 1e-6, "linear fwd rel L2 %.3g",
             tu_rel_l2(got, ref, 3 * 11));
    TU_CHECK(!strcmp(cnn_algorithm(wino[0], &op, CNN_FWD), "im2col (delegated)"), "linear says %s",
             cnn_algorithm(wino[0], &op, CNN_FWD));
    free(ws);
    free(x);
    free(w);
    free(b);
    free(ref);
    free(got);
}

int main(int argc, char **argv)
{
    const bool big = argc > 1 && !strcmp(argv[1], "--layers");
    TU_EXPECT_OK(cnn_ctx_create(cnn_backend_find("naive"), NULL, &naive));
    for (int b = 0; b < NBACKENDS; b++) {
        const cnn_backend *be = cnn_backend_find(names[b]);
        TU_CHECK(be != NULL, "backend %s is not registered", names[b]);
        if (!be)
            return tu_finish("test_winograd");
        TU_EXPECT_OK(cnn_ctx_create(be, NULL, &wino[b]));
    }
    if (big) {
        for (size_t i = 0; i < sizeof big_layers / sizeof big_layers[0]; i++)
            check_layer(&big_layers[i]);
    } else {
        check_declines();
        check_algorithms();
        check_linear();
        for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++)
            check_layer(&layers[i]);
    }
    for (int b = 0; b < NBACKENDS; b++)
        cnn_ctx_destroy(wino[b]);
    cnn_ctx_destroy(naive);
    return tu_finish(big ? "test_winograd --layers" : "test_winograd");
}
