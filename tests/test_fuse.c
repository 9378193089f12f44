/* Fused ReLU in the models executor (models/fuse.c, kernels/ops.h "Fused
 * ReLU"): which pairs fuse, forward and backward, on each host backend;
 * that no_fuse (--no-fuse) turns it off; that fused and unfused runs agree
 * (logits, loss, every gradient, the ReLU's output) in a training bind and
 * in a forward-only bind that shares activation memory; that a fused
 * layer's own output is refused and the rows name the fusion. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "net.h"
#include "registry.h"
#include "test_util.h"

/* conv1 (bias) + relu1: fused both ways where the backend has the folded
 * bias pass; conv2 + bn2 + relu2: the BN pair; conv3 (no bias) + relu3:
 * fused forward, the ReLU's backward apart (no bias pass to fold it into);
 * conv4 is read by relu4 and by the add, so that pair never fuses. */
static void build_net(cnn_net *net)
{
    int x = net_conv(net, "conv1", CNN_NET_INPUT, 6, 3, 1, 1, true);
    x = net_relu(net, "relu1", x);
    x = net_conv(net, "conv2", x, 6, 3, 1, 1, false);
    x = net_bn(net, "bn2", x, 1e-5);
    x = net_relu(net, "relu2", x);
    x = net_conv(net, "conv3", x, 6, 1, 1, 0, false);
    x = net_relu(net, "relu3", x);
    int c4 = net_conv(net, "conv4", x, 6, 3, 1, 1, true);
    int r4 = net_relu(net, "relu4", c4);
    x = net_add(net, "add", c4, r4);
    x = net_avgpool(net, "pool", x, 2, 2, 0, false);
    net_linear(net, "fc", x, 0, net->classes, true);
}

static const cnn_model_desc net_desc = {"fuse_net", "test graph", 3, 8, 8, 5};

enum { BATCH = 3 };

typedef struct outputs {
    float logits_eval[BATCH * 5], logits_train[BATCH * 5], loss;
    float relu1[BATCH * 6 * 8 * 8];
    float *grads; /* every trainable tensor, one after the other */
    int64_t ngrad;
} outputs;

static int layer_named(const cnn_model *m, const char *name)
{
    for (int i = 0; i < cnn_model_layer_count(m); i++) {
        cnn_layer_info info;
        if (cnn_model_layer(m, i, &info) == CNN_OK && strcmp(info.name, name) == 0)
            return i;
    }
    return -1;
}

static cnn_model *make(const char *backend, bool no_fuse, bool forward_only)
{
    cnn_model_opts o = {.batch = BATCH};
    cnn_exec_opts e = {.backends = backend,
                       .threads = 1,
                       .seed = 5,
                       .no_fuse = no_fuse,
                       .forward_only = forward_only,
                       /* training binds share memory: keep every output to
                        * read the plain bind's conv1 (test_models covers
                        * fused binds that share) */
                       .keep_activations = !forward_only};
    cnn_model *m = NULL;
    cnn_status st = cnn_model_create_net(&net_desc, build_net, &o, &m);
    if (st == CNN_OK)
        st = cnn_model_bind(m, &e);
    if (st == CNN_OK)
        st = cnn_model_init_params(m, 11);
    TU_CHECK(st == CNN_OK, "%s: bind: %s", backend, cnn_last_error());
    if (st != CNN_OK) {
        cnn_model_destroy(m);
        return NULL;
    }
    /* an input whose conv outputs are of both signs */
    float x[BATCH * 3 * 8 * 8];
    int32_t labels[BATCH] = {1, 4, 0};
    uint64_t s = 3;
    tu_fill(x, BATCH * 3 * 8 * 8, &s, -1.0f, 1.0f);
    TU_EXPECT_OK(cnn_model_set_input(m, x, BATCH * 3 * 8 * 8));
    if (!forward_only)
        TU_EXPECT_OK(cnn_model_set_labels(m, labels, BATCH));
    return m;
}

/* The pairs fused in pass `pass` (counted at the conv/BN side). */
static int fused_count(const cnn_model *m, cnn_pass pass)
{
    int n = 0;
    for (int i = 0; i < cnn_model_layer_count(m); i++) {
        cnn_layer_info info;
        cnn_model_layer(m, i, &info);
        bool relu = info.op->kind == CNN_OP_ACT;
        cnn_pass p = relu && pass != CNN_FWD ? CNN_BWD_DATA : pass;
        n += !relu && cnn_model_layer_fused(m, i, p) >= 0;
    }
    return n;
}

static void run_training(cnn_model *m, outputs *o)
{
    TU_EXPECT_OK(cnn_model_forward(m, CNN_MODE_EVAL));
    TU_EXPECT_OK(cnn_model_get_logits(m, o->logits_eval, BATCH * 5));
    TU_EXPECT_OK(cnn_model_forward(m, CNN_MODE_TRAIN));
    TU_EXPECT_OK(cnn_model_get_logits(m, o->logits_train, BATCH * 5));
    TU_EXPECT_OK(cnn_model_get_output(m, layer_named(m, "relu1"), o->relu1, BATCH * 6 * 8 * 8));
    TU_EXPECT_OK(cnn_model_loss(m, &o->loss));
    TU_EXPECT_OK(cnn_model_backward(m));
    o->ngrad = 0;
    for (int i = 0; i < cnn_model_tensor_count(m); i++) {
        cnn_tensor_info ti;
        cnn_model_tensor(m, i, &ti);
        if (ti.trainable)
            o->ngrad += cnn_shape_numel(&ti.shape);
    }
    o->grads = malloc((size_t)o->ngrad * sizeof(float));
    int64_t at = 0;
    for (int i = 0; o->grads && i < cnn_model_tensor_count(m); i++) {
        cnn_tensor_info ti;
        cnn_model_tensor(m, i, &ti);
        if (!ti.trainable)
            continue;
        int64_t n = cnn_shape_numel(&ti.shape);
        TU_EXPECT_OK(cnn_model_get_grad(m, ti.key, o->grads + at, n));
        at += n;
    }
}

static double rel_diff(const float *a, const float *b, int64_t n)
{
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

/* Float32 rounding of a reordered epilogue at most; a ReLU that flipped or
 * a lost mask would move these by O(1). */
#define TOL 1e-5

static void check_backend(const char *be, int want_fwd, int want_bwd)
{
    cnn_model *fused = make(be, false, false), *plain = make(be, true, false);
    if (!fused || !plain) {
        cnn_model_destroy(fused);
        cnn_model_destroy(plain);
        return;
    }
    TU_CHECK(fused_count(fused, CNN_FWD) == want_fwd, "%s: %d pairs fused forward, want %d", be,
             fused_count(fused, CNN_FWD), want_fwd);
    TU_CHECK(fused_count(fused, CNN_BWD_BIAS) + fused_count(fused, CNN_BWD_DATA) == want_bwd,
             "%s: %d backward passes folded, want %d", be,
             fused_count(fused, CNN_BWD_BIAS) + fused_count(fused, CNN_BWD_DATA), want_bwd);
    TU_CHECK(fused_count(plain, CNN_FWD) == 0 && fused_count(plain, CNN_BWD_BIAS) == 0 &&
                 fused_count(plain, CNN_BWD_DATA) == 0,
             "%s: no_fuse still fuses", be);
    /* never fused: conv4 has two readers */
    int c4 = layer_named(fused, "conv4");
    TU_CHECK(cnn_model_layer_fused(fused, c4, CNN_FWD) < 0, "%s: conv4 fused", be);

    outputs f = {0}, p = {0};
    run_training(fused, &f);
    run_training(plain, &p);
    TU_CHECK(rel_diff(f.logits_eval, p.logits_eval, BATCH * 5) <= TOL, "%s: eval logits", be);
    TU_CHECK(rel_diff(f.logits_train, p.logits_train, BATCH * 5) <= TOL, "%s: train logits", be);
    TU_CHECK(fabs(f.loss - p.loss) <= TOL * fabs(p.loss), "%s: loss %g vs %g", be, f.loss, p.loss);
    TU_CHECK(rel_diff(f.relu1, p.relu1, BATCH * 6 * 8 * 8) <= TOL, "%s: relu1's output", be);
    TU_CHECK(f.grads && p.grads && f.ngrad == p.ngrad && rel_diff(f.grads, p.grads, f.ngrad) <= TOL,
             "%s: gradients differ by %g", be,
             f.grads && p.grads ? rel_diff(f.grads, p.grads, f.ngrad) : -1.0);

    if (want_fwd > 0) {
        /* the fused conv's own output is not kept; the rows say why */
        float tmp[BATCH * 6 * 8 * 8];
        int c1 = layer_named(fused, "conv1"), r1 = layer_named(fused, "relu1");
        TU_CHECK(cnn_model_get_output(fused, c1, tmp, BATCH * 6 * 8 * 8) == CNN_ERR_INVALID_ARG &&
                     strstr(cnn_last_error(), "fused"),
                 "%s: conv1's output: %s", be, cnn_last_error());
        TU_EXPECT_OK(cnn_model_get_output(plain, c1, tmp, BATCH * 6 * 8 * 8));
        const char *algo = NULL;
        cnn_model_layer_backend(fused, c1, CNN_FWD, &algo);
        TU_CHECK(algo && strstr(algo, "+relu"), "%s: conv1's algorithm '%s'", be,
                 algo ? algo : "(null)");
        cnn_model_layer_backend(fused, r1, CNN_FWD, &algo);
        TU_CHECK(algo && strcmp(algo, "fused into conv1") == 0, "%s: relu1's algorithm '%s'", be,
                 algo ? algo : "(null)");
        cnn_model_layer_backend(plain, c1, CNN_FWD, &algo);
        TU_CHECK(algo && !strstr(algo, "relu"), "%s: unfused conv1's algorithm '%s'", be,
                 algo ? algo : "(null)");
    }
    free(f.grads);
    free(p.grads);
    cnn_model_destroy(fused);
    cnn_model_destroy(plain);

    /* forward-only: activation memory is shared, and the fused ReLU's slot
     * must not overlap its producer's input */
    fused = make(be, false, true);
    plain = make(be, true, true);
    if (fused && plain) {
        float a[BATCH * 5], b[BATCH * 5];
        TU_EXPECT_OK(cnn_model_forward(fused, CNN_MODE_EVAL));
        TU_EXPECT_OK(cnn_model_forward(plain, CNN_MODE_EVAL));
        TU_EXPECT_OK(cnn_model_get_logits(fused, a, BATCH * 5));
        TU_EXPECT_OK(cnn_model_get_logits(plain, b, BATCH * 5));
        TU_CHECK(rel_diff(a, b, BATCH * 5) <= TOL, "%s: forward-only logits differ", be);
    }
    cnn_model_destroy(fused);
    cnn_model_destroy(plain);
}

int main(void)
{
    /* naive, im2col, winograd: conv1, bn2, conv3 forward; conv1's bias pass
     * and bn2's backward fold the mask. oneDNN: the forwards only. */
    check_backend("naive", 3, 2);
    check_backend("im2col", 3, 2);
    check_backend("winograd", 3, 2);
    char why[256];
    const cnn_backend *one = cnn_backend_find("onednn");
    if (one && cnn_backend_available(one, why, sizeof why))
        check_backend("onednn", 3, 0);
    return tu_finish("test_fuse");
}
