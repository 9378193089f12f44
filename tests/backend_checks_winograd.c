/* test_backends: the Winograd backends' own checks (winograd, which picks
 * the tile, and winograd_f2x3 / winograd_f4x3, which fix it).
 *
 * 3x3 stride-1 convolutions on odd and non-square sizes, C = 1, K = 1,
 * paddings 0 to 3 and pad_h != pad_w (a padding of 3 makes backward data
 * read dy with padding -1), outputs smaller than a tile, and VGG-16 /
 * ResNet-18 channel counts on small images, through the verify machinery
 * (Winograd's tolerance is cnn_winograd_tolerance, which the harness's
 * tolerance module applies by the algorithm's tile); every pass of them
 * must be taken. Everything else is declined, and the dispatch refuses a
 * declined call. The tile each backend picks, and what is delegated to
 * im2col (linear layers). */
#include <string.h>

#include "backend_checks.h"
#include "dispatch.h"
#include "test_util.h"

#define LAYER(n, c, h, w, k, ph, pw) BC_CONV(n, c, h, w, k, 3, 3, 1, 1, ph, pw, true)

static const bc_case layers[] = {
    LAYER(1, 2, 3, 3, 2, 0, 0),     /* 3x3 input, pad 0: 1x1 output */
    LAYER(2, 3, 1, 1, 2, 1, 1),     /* 1x1 input, pad 1 */
    LAYER(1, 4, 2, 2, 3, 1, 1),     /* 2x2 output */
    LAYER(2, 3, 7, 5, 4, 1, 1),     /* odd, non-square */
    LAYER(1, 1, 9, 11, 3, 1, 1),    /* C = 1 */
    LAYER(2, 5, 10, 6, 1, 1, 1),    /* K = 1 */
    LAYER(1, 4, 13, 9, 3, 0, 0),    /* pad 0 */
    LAYER(1, 3, 6, 7, 2, 2, 2),     /* pad 2 */
    LAYER(2, 2, 5, 4, 3, 3, 3),     /* pad 3 */
    LAYER(1, 3, 8, 5, 2, 0, 2),     /* pad_h 0, pad_w 2 */
    LAYER(1, 2, 4, 9, 3, 3, 1),     /* pad_h 3, pad_w 1 */
    LAYER(3, 6, 6, 19, 5, 1, 0),    /* pad_h 1, pad_w 0, 6x17 output */
    LAYER(2, 3, 32, 32, 64, 1, 1),  /* VGG-16 conv1_1 (3->64) at 32x32 */
    LAYER(2, 64, 16, 16, 64, 1, 1), /* ResNet-18 conv2_x (64->64) at 16x16 */
    LAYER(1, 512, 7, 7, 32, 1, 1),  /* ResNet-18 conv5_x C (512->32) at 7x7 */
    LAYER(1, 32, 7, 7, 512, 1, 1),  /* ResNet-18 conv5_x K (32->512) at 7x7 */
};
#define NLAYERS ((int)(sizeof layers / sizeof layers[0]))

static const cnn_pass conv_passes[] = {CNN_FWD, CNN_BWD_DATA, CNN_BWD_WEIGHT, CNN_BWD_BIAS};

static void check_taken(cnn_ctx *ctx)
{
    for (int i = 0; i < NLAYERS; i++) {
        cnn_op op = layers[i].op;
        char desc[128];
        TU_EXPECT_OK(cnn_op_init(&op));
        cnn_op_str(&op, desc, sizeof desc);
        for (int p = 0; p < 4; p++)
            TU_CHECK(cnn_supports(ctx, &op, conv_passes[p]), "%s declines %s %s",
                     ctx->backend->name, desc, cnn_pass_str(conv_passes[p]));
    }
}

static void check_declines(cnn_ctx *ctx)
{
    const struct {
        const char *what;
        int r, s, stride;
    } no[] = {{"5x5", 5, 5, 1}, {"1x1", 1, 1, 1}, {"3x3 stride 2", 3, 3, 2}, {"3x5", 3, 5, 1}};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        const bc_case c =
            BC_CONV(1, 4, 12, 12, 4, no[i].r, no[i].s, no[i].stride, no[i].stride, 1, 1, false);
        cnn_op op = c.op;
        TU_EXPECT_OK(cnn_op_init(&op));
        for (int p = 0; p < 4; p++)
            TU_CHECK(!cnn_supports(ctx, &op, conv_passes[p]), "%s accepts %s %s",
                     ctx->backend->name, no[i].what, cnn_pass_str(conv_passes[p]));
    }
    /* And the dispatch turns a declined call into CNN_ERR_UNSUPPORTED. */
    cnn_conv_desc d = {
        .n = 1, .c = 1, .h = 5, .w = 5, .k = 1, .r = 5, .s = 5, .stride_h = 1, .stride_w = 1};
    TU_EXPECT_OK(cnn_conv_init(&d));
    float x[25] = {0}, w[25] = {0}, y[1];
    TU_CHECK(cnn_conv_fwd(ctx, &d, x, w, NULL, y, NULL, 0) == CNN_ERR_UNSUPPORTED,
             "%s: 5x5 forward was not refused", ctx->backend->name);
}

/* The tile: winograd picks F(2x2) for a 2x2 output and F(4x4) for 56x56,
 * in each of the three passes; the fixed ones say theirs. Linear layers are
 * im2col's. */
static void check_algorithms(cnn_ctx *ctx)
{
    const bc_case cs[] = {BC_CONV(1, 8, 2, 2, 8, 3, 3, 1, 1, 1, 1, false),
                          BC_CONV(1, 8, 56, 56, 8, 3, 3, 1, 1, 1, 1, false)};
    cnn_op small = cs[0].op, big = cs[1].op;
    cnn_op lin = {.kind = CNN_OP_LINEAR, .linear = {3, 37, 11, true}};
    TU_EXPECT_OK(cnn_op_init(&small));
    TU_EXPECT_OK(cnn_op_init(&big));
    TU_EXPECT_OK(cnn_op_init(&lin));
    const char *name = ctx->backend->name, *f2 = "winograd F(2x2,3x3)", *f4 = "winograd F(4x4,3x3)";
    const char *want_small = !strcmp(name, "winograd_f4x3") ? f4 : f2;
    const char *want_big = !strcmp(name, "winograd_f2x3") ? f2 : f4;
    for (int p = 0; p < 3; p++) {
        const char *a = cnn_algorithm(ctx, &small, conv_passes[p]);
        const char *b = cnn_algorithm(ctx, &big, conv_passes[p]);
        TU_CHECK(!strcmp(a, want_small), "%s %s picks %s for a 2x2 output", name,
                 cnn_pass_str(conv_passes[p]), a);
        TU_CHECK(!strcmp(b, want_big), "%s %s picks %s for 56x56", name,
                 cnn_pass_str(conv_passes[p]), b);
    }
    /* 14x14 at batch 1: F(4x4) for the forward pass (16 tiles of 36
     * against 49 of 16), F(2x2) for the weight gradient, whose accumulators
     * cost as much as 42 tiles per transform-domain element (60 x 36
     * against 91 x 16). */
    const bc_case mid_case = BC_CONV(1, 8, 14, 14, 8, 3, 3, 1, 1, 1, 1, false);
    cnn_op mid = mid_case.op;
    TU_EXPECT_OK(cnn_op_init(&mid));
    const char *mf = cnn_algorithm(ctx, &mid, CNN_FWD),
               *mw = cnn_algorithm(ctx, &mid, CNN_BWD_WEIGHT);
    TU_CHECK(!strcmp(mf, want_big), "%s fwd picks %s for 14x14", name, mf);
    TU_CHECK(!strcmp(mw, !strcmp(name, "winograd_f4x3") ? f4 : f2),
             "%s bwd_weight picks %s for 14x14 at batch 1", name, mw);
    const char *lf = cnn_algorithm(ctx, &lin, CNN_FWD);
    TU_CHECK(!strcmp(lf, "im2col (delegated)"), "%s linear says %s", name, lf);
}

void bc_check_winograd(const cnn_backend *be, cnn_ctx *ctx)
{
    check_taken(ctx);
    check_declines(ctx);
    check_algorithms(ctx);
    bc_verify(be, "3x3 layers", layers, NLAYERS, NULL);
}
