/* The model side of cnnbench verify.
 *
 * Whole-model check: each model runs on the naive reference and on each
 * backend with identical parameters (initialised from one seed), input,
 * labels and dropout masks (counter-based, the same on every backend):
 * an eval forward, then a train forward, the loss and the backward. Logits,
 * loss and every parameter gradient are compared, one row per tensor. The
 * reference runs every layer apart (no_fuse); each backend runs twice, with
 * its conv/BN + ReLU pairs fused (algorithm "fused") and apart ("unfused"),
 * each against the reference, and the two against each other ("fused vs
 * unfused"). --no-fuse keeps the unfused run only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "run_dir.h"
#include "verify_models.h"

#include "registry.h"

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

cnn_status verify_model_layer_ops(bool cheap, const char *only, cnn_op **ops, verify_layer **layers,
                                  int *n)
{
    cnn_op *list = NULL;
    verify_layer *names = NULL;
    int count = 0, cap = 0;
    cnn_status st = CNN_OK;
    for (int i = 0; i < cnn_model_count() && st == CNN_OK; i++) {
        const cnn_model_desc *d = cnn_model_at(i);
        if (only && strcmp(d->name, only) != 0)
            continue;
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
                verify_layer *more = grown ? realloc(names, (size_t)cap * sizeof *more) : NULL;
                list = grown ? grown : list;
                names = more ? more : names;
                if (!more) {
                    st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "verify: no memory for model layers");
                    break;
                }
            }
            snprintf(names[count], sizeof names[count], "%s/%s", d->name, info.name);
            list[count++] = *info.op;
            taken++;
        }
        cnn_model_destroy(m);
    }
    if (st != CNN_OK) {
        free(list);
        free(names);
        return st;
    }
    *ops = list;
    *layers = names;
    *n = count;
    return CNN_OK;
}

int verify_models_check_names(const cli_cmd *cmd, const char *list)
{
    if (!strcmp(list, "all"))
        return -1;
    char valid[512], name[64];
    cnn_model_names(valid, sizeof valid);
    for (const char *p = list; cli_next_item(&p, name, sizeof name);)
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

/* x[i] *= 1 + perturb * r_i, r_i uniform in [-1, 1): the noise-floor run. */
static void perturb_inputs(uint64_t seed, float *x, int64_t nx, double perturb)
{
    uint64_t s = ~seed;
    for (int64_t i = 0; i < nx; i++) {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        double r = (double)(z >> 40) / 8388608.0 - 1.0;
        x[i] = (float)((double)x[i] * (1.0 + perturb * r));
    }
}

/* The model options of a check: `batch`, and image_size for the
 * ImageNet-sized models when it is set. */
static cnn_model_opts model_opts(const char *name, int batch, int image_size)
{
    cnn_model_opts mo = {.batch = batch};
    const cnn_model_desc *d = cnn_model_find(name);
    if (image_size > 0 && d && d->h >= 64)
        mo.h = mo.w = image_size;
    return mo;
}

/* Run one model on backend `be` (its table is handed to the executor, so a
 * backend outside the registry, a test's, runs too) and collect its
 * outputs. */
static cnn_status run_model(const char *name, const cnn_model_opts *mo, const cnn_backend *be,
                            uint64_t seed, int threads, bool progress, double perturb, bool no_fuse,
                            model_out *out, char *fallbacks, size_t fallbacks_size)
{
    cnn_model *m = NULL;
    int batch = mo->batch;
    cnn_status st = cnn_model_create(name, mo, &m);
    const cnn_backend *extra[] = {be, NULL};
    cnn_exec_opts eo = {.backends = be->name,
                        .threads = threads,
                        .seed = seed,
                        .extra_backends = extra,
                        .no_fuse = no_fuse};
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
        if (perturb > 0.0)
            perturb_inputs(seed, x, nx, perturb);
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
    int nfused = 0;
    for (int l = 0; l < cnn_model_layer_count(m); l++)
        nfused += cnn_model_layer_fused(m, l, CNN_FWD) >= 0;
    int nf = cnn_model_fallback_count(m);
    /* the algorithm column: the backend, fused or not, and its fallbacks */
    int w = snprintf(fallbacks, fallbacks_size, "%s",
                     no_fuse  ? "unfused"
                     : nfused ? "fused"
                              : "fused (none taken)");
    if (nf > 0 && w > 0 && (size_t)w < fallbacks_size)
        snprintf(fallbacks + w, fallbacks_size - (size_t)w, ", %d layer passes fell back", nf);
    if (nf > 0 && progress == false)
        cnn_model_print_fallbacks(m, stderr);
    free(x);
    free(labels);
    cnn_model_destroy(m);
    return st;
}

/* Whole-model tolerances, on the relative L2 error against naive.
 *
 * Forward values are continuous functions of every rounding error, so the
 * logits and the loss drift only by the errors each layer adds (at most a
 * few 1e-6 per layer, cnnbench verify --shapes all) compounded over depth:
 * 2e-4 leaves a wide margin.
 *
 * Gradients are not continuous: a ReLU whose input lies within the forward
 * error of its kink, or a max pool whose two largest inputs lie that close,
 * routes the gradient differently on two backends. One such flip moves the
 * bias gradient of its channel, and everything upstream of it, by up to a few
 * percent (measured: GoogLeNet at 224x224, batch 2, one flip after
 * inception5b.branch2.1.bn moves that layer's bias gradient by 3e-3 and the
 * conv weights before it by 2e-2, for every float32 backend alike). How
 * often that happens depends on the network, so it is measured per model: the
 * reference runs a second time with its input perturbed by NOISE_PERTURB
 * relative (more than the worst per-layer error of any backend here, 3e-6 for
 * Winograd F(4x4,3x3)), and the relative change that perturbation causes in
 * each compared tensor (the logits, the loss, each parameter's gradient),
 * times K_FLOOR, widens that tensor's tolerance (its "noise floor"): a
 * tensor far from any kink keeps the tight bound even when another one is
 * noisy. Wiring errors (a wrong layer, a lost branch, an unsummed gradient)
 * move whole tensors by O(1) and stay far above it. */
#define FWD_TOL 2e-4
#define GRAD_TOL 2e-3
#define NOISE_PERTURB 1e-5
#define K_FLOOR 4.0
/* Flips are common (at 64x64, batch 1, a few per run) and land on random
 * layers, so one perturbed run shows the size of a flip's effect but not
 * where the backend's flips fall: a flip just above a tensor moves it as
 * much as the worst tensor of the perturbed run moved (measured: VGG-16 at
 * 64x64, batch 1, a flip after features.12 moved features.0..12 by 1.6e-2
 * under F(4x4,3x3), while the perturbed run's flip had moved only
 * features.0..5). So every gradient's floor is at least the model's worst,
 * capped at FLIP_CAP so that a wiring error (an O(1) change) still fails:
 * a gradient bug below K_FLOOR x FLIP_CAP = 10% can hide in a model that
 * flips that much (GoogLeNet, VGG-16 at small inputs); the per-op sweep
 * checks every pass far tighter. */
#define FLIP_CAP 0.025

static double rel_err(const float *a, const float *ref, int64_t n)
{
    double rel, max_abs;
    verify_compare(a, ref, n, &rel, &max_abs);
    return rel;
}

/* One tensor's row, its tolerance widened by its own noise floor: the
 * relative change of the perturbed reference run. */
static cnn_status row(verify_run *run, int b, const char *algo, const char *model, const char *pass,
                      const char *tensor, const char *shape, const float *got, const float *ref,
                      int64_t n, double tol, double noise)
{
    double rel, max_abs;
    tol = fmax(tol, K_FLOOR * noise);
    verify_status status = verify_judge(got, ref, n, tol, &rel, &max_abs);
    verify_row r = {.algorithm = algo,
                    .op = model,
                    .pass = pass,
                    .tensor = tensor,
                    .shape = shape,
                    .rel = rel,
                    .max_abs = max_abs,
                    .tol = tol,
                    .status = status};
    return verify_run_row(run, b, &r);
}

/* The noise floor of each tensor, from the perturbed reference run: [0]
 * eval logits, [1] train logits, [2] loss, [3 + i] tensor i's gradient (0
 * when it has none). Prints a summary. */
static cnn_status noise_floors(const cnn_model *m, const model_out *ref, const model_out *pert,
                               int64_t ny, const char *shape, double **out)
{
    int nt = cnn_model_tensor_count(m);
    double *f = calloc((size_t)nt + 3, sizeof *f);
    if (!f)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "verify: no memory for the noise floors");
    f[0] = rel_err(pert->logits_eval, ref->logits_eval, ny);
    f[1] = rel_err(pert->logits_train, ref->logits_train, ny);
    f[2] = rel_err(&pert->loss, &ref->loss, 1);
    int ng = 0, worst = -1, above = 0;
    for (int i = 0; i < nt; i++) {
        cnn_tensor_info ti;
        if (cnn_model_tensor(m, i, &ti) != CNN_OK || !ti.trainable)
            continue;
        f[3 + i] = rel_err(pert->grads[i], ref->grads[i], cnn_shape_numel(&ti.shape));
        ng++;
        if (worst < 0 || f[3 + i] > f[3 + worst])
            worst = i;
        above += K_FLOOR * f[3 + i] > GRAD_TOL;
    }
    cnn_tensor_info wi = {.key = "-"};
    if (worst >= 0)
        cnn_model_tensor(m, worst, &wi);
    double flip = worst >= 0 ? fmin(f[3 + worst], FLIP_CAP) : 0.0;
    for (int i = 0; i < nt; i++) {
        cnn_tensor_info ti;
        if (cnn_model_tensor(m, i, &ti) == CNN_OK && ti.trainable)
            f[3 + i] = fmax(f[3 + i], flip);
    }
    printf("%s %s: input perturbed by %.0e moves the logits by %.2e (eval) / %.2e (train), the "
           "loss by %.2e, the %d gradients by up to %.2e (%s); %d of them widen their tolerance "
           "(noise floor), every gradient's floor at least %.2e (a flip anywhere)\n",
           cnn_model_name(m), shape, NOISE_PERTURB, f[0], f[1], f[2], ng,
           worst >= 0 ? f[3 + worst] : 0.0, wi.key, above, flip);
    *out = f;
    return CNN_OK;
}

/* The rows of one run against another: the reference run, or the same
 * backend's unfused run (algorithm "fused vs unfused"), where a ReLU whose input lies within
 * rounding of 0 may flip as between backends, so the same floors apply. */
static cnn_status compare_runs(verify_run *run, int b, const char *algo, const cnn_model *m,
                               const char *shape, const model_out *got, const model_out *ref,
                               int64_t ny, const double *floors)
{
    const char *name = cnn_model_name(m);
    cnn_status st = row(run, b, algo, name, "eval_fwd", "logits", shape, got->logits_eval,
                        ref->logits_eval, ny, FWD_TOL, floors[0]);
    if (st == CNN_OK)
        st = row(run, b, algo, name, "train_fwd", "logits", shape, got->logits_train,
                 ref->logits_train, ny, FWD_TOL, floors[1]);
    if (st == CNN_OK)
        st = row(run, b, algo, name, "train_fwd", "loss", shape, &got->loss, &ref->loss, 1, FWD_TOL,
                 floors[2]);
    for (int i = 0; i < cnn_model_tensor_count(m) && st == CNN_OK; i++) {
        cnn_tensor_info ti;
        st = cnn_model_tensor(m, i, &ti);
        if (st == CNN_OK && ti.trainable)
            st = row(run, b, algo, name, "bwd", ti.key, shape, got->grads[i], ref->grads[i],
                     cnn_shape_numel(&ti.shape), GRAD_TOL, floors[3 + i]);
    }
    return st;
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
    const cnn_backend *naive = cnn_backend_find("naive");
    /* the reference runs every layer apart */
    st = run_model(name, &mo, naive, run->seed, run->threads, true, 0.0, true, &ref, fb, sizeof fb);
    model_out pert = {0};
    bool go_on = st == CNN_OK && !run_dir_stopping();
    if (go_on)
        st = run_model(name, &mo, naive, run->seed, run->threads, false, NOISE_PERTURB, true, &pert,
                       fb, sizeof fb);
    double *floors = NULL;
    if (go_on && st == CNN_OK)
        st = noise_floors(m, &ref, &pert, ny, shape, &floors);
    for (int b = 0; b < run->nbackends && st == CNN_OK && !run_dir_stopping(); b++) {
        if (!run->ctx[b])
            continue;
        const char *be = run->backends[b]->name;
        /* fused (the default) and unfused, each against the reference, and
         * then against each other */
        model_out got[2] = {{0}, {0}};
        for (int u = run->no_fuse ? 1 : 0; u < 2 && st == CNN_OK; u++) {
            fprintf(stderr, "verify: %s %s on %s%s\n", name, shape, be, u ? " (unfused)" : "");
            st = run_model(name, &mo, run->backends[b], run->seed, run->threads, false, 0.0, u == 1,
                           &got[u], fb, sizeof fb);
            if (st == CNN_OK)
                st = compare_runs(run, b, fb, m, shape, &got[u], &ref, ny, floors);
        }
        if (st == CNN_OK && !run->no_fuse) {
            snprintf(fb, sizeof fb, "fused vs unfused");
            st = compare_runs(run, b, fb, m, shape, &got[0], &got[1], ny, floors);
        }
        out_free(&got[0], nt);
        out_free(&got[1], nt);
    }
    free(floors);
    out_free(&ref, nt);
    out_free(&pert, nt);
    cnn_model_destroy(m);
    return st;
}

cnn_status verify_models_run(verify_run *run, const char *list, int batch, int image_size)
{
    cnn_status st = CNN_OK;
    char name[64];
    if (!strcmp(list, "all")) {
        for (int i = 0; i < cnn_model_count() && st == CNN_OK && !run_dir_stopping(); i++)
            st = check_model(run, cnn_model_at(i)->name, batch, image_size);
        return st;
    }
    for (const char *p = list;
         st == CNN_OK && !run_dir_stopping() && cli_next_item(&p, name, sizeof name);)
        st = check_model(run, name, batch, image_size);
    return st;
}
