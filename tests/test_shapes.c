/* Shape math, descriptor validation and the checked dispatch layer.
 *
 * Expected sizes follow PyTorch and were confirmed with PyTorch 1.13
 * (F.max_pool2d / F.conv2d on zero tensors). Each row states the formula:
 * floor mode: floor((in + 2p - k) / s) + 1; ceil mode: ceil(...) + 1, minus
 * one if that last window would start at or beyond in + p (only padding). */
#include <math.h>
#include <string.h>

#include "dispatch.h"
#include "registry.h"
#include "test_util.h"

static void test_window_count(void)
{
    static const struct {
        int in, k, s, p;
        bool ceil;
        int64_t want;
        const char *why;
    } rows[] = {
        {112, 3, 2, 0, true, 56, "ceil(109/2) + 1 = 56 (floor mode: 55)"},
        {112, 3, 2, 0, false, 55, "floor(109/2) + 1"},
        {112, 3, 2, 1, false, 56, "floor(111/2) + 1 (ResNet's max pool)"},
        {56, 3, 2, 0, true, 28, "ceil(53/2) + 1 (floor mode: 27)"},
        {14, 3, 2, 0, true, 7, "ceil(11/2) + 1 (floor mode: 6)"},
        {55, 3, 2, 0, false, 27, "floor(52/2) + 1 (AlexNet)"},
        {27, 3, 2, 0, true, 13, "ceil(24/2) + 1: ceil adds nothing when it divides"},
        {5, 2, 2, 1, true, 3, "ceil(5/2) + 1 = 4, but window 3 starts at 6 >= 5 + 1"},
        {3, 2, 2, 1, true, 2, "ceil(3/2) + 1 = 3, but window 2 starts at 4 >= 3 + 1"},
        {4, 2, 2, 1, true, 3, "(4 + 2 - 2)/2 + 1 = 3 exactly; window 2 starts at 4 < 5"},
        {4, 2, 2, 1, false, 3, "floor(4/2) + 1"},
        {4, 3, 2, 1, true, 3, "ceil(3/2) + 1; window 2 starts at 4 < 4 + 1"},
        {7, 3, 2, 1, true, 4, "ceil(6/2) + 1"},
        {6, 3, 3, 1, true, 3, "ceil(5/3) + 1; window 2 starts at 6 < 6 + 1"},
        {10, 4, 3, 2, true, 4, "ceil(10/3) + 1 = 5, but window 4 starts at 12 >= 12"},
        {2, 2, 2, 1, true, 2, "ceil(2/2) + 1; window 1 starts at 2 < 3"},
        {1, 1, 1, 0, true, 1, "a 1x1 input"},
        {224, 11, 4, 2, false, 55, "floor(217/4) + 1 (AlexNet conv1)"},
        {224, 7, 2, 3, false, 112, "floor(223/2) + 1 (ResNet stem)"},
        {4, 6, 1, 1, false, 1, "kernel exactly the padded input"},
        {5, 3, 3, 0, false, 1, "floor(2/3) + 1"},
        {2, 3, 1, 0, false, 0, "kernel larger than the input: no window"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t got = cnn_window_count(rows[i].in, rows[i].k, rows[i].s, rows[i].p, rows[i].ceil);
        TU_CHECK(got == rows[i].want,
                 "window_count(in %d, k %d, s %d, p %d, %s) = %lld, want %lld: %s", rows[i].in,
                 rows[i].k, rows[i].s, rows[i].p, rows[i].ceil ? "ceil" : "floor", (long long)got,
                 (long long)rows[i].want, rows[i].why);
    }
    TU_CHECK(cnn_window_count(5, 3, 0, 0, false) < 1, "window_count with stride 0 must be < 1");
}

static void test_conv_sizes(void)
{
    cnn_conv_desc alex = {1, 3, 224, 224, 64, 11, 11, 4, 4, 2, 2, true, 0, 0};
    TU_CHECK(cnn_conv_init(&alex) == CNN_OK && alex.p == 55 && alex.q == 55,
             "AlexNet conv1 224 k11 s4 p2: %dx%d, want 55x55 (%s)", alex.p, alex.q,
             cnn_last_error());
    cnn_conv_desc stem = {1, 3, 224, 224, 64, 7, 7, 2, 2, 3, 3, false, 0, 0};
    TU_CHECK(cnn_conv_init(&stem) == CNN_OK && stem.p == 112 && stem.q == 112,
             "ResNet stem 224 k7 s2 p3: %dx%d, want 112x112", stem.p, stem.q);
    /* Per-axis: h: floor((7 + 4 - 3)/2) + 1 = 5; w: floor((6 + 2 - 2)/3) + 1 = 3. */
    cnn_conv_desc rect = {2, 2, 7, 6, 3, 3, 2, 2, 3, 2, 1, true, 0, 0};
    TU_CHECK(cnn_conv_init(&rect) == CNN_OK && rect.p == 5 && rect.q == 3,
             "7x6 k3x2 s2,3 p2,1: %dx%d, want 5x3", rect.p, rect.q);
}

/* Run an init that must fail with CNN_ERR_INVALID_ARG and a message that
 * names the offending field. */
#define EXPECT_INVALID(call, field)                                                                \
    do {                                                                                           \
        cnn_clear_error();                                                                         \
        cnn_status st_ = (call);                                                                   \
        TU_CHECK(st_ == CNN_ERR_INVALID_ARG && strstr(cnn_last_error(), field) != NULL,            \
                 "%s: status %s, message '%s', want invalid argument naming '%s'", #call,          \
                 cnn_status_str(st_), cnn_last_error(), field);                                    \
    } while (0)

static void test_invalid_descriptors(void)
{
    const cnn_conv_desc conv = {2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, true, 0, 0};
    cnn_conv_desc c;
    c = conv, c.stride_h = 0;
    EXPECT_INVALID(cnn_conv_init(&c), "stride height");
    c = conv, c.stride_w = -2;
    EXPECT_INVALID(cnn_conv_init(&c), "stride width");
    c = conv, c.pad_w = -1;
    EXPECT_INVALID(cnn_conv_init(&c), "padding width");
    c = conv, c.h = 4, c.r = 7; /* 4 + 2*1 < 7 */
    EXPECT_INVALID(cnn_conv_init(&c), "larger than the padded input");
    c = conv, c.c = 0;
    EXPECT_INVALID(cnn_conv_init(&c), "channels c");
    c = conv, c.k = 0;
    EXPECT_INVALID(cnn_conv_init(&c), "output channels k");
    c = conv, c.n = -1;
    EXPECT_INVALID(cnn_conv_init(&c), "batch n");
    c = conv, c.s = 0;
    EXPECT_INVALID(cnn_conv_init(&c), "kernel width s");
    /* Sizes that would overflow int index arithmetic in a backend. */
    c = conv, c.pad_h = 1 << 30;
    EXPECT_INVALID(cnn_conv_init(&c), "padding height");
    c = conv, c.stride_w = 1 << 30;
    EXPECT_INVALID(cnn_conv_init(&c), "stride width");
    c = conv, c.h = 1 << 24, c.pad_h = 1 << 24, c.r = 1; /* 3 * 2^24 output rows */
    EXPECT_INVALID(cnn_conv_init(&c), "output height");

    const cnn_pool_desc pool = {CNN_POOL_MAX, 1, 2, 8, 8, 3, 3, 2, 2, 1, 1, false, 0, 0};
    cnn_pool_desc p;
    p = pool, p.pad_h = 2; /* PyTorch: pad at most kernel/2 = 1 */
    EXPECT_INVALID(cnn_pool_init(&p), "padding");
    p = pool, p.kw = 2, p.pad_w = 2;
    EXPECT_INVALID(cnn_pool_init(&p), "padding");
    p = pool, p.stride_w = 0;
    EXPECT_INVALID(cnn_pool_init(&p), "stride width");
    p = pool, p.h = 1, p.pad_h = 0; /* a 3-high window over 1 row */
    EXPECT_INVALID(cnn_pool_init(&p), "kernel height");
    p = pool, p.mode = CNN_POOL_MODE_COUNT;
    EXPECT_INVALID(cnn_pool_init(&p), "mode");
    p = pool, p.c = 0;
    EXPECT_INVALID(cnn_pool_init(&p), "channels c");

    cnn_adapool_desc a = {1, 2, 5, 5, 0, 3};
    EXPECT_INVALID(cnn_adapool_init(&a), "output height");

    const cnn_bn_desc bn = {2, 4, 3, 3, 1e-5, 0.1, false};
    cnn_bn_desc b;
    b = bn, b.eps = 0.0;
    EXPECT_INVALID(cnn_bn_init(&b), "eps");
    b = bn, b.eps = NAN;
    EXPECT_INVALID(cnn_bn_init(&b), "eps");
    b = bn, b.momentum = 1.5;
    EXPECT_INVALID(cnn_bn_init(&b), "momentum");
    b = bn, b.c = 0;
    EXPECT_INVALID(cnn_bn_init(&b), "channels c");

    cnn_linear_desc l = {2, 0, 10, true};
    EXPECT_INVALID(cnn_linear_init(&l), "in_features");
    l.in = 4, l.out = 0;
    EXPECT_INVALID(cnn_linear_init(&l), "out_features");

    cnn_act_desc act = {CNN_ACT_RELU, 0};
    EXPECT_INVALID(cnn_act_init(&act), "element count");
    act.count = 4, act.mode = CNN_ACT_MODE_COUNT;
    EXPECT_INVALID(cnn_act_init(&act), "mode");

    const double bad_p[] = {-0.1, 1.0000001, NAN};
    for (int i = 0; i < 3; i++) {
        cnn_dropout_desc d = {100, bad_p[i], 1};
        EXPECT_INVALID(cnn_dropout_init(&d), "p must be in [0, 1]");
    }
    cnn_dropout_desc ok_ends[2] = {{100, 0.0, 1}, {100, 1.0, 1}};
    TU_CHECK(cnn_dropout_init(&ok_ends[0]) == CNN_OK && cnn_dropout_init(&ok_ends[1]) == CNN_OK,
             "dropout p = 0 and p = 1 are valid: %s", cnn_last_error());

    cnn_concat_desc cat = {2, 4, 4, 0, {0}, 0};
    EXPECT_INVALID(cnn_concat_init(&cat), "input count");
    cat.count = CNN_MAX_CONCAT + 1;
    EXPECT_INVALID(cnn_concat_init(&cat), "input count");
    cat.count = 2, cat.c[0] = 3, cat.c[1] = 0;
    EXPECT_INVALID(cnn_concat_init(&cat), "input 1");
    cat.c[1] = 5;
    TU_CHECK(cnn_concat_init(&cat) == CNN_OK && cat.c_out == 8, "concat 3 + 5: c_out %d, want 8",
             cat.c_out);

    cnn_xent_desc x = {4, 0};
    EXPECT_INVALID(cnn_xent_init(&x), "classes");
    cnn_add_desc add = {0};
    EXPECT_INVALID(cnn_add_init(&add), "element count");
    cnn_op op = {.kind = CNN_OP_KIND_COUNT};
    EXPECT_INVALID(cnn_op_init(&op), "kind");
}

static void test_strings_and_flops(void)
{
    cnn_op op = {.kind = CNN_OP_CONV, .conv = {2, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, true, 0, 0}};
    TU_CHECK(cnn_op_init(&op) == CNN_OK, "conv init: %s", cnn_last_error());
    char buf[128];
    const char *want = "mb2ic64ih56iw56oc64oh56ow56kh3kw3sh1sw1ph1pw1";
    TU_CHECK(strcmp(cnn_op_str(&op, buf, sizeof buf), want) == 0, "conv string '%s', want '%s'",
             buf, want);
    /* 2 * N*K*P*Q * C*R*S for every conv pass but the bias (N*K*P*Q adds). */
    const cnn_conv_desc shapes[] = {
        {2, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, true, 0, 0},
        {3, 5, 7, 6, 4, 3, 2, 2, 3, 2, 1, false, 0, 0},
        {1, 3, 224, 224, 64, 11, 11, 4, 4, 2, 2, true, 0, 0},
    };
    for (int i = 0; i < 3; i++) {
        cnn_op o = {.kind = CNN_OP_CONV, .conv = shapes[i]};
        TU_CHECK(cnn_op_init(&o) == CNN_OK, "conv init: %s", cnn_last_error());
        const cnn_conv_desc *d = &o.conv;
        double out = (double)d->n * d->k * d->p * d->q, mac = out * d->c * d->r * d->s;
        TU_CHECK(
            cnn_op_flops(&o, CNN_FWD) == 2 * mac && cnn_op_flops(&o, CNN_BWD_DATA) == 2 * mac &&
                cnn_op_flops(&o, CNN_BWD_WEIGHT) == 2 * mac,
            "conv %d flops %g, want 2*N*K*P*Q*C*R*S = %g", i, cnn_op_flops(&o, CNN_FWD), 2 * mac);
        TU_CHECK(cnn_op_flops(&o, CNN_BWD_BIAS) == out, "conv %d bias flops %g, want %g", i,
                 cnn_op_flops(&o, CNN_BWD_BIAS), out);
        TU_CHECK(cnn_op_flops(&o, CNN_FWD_INFER) == 0.0, "conv has no fwd_infer pass");
    }
}

/* The bytes a pass must move at least, against sums done by hand. */
static void test_min_bytes(void)
{
    /* x 2*64*56*56 = 401408, w 64*64*3*3 = 36864, b 64, y 401408 */
    cnn_op vgg = {.kind = CNN_OP_CONV, .conv = {2, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, true, 0, 0}};
    /* p = (7 + 4 - 3) / 2 + 1 = 5, q = (6 + 2 - 2) / 3 + 1 = 3: x 630, w 120, y 3*4*5*3 = 180 */
    cnn_op odd = {.kind = CNN_OP_CONV, .conv = {3, 5, 7, 6, 4, 3, 2, 2, 3, 2, 1, false, 0, 0}};
    cnn_op relu = {.kind = CNN_OP_ACT, .act = {CNN_ACT_RELU, 1000}};
    /* inputs 2*(3+5)*4*4 = 256 elements in all, y as many */
    cnn_op cat = {.kind = CNN_OP_CONCAT,
                  .concat = {.n = 2, .h = 4, .w = 4, .count = 2, .c = {3, 5}}};
    TU_CHECK(cnn_op_init(&vgg) == CNN_OK && cnn_op_init(&odd) == CNN_OK &&
                 cnn_op_init(&relu) == CNN_OK && cnn_op_init(&cat) == CNN_OK,
             "init: %s", cnn_last_error());
    const struct {
        const cnn_op *op;
        cnn_pass pass;
        double want;
    } rows[] = {
        {&vgg, CNN_FWD, 4.0 * (401408 + 36864 + 64 + 401408)},
        {&vgg, CNN_BWD_WEIGHT, 4.0 * (401408 + 401408 + 36864)},
        {&odd, CNN_FWD, 4.0 * (630 + 120 + 180)}, /* no bias */
        {&odd, CNN_BWD_BIAS, 4.0 * (180 + 4)},
        {&odd, CNN_FWD_INFER, 0.0}, /* conv has no such pass */
        {&relu, CNN_FWD, 4.0 * 2000},
        {&relu, CNN_BWD_DATA, 4.0 * 3000}, /* y, dy -> dx */
        {&cat, CNN_FWD, 4.0 * 512},        /* every input, not just the first */
        {&cat, CNN_BWD_DATA, 4.0 * 512},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        double got = cnn_op_min_bytes(rows[i].op, rows[i].pass);
        TU_CHECK(got == rows[i].want, "min bytes of %s %s, row %zu: %g, want %g",
                 cnn_op_name(rows[i].op), cnn_pass_str(rows[i].pass), i, got, rows[i].want);
    }
}

/* ---- the dispatch layer, through a stub backend ------------------------- */

static int stub_calls;

static cnn_status stub_conv_fwd(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x,
                                const float *w, const float *b, float *y, CNN_WS)
{
    (void)ctx, (void)d, (void)x, (void)w, (void)b, (void)y, (void)ws, (void)ws_size;
    stub_calls++;
    return CNN_OK;
}

static cnn_status stub_act_fwd(cnn_ctx *ctx, const cnn_act_desc *d, const float *x, float *y)
{
    (void)ctx, (void)d, (void)x, (void)y;
    stub_calls++;
    return CNN_OK;
}

/* Only stride-1 convolutions; only relu. */
static bool stub_supports(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    (void)ctx, (void)pass;
    if (op->kind == CNN_OP_CONV)
        return op->conv.stride_h == 1 && op->conv.stride_w == 1;
    return op->kind != CNN_OP_ACT || op->act.mode == CNN_ACT_RELU;
}

static size_t stub_workspace(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    (void)ctx;
    return op->kind == CNN_OP_CONV && pass == CNN_FWD ? 256 : 0;
}

static const cnn_backend stub = {
    .name = "stub",
    .about = "two entries, for the dispatch tests",
    .device = CNN_DEVICE_HOST,
    .supports = stub_supports,
    .workspace_size = stub_workspace,
    .conv_fwd = stub_conv_fwd,
    .act_fwd = stub_act_fwd,
};

static void test_dispatch(void)
{
    cnn_ctx *ctx = NULL;
    TU_CHECK(cnn_ctx_create(&stub, NULL, &ctx) == CNN_OK, "stub context: %s", cnn_last_error());
    if (!ctx)
        return;
    cnn_conv_desc d = {1, 2, 6, 6, 3, 3, 3, 1, 1, 1, 1, false, 0, 0};
    TU_CHECK(cnn_conv_init(&d) == CNN_OK, "conv init: %s", cnn_last_error());
    float buf[1024], ws[64];

    cnn_status st = cnn_conv_bwd_data(ctx, &d, buf, buf, buf, NULL, 0);
    TU_CHECK(st == CNN_ERR_UNSUPPORTED && strstr(cnn_last_error(), "stub") &&
                 strstr(cnn_last_error(), "bwd_data"),
             "NULL conv_bwd_data: %s '%s', want unsupported naming backend and pass",
             cnn_status_str(st), cnn_last_error());
    st = cnn_pool_fwd(ctx, &(cnn_pool_desc){0}, buf, buf, NULL, 0);
    TU_CHECK(st == CNN_ERR_UNSUPPORTED, "NULL pool_fwd: %s", cnn_status_str(st));

    stub_calls = 0;
    st = cnn_conv_fwd(ctx, &d, buf, buf, NULL, buf, ws, 128);
    TU_CHECK(st == CNN_ERR_INVALID_ARG && stub_calls == 0 && strstr(cnn_last_error(), "256"),
             "workspace 128 < 256: %s '%s' (entry called %d times)", cnn_status_str(st),
             cnn_last_error(), stub_calls);
    st = cnn_conv_fwd(ctx, &d, buf, buf, NULL, buf, ws, sizeof ws);
    TU_CHECK(st == CNN_OK && stub_calls == 1, "workspace 256: %s '%s' (entry called %d times)",
             cnn_status_str(st), cnn_last_error(), stub_calls);

    cnn_conv_desc strided = d;
    strided.stride_h = 2;
    TU_CHECK(cnn_conv_init(&strided) == CNN_OK, "conv init: %s", cnn_last_error());
    st = cnn_conv_fwd(ctx, &strided, buf, buf, NULL, buf, ws, sizeof ws);
    TU_CHECK(st == CNN_ERR_UNSUPPORTED && stub_calls == 1,
             "supports() declined stride 2: %s (entry called %d times)", cnn_status_str(st),
             stub_calls);
    cnn_act_desc sig = {CNN_ACT_SIGMOID, 4}, relu = {CNN_ACT_RELU, 4};
    st = cnn_act_fwd(ctx, &sig, buf, buf);
    TU_CHECK(st == CNN_ERR_UNSUPPORTED, "supports() declined sigmoid: %s", cnn_status_str(st));
    st = cnn_act_fwd(ctx, &relu, buf, buf);
    TU_CHECK(st == CNN_OK && stub_calls == 2, "relu through the stub: %s", cnn_status_str(st));
    cnn_ctx_destroy(ctx);

    /* Batch statistics need two values per channel (PyTorch raises too);
     * inference does not. */
    const cnn_backend *naive = cnn_backend_find("naive");
    TU_CHECK(naive && cnn_ctx_create(naive, NULL, &ctx) == CNN_OK, "naive context: %s",
             cnn_last_error());
    if (!ctx)
        return;
    float x[4] = {1, 2, 3, 4}, y[4], one[4] = {1, 1, 1, 1}, zero[4] = {0}, sm[4], si[4];
    cnn_bn_desc bn = {1, 4, 1, 1, 1e-5, 0.1, false};
    TU_CHECK(cnn_bn_init(&bn) == CNN_OK, "bn init: %s", cnn_last_error());
    st = cnn_bn_fwd_train(ctx, &bn, x, one, zero, y, NULL, NULL, sm, si, NULL, 0);
    TU_CHECK(st == CNN_ERR_INVALID_ARG && strstr(cnn_last_error(), "n*h*w"),
             "bn training with n*h*w = 1: %s '%s'", cnn_status_str(st), cnn_last_error());
    st = cnn_bn_fwd_infer(ctx, &bn, x, one, zero, zero, one, y, NULL, 0);
    TU_CHECK(st == CNN_OK, "bn inference with n*h*w = 1: %s", cnn_status_str(st));
    cnn_bn_desc bn2 = {2, 2, 1, 1, 1e-5, 0.1, false};
    TU_CHECK(cnn_bn_init(&bn2) == CNN_OK, "bn init: %s", cnn_last_error());
    st = cnn_bn_fwd_train(ctx, &bn2, x, one, zero, y, NULL, NULL, sm, si, NULL, 0);
    TU_CHECK(st == CNN_OK, "bn training with n*h*w = 2: %s '%s'", cnn_status_str(st),
             cnn_last_error());
    cnn_ctx_destroy(ctx);
}

int main(void)
{
    test_window_count();
    test_conv_sizes();
    test_invalid_descriptors();
    test_strings_and_flops();
    test_min_bytes();
    test_dispatch();
    return tu_finish("test_shapes");
}
