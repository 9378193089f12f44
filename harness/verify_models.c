/* The model side of cnnbench verify.
 *
 * Whole-model check: each model runs on the naive reference and on each
 * backend with identical parameters (initialised from one seed), input,
 * labels and dropout masks (counter-based, the same on every backend):
 * an eval forward, then a train forward, the loss and the backward. Logits,
 * loss and every parameter gradient are compared, one row per tensor. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "verify_models.h"

/* ImageNet-sized models run at batch 2 in the op sweep; the small ones at a
 * batch where their layers still take well under a second on naive. */
static int sweep_batch(const cnn_model_desc *d)
{
    return d->h >= 64 ? 2 : 8;
}

/* In the quick sweep, per model, only layers below this many forward FLOPs
 * (the reference runs at ~1 GFLOP/s) and at most this many of them. */
#define CHEAP_FLOPS 2e7
#define CHEAP_PER_MODEL 4

cnn_status verify_model_layer_ops(bool cheap, cnn_op **ops, int *n)
{
    cnn_op *list = NULL;
    int count = 0, cap = 0;
    cnn_status st = CNN_OK;
    for (int i = 0; i < cnn_model_count() && st == CNN_OK; i++) {
        const cnn_model_desc *d = cnn_model_at(i);
        cnn_model *m = NULL;
        cnn_model_opts o = {.batch = sweep_batch(d)};
        st = cnn_model_create(d->name, &o, &m);
        int taken = 0;
        for (int l = 0; st == CNN_OK && l < cnn_model_layer_count(m); l++) {
            cnn_layer_info info;
            st = cnn_model_layer(m, l, &info);
            if (st != CNN_OK)
                break;
            if (cheap && (info.flops > CHEAP_FLOPS || taken >= CHEAP_PER_MODEL ||
                          info.op->kind != CNN_OP_CONV))
                continue;
            if (count == cap) {
                cap = cap ? 2 * cap : 128;
                cnn_op *grown = realloc(list, (size_t)cap * sizeof *grown);
                if (!grown) {
                    st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "verify: no memory for model layers");
                    break;
                }
                list = grown;
            }
            list[count++] = *info.op;
            taken++;
        }
        cnn_model_destroy(m);
    }
    if (st != CNN_OK) {
        free(list);
        return st;
    }
    *ops = list;
    *n = count;
    return CNN_OK;
}

/* Calls fn(name) for every model of a list ("all" = every model). */
static bool next_name(const char **p, char *name, size_t n)
{
    while (**p == ',')
        (*p)++;
    if (!**p)
        return false;
    const char *e = strchr(*p, ',');
    size_t len = e ? (size_t)(e - *p) : strlen(*p);
    if (len >= n)
        len = n - 1;
    memcpy(name, *p, len);
    name[len] = '\0';
    *p += len;
    return true;
}

int verify_models_check_names(const cli_cmd *cmd, const char *list)
{
    if (!strcmp(list, "all"))
        return -1;
    char valid[512], name[64];
    cnn_model_names(valid, sizeof valid);
    for (const char *p = list; next_name(&p, name, sizeof name);)
        if (!cnn_model_find(name))
            return cli_usage_error(cmd, "unknown model '%s' in --models; valid models: %s", name,
                                   valid);
    return -1;
}

/* Everything a model run produces that is compared. */
typedef struct model_out {
    float *logits_eval, *logits_train;
    float loss;
    float **grads; /* per tensor index; NULL if not trainable */
} model_out;

static void out_free(model_out *o, int ntensors)
{
    free(o->logits_eval);
    free(o->logits_train);
    for (int i = 0; o->grads && i < ntensors; i++)
        free(o->grads[i]);
    free(o->grads);
    memset(o, 0, sizeof *o);
}

/* Seeded inputs: uniform in [-1, 1), labels uniform over the classes. */
static void make_inputs(uint64_t seed, float *x, int64_t nx, int32_t *labels, int n, int classes)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < nx + n; i++) {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        if (i < nx)
            x[i] = (float)((double)(z >> 40) / 16777216.0 * 2.0 - 1.0);
        else
            labels[i - nx] = (int32_t)(z % (uint64_t)classes);
    }
}

/* Run one model on `backends` and collect its outputs. */
static cnn_model_opts model_opts(const char *name, int batch, int image_size)
{
    cnn_model_opts mo = {.batch = batch};
    const cnn_model_desc *d = cnn_model_find(name);
    if (image_size > 0 && d && d->h >= 64)
        mo.h = mo.w = image_size;
    return mo;
}

static cnn_status run_model(const char *name, const cnn_model_opts *mo, const char *backends,
                            uint64_t seed, int threads, bool progress, model_out *out,
                            char *fallbacks, size_t fallbacks_size)
{
    cnn_model *m = NULL;
    int batch = mo->batch;
    cnn_status st = cnn_model_create(name, mo, &m);
    cnn_exec_opts eo = {.backends = backends, .threads = threads, .seed = seed};
    if (st == CNN_OK)
        st = cnn_model_bind(m, &eo);
    if (st == CNN_OK)
        st = cnn_model_init_params(m, seed);
    if (st != CNN_OK) {
        cnn_model_destroy(m);
        return st;
    }
    if (progress)
        cnn_model_set_hook(m, cnn_model_progress_hook, stderr, false);
    cnn_shape xs = cnn_model_input_shape(m), ys = cnn_model_output_shape(m);
    int64_t nx = cnn_shape_numel(&xs), ny = cnn_shape_numel(&ys);
    int nt = cnn_model_tensor_count(m);
    float *x = malloc((size_t)nx * sizeof *x);
    int32_t *labels = malloc((size_t)batch * sizeof *labels);
    out->logits_eval = malloc((size_t)ny * sizeof(float));
    out->logits_train = malloc((size_t)ny * sizeof(float));
    out->grads = calloc((size_t)nt, sizeof *out->grads);
    if (!x || !labels || !out->logits_eval || !out->logits_train || !out->grads)
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "verify: no memory for %s", name);
    if (st == CNN_OK) {
        make_inputs(seed, x, nx, labels, batch, (int)ys.dim[1]);
        st = cnn_model_set_input(m, x, nx);
    }
    if (st == CNN_OK)
        st = cnn_model_set_labels(m, labels, batch);
    /* eval first: the train forward updates the running statistics */
    if (st == CNN_OK)
        st = cnn_model_forward(m, CNN_MODE_EVAL);
    if (st == CNN_OK)
        st = cnn_model_get_logits(m, out->logits_eval, ny);
    if (st == CNN_OK)
        st = cnn_model_forward(m, CNN_MODE_TRAIN);
    if (st == CNN_OK)
        st = cnn_model_get_logits(m, out->logits_train, ny);
    if (st == CNN_OK)
        st = cnn_model_loss(m, &out->loss);
    if (st == CNN_OK)
        st = cnn_model_backward(m);
    for (int i = 0; i < nt && st == CNN_OK; i++) {
        cnn_tensor_info ti;
        st = cnn_model_tensor(m, i, &ti);
        if (st != CNN_OK || !ti.trainable)
            continue;
        int64_t count = cnn_shape_numel(&ti.shape);
        if (!(out->grads[i] = malloc((size_t)count * sizeof(float))))
            st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "verify: no memory for %s", ti.key);
        else
            st = cnn_model_get_grad(m, ti.key, out->grads[i], count);
    }
    fallbacks[0] = '\0';
    int nf = cnn_model_fallback_count(m);
    if (nf > 0)
        snprintf(fallbacks, fallbacks_size, "%d layer passes fell back", nf);
    if (nf > 0 && progress == false)
        cnn_model_print_fallbacks(m, stderr);
    free(x);
    free(labels);
    cnn_model_destroy(m);
    return st;
}

/* Whole-model tolerances, on the relative L2 error against naive.
 *
 * Rounding errors compound through depth: each layer adds its own relative
 * error (~C_SUM u sqrt(L), see verify_tolerance.c, at most ~1e-5 for the
 * largest reductions here) to the error it receives, and the backward pass
 * goes through every layer twice (data and weight gradients). A ReLU or max
 * pool whose input is within that error of its kink or tie may route a
 * gradient differently, which moves a few elements by O(1) but the L2 norm
 * little. Over 20 to 60 layers, 2e-4 for logits and loss and 2e-3 for
 * gradients sit one to two orders above the errors measured for im2col and
 * oneDNN and Winograd (README), and far below what a wrong layer gives
 * (> 1e-2). */
static double model_tol(bool gradient)
{
    return gradient ? 2e-3 : 2e-4;
}

static cnn_status row(verify_run *run, int b, const char *algo, const char *model, const char *pass,
                      const char *tensor, const char *shape, const float *got, const float *ref,
                      int64_t n, bool gradient)
{
    double rel, max_abs;
    verify_compare(got, ref, n, &rel, &max_abs);
    double tol = model_tol(gradient);
    return verify_run_row(run, b, algo, model, pass, tensor, shape, rel, max_abs, tol,
                          rel <= tol ? "PASS" : "FAIL");
}

static cnn_status check_model(verify_run *run, const char *name, int batch, int image_size)
{
    cnn_model *m = NULL;
    cnn_model_opts mo = model_opts(name, batch, image_size);
    cnn_status st = cnn_model_create(name, &mo, &m);
    if (st != CNN_OK)
        return st;
    cnn_shape xs = cnn_model_input_shape(m), ys = cnn_model_output_shape(m);
    int64_t ny = cnn_shape_numel(&ys);
    int nt = cnn_model_tensor_count(m);
    char shape[96], fb[128];
    snprintf(shape, sizeof shape, "mb%lldic%lldih%lldiw%lld", (long long)xs.dim[0],
             (long long)xs.dim[1], (long long)xs.dim[2], (long long)xs.dim[3]);

    fprintf(stderr, "verify: %s %s on naive (the reference; one line per layer)\n", name, shape);
    model_out ref = {0};
    st = run_model(name, &mo, "naive", run->seed, run->threads, true, &ref, fb, sizeof fb);
    for (int b = 0; b < run->nbackends && st == CNN_OK; b++) {
        if (!run->ctx[b])
            continue;
        const char *be = run->backends[b]->name;
        fprintf(stderr, "verify: %s %s on %s\n", name, shape, be);
        model_out got = {0};
        st = run_model(name, &mo, be, run->seed, run->threads, false, &got, fb, sizeof fb);
        const char *algo = fb[0] ? fb : be;
        if (st == CNN_OK)
            st = row(run, b, algo, name, "eval_fwd", "logits", shape, got.logits_eval,
                     ref.logits_eval, ny, false);
        if (st == CNN_OK)
            st = row(run, b, algo, name, "train_fwd", "logits", shape, got.logits_train,
                     ref.logits_train, ny, false);
        if (st == CNN_OK)
            st =
                row(run, b, algo, name, "train_fwd", "loss", shape, &got.loss, &ref.loss, 1, false);
        for (int i = 0; i < nt && st == CNN_OK; i++) {
            cnn_tensor_info ti;
            st = cnn_model_tensor(m, i, &ti);
            if (st == CNN_OK && ti.trainable)
                st = row(run, b, algo, name, "bwd", ti.key, shape, got.grads[i], ref.grads[i],
                         cnn_shape_numel(&ti.shape), true);
        }
        out_free(&got, nt);
    }
    out_free(&ref, nt);
    cnn_model_destroy(m);
    return st;
}

cnn_status verify_models_run(verify_run *run, const char *list, int batch, int image_size)
{
    cnn_status st = CNN_OK;
    char name[64];
    if (!strcmp(list, "all")) {
        for (int i = 0; i < cnn_model_count() && st == CNN_OK; i++)
            st = check_model(run, cnn_model_at(i)->name, batch, image_size);
        return st;
    }
    for (const char *p = list; st == CNN_OK && next_name(&p, name, sizeof name);)
        st = check_model(run, name, batch, image_size);
    return st;
}
