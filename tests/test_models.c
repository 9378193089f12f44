/* The model library: the catalogue against torchvision (keys, shapes,
 * parameter counts, FLOPs), weights I/O and its errors, the loss kept on
 * the device, forward-only and training binds' memory reuse, whole-model
 * finite-difference gradient checks on the naive backend, and fallback
 * recording. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "model.h"
#include "net.h"
#include "npy.h"
#include "registry.h"
#include "test_models_keys.h"
#include "test_util.h"

static char tmp_root[] = "/tmp/cnn_test_models_XXXXXX";

/* A graph made to stress the executor's gradient bookkeeping: the stem's
 * output feeds a 1x1 conv, a max pool, a concat twice and a residual add
 * (five contributions summed in backward); the head has overlapping
 * adaptive-pool windows, dropout and a sigmoid. */
static void build_tiny(cnn_net *net)
{
    int a = net_conv(net, "stem", CNN_NET_INPUT, 4, 3, 1, 1, true);
    a = net_bn(net, "stem_bn", a, 1e-5);
    a = net_relu(net, "stem_relu", a);
    int b1 = net_conv(net, "branch1", a, 3, 1, 1, 0, false);
    int p = net_maxpool(net, "branch2.pool", a, 3, 1, 1, true);
    int b2 = net_conv(net, "branch2.conv", p, 2, 1, 1, 0, true);
    int ins[4] = {b1, a, b2, a};
    int cat = net_concat(net, "cat", ins, 4);
    int c = net_conv(net, "mix", cat, 4, 3, 1, 1, false);
    c = net_bn(net, "mix_bn", c, 1e-3);
    int s = net_add(net, "add", c, a);
    s = net_relu(net, "add_relu", s);
    s = net_avgpool(net, "pool", s, 2, 2, 0, false);
    s = net_adapool(net, "adapool", s, 2, 2);
    s = net_dropout(net, "drop", s, 0.25);
    s = net_linear(net, "fc1", s, 0, 6, true);
    s = net_sigmoid(net, "fc1_sig", s);
    net_linear(net, "fc2", s, 0, net->classes, true);
}

static const cnn_model_desc tiny_desc = {"tiny_branches", "test graph", 3, 6, 6, 5};

/* Created, bound with e and initialised from seed; NULL after a failed check. */
static cnn_model *make_bound(const char *name, cnn_model_opts o, const cnn_exec_opts *e,
                             uint64_t seed)
{
    cnn_model *m = NULL;
    cnn_status st = strcmp(name, "tiny") == 0 ? cnn_model_create_net(&tiny_desc, build_tiny, &o, &m)
                                              : cnn_model_create(name, &o, &m);
    TU_CHECK(st == CNN_OK, "create %s: %s", name, cnn_last_error());
    if (st != CNN_OK)
        return NULL;
    st = cnn_model_bind(m, e);
    if (st == CNN_OK)
        st = cnn_model_init_params(m, seed);
    TU_CHECK(st == CNN_OK, "bind/init %s: %s", name, cnn_last_error());
    if (st != CNN_OK) {
        cnn_model_destroy(m);
        return NULL;
    }
    return m;
}

static cnn_model *make(const char *name, cnn_model_opts o, const char *backends, uint64_t seed)
{
    /* One thread: these nets are too small to gain from more, and OpenMP
     * barriers on a loaded machine cost more than the work. */
    cnn_exec_opts e = {.backends = backends, .seed = 77, .threads = 1};
    return make_bound(name, o, &e, seed);
}

/* Two models alike on naive; false (and none) after a failed check. */
static bool make_pair(const char *name, cnn_model_opts o, uint64_t seed, cnn_model **a,
                      cnn_model **b)
{
    *a = make(name, o, "naive", seed);
    *b = make(name, o, "naive", seed);
    if (*a && *b)
        return true;
    cnn_model_destroy(*a);
    cnn_model_destroy(*b);
    *a = *b = NULL;
    return false;
}

/* ---- the catalogue against torchvision -------------------------------- */

static void test_catalogue(void)
{
    TU_CHECK(cnn_model_count() == (int)(sizeof expect_models / sizeof expect_models[0]),
             "catalogue has %d models", cnn_model_count());
    for (size_t i = 0; i < sizeof expect_models / sizeof expect_models[0]; i++) {
        const expect_model *e = &expect_models[i];
        cnn_model *m = NULL;
        cnn_status st = cnn_model_create(e->name, NULL, &m);
        TU_CHECK(st == CNN_OK, "create %s: %s", e->name, cnn_last_error());
        if (st != CNN_OK)
            continue;
        TU_CHECK(cnn_model_param_count(m) == e->params, "%s: %lld parameters, torch has %lld",
                 e->name, (long long)cnn_model_param_count(m), (long long)e->params);
        TU_CHECK(cnn_model_tensor_count(m) == e->nkeys, "%s: %d tensors, torch has %d", e->name,
                 cnn_model_tensor_count(m), e->nkeys);
        for (int k = 0; k < e->nkeys && k < cnn_model_tensor_count(m); k++) {
            cnn_tensor_info t;
            cnn_model_tensor(m, k, &t);
            cnn_shape want = {.ndim = e->keys[k].ndim};
            for (int d = 0; d < want.ndim; d++)
                want.dim[d] = e->keys[k].dim[d];
            char a[64], b[64];
            TU_CHECK(strcmp(t.key, e->keys[k].key) == 0 && cnn_shape_eq(&t.shape, &want),
                     "%s entry %d: %s %s, torch has %s %s", e->name, k, t.key,
                     cnn_shape_str(&t.shape, a, sizeof a), e->keys[k].key,
                     cnn_shape_str(&want, b, sizeof b));
            bool buffer = strstr(t.key, "running_") != NULL;
            TU_CHECK(t.trainable == !buffer, "%s: %s trainable=%d", e->name, t.key, t.trainable);
        }
        int nbn = 0;
        double mm = 0.0;
        for (int l = 0; l < cnn_model_layer_count(m); l++) {
            cnn_layer_info li;
            cnn_model_layer(m, l, &li);
            nbn += li.op->kind == CNN_OP_BN;
            if (li.op->kind == CNN_OP_CONV || li.op->kind == CNN_OP_LINEAR)
                mm += li.flops;
        }
        TU_CHECK(nbn == e->nbatches_tracked, "%s: %d batch norms, torch has %d", e->name, nbn,
                 e->nbatches_tracked);
        TU_CHECK(mm == e->matmul_flops, "%s: conv+linear FLOPs %.0f, torch hooks count %.0f",
                 e->name, mm, e->matmul_flops);
        TU_CHECK(cnn_model_flops(m) >= mm, "%s: total FLOPs below conv+linear", e->name);
        cnn_shape y = cnn_model_output_shape(m);
        const cnn_model_desc *d = cnn_model_find(e->name);
        TU_CHECK(y.ndim == 2 && y.dim[0] == 1 && y.dim[1] == d->classes, "%s: output shape",
                 e->name);
        cnn_model_destroy(m);
    }
}

static void expect_error(cnn_status st, cnn_status want, const char *what, const char *const *parts)
{
    TU_CHECK(st == want, "%s: status %s, want %s", what, cnn_status_str(st), cnn_status_str(want));
    for (; *parts; parts++)
        TU_CHECK(strstr(cnn_last_error(), *parts) != NULL, "%s: message '%s' lacks '%s'", what,
                 cnn_last_error(), *parts);
}

static void test_shapes_and_errors(void)
{
    cnn_model *m = NULL;
    cnn_model_opts o = {.batch = 2, .classes = 7, .c = 3, .h = 64, .w = 64};
    static const char *const big[] = {"alexnet", "vgg16", "googlenet", "resnet18"};
    for (int i = 0; i < 4; i++) {
        cnn_status st = cnn_model_create(big[i], &o, &m);
        TU_CHECK(st == CNN_OK, "%s at 64x64: %s", big[i], cnn_last_error());
        if (st != CNN_OK)
            continue;
        cnn_shape y = cnn_model_output_shape(m);
        TU_CHECK(y.dim[0] == 2 && y.dim[1] == 7, "%s: output %lldx%lld", big[i],
                 (long long)y.dim[0], (long long)y.dim[1]);
        cnn_model_destroy(m);
    }
    /* alexnet on grey images: only the first conv changes. */
    o = (cnn_model_opts){.c = 1};
    TU_EXPECT_OK(cnn_model_create("alexnet", &o, &m));
    if (m) {
        int t = cnn_model_find_tensor(m, "features.0.weight");
        cnn_tensor_info ti;
        cnn_model_tensor(m, t, &ti);
        TU_CHECK(ti.shape.dim[1] == 1, "alexnet 1-channel: features.0.weight has %lld channels",
                 (long long)ti.shape.dim[1]);
        cnn_model_destroy(m);
    }

    o = (cnn_model_opts){.batch = 2, .h = 28, .w = 28};
    const char *const fashion[] = {"fc_layer.0", "2048", "2x1x28x28", "2x1x32x32", NULL};
    expect_error(cnn_model_create("fashion_cnn", &o, &m), CNN_ERR_INVALID_ARG, "fashion_cnn 28x28",
                 fashion);
    TU_CHECK(m == NULL, "failed create returned a model");
    o = (cnn_model_opts){.h = 32, .w = 32};
    const char *const lenet[] = {"fc1", "400", "1x1x28x28", NULL};
    expect_error(cnn_model_create("lenet5", &o, &m), CNN_ERR_INVALID_ARG, "lenet5 32x32", lenet);
    const char *const unknown[] = {"nosuchnet", "resnet18", "fashion_cnn", NULL};
    expect_error(cnn_model_create("nosuchnet", NULL, &m), CNN_ERR_INVALID_ARG, "unknown model",
                 unknown);
    o = (cnn_model_opts){.h = 8, .w = 8};
    const char *const tiny_img[] = {"features.", "3x8x8", NULL};
    expect_error(cnn_model_create("alexnet", &o, &m), CNN_ERR_INVALID_ARG, "alexnet 8x8", tiny_img);

    TU_EXPECT_OK(cnn_model_create("lenet5", NULL, &m));
    if (m) {
        cnn_exec_opts e = {.backends = "naive,nosuchbackend"};
        const char *const be[] = {"nosuchbackend", "naive", NULL};
        expect_error(cnn_model_bind(m, &e), CNN_ERR_INVALID_ARG, "unknown backend", be);
        cnn_model_destroy(m);
    }
    TU_EXPECT_OK(cnn_model_create("lenet5", NULL, &m));
    if (m) {
        cnn_exec_opts e = {.backends = "naive", .overrides = "nolayer*=naive"};
        const char *const ov[] = {"nolayer*", "matches no layer", NULL};
        expect_error(cnn_model_bind(m, &e), CNN_ERR_INVALID_ARG, "override on no layer", ov);
        cnn_model_destroy(m);
    }
}

/* ---- initialisation --------------------------------------------------- */

static void moments(const float *x, int64_t n, double *mean, double *std, double *maxabs)
{
    double s = 0, s2 = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
        m = fmax(m, fabs(x[i]));
    }
    *mean = s / (double)n;
    *std = sqrt(s2 / (double)n - *mean * *mean);
    *maxabs = m;
}

/* The documented distributions, checked on tensors large enough for tight
 * bounds: a sample std of n normals is off by about 1/sqrt(2n) relative
 * (0.5% for 2.4M values: 2% bound), a uniform's by less. Same seed, same
 * bits; another seed, other values. */
static void test_init(void)
{
    cnn_model_opts o = {.classes = 1000, .h = 32, .w = 32};
    cnn_model *a = make("resnet18", o, "naive", 42), *b = make("resnet18", o, "naive", 42);
    cnn_model *c = make("resnet18", o, "naive", 43);
    if (!a || !b || !c)
        goto done;
    struct {
        const char *key;
        int64_t n;
        double std; /* normal: its std; uniform: its bound */
        bool normal;
    } cases[] = {
        {"layer4.1.conv2.weight", 512 * 512 * 9, sqrt(2.0 / (512 * 9)), true},
        {"conv1.weight", 64 * 3 * 49, sqrt(2.0 / (64 * 49)), true},
        {"fc.weight", 1000 * 512, 1.0 / sqrt(512.0), false},
        {"fc.bias", 1000, 1.0 / sqrt(512.0), false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t n = cases[i].n;
        float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
        TU_EXPECT_OK(cnn_model_get_tensor(a, cases[i].key, x, n));
        double mean, std, mx;
        moments(x, n, &mean, &std, &mx);
        double want_std = cases[i].normal ? cases[i].std : cases[i].std / sqrt(3.0);
        double tol = cases[i].normal ? 5.0 / sqrt(2.0 * (double)n) + 1e-3 : 5.0 / sqrt((double)n);
        TU_CHECK(fabs(std / want_std - 1.0) <= tol &&
                     fabs(mean) <= 5.0 * want_std / sqrt((double)n),
                 "%s: mean %.3g std %.5g, want 0 and %.5g", cases[i].key, mean, std, want_std);
        if (!cases[i].normal)
            TU_CHECK(mx <= cases[i].std && mx >= 0.99 * cases[i].std,
                     "%s: max |w| %.5g, bound %.5g", cases[i].key, mx, cases[i].std);
        TU_EXPECT_OK(cnn_model_get_tensor(b, cases[i].key, y, n));
        TU_CHECK(memcmp(x, y, (size_t)n * sizeof *x) == 0, "%s: same seed, other values",
                 cases[i].key);
        TU_EXPECT_OK(cnn_model_get_tensor(c, cases[i].key, y, n));
        TU_CHECK(memcmp(x, y, (size_t)n * sizeof *x) != 0, "%s: seeds 42 and 43 agree",
                 cases[i].key);
        free(x);
        free(y);
    }
    const char *ones[] = {"bn1.weight", "layer1.0.bn2.running_var"};
    const char *zeros[] = {"bn1.bias", "layer1.0.bn2.running_mean"};
    for (int i = 0; i < 2; i++) {
        float v[64];
        TU_EXPECT_OK(cnn_model_get_tensor(a, ones[i], v, 64));
        for (int k = 0; k < 64; k++)
            TU_CHECK(v[k] == 1.0f, "%s[%d] = %g", ones[i], k, v[k]);
        TU_EXPECT_OK(cnn_model_get_tensor(a, zeros[i], v, 64));
        for (int k = 0; k < 64; k++)
            TU_CHECK(v[k] == 0.0f, "%s[%d] = %g", zeros[i], k, v[k]);
    }
done:
    cnn_model_destroy(a);
    cnn_model_destroy(b);
    cnn_model_destroy(c);
}

/* ---- running ------------------------------------------------------------ */

static int64_t numel(cnn_shape s)
{
    return cnn_shape_numel(&s);
}

static float *random_input(cnn_model *m, uint64_t *rng)
{
    int64_t n = numel(cnn_model_input_shape(m));
    float *x = malloc((size_t)n * sizeof *x);
    tu_fill(x, n, rng, -1.0f, 1.0f);
    return x;
}

static int32_t *random_labels(cnn_model *m, uint64_t *rng)
{
    cnn_shape y = cnn_model_output_shape(m);
    int32_t *l = malloc((size_t)y.dim[0] * sizeof *l);
    for (int64_t i = 0; i < y.dim[0]; i++)
        l[i] = (int32_t)(tu_next(rng) % (uint64_t)y.dim[1]);
    return l;
}

static bool all_finite(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return false;
    return true;
}

static void test_forward_runs(void)
{
    struct {
        const char *name;
        cnn_model_opts o;
        cnn_mode mode;
    } runs[] = {
        {"lenet5", {.batch = 3}, CNN_MODE_EVAL},
        {"fashion_cnn", {.batch = 2}, CNN_MODE_TRAIN},
        {"resnet18", {.batch = 2, .classes = 10, .h = 16, .w = 16}, CNN_MODE_TRAIN},
        {"googlenet", {.batch = 1, .classes = 10, .h = 32, .w = 32}, CNN_MODE_EVAL},
    };
    uint64_t rng = 5;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        cnn_model *m = make(runs[i].name, runs[i].o, "naive", 3);
        if (!m)
            continue;
        float *x = random_input(m, &rng);
        int64_t ny = numel(cnn_model_output_shape(m));
        float *y = malloc((size_t)ny * sizeof *y);
        TU_EXPECT_OK(cnn_model_set_input(m, x, numel(cnn_model_input_shape(m))));
        TU_EXPECT_OK(cnn_model_forward(m, runs[i].mode));
        TU_EXPECT_OK(cnn_model_get_logits(m, y, ny));
        TU_CHECK(all_finite(y, ny), "%s: non-finite logits", runs[i].name);
        TU_CHECK(cnn_model_get_logits(m, y, ny + 1) != CNN_OK, "%s: wrong count accepted",
                 runs[i].name);
        TU_CHECK(cnn_model_fallback_count(m) == 0, "%s: fallbacks on naive", runs[i].name);
        if (strcmp(runs[i].name, "resnet18") == 0)
            TU_CHECK(cnn_model_batches_tracked(m, "layer1.0.bn1") == 1,
                     "resnet18: num_batches_tracked %lld after one training forward",
                     (long long)cnn_model_batches_tracked(m, "layer1.0.bn1"));
        free(x);
        free(y);
        cnn_model_destroy(m);
    }
}

/* cnn_model_loss(m, NULL) computes the loss without reading it back;
 * cnn_model_get_loss reads it later, and refuses when no loss has been
 * computed since the last forward. The step is the same as with a pointer:
 * the same loss and gradients, bit for bit. */
static void test_loss_on_device(void)
{
    cnn_model_opts o = {.batch = 2};
    cnn_model *a, *b;
    if (!make_pair("fashion_cnn", o, 6, &a, &b))
        return;
    uint64_t rng = 12;
    float *x = random_input(a, &rng);
    int32_t *labels = random_labels(a, &rng);
    const char *const no_loss[] = {"fashion_cnn", "no loss", NULL};
    float la = NAN, lb = NAN, again = NAN;
    expect_error(cnn_model_get_loss(a, &la), CNN_ERR_INVALID_ARG, "loss before any forward",
                 no_loss);
    cnn_model *both[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        TU_EXPECT_OK(cnn_model_set_input(both[k], x, numel(cnn_model_input_shape(a))));
        TU_EXPECT_OK(cnn_model_set_labels(both[k], labels, 2));
        TU_EXPECT_OK(cnn_model_forward(both[k], CNN_MODE_TRAIN));
    }
    expect_error(cnn_model_get_loss(a, &la), CNN_ERR_INVALID_ARG, "loss before cnn_model_loss",
                 no_loss);
    TU_EXPECT_OK(cnn_model_loss(a, NULL));
    TU_EXPECT_OK(cnn_model_loss(b, &lb));
    TU_EXPECT_OK(cnn_model_backward(a));
    TU_EXPECT_OK(cnn_model_backward(b));
    TU_EXPECT_OK(cnn_model_get_loss(a, &la));
    TU_EXPECT_OK(cnn_model_get_loss(b, &again));
    TU_CHECK(isfinite(la) && la == lb && lb == again, "loss %.9g read later, %.9g at once, %.9g",
             la, lb, again);
    float ga[16 * 9], gb[16 * 9];
    TU_EXPECT_OK(cnn_model_get_grad(a, "conv_layer1.0.weight", ga, 16 * 9));
    TU_EXPECT_OK(cnn_model_get_grad(b, "conv_layer1.0.weight", gb, 16 * 9));
    TU_CHECK(memcmp(ga, gb, sizeof ga) == 0, "gradients differ after cnn_model_loss(m, NULL)");
    TU_EXPECT_OK(cnn_model_forward(a, CNN_MODE_EVAL));
    expect_error(cnn_model_get_loss(a, &la), CNN_ERR_INVALID_ARG, "loss after a new forward",
                 no_loss);
    free(x);
    free(labels);
    cnn_model_destroy(a);
    cnn_model_destroy(b);
}

/* ---- memory reuse: forward-only binds -------------------------------------- */

/* Layer l's output of m, or NULL with the status in *st. */
static float *output_of(cnn_model *m, int l, cnn_status *st)
{
    cnn_layer_info li;
    TU_EXPECT_OK(cnn_model_layer(m, l, &li));
    int64_t n = numel(li.y);
    float *y = tu_xmalloc((size_t)n * sizeof *y);
    *st = cnn_model_get_output(m, l, y, n);
    if (*st != CNN_OK) {
        free(y);
        return NULL;
    }
    return y;
}

/* Every layer output of shared against keep: the same bytes, or refused
 * with an error naming the model, the layer, "reused" and keep_activations;
 * returns how many were refused. */
static int outputs_against(cnn_model *shared, cnn_model *keep, const char *name, const char *when)
{
    int refused = 0;
    for (int l = 0; l < cnn_model_layer_count(keep); l++) {
        cnn_layer_info li;
        TU_EXPECT_OK(cnn_model_layer(keep, l, &li));
        cnn_status st;
        float *want = output_of(keep, l, &st);
        if (!want) {
            /* a fused conv/BN's own output: kept by neither bind (test_fuse) */
            TU_CHECK(st == CNN_ERR_INVALID_ARG && strstr(cnn_last_error(), "fused"),
                     "%s %s: the kept bind refused %s: %s", name, when, li.name, cnn_last_error());
            float *g = output_of(shared, l, &st);
            TU_CHECK(!g, "%s %s: shared bind gave %s's fused output", name, when, li.name);
            free(g);
            continue;
        }
        float *got = output_of(shared, l, &st);
        if (got) {
            TU_CHECK(want && memcmp(want, got, (size_t)numel(li.y) * sizeof(float)) == 0,
                     "%s %s: shared output of %s differs from the kept one", name, when, li.name);
        } else {
            const char *const parts[] = {name, li.name, "reused", "keep_activations", NULL};
            expect_error(st, CNN_ERR_INVALID_ARG, "output of a reused layer", parts);
            refused++;
        }
        free(want);
        free(got);
    }
    return refused;
}

/* A forward-only bind against a training bind with keep_activations, the
 * same weights, on naive: the same eval-mode logits bit for bit and the
 * same loss; every layer output it hands out is the training bind's, the
 * others are refused
 * with an error naming the layer; it never takes more memory than one slot
 * per tensor, and strictly less where `must_shrink`. `thorough` adds the
 * train-mode logits (batch statistics, dropout) and a keep_activations bind,
 * whose every output is readable and whose block is unshared. */
static void forward_only_case(const char *name, cnn_model_opts o, bool must_shrink, bool thorough)
{
    /* every layer's output is compared: the pairs run apart (a fused conv
     * or BN's own output is not kept, test_fuse) */
    cnn_exec_opts train = {
        .backends = "naive", .seed = 77, .threads = 1, .keep_activations = true, .no_fuse = true};
    cnn_exec_opts fwd = train, keep = train;
    fwd.forward_only = keep.forward_only = true;
    fwd.keep_activations = false;
    cnn_model *mt = make_bound(name, o, &train, 5), *mf = make_bound(name, o, &fwd, 5);
    cnn_model *mk = thorough ? make_bound(name, o, &keep, 5) : NULL;
    if (!mt || !mf || (thorough && !mk))
        goto done;
    cnn_model *all[3] = {mt, mf, mk};
    const int nb = thorough ? 3 : 2;
    uint64_t rng = 17;
    float *x = random_input(mt, &rng);
    int32_t *labels = random_labels(mt, &rng);
    int64_t ny = numel(cnn_model_output_shape(mt)), n = cnn_model_output_shape(mt).dim[0];
    float *y[3] = {NULL, NULL, NULL}, loss[3];
    for (int k = 0; k < nb; k++) {
        y[k] = tu_xmalloc((size_t)ny * sizeof *y[k]);
        TU_EXPECT_OK(cnn_model_set_input(all[k], x, numel(cnn_model_input_shape(mt))));
        TU_EXPECT_OK(cnn_model_set_labels(all[k], labels, n));
        TU_EXPECT_OK(cnn_model_forward(all[k], CNN_MODE_EVAL));
        TU_EXPECT_OK(cnn_model_get_logits(all[k], y[k], ny));
        TU_EXPECT_OK(cnn_model_loss(all[k], &loss[k]));
    }
    for (int k = 1; k < nb; k++)
        TU_CHECK(memcmp(y[0], y[k], (size_t)ny * sizeof *y[0]) == 0 && loss[0] == loss[k],
                 "%s: %s bind's eval logits or loss differ from the training bind's", name,
                 k == 1 ? "forward-only" : "keep_activations");
    int reused = outputs_against(mf, mt, name, "forward-only");
    TU_CHECK(!thorough || outputs_against(mk, mt, name, "keep_activations") == 0,
             "%s: a keep_activations bind refuses outputs", name);
    /* a training-mode forward writes the batch-norm statistics and dropout */
    for (int k = 0; k < 2 && thorough; k++) {
        TU_EXPECT_OK(cnn_model_forward(all[k], CNN_MODE_TRAIN));
        TU_EXPECT_OK(cnn_model_get_logits(all[k], y[k], ny));
    }
    TU_CHECK(!thorough || memcmp(y[0], y[1], (size_t)ny * sizeof *y[0]) == 0,
             "%s: forward-only train-mode logits differ from the training bind's", name);
    cnn_model_mem mem[3] = {{0}};
    for (int k = 0; k < nb; k++)
        TU_EXPECT_OK(cnn_model_memory(all[k], &mem[k]));
    TU_CHECK(mem[0].activations == mem[0].activations_unshared,
             "%s: training bind: %zu activation bytes, %zu unshared", name, mem[0].activations,
             mem[0].activations_unshared);
    TU_CHECK(!thorough || (mem[2].activations == mem[2].activations_unshared &&
                           mem[2].activations_unshared == mem[1].activations_unshared),
             "%s: keep_activations: %zu bytes, %zu unshared, forward-only unshared %zu", name,
             mem[2].activations, mem[2].activations_unshared, mem[1].activations_unshared);
    TU_CHECK(mem[1].activations <= mem[1].activations_unshared,
             "%s: forward-only bind takes %zu activation bytes, more than %zu unshared", name,
             mem[1].activations, mem[1].activations_unshared);
    if (must_shrink)
        TU_CHECK(mem[1].activations < mem[1].activations_unshared && reused > 0,
                 "%s: forward-only bind reuses nothing (%zu of %zu bytes, %d layers reused)", name,
                 mem[1].activations, mem[1].activations_unshared, reused);
    cnn_shape xs = cnn_model_input_shape(mt);
    printf("  forward-only %-11s %dx%d batch %lld: activations %9zu bytes, %9zu unshared, %d of "
           "%d outputs reused\n",
           name, (int)xs.dim[2], (int)xs.dim[3], (long long)xs.dim[0], mem[1].activations,
           mem[1].activations_unshared, reused, cnn_model_layer_count(mt));
    for (int k = 0; k < 3; k++)
        free(y[k]);
    free(x);
    free(labels);
done:
    cnn_model_destroy(mt);
    cnn_model_destroy(mf);
    cnn_model_destroy(mk);
}

static void test_forward_only_reuse(void)
{
    cnn_model_opts small = {.batch = 2}, big = {.batch = 2, .h = 64, .w = 64};
    /* the plain chains alexnet and vgg16 (no batch norm) only in eval mode:
     * naive takes seconds per forward of them */
    forward_only_case("tiny", (cnn_model_opts){.batch = 3}, false, true);
    forward_only_case("fashion_cnn", small, false, true);
    forward_only_case("lenet5", small, false, true);
    forward_only_case("alexnet", big, false, false);
    forward_only_case("vgg16", big, true, false);
    forward_only_case("resnet18", big, true, true);
    forward_only_case("googlenet", big, true, true);
}

/* ---- memory reuse: training binds ------------------------------------------ */

/* The parameter gradients of m, downloaded; *n their count. */
static float *grads_of(cnn_model *m, int64_t *n)
{
    float *params, *grads;
    TU_EXPECT_OK(cnn_model_param_block(m, &params, &grads, n));
    float *g = tu_xmalloc((size_t)*n * sizeof *g);
    TU_EXPECT_OK(cnn_mem_download(cnn_model_ctx(m, 0), g, grads, (size_t)*n * sizeof *g));
    return g;
}

/* A training bind that shares activation and gradient memory (the default)
 * against one with keep_activations, same weights and backend: a training
 * step, then an eval-mode step (frozen batch norm) on another batch, give
 * the same loss, logits and parameter gradients bit for bit; layer outputs
 * read between forward and backward, and after backward, are the kept ones
 * or refused naming the layer (the logits are never refused); backward
 * twice on one forward is refused on the shared bind only; and the shared
 * block is strictly smaller. */
static void train_sharing_case(const char *name, cnn_model_opts o, const char *backend)
{
    cnn_exec_opts e = {.backends = backend, .seed = 77, .threads = 1};
    cnn_exec_opts k = e;
    k.keep_activations = true;
    cnn_model *ms = make_bound(name, o, &e, 5), *mk = make_bound(name, o, &k, 5);
    if (!ms || !mk)
        goto done;
    cnn_model *both[2] = {ms, mk};
    uint64_t rng = 23;
    int64_t ny = numel(cnn_model_output_shape(mk)), n = cnn_model_output_shape(mk).dim[0];
    int refused_fwd = 0, refused_bwd = 0;
    for (int step = 0; step < 2; step++) {
        cnn_mode mode = step == 0 ? CNN_MODE_TRAIN : CNN_MODE_EVAL;
        float *x = random_input(mk, &rng);
        int32_t *labels = random_labels(mk, &rng);
        float loss[2], *y[2];
        for (int b = 0; b < 2; b++) {
            TU_EXPECT_OK(cnn_model_set_input(both[b], x, numel(cnn_model_input_shape(mk))));
            TU_EXPECT_OK(cnn_model_set_labels(both[b], labels, n));
            TU_EXPECT_OK(cnn_model_forward(both[b], mode));
            TU_EXPECT_OK(cnn_model_loss(both[b], &loss[b]));
        }
        refused_fwd += outputs_against(ms, mk, name, "after forward");
        for (int b = 0; b < 2; b++) {
            TU_EXPECT_OK(cnn_model_backward(both[b]));
            y[b] = tu_xmalloc((size_t)ny * sizeof *y[b]);
            TU_EXPECT_OK(cnn_model_get_logits(both[b], y[b], ny));
        }
        refused_bwd += outputs_against(ms, mk, name, "after backward");
        int64_t ng[2];
        float *g[2] = {grads_of(ms, &ng[0]), grads_of(mk, &ng[1])};
        TU_CHECK(ng[0] == ng[1] && memcmp(g[0], g[1], (size_t)ng[0] * sizeof *g[0]) == 0,
                 "%s step %d (%s): shared gradients differ from the kept bind's", name, step,
                 step ? "eval" : "train");
        TU_CHECK(loss[0] == loss[1] && memcmp(y[0], y[1], (size_t)ny * sizeof *y[0]) == 0,
                 "%s step %d: loss %.9g vs %.9g, or logits differ", name, step, loss[0], loss[1]);
        for (int b = 0; b < 2; b++) {
            free(g[b]);
            free(y[b]);
        }
        free(x);
        free(labels);
    }
    const char *const again[] = {name, "new forward", "keep_activations", NULL};
    expect_error(cnn_model_backward(ms), CNN_ERR_INVALID_ARG, "backward twice, shared", again);
    TU_EXPECT_OK(cnn_model_backward(mk));
    cnn_model_mem mem[2];
    TU_EXPECT_OK(cnn_model_memory(ms, &mem[0]));
    TU_EXPECT_OK(cnn_model_memory(mk, &mem[1]));
    TU_CHECK(mem[0].activations_unshared == mem[1].activations &&
                 mem[1].activations == mem[1].activations_unshared &&
                 mem[0].activations < mem[0].activations_unshared,
             "%s: training activations %zu bytes shared, %zu unshared; kept %zu, %zu", name,
             mem[0].activations, mem[0].activations_unshared, mem[1].activations,
             mem[1].activations_unshared);
    TU_CHECK(refused_bwd >= refused_fwd && refused_bwd > 0,
             "%s: %d outputs refused after forward, %d after backward", name, refused_fwd,
             refused_bwd);
    cnn_shape xs = cnn_model_input_shape(mk);
    printf("  training %-11s %dx%d batch %lld on %s: activations %9zu bytes, %9zu unshared; "
           "of %d outputs %d refused after forward, %d after backward\n",
           name, (int)xs.dim[2], (int)xs.dim[3], (long long)xs.dim[0], backend, mem[0].activations,
           mem[0].activations_unshared, cnn_model_layer_count(mk), refused_fwd / 2,
           refused_bwd / 2);
done:
    cnn_model_destroy(ms);
    cnn_model_destroy(mk);
}

static void test_training_sharing(void)
{
    /* naive for the small nets; the large ones at 64x64 on im2col where it
     * is built (naive takes seconds per step of them) */
    char why[256];
    const cnn_backend *im2col = cnn_backend_find("im2col");
    const char *fast =
        im2col && cnn_backend_available(im2col, why, sizeof why) ? "im2col" : "naive";
    cnn_model_opts small = {.batch = 2}, big = {.batch = 2, .h = 64, .w = 64};
    train_sharing_case("tiny", (cnn_model_opts){.batch = 3}, "naive");
    train_sharing_case("fashion_cnn", small, "naive");
    train_sharing_case("lenet5", small, "naive");
    train_sharing_case("resnet18", big, fast);
    train_sharing_case("googlenet", big, fast);
    train_sharing_case("alexnet", big, fast);
    train_sharing_case("vgg16", (cnn_model_opts){.batch = 1, .h = 32, .w = 32}, fast);
}

/* Same seed, same step: same dropout mask; the next step draws a new one. */
static void test_dropout_reproducible(void)
{
    cnn_model_opts o = {.batch = 4};
    cnn_model *a, *b;
    if (!make_pair("fashion_cnn", o, 9, &a, &b))
        return;
    uint64_t rng = 11;
    float *x = random_input(a, &rng);
    int64_t nx = numel(cnn_model_input_shape(a)), ny = numel(cnn_model_output_shape(a));
    float *ya = malloc((size_t)ny * sizeof *ya), *yb = malloc((size_t)ny * sizeof *yb);
    float *yc = malloc((size_t)ny * sizeof *yc), *ye = malloc((size_t)ny * sizeof *ye);
    TU_EXPECT_OK(cnn_model_set_input(a, x, nx));
    TU_EXPECT_OK(cnn_model_set_input(b, x, nx));
    TU_EXPECT_OK(cnn_model_forward(a, CNN_MODE_TRAIN));
    TU_EXPECT_OK(cnn_model_get_logits(a, ya, ny));
    TU_EXPECT_OK(cnn_model_forward(b, CNN_MODE_TRAIN));
    TU_EXPECT_OK(cnn_model_get_logits(b, yb, ny));
    TU_CHECK(memcmp(ya, yb, (size_t)ny * sizeof *ya) == 0, "same seed and step, different logits");
    TU_CHECK(cnn_model_step(a) == 1, "step %llu after one training forward",
             (unsigned long long)cnn_model_step(a));
    TU_EXPECT_OK(cnn_model_forward(a, CNN_MODE_TRAIN));
    TU_EXPECT_OK(cnn_model_get_logits(a, yc, ny));
    TU_CHECK(memcmp(ya, yc, (size_t)ny * sizeof *ya) != 0, "step 1 reused step 0's mask");
    TU_EXPECT_OK(cnn_model_forward(a, CNN_MODE_EVAL));
    TU_EXPECT_OK(cnn_model_get_logits(a, ye, ny));
    TU_CHECK(memcmp(ya, ye, (size_t)ny * sizeof *ya) != 0, "eval logits equal train logits");
    TU_CHECK(cnn_dropout_seed(1, 0, 0) != cnn_dropout_seed(1, 0, 1) &&
                 cnn_dropout_seed(1, 0, 0) != cnn_dropout_seed(1, 1, 0) &&
                 cnn_dropout_seed(1, 0, 0) != cnn_dropout_seed(2, 0, 0),
             "dropout seeds collide");
    free(x);
    free(ya);
    free(yb);
    free(yc);
    free(ye);
    cnn_model_destroy(a);
    cnn_model_destroy(b);
}

/* ---- weights ------------------------------------------------------------- */

static void path_in(char *buf, size_t n, const char *sub, const char *file)
{
    snprintf(buf, n, "%s/%s%s%s", tmp_root, sub, file ? "/" : "", file ? file : "");
}

/* Every tensor of a equals b's, bit for bit, and the batch counts agree. */
static void same_tensors(cnn_model *a, cnn_model *b, const char *what)
{
    for (int t = 0; t < cnn_model_tensor_count(a); t++) {
        cnn_tensor_info ti;
        cnn_model_tensor(a, t, &ti);
        int64_t n = numel(ti.shape);
        float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
        TU_EXPECT_OK(cnn_model_get_tensor(a, ti.key, x, n));
        TU_EXPECT_OK(cnn_model_get_tensor(b, ti.key, y, n));
        TU_CHECK(memcmp(x, y, (size_t)n * sizeof *x) == 0, "%s: %s differs", what, ti.key);
        free(x);
        free(y);
    }
    for (int l = 0; l < cnn_model_layer_count(a); l++) {
        cnn_layer_info li;
        cnn_model_layer(a, l, &li);
        if (li.op->kind == CNN_OP_BN)
            TU_CHECK(cnn_model_batches_tracked(a, li.name) == cnn_model_batches_tracked(b, li.name),
                     "%s: %s num_batches_tracked %lld vs %lld", what, li.name,
                     (long long)cnn_model_batches_tracked(a, li.name),
                     (long long)cnn_model_batches_tracked(b, li.name));
    }
}

static void test_weights(void)
{
    cnn_model_opts o = {.batch = 2};
    char dir[512], file[512];
    /* A BN model after a training step: running statistics and the batch
     * count must survive the round trip. */
    cnn_model *a = make("tiny", o, "naive", 1), *b = make("tiny", o, "naive", 2);
    if (a && b) {
        uint64_t rng = 3;
        float *x = random_input(a, &rng);
        TU_EXPECT_OK(cnn_model_set_input(a, x, numel(cnn_model_input_shape(a))));
        TU_EXPECT_OK(cnn_model_forward(a, CNN_MODE_TRAIN));
        TU_EXPECT_OK(cnn_model_forward(a, CNN_MODE_TRAIN));
        free(x);
        path_in(dir, sizeof dir, "tiny", NULL);
        TU_EXPECT_OK(cnn_model_save_weights(a, dir));
        TU_EXPECT_OK(cnn_model_load_weights(b, dir));
        TU_CHECK(cnn_model_batches_tracked(b, "stem_bn") == 2, "num_batches_tracked %lld, want 2",
                 (long long)cnn_model_batches_tracked(b, "stem_bn"));
        same_tensors(a, b, "tiny round trip");
    }
    cnn_model_destroy(a);
    cnn_model_destroy(b);

    a = make("lenet5", o, "naive", 1);
    b = make("lenet5", o, "naive", 2);
    if (!a || !b) {
        cnn_model_destroy(a);
        cnn_model_destroy(b);
        return;
    }
    path_in(dir, sizeof dir, "lenet", NULL);
    TU_EXPECT_OK(cnn_model_save_weights(a, dir));
    TU_EXPECT_OK(cnn_model_load_weights(b, dir));
    same_tensors(a, b, "lenet5 round trip");

    /* Each bad directory is refused, names the key and both shapes, and
     * leaves the model's weights untouched. */
    cnn_model *c = make("lenet5", o, "naive", 2);
    path_in(file, sizeof file, "lenet", "fc1.weight.npy");
    float bad[120 * 399] = {0};
    cnn_shape wrong = cnn_shape2(120, 399);
    TU_EXPECT_OK(cnn_npy_write_f32(file, &wrong, bad));
    const char *const shape_parts[] = {"fc1.weight", "120x399", "120x400", NULL};
    expect_error(cnn_model_load_weights(c, dir), CNN_ERR_INVALID_ARG, "wrong shape", shape_parts);
    remove(file);
    const char *const missing_parts[] = {"fc1.weight", "missing", "120x400", NULL};
    expect_error(cnn_model_load_weights(c, dir), CNN_ERR_INVALID_ARG, "missing key", missing_parts);
    TU_EXPECT_OK(cnn_model_save_weights(a, dir));
    path_in(file, sizeof file, "lenet", "fc9.bias.npy");
    cnn_shape three = cnn_shape1(3);
    TU_EXPECT_OK(cnn_npy_write_f32(file, &three, bad));
    const char *const extra_parts[] = {"fc9.bias", "extra", "3", NULL};
    expect_error(cnn_model_load_weights(c, dir), CNN_ERR_INVALID_ARG, "extra key", extra_parts);
    remove(file);
    path_in(file, sizeof file, "lenet", "conv1.bias.npy");
    int32_t ints[6] = {0};
    cnn_shape six = cnn_shape1(6);
    TU_EXPECT_OK(cnn_npy_write(file, CNN_DTYPE_I32, &six, ints));
    const char *const dtype_parts[] = {"conv1.bias", NULL};
    expect_error(cnn_model_load_weights(c, dir), CNN_ERR_INVALID_ARG, "int32 weights", dtype_parts);
    cnn_model *d = make("lenet5", o, "naive", 2);
    if (c && d)
        same_tensors(c, d, "after refused loads");
    cnn_model_destroy(d);
    cnn_model_destroy(a);
    cnn_model_destroy(b);
    cnn_model_destroy(c);
}

/* ---- finite differences ------------------------------------------------- */

/* The mean cross-entropy computed in double from the float32 logits, which
 * keeps the loss's own rounding (1 ulp of a float near 2.3 is 2.4e-7) out of
 * the difference quotient. */
static double loss_at(cnn_model *m, cnn_mode mode, const int32_t *labels)
{
    cnn_shape ys = cnn_model_output_shape(m);
    int64_t n = ys.dim[0], k = ys.dim[1];
    float *y = malloc((size_t)(n * k) * sizeof *y);
    cnn_model_set_step(m, 0);
    TU_EXPECT_OK(cnn_model_forward(m, mode));
    TU_EXPECT_OK(cnn_model_get_logits(m, y, n * k));
    double loss = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double mx = y[i * k];
        for (int64_t j = 1; j < k; j++)
            mx = fmax(mx, y[i * k + j]);
        double sum = 0.0;
        for (int64_t j = 0; j < k; j++)
            sum += exp(y[i * k + j] - mx);
        loss += mx + log(sum) - y[i * k + labels[i]];
    }
    free(y);
    return loss / (double)n;
}

/* Central differences of the loss against the analytic gradient for the
 * largest-gradient coordinate of every trainable tensor (and, with
 * ncoords = 2, a random one among those with a sizeable gradient).
 *
 * Two error sources pull the step h in opposite directions: float32
 * rounding inside the forward pass, which gives the quotient a noise of up
 * to 5e-9 / h (measured on these nets, with the loss recomputed in double),
 * and ReLU / max-pool kinks crossed within +-h (an error of order h). So
 * each coordinate is tried at steps h0, h0/10, ... (nsteps of them) and
 * passes if at any of them it agrees within 2% of the larger value plus
 * twice the noise, 1e-8 / h. Kinks spoil the large steps and rounding the
 * small ones, never all of them; the smooth sigmoid net takes large steps.
 * A lost contribution (a branch's gradient overwritten instead of summed)
 * is an error of order 100% at every step. */
static void fd_check(const char *name, cnn_model_opts o, cnn_mode mode, double h0, int nsteps,
                     int ncoords)
{
    const double hs[4] = {h0, h0 / 10, h0 / 100, h0 / 1000};
    cnn_model *m = make(name, o, "naive", 21);
    if (!m)
        return;
    uint64_t rng = 99;
    float *x = random_input(m, &rng);
    int32_t *labels = random_labels(m, &rng);
    TU_EXPECT_OK(cnn_model_set_input(m, x, numel(cnn_model_input_shape(m))));
    TU_EXPECT_OK(cnn_model_set_labels(
        m, labels, numel(cnn_model_output_shape(m)) / cnn_model_output_shape(m).dim[1]));
    double base = loss_at(m, mode, labels);
    float reported = NAN;
    TU_EXPECT_OK(cnn_model_loss(m, &reported));
    TU_CHECK(fabs(reported - base) <= 1e-6 * base, "%s: loss %.9g, recomputed %.9g", name, reported,
             base);
    TU_EXPECT_OK(cnn_model_backward(m));
    int checked = 0;
    double worst = 0.0;
    for (int t = 0; t < cnn_model_tensor_count(m); t++) {
        cnn_tensor_info ti;
        cnn_model_tensor(m, t, &ti);
        if (!ti.trainable)
            continue;
        int64_t n = numel(ti.shape);
        float *w = malloc((size_t)n * sizeof *w), *g = malloc((size_t)n * sizeof *g);
        TU_EXPECT_OK(cnn_model_get_tensor(m, ti.key, w, n));
        TU_EXPECT_OK(cnn_model_get_grad(m, ti.key, g, n));
        int64_t coords[2] = {0, 0};
        for (int64_t i = 1; i < n; i++)
            if (fabsf(g[i]) > fabsf(g[coords[0]]))
                coords[0] = i;
        /* The random coordinate is drawn among those with at least a tenth
         * of the largest gradient: below that the quotient is mostly noise. */
        coords[1] = coords[0];
        for (int tries = 0; tries < 64; tries++) {
            int64_t i = (int64_t)(tu_next(&rng) % (uint64_t)n);
            if (i != coords[0] && fabsf(g[i]) >= 0.1f * fabsf(g[coords[0]])) {
                coords[1] = i;
                break;
            }
        }
        for (int k = 0; k < ncoords && k < 2; k++) {
            int64_t i = coords[k];
            float w0 = w[i];
            double an = g[i], best_fd = NAN;
            bool ok = false;
            for (int j = 0; j < nsteps && j < 4; j++) {
                w[i] = (float)(w0 + hs[j]);
                double hp = (double)w[i] - w0;
                TU_EXPECT_OK(cnn_model_set_tensor(m, ti.key, w, n));
                double lp = loss_at(m, mode, labels);
                w[i] = (float)(w0 - hs[j]);
                double hm = w0 - (double)w[i];
                TU_EXPECT_OK(cnn_model_set_tensor(m, ti.key, w, n));
                double lm = loss_at(m, mode, labels);
                double fd = (lp - lm) / (hp + hm);
                ok |= fabs(fd - an) <= 0.02 * fmax(fabs(fd), fabs(an)) + 1e-8 / hs[j];
                if (j == 0 || fabs(fd - an) < fabs(best_fd - an))
                    best_fd = fd;
            }
            w[i] = w0;
            TU_EXPECT_OK(cnn_model_set_tensor(m, ti.key, w, n));
            TU_CHECK(ok,
                     "%s %s: %s[%lld]: analytic %.6g, closest finite "
                     "difference %.6g",
                     name, cnn_mode_str(mode), ti.key, (long long)i, an, best_fd);
            if (k == 0)
                worst = fmax(worst, fabs(best_fd - an) / fmax(fabs(an), 1e-4));
            if (getenv("FD_VERBOSE"))
                printf("    %s[%lld] analytic %.6g fd %.6g\n", ti.key, (long long)i, an, best_fd);
            checked++;
        }
        free(w);
        free(g);
    }
    printf("  fd %-12s %-5s: %d coordinates; largest-gradient ones within %.2e relative\n", name,
           cnn_mode_str(mode), checked, worst);
    free(x);
    free(labels);
    cnn_model_destroy(m);
}

/* Eval-mode gradients through batch norm (frozen running statistics, the
 * global_stats backward) against finite differences of the eval forward. */
static void test_eval_bn_backward(void)
{
    fd_check("tiny", (cnn_model_opts){.batch = 3}, CNN_MODE_EVAL, 1e-2, 4, 2);
}

/* ---- fallback recording -------------------------------------------------- */

/* The naive table without conv weight gradients and declining max pooling,
 * naming naive as its fallback, so a run on it must fall back to naive for
 * those and record it. */
static bool partial_supports(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    (void)ctx;
    (void)pass;
    return !(op->kind == CNN_OP_POOL && op->pool.mode == CNN_POOL_MAX);
}

static void test_fallbacks(void)
{
    cnn_backend partial = *cnn_backend_find("naive");
    partial.name = "partial";
    partial.fallback = "naive";
    partial.conv_bwd_filter = NULL;
    partial.supports = partial_supports;
    const cnn_backend *extra[] = {&partial, NULL};

    cnn_model_opts o = {.batch = 2};
    cnn_model *ref = make("fashion_cnn", o, "naive", 4), *m = NULL;
    TU_EXPECT_OK(cnn_model_create("fashion_cnn", &o, &m));
    if (!ref || !m) {
        cnn_model_destroy(ref);
        cnn_model_destroy(m);
        return;
    }
    cnn_exec_opts e = {.backends = "partial", .seed = 77, .extra_backends = extra};
    TU_EXPECT_OK(cnn_model_bind(m, &e));
    TU_EXPECT_OK(cnn_model_init_params(m, 4));
    TU_CHECK(cnn_model_fallback_count(m) == 0, "fallbacks recorded before anything ran");
    uint64_t rng = 8;
    float *x = random_input(m, &rng);
    int32_t *labels = random_labels(m, &rng);
    float lr = 0, lm = 0;
    cnn_model *both[2] = {ref, m};
    for (int k = 0; k < 2; k++) {
        TU_EXPECT_OK(cnn_model_set_input(both[k], x, numel(cnn_model_input_shape(m))));
        TU_EXPECT_OK(cnn_model_set_labels(both[k], labels, 2));
        TU_EXPECT_OK(cnn_model_forward(both[k], CNN_MODE_TRAIN));
        TU_EXPECT_OK(cnn_model_loss(both[k], k ? &lm : &lr));
    }
    /* Forward only so far: the two max pools. */
    TU_CHECK(cnn_model_fallback_count(m) == 2, "%d fallbacks after forward, want 2",
             cnn_model_fallback_count(m));
    TU_EXPECT_OK(cnn_model_backward(m));
    TU_EXPECT_OK(cnn_model_backward(ref));
    /* + both pools' backward and both convs' weight gradients. */
    TU_CHECK(cnn_model_fallback_count(m) == 6, "%d fallbacks after backward, want 6",
             cnn_model_fallback_count(m));
    bool saw_conv = false;
    for (int i = 0; i < cnn_model_fallback_count(m); i++) {
        cnn_fallback f;
        TU_EXPECT_OK(cnn_model_fallback(m, i, &f));
        TU_CHECK(strcmp(f.requested, "partial") == 0 && strcmp(f.used, "naive") == 0 &&
                     f.algorithm && f.calls == 1,
                 "fallback %d: %s %s requested %s used %s calls %lld", i, f.layer,
                 cnn_pass_str(f.pass), f.requested, f.used, (long long)f.calls);
        saw_conv |= strcmp(f.layer, "conv_layer1.0") == 0 && f.pass == CNN_BWD_WEIGHT;
    }
    TU_CHECK(saw_conv, "conv_layer1.0 bwd_weight fallback not recorded");
    const char *alg = NULL;
    const char *be = cnn_model_layer_backend(m, 0, CNN_FWD, &alg);
    TU_CHECK(be && strcmp(be, "partial") == 0, "conv_layer1.0 forward runs on %s",
             be ? be : "(none)");
    /* The same computations on the same code: identical results. */
    TU_CHECK(lr == lm, "loss %.9g on naive, %.9g with fallbacks", lr, lm);
    float gr[16 * 9], gm[16 * 9];
    TU_EXPECT_OK(cnn_model_get_grad(ref, "conv_layer1.0.weight", gr, 16 * 9));
    TU_EXPECT_OK(cnn_model_get_grad(m, "conv_layer1.0.weight", gm, 16 * 9));
    TU_CHECK(memcmp(gr, gm, sizeof gr) == 0, "gradients differ with fallbacks");

    /* An override puts naive first for the convolutions: no fallback there. */
    cnn_model *ov = NULL;
    TU_EXPECT_OK(cnn_model_create("fashion_cnn", &o, &ov));
    cnn_exec_opts eo = {
        .backends = "partial", .overrides = "conv_layer*.0=naive", .extra_backends = extra};
    TU_EXPECT_OK(cnn_model_bind(ov, &eo));
    be = cnn_model_layer_backend(ov, 0, CNN_BWD_WEIGHT, NULL);
    TU_CHECK(be && strcmp(be, "naive") == 0, "override: conv bwd_weight on %s", be ? be : "-");
    be = cnn_model_layer_backend(ov, 1, CNN_FWD, NULL);
    TU_CHECK(be && strcmp(be, "partial") == 0, "override leaked to relu: %s", be ? be : "-");
    cnn_model_destroy(ov);
    free(x);
    free(labels);
    cnn_model_destroy(ref);
    cnn_model_destroy(m);
}

/* A partial backend that names no fallback: what it declines goes to the
 * first default fallback built and usable here (registry.h: onednn, then
 * im2col), naive only when neither is. */
static void test_default_fallback(void)
{
    cnn_backend partial = *cnn_backend_find("naive");
    partial.name = "partial";
    partial.supports = partial_supports;
    const cnn_backend *extra[] = {&partial, NULL};
    const char *want = "naive";
    for (const char *const *d = cnn_default_fallbacks(CNN_DEVICE_HOST); *d; d++) {
        char why[256];
        const cnn_backend *be = cnn_backend_find(*d);
        if (be && cnn_backend_available(be, why, sizeof why)) {
            want = *d;
            break;
        }
    }
    cnn_model *m = NULL;
    TU_EXPECT_OK(cnn_model_create("fashion_cnn", &(cnn_model_opts){.batch = 1}, &m));
    cnn_exec_opts e = {.backends = "partial", .threads = 1, .extra_backends = extra};
    TU_EXPECT_OK(cnn_model_bind(m, &e));
    int pools = 0;
    for (int l = 0; m && l < cnn_model_layer_count(m); l++) {
        cnn_layer_info info;
        TU_EXPECT_OK(cnn_model_layer(m, l, &info));
        if (info.op->kind != CNN_OP_POOL)
            continue;
        pools++;
        const char *be = cnn_model_layer_backend(m, l, CNN_FWD, NULL);
        TU_CHECK(be && !strcmp(be, want), "%s fwd planned on %s, want the default fallback %s",
                 info.name, be ? be : "(none)", want);
    }
    TU_CHECK(pools == 2, "fashion_cnn: %d max pools, want 2", pools);
    cnn_model_destroy(m);
}

/* An eval forward of bound model m from seeded parameters and input; each
 * fallback recorded for a layer whose name starts with `prefix` must have
 * been asked of winograd and run on `want`. Returns how many there were. */
static int winograd_fallbacks(cnn_model *m, const char *list, const char *prefix, const char *want)
{
    TU_EXPECT_OK(cnn_model_init_params(m, 1));
    uint64_t rng = 2;
    float *x = random_input(m, &rng);
    TU_EXPECT_OK(cnn_model_set_input(m, x, numel(cnn_model_input_shape(m))));
    TU_EXPECT_OK(cnn_model_forward(m, CNN_MODE_EVAL));
    free(x);
    int n = 0;
    for (int i = 0; i < cnn_model_fallback_count(m); i++) {
        cnn_fallback f;
        TU_EXPECT_OK(cnn_model_fallback(m, i, &f));
        if (strncmp(f.layer, prefix, strlen(prefix)))
            continue;
        n++;
        TU_CHECK(!strcmp(f.requested, "winograd") && !strcmp(f.used, want),
                 "%s: fallback %s %s requested %s used %s, want %s", list, f.layer,
                 cnn_pass_str(f.pass), f.requested, f.used, want);
    }
    return n;
}

/* With the real fast backends: a 5x5 conv is not Winograd's, so LeNet's
 * convolutions fall back along the list (onednn) or, with Winograd alone,
 * to the fallback Winograd names, im2col; never to naive. */
static void test_real_fallbacks(void)
{
    if (!cnn_backend_find("winograd") || !cnn_backend_find("im2col")) {
        printf("  (winograd or im2col not built: real-backend fallbacks not checked)\n");
        return;
    }
    const char *lists[2] = {"winograd,onednn", "winograd"};
    const char *want[2] = {"onednn", "im2col"};
    for (int k = !cnn_backend_find("onednn"); k < 2; k++) {
        cnn_model *m = NULL;
        TU_EXPECT_OK(cnn_model_create("lenet5", &(cnn_model_opts){.batch = 2}, &m));
        cnn_exec_opts e = {.backends = lists[k], .threads = 1};
        TU_EXPECT_OK(cnn_model_bind(m, &e));
        int convs = m ? winograd_fallbacks(m, lists[k], "conv", want[k]) : 0;
        TU_CHECK(convs == 2, "%s: %d conv fallbacks recorded, want 2", lists[k], convs);
        cnn_model_destroy(m);
    }
}

/* ResNet-18 at 32x32 on Winograd: conv1 (7x7 stride 2), the three stride-2
 * 3x3 convolutions and the three 1x1 downsamples run on im2col, the
 * fallback Winograd names, not on naive; with "winograd,onednn" the list
 * comes first and they run on onednn. Every pass of every layer is planned,
 * and the forward's fallbacks are recorded as planned. */
static void test_resnet_on_winograd(void)
{
    if (!cnn_backend_find("winograd") || !cnn_backend_find("im2col")) {
        printf("  (winograd or im2col not built: ResNet-18 fallbacks not checked)\n");
        return;
    }
    const char *lists[2] = {"winograd", "winograd,onednn"};
    const char *want[2] = {"im2col", "onednn"};
    for (int k = 0; k < 1 + (cnn_backend_find("onednn") != NULL); k++) {
        cnn_model *m = NULL;
        cnn_model_opts o = {.batch = 1, .h = 32, .w = 32};
        TU_EXPECT_OK(cnn_model_create("resnet18", &o, &m));
        cnn_exec_opts e = {.backends = lists[k], .threads = 1};
        TU_EXPECT_OK(cnn_model_bind(m, &e));
        if (!m)
            continue;
        int declined = 0;
        for (int l = 0; l < cnn_model_layer_count(m); l++) {
            cnn_layer_info info;
            TU_EXPECT_OK(cnn_model_layer(m, l, &info));
            for (int p = 0; p < CNN_PASS_COUNT; p++) {
                const char *be = cnn_model_layer_backend(m, l, (cnn_pass)p, NULL);
                TU_CHECK(!be || strcmp(be, "naive"), "%s: %s %s planned on naive", lists[k],
                         info.name, cnn_pass_str((cnn_pass)p));
            }
            if (info.op->kind != CNN_OP_CONV)
                continue;
            const cnn_conv_desc *d = &info.op->conv;
            bool wino = d->r == 3 && d->s == 3 && d->stride_h == 1 && d->stride_w == 1;
            declined += !wino;
            const char *be = cnn_model_layer_backend(m, l, CNN_FWD, NULL);
            TU_CHECK(be && !strcmp(be, wino ? "winograd" : want[k]), "%s: %s fwd on %s, want %s",
                     lists[k], info.name, be ? be : "(none)", wino ? "winograd" : want[k]);
        }
        TU_CHECK(declined == 7, "resnet18: %d convolutions Winograd declines, want 7", declined);
        int n = winograd_fallbacks(m, lists[k], "", want[k]);
        TU_CHECK(n == 7, "%s: %d fallbacks recorded by the forward, want 7", lists[k], n);
        cnn_model_destroy(m);
    }
}

/* A stand-in CUDA backend (host memory behind the device's label): mixing it
 * with a host backend is refused, and on it a layer nobody supports is an
 * error naming the layer, never a silent run on naive. */
static void test_device_rules(void)
{
    cnn_backend fake = tu_fake_cuda_backend();
    const cnn_backend *extra[] = {&fake, NULL};
    cnn_model *m = NULL;
    TU_EXPECT_OK(cnn_model_create("lenet5", NULL, &m));
    cnn_exec_opts e = {.backends = "naive,fakecuda", .extra_backends = extra};
    const char *const mix[] = {"naive", "fakecuda", "device", NULL};
    expect_error(cnn_model_bind(m, &e), CNN_ERR_UNSUPPORTED, "host and cuda mixed", mix);
    cnn_model_destroy(m);

    TU_EXPECT_OK(cnn_model_create("lenet5", NULL, &m));
    e.backends = "fakecuda";
    TU_EXPECT_OK(cnn_model_bind(m, &e));
    /* Where cuDNN is usable it is the CUDA default fallback and would take
     * the layers (but not on the fake's host memory: nothing is run). */
    char why[256];
    const cnn_backend *cudnn = cnn_backend_find("cudnn");
    if (cudnn && cnn_backend_available(cudnn, why, sizeof why)) {
        const char *be = cnn_model_layer_backend(m, 0, CNN_FWD, NULL);
        TU_CHECK(be && !strcmp(be, "cudnn"), "fakecuda: conv1 planned on %s, want cudnn",
                 be ? be : "(none)");
        cnn_model_destroy(m);
        return;
    }
    const char *const none[] = {"conv1", "fakecuda", NULL};
    expect_error(cnn_model_forward(m, CNN_MODE_EVAL), CNN_ERR_UNSUPPORTED, "nothing supports",
                 none);
    TU_CHECK(cnn_model_fallback_count(m) == 0, "a CUDA run fell back");
    cnn_model_destroy(m);
}

#define TIMED(call)                                                                                \
    do {                                                                                           \
        double t0_ = cnn_wall_seconds();                                                           \
        call;                                                                                      \
        printf("  %-60.60s %6.2f s\n", #call, cnn_wall_seconds() - t0_);                           \
    } while (0)

int main(void)
{
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    TIMED(test_catalogue());
    TIMED(test_shapes_and_errors());
    TIMED(test_init());
    TIMED(test_forward_runs());
    TIMED(test_loss_on_device());
    TIMED(test_forward_only_reuse());
    TIMED(test_training_sharing());
    TIMED(test_dropout_reproducible());
    TIMED(test_weights());
    TIMED(fd_check("tiny", (cnn_model_opts){.batch = 3}, CNN_MODE_TRAIN, 1e-2, 4, 2));
    TIMED(fd_check("lenet5", (cnn_model_opts){.batch = 2}, CNN_MODE_TRAIN, 1e-1, 2, 2));
    TIMED(fd_check("fashion_cnn", (cnn_model_opts){.batch = 1}, CNN_MODE_TRAIN, 1e-3, 3, 2));
    TIMED(fd_check("fashion_cnn", (cnn_model_opts){.batch = 1}, CNN_MODE_EVAL, 1e-3, 3, 1));
    TIMED(test_eval_bn_backward());
    TIMED(test_fallbacks());
    TIMED(test_default_fallback());
    TIMED(test_real_fallbacks());
    TIMED(test_resnet_on_winograd());
    TIMED(test_device_rules());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_root);
    return tu_finish("test_models");
}
