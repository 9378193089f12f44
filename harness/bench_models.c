/* cnnbench bench --models: whole networks timed step by step.
 *
 * Each model runs on each listed backend alone (the executor's fallback
 * rule fills the layers that backend does not support). First each row
 * alone, on its own bind per mode: a warm-up step (peak RSS, GPU memory),
 * the optimizer step and the breakdown (below). Then, per mode, every row
 * bound at once, warmed up again, and `repetitions` rounds of one timed
 * step of each row in turn, the PyTorch peer's between rounds
 * (bench_rounds.c): a slow minute of a shared machine falls on every row
 * alike, and the ratios compare steps taken minutes apart at most. A step is
 *   infer:      forward in eval mode, then a sync, on a forward-only bind
 *               (activation slots reused once their last reader ran);
 *   train_step: forward in train mode, the loss (left on the device),
 *               backward with every parameter gradient, then a sync, on a
 *               training bind.
 * No step waits for the host inside it: the one sync ends it.
 * One more step of each mode runs with the layer hook and a sync after every
 * layer: the per-layer breakdown (breakdown.csv). Its times are the layers'
 * own; the "(other)" row is what the step spent outside them (the loss, the
 * gradient sums, the hook). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auto_plan.h"
#include "bench.h"
#include "bench_models_rows.h"
#include "cli.h"
#include "clock.h"
#include "memory.h"
#include "model.h"
#include "peer.h"
#include "registry.h"
#include "report.h"
#include "run_dir.h"

#define BREAKDOWN_HEADER "model,backend,mode,threads,layer,pass,backend_used,algorithm,ms,share"

const char *const BENCH_MODE_NAME[CNN_MODE_COUNT] = {"infer", "train_step"};

static const struct {
    const char *name;
    int batch;
    bool large; /* naive runs it at batch 1 unless --batch */
} DEFAULTS[] = {
    {"fashion_cnn", 128, false}, {"lenet5", 128, false}, {"alexnet", 16, true},
    {"vgg16", 4, true},          {"googlenet", 8, true}, {"resnet18", 8, true},
};

int bench_model_batch(const char *model, const char *backend, int batch)
{
    if (batch > 0)
        return batch;
    for (size_t i = 0; i < sizeof DEFAULTS / sizeof DEFAULTS[0]; i++)
        if (!strcmp(DEFAULTS[i].name, model))
            return DEFAULTS[i].large && !strcmp(backend, "naive") ? 1 : DEFAULTS[i].batch;
    return 1;
}

cnn_model_opts bench_model_opts(const bench_models_run *run, int batch)
{
    return (cnn_model_opts){.batch = batch, .h = run->image_size, .w = run->image_size};
}

cnn_status bench_models_check(const bench_models_run *run)
{
    for (int i = 0; i < run->nmodels; i++) {
        cnn_model *m = NULL;
        cnn_model_opts mo = bench_model_opts(run, run->batch > 0 ? run->batch : 1);
        cnn_status st = cnn_model_create(run->models[i], &mo, &m);
        cnn_model_destroy(m);
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

void bench_models_settings(const bench_models_run *run, report_json *j)
{
    char models[512] = "", list[512] = "";
    for (int i = 0; i < run->nmodels; i++)
        snprintf(models + strlen(models), sizeof models - strlen(models), "%s%s", i ? "," : "",
                 run->models[i]);
    for (int b = 0; b < run->nbackends; b++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", b ? "," : "",
                 run->backends[b]->name);
    report_json_str(j, "models", models);
    report_json_raw(j, "batch", "%d", run->batch);
    report_json_raw(j, "image_size", "%d", run->image_size);
    report_json_str(j, "backends", list);
    report_json_raw(j, "repetitions", "%d", run->repetitions);
    report_json_str(j, "threads_list", run->threads_list);
    if (run->with_auto || run->plan_file)
        report_json_str(j, "plan", run->plan_file ? run->plan_file : "auto");
    report_json_str(j, "timer", "the backend timer per step (CUDA events on a GPU, wall clock after a sync on the host); median, min, max and every repetition in results.csv");
    report_json_str(j, "order", "rounds: per model and mode every row bound at once, each round one timed step of every row in turn (starting one row later each round), then the peer's, 50 ms idle either side of it");
    report_json_str(j, "peer", run->peer_note ? run->peer_note : "none");
}

/* ---- one model on one backend ---- */

/* Per-layer seconds of the instrumented step, by phase. */
typedef struct layer_times {
    double *s[CNN_PHASE_COUNT];
} layer_times;

static void record_layer(void *user, const cnn_model *m, int layer, cnn_phase phase, double s)
{
    (void)m;
    layer_times *t = user;
    t->s[phase][layer] += s;
}

/* One step of `mode`, ending with a sync. */
cnn_status bench_step(cnn_model *m, cnn_mode mode)
{
    cnn_status st = cnn_model_forward(m, mode);
    if (st == CNN_OK && mode == CNN_MODE_TRAIN)
        st = cnn_model_loss(m, NULL);
    if (st == CNN_OK && mode == CNN_MODE_TRAIN)
        st = cnn_model_backward(m);
    if (st == CNN_OK)
        st = cnn_sync(cnn_model_ctx(m, 0));
    return st;
}

/* Timed by the backend's timer on the run's first context (CUDA events on
 * a GPU; the wall clock after a sync on the host). */
cnn_status bench_timed_step(cnn_model *m, cnn_mode mode, double *seconds)
{
    cnn_ctx *ctx = cnn_model_ctx(m, 0);
    cnn_status st = cnn_timer_start(ctx);
    if (st != CNN_OK)
        return st;
    st = bench_step(m, mode);
    cnn_status tst = cnn_timer_stop(ctx, seconds);
    return st != CNN_OK ? st : tst;
}

/* FLOPs of one step: every layer's forward, and in train mode every
 * backward pass it has (cnn_op_flops); *bytes: the least memory traffic of
 * the same passes (cnn_op_min_bytes). */
double bench_step_flops(const cnn_model *m, cnn_mode mode, double *bytes)
{
    double f = 0;
    *bytes = 0;
    for (int l = 0; l < cnn_model_layer_count(m); l++) {
        cnn_layer_info info;
        if (cnn_model_layer(m, l, &info) != CNN_OK)
            continue;
        for (int p = 0; p < CNN_PASS_COUNT; p++) {
            /* eval runs batch norm's fwd_infer; its fwd counts stand for it */
            bool wanted = mode == CNN_MODE_TRAIN ? p != CNN_FWD_INFER : p == CNN_FWD;
            if (wanted && cnn_op_has_pass(info.op, (cnn_pass)p)) {
                f += cnn_op_flops(info.op, (cnn_pass)p);
                *bytes += cnn_op_min_bytes(info.op, (cnn_pass)p);
            }
        }
    }
    return f;
}

/* Append "+name" to a '+'-list unless it is there. */
static void plus_add(char *list, size_t n, const char *name)
{
    char item[128];
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, "+");
        snprintf(item, sizeof item, "%.*s", (int)k, p);
        if (!strcmp(item, name))
            return;
        p += k + (p[k] == '+');
    }
    snprintf(list + strlen(list), n - strlen(list), "%s%s", *list ? "+" : "", name);
}

/* The breakdown rows of one instrumented step of `mode`, and its three
 * costliest layers as a line of the table (top). */
static cnn_status breakdown(cnn_model *m, const char *be, cnn_mode mode, int threads,
                            report_csv *csv, char *top_line, size_t top_n)
{
    char nthreads[16];
    snprintf(nthreads, sizeof nthreads, "%d", threads);
    int n = cnn_model_layer_count(m);
    layer_times t = {{calloc((size_t)n, sizeof(double)), calloc((size_t)n, sizeof(double))}};
    if (!t.s[0] || !t.s[1]) {
        free(t.s[0]);
        free(t.s[1]);
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
    }
    /* the layers hold the timer, so the whole step is timed by the wall
     * clock: bench_step() ends with a sync */
    cnn_model_set_hook(m, record_layer, &t, true);
    double t0 = cnn_wall_seconds();
    cnn_status st = bench_step(m, mode);
    double total = cnn_wall_seconds() - t0;
    cnn_model_set_hook(m, NULL, NULL, false);
    double inside = 0, top_s[3] = {0};
    char top[3][160] = {"", "", ""};
    for (int ph = 0; ph < CNN_PHASE_COUNT && st == CNN_OK; ph++) {
        if (ph == CNN_PHASE_BACKWARD && mode != CNN_MODE_TRAIN)
            break;
        for (int l = 0; l < n && st == CNN_OK; l++) {
            cnn_layer_info info;
            st = cnn_model_layer(m, l, &info);
            char passes[96] = "", used[96] = "", algos[256] = "";
            for (int p = 0; p < CNN_PASS_COUNT && st == CNN_OK; p++) {
                bool fwd = p == CNN_FWD || p == CNN_FWD_INFER;
                if (fwd != (ph == CNN_PHASE_FORWARD))
                    continue;
                const char *alg = NULL;
                const char *u = cnn_model_layer_backend(m, l, (cnn_pass)p, &alg);
                /* the forward pass this mode ran */
                if (fwd && !u)
                    continue;
                if (fwd && info.op->kind == CNN_OP_BN &&
                    (p == CNN_FWD_INFER) != (mode == CNN_MODE_EVAL))
                    continue;
                if (!u)
                    continue;
                plus_add(passes, sizeof passes, cnn_pass_str((cnn_pass)p));
                plus_add(used, sizeof used, u);
                plus_add(algos, sizeof algos, alg ? alg : "");
                if (fwd)
                    break;
            }
            double s = t.s[ph][l];
            inside += s;
            char ms[32], share[32];
            snprintf(ms, sizeof ms, "%.4f", s * 1e3);
            snprintf(share, sizeof share, "%.4f", total > 0 ? s / total : 0.0);
            const char *fields[] = {cnn_model_name(m),
                                    be,
                                    BENCH_MODE_NAME[mode],
                                    nthreads,
                                    info.name,
                                    *passes ? passes : (ph ? "bwd" : "fwd"),
                                    used,
                                    algos,
                                    ms,
                                    share};
            st = report_csv_row(csv, 10, fields);
            for (int k = 0; k < 3; k++) {
                if (s <= top_s[k])
                    continue;
                for (int j = 2; j > k; j--) {
                    top_s[j] = top_s[j - 1];
                    memcpy(top[j], top[j - 1], sizeof top[j]);
                }
                top_s[k] = s;
                snprintf(top[k], sizeof top[k], "%s %s %.0f%%", info.name, ph ? "bwd" : "fwd",
                         total > 0 ? 100 * s / total : 0.0);
                break;
            }
        }
    }
    if (st == CNN_OK) {
        char ms[32], share[32];
        double rest = total > inside ? total - inside : 0.0;
        snprintf(ms, sizeof ms, "%.4f", rest * 1e3);
        snprintf(share, sizeof share, "%.4f", total > 0 ? rest / total : 0.0);
        const char *fields[] = {
            cnn_model_name(m), be, BENCH_MODE_NAME[mode], nthreads, "(other)", "", "", "", ms, share};
        st = report_csv_row(csv, 10, fields);
        snprintf(top_line, top_n, "%s%s%s%s%s", top[0], *top[1] ? ", " : "", top[1],
                 *top[2] ? ", " : "", top[2]);
    }
    free(t.s[0]);
    free(t.s[1]);
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Random input in [-1, 1) and labels i % classes. */
static cnn_status feed(cnn_model *m)
{
    cnn_shape x = cnn_model_input_shape(m), y = cnn_model_output_shape(m);
    int64_t nx = cnn_shape_numel(&x), n = y.dim[0], classes = y.dim[1];
    float *in = malloc((size_t)nx * sizeof *in);
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    cnn_status st = in && labels ? CNN_OK : cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int64_t i = 0; st == CNN_OK && i < nx; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        in[i] = (float)((double)(s >> 40) / (double)(1u << 23)) - 1.0f;
    }
    for (int64_t i = 0; st == CNN_OK && i < n; i++)
        labels[i] = (int32_t)(i % classes);
    if (st == CNN_OK)
        st = cnn_model_set_input(m, in, nx);
    if (st == CNN_OK)
        st = cnn_model_set_labels(m, labels, n);
    free(in);
    free(labels);
    return st;
}

/* Set both modes' error (a backend not usable, a model that cannot bind). */
void bench_fail_both(model_result *r, const char *status, const char *why)
{
    for (int mode = 0; mode < CNN_MODE_COUNT; mode++) {
        snprintf(r->error[mode], sizeof r->error[mode], "%s", why);
        r->status[mode] = status;
    }
}

/* The optimizer update of a train_step, timed apart (its own column):
 * Adam (lr 1e-3) on the whole parameter block, one warm-up step, then the
 * repetitions, by the backend timer. The model's parameters change; the
 * timings after it do not depend on their values. NaN when the model has
 * no optimizer here (it then says why nowhere else: the column is empty). */
static void time_optimizer(const bench_models_run *run, cnn_model *m, double *s, model_result *r)
{
    r->optim_ms = NAN;
    cnn_optim_desc d = {.mode = CNN_OPTIM_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999,
                        .eps = 1e-8};
    cnn_ctx *ctx = cnn_model_ctx(m, 0);
    cnn_status st = cnn_model_optimizer_init(m, &d);
    if (st == CNN_OK)
        st = cnn_model_optimizer_step(m);
    for (int i = 0; i < run->repetitions && st == CNN_OK; i++) {
        st = cnn_timer_start(ctx);
        if (st == CNN_OK) {
            cnn_status ost = cnn_model_optimizer_step(m);
            st = cnn_timer_stop(ctx, &s[i]);
            st = ost != CNN_OK ? ost : st;
        }
    }
    if (st != CNN_OK)
        return;
    qsort(s, (size_t)run->repetitions, sizeof *s, cmp_double);
    int k = run->repetitions;
    r->optim_ms = (k % 2 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2) * 1e3;
}

/* The median, least and greatest of the k repetitions in s (seconds, in the
 * order run; sorted here) into r's mode, as ms. */
void bench_set_times(model_result *r, int mode, double *s, int k)
{
    r->nreps = k < BENCH_ROW_MAX_REPS ? k : BENCH_ROW_MAX_REPS;
    memcpy(r->reps[mode], s, (size_t)r->nreps * sizeof *s);
    qsort(s, (size_t)k, sizeof *s, cmp_double);
    r->med[mode] = (k % 2 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2) * 1e3;
    r->lo[mode] = s[0] * 1e3;
    r->hi[mode] = s[k - 1] * 1e3;
}

/* What one row measures alone, before the timed rounds: a warm-up step,
 * the process's peak RSS and the GPU memory in use over it, the optimizer
 * step (s: room for the repetitions) and the breakdown. */
static cnn_status probe_mode(const bench_models_run *run, cnn_model *m, const char *be,
                             cnn_mode mode, double *s, report_csv *breakdown_csv, model_result *r)
{
    r->flops[mode] = bench_step_flops(m, mode, &r->bytes[mode]);
    bool reset = memory_reset_peak_rss();
    cnn_ctx *ctx = cnn_model_ctx(m, 0);
    r->device_mem[mode] = -1;
    cnn_status st = bench_step(m, mode); /* warm-up */
    size_t used, total;
    if (st == CNN_OK && ctx->backend->device != CNN_DEVICE_HOST &&
        cnn_device_memory(ctx, &used, &total) == CNN_OK)
        r->device_mem[mode] = (double)used;
    if (st != CNN_OK)
        return st;
    if (mode == CNN_MODE_TRAIN)
        time_optimizer(run, m, s, r);
    st = breakdown(m, be, mode, run->threads, breakdown_csv, r->top[mode], sizeof r->top[mode]);
    /* the model's memory was allocated before the reset: it is resident,
     * so the high-water mark still counts it */
    r->peak_rss[mode] = reset ? memory_peak_rss_bytes() : -1;
    return st;
}

/* The backends other than the one asked for that ran, and on how many
 * layers (or "(loss)", "(gradient sum)"). */
static void note_fallbacks(const cnn_model *m, model_result *r)
{
    char seen[64][96];
    int nseen = 0;
    for (int i = 0; i < cnn_model_fallback_count(m); i++) {
        cnn_fallback f;
        if (cnn_model_fallback(m, i, &f) != CNN_OK)
            continue;
        plus_add(r->fallbacks, sizeof r->fallbacks, f.used);
        bool dup = false;
        for (int j = 0; j < nseen && !dup; j++)
            dup = !strcmp(seen[j], f.layer);
        if (!dup && nseen < (int)(sizeof seen / sizeof seen[0]))
            snprintf(seen[nseen++], sizeof seen[0], "%s", f.layer);
    }
    r->fallback_layers = nseen;
}

/* The backend column of row b: a listed backend, then auto or plan. */
const char *bench_row_backend(const bench_models_run *run, int b)
{
    return b < run->nbackends ? run->backends[b]->name : run->plan_file ? "plan" : "auto";
}

/* A model bound for one mode on backend be, or (be NULL) on plan, its
 * parameters initialised and its input fed. infer runs on a forward-only
 * bind, whose activation slots are reused once their last reader ran, as an
 * inference deployment would; train_step on a training bind. */
cnn_status bench_bind_row(const bench_models_run *run, const char *name, const cnn_backend *be,
                           const auto_plan *plan, int batch, cnn_mode mode, cnn_model **out)
{
    cnn_model *m = NULL;
    cnn_model_opts mo = bench_model_opts(run, batch);
    cnn_exec_opts eo = {.backends = plan ? plan->backends : be->name,
                        .plan = plan ? plan->entries : NULL,
                        .nplan = plan ? plan->nrows : 0,
                        .threads = run->threads,
                        .seed = 1,
                        .forward_only = mode == CNN_MODE_EVAL,
                        .no_fuse = run->no_fuse};
    cnn_status st = cnn_model_create(name, &mo, &m);
    if (st == CNN_OK)
        st = cnn_model_bind(m, &eo);
    if (st == CNN_OK)
        st = cnn_model_init_params(m, 1);
    if (st == CNN_OK)
        st = feed(m);
    if (st != CNN_OK) {
        cnn_model_destroy(m);
        m = NULL;
    }
    *out = m;
    return st;
}

/* A mode's error of the row's own (bind, a pass that fails) into r. */
void bench_fail_mode(model_result *r, int mode)
{
    snprintf(r->error[mode], sizeof r->error[mode], "%s", cnn_last_error());
    r->status[mode] = ST_FAILED;
}

/* What one model on one backend alone, or (be NULL) on a plan, measures
 * before the rounds (probe_mode), each mode on its own bind. An error of
 * the model's own goes into r, for that mode, and the return value is
 * CNN_OK; only failing to write the results (CNN_ERR_IO) ends the run. */
static cnn_status probe_model(const bench_models_run *run, const char *name, const cnn_backend *be,
                              const auto_plan *plan, report_csv *breakdown_csv, model_result *r)
{
    char why[256];
    const char *label = be ? be->name : bench_row_backend(run, run->nbackends);
    r->batch = bench_model_batch(name, label, run->batch);
    if (be && !cnn_backend_available(be, why, sizeof why)) {
        char msg[300];
        snprintf(msg, sizeof msg, "not usable here: %s", why);
        bench_fail_both(r, ST_NOT_USABLE, msg);
        return CNN_OK;
    }
    double *s = calloc((size_t)run->repetitions, sizeof *s);
    if (!s)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
    cnn_status st = CNN_OK;
    for (int mode = 0; mode < CNN_MODE_COUNT && st == CNN_OK; mode++) {
        cnn_model *m = NULL;
        cnn_status ms = bench_bind_row(run, name, be, plan, r->batch, (cnn_mode)mode, &m);
        if (ms == CNN_OK) {
            r->image_size = (int)cnn_model_input_shape(m).dim[2];
            r->have_mem[mode] = cnn_model_memory(m, &r->mem[mode]) == CNN_OK;
            ms = probe_mode(run, m, label, (cnn_mode)mode, s, breakdown_csv, r);
        }
        if (ms == CNN_ERR_IO)
            st = ms;
        else if (ms != CNN_OK)
            bench_fail_mode(r, mode);
        /* the training bind runs every pass: its fallbacks are the ones to name */
        if (m && mode == CNN_MODE_TRAIN)
            note_fallbacks(m, r);
        cnn_model_destroy(m);
    }
    free(s);
    return st == CNN_ERR_IO ? st : CNN_OK;
}

/* Where auto searches: the first listed backend's device, else the host. */
static cnn_device auto_device(const bench_models_run *run)
{
    return run->nbackends ? run->backends[0]->device : CNN_DEVICE_HOST;
}

/* The auto row (the plan searched, its rows to plan.csv) or the plan row
 * (--plan FILE) of one model: its plan (freed by the caller, also after an
 * error) and what it measures alone (probe_model). */
static cnn_status probe_planned(const bench_models_run *run, const char *name, report_csv *bcsv,
                                report_csv *plan_csv, FILE *out, auto_plan *plan, model_result *r)
{
    memset(plan, 0, sizeof *plan);
    auto_search as = {.model = name,
                      .batch = bench_model_batch(name, "auto", run->batch),
                      .image_size = run->image_size,
                      .threads = run->threads,
                      .device = auto_device(run)};
    cnn_status st = run->plan_file ? auto_plan_read_named(run->plan_file, name, run->image_size,
                                                          plan)
                                   : auto_plan_search(&as, plan, out);
    if (st != CNN_OK) {
        r->batch = as.batch;
        bench_fail_both(r, st == CNN_ERR_UNSUPPORTED ? ST_NOT_USABLE : ST_FAILED, cnn_last_error());
        return CNN_OK;
    }
    char note[400] = "";
    if (!run->plan_file)
        st = bench_auto_check(run, name, plan, note, sizeof note, out);
    if (st == CNN_OK && plan_csv)
        st = auto_plan_csv_write(plan_csv, plan);
    if (st == CNN_OK)
        st = probe_model(run, name, NULL, plan, bcsv, r);
    snprintf(r->algorithm, sizeof r->algorithm, "plan%s%s: %s%s%s", run->plan_file ? " " : "",
             run->plan_file ? run->plan_file : "", plan->summary, *note ? "; " : "", note);
    return st;
}

/* The table rows and results.csv rows of one model on one backend. */
static cnn_status write_model(const bench_models_run *run, const char *name, const char *be,
                              int layers, const model_result *r, const model_result *base,
                              report_csv *csv, FILE *out)
{
    cnn_status st = CNN_OK;
    for (int mode = 0; mode < CNN_MODE_COUNT && st == CNN_OK; mode++) {
        bool ok = !*r->error[mode];
        double ips = ok ? r->batch / (r->med[mode] * 1e-3) : NAN;
        double base_ips = !*base->error[mode] ? base->batch / (base->med[mode] * 1e-3) : NAN;
        double gflops = ok ? r->flops[mode] / (r->med[mode] * 1e6) : NAN;
        bench_row row = bench_row_empty();
    row.triad_gbs = run->triad_gbs;
        row.model = name;
        row.layer = "MODEL";
        row.layers = layers;
        row.op_name = "model";
        row.pass = BENCH_MODE_NAME[mode];
        row.backend = be;
        row.status = ok ? ST_OK : r->status[mode];
        row.algorithm = ok ? r->algorithm : r->error[mode];
        row.batch = r->batch;
        row.image_size = r->image_size;
        row.threads = run->threads;
        row.repetitions = run->repetitions;
        row.median_ms = ok ? r->med[mode] : NAN;
        row.min_ms = ok ? r->lo[mode] : NAN;
        row.max_ms = ok ? r->hi[mode] : NAN;
        row.reps_s = ok ? r->reps[mode] : NULL;
        row.nreps = ok ? r->nreps : 0;
        row.gflops = gflops;
        row.pct_peak = bench_pct_peak(run->fma_peak_gflops, gflops);
        row.intensity = r->bytes[mode] > 0 ? r->flops[mode] / r->bytes[mode] : NAN;
        row.ratio = ips / base_ips;
        row.charged_layers = ok ? r->fallback_layers : 0;
        row.charged_at = ok ? r->fallbacks : "";
        row.images_per_s = ips;
        if (mode == CNN_MODE_TRAIN && ok)
            row.optimizer_ms = r->optim_ms;
        if (r->have_mem[mode]) {
            const cnn_model_mem *mm = &r->mem[mode];
            row.params_bytes = (double)mm->params;
            row.grads_bytes = (double)mm->grads;
            row.act_bytes = (double)mm->activations;
            row.act_unshared_bytes = (double)mm->activations_unshared;
            row.ws_bytes = (double)mm->workspace;
        }
        if (ok) {
            row.peak_rss_bytes = r->peak_rss[mode];
            row.device_mem_bytes = r->device_mem[mode];
        }
        st = bench_row_write(csv, &row);
        char f[10][64];
        snprintf(f[9], 64, "%.3f", row.ratio);
        if (ok)
            fprintf(out, "  %-10s %-10s %5d %10.3f %10.3f %10.3f %10.1f %7s%s%s\n", be,
                    BENCH_MODE_NAME[mode], r->batch, r->med[mode], r->lo[mode], r->hi[mode], ips,
                    isnan(base_ips) ? "-" : f[9], *r->fallbacks ? "  fallbacks: " : "",
                    r->fallbacks);
        else
            fprintf(out, "  %-10s %-10s %5d  (not run: %s)\n", be, BENCH_MODE_NAME[mode], r->batch,
                    r->error[mode]);
    }
    return st;
}

/* The CSV files of a run and its scaling over thread counts. */
typedef struct run_files {
    report_csv *csv, *bcsv, *pcsv;
    bench_scaling *scaling;
} run_files;

/* One model (of `layers` layers, input x) on every row at the count in
 * run->threads (thread index t): timed, its table printed, its rows and
 * medians recorded. res: room for nrows + 1 results (the peer's last). */
static cnn_status model_at(const bench_models_run *run, const char *name, int layers,
                           cnn_shape x, int t, model_result *res, int nrows, run_files *f,
                           FILE *out)
{
    cnn_status st = CNN_OK;
    fprintf(out,
            "\n%s, %dx%dx%d input, %d threads, %d repetitions after a warm-up, in rounds "
            "(one step of every row%s in turn); per-layer breakdown of one more step each in "
            "breakdown.csv\n",
            name, (int)x.dim[1], (int)x.dim[2], (int)x.dim[3], run->threads, run->repetitions,
            run->peer ? ", then the peer's," : "");
    memset(res, 0, ((size_t)nrows + 1) * sizeof *res);
    /* each row alone first (warm-up, memory, optimizer, breakdown), then
     * every row's timed steps in rounds with the peer's */
    auto_plan plans[1];
    memset(plans, 0, sizeof plans);
    for (int b = 0; b < nrows && st == CNN_OK && !run_dir_stopping(); b++)
        st = b < run->nbackends
                 ? probe_model(run, name, run->backends[b], NULL, f->bcsv, &res[b])
                 : probe_planned(run, name, f->bcsv, f->pcsv, out, &plans[b - run->nbackends],
                                 &res[b]);
    peer_paced *peer = NULL;
    if (run->peer && st == CNN_OK && !run_dir_stopping())
        peer = bench_start_peer(run, name, &res[nrows]);
    for (int mode = 0; mode < CNN_MODE_COUNT && st == CNN_OK && !run_dir_stopping(); mode++)
        st = bench_time_rounds(run, name, (cnn_mode)mode, plans, res, nrows, &peer, out);
    if (peer && st == CNN_OK && !run_dir_stopping()) {
        peer_rows rows;
        if (peer_paced_finish(peer, &rows) == CNN_OK)
            bench_peer_results(&rows, &res[nrows]);
        else
            bench_fail_both(&res[nrows], ST_FAILED, cnn_last_error());
        peer_rows_free(&rows);
        peer = NULL;
    }
    peer_paced_abort(peer);
    for (int b = run->nbackends; b < nrows; b++)
        auto_plan_free(&plans[b - run->nbackends]);
    if (st != CNN_OK || run_dir_stopping())
        return st;
    if (!run->batch && run->nbackends > 0)
        for (int b = 0; b < run->nbackends; b++)
            if (res[b].batch != bench_model_batch(name, "", 0)) {
                fprintf(out,
                        "  (%s at batch %d: the naive backend runs large models at "
                        "batch 1 unless --batch is given)\n",
                        run->backends[b]->name, res[b].batch);
                break;
            }
    fprintf(out, "  ratio = images/s / %s's (> 1: faster)\n", bench_row_backend(run, 0));
    fprintf(out, "  %-10s %-10s %5s %10s %10s %10s %10s %7s\n", "backend", "mode", "batch",
            "median_ms", "min_ms", "max_ms", "images/s", "ratio");
    for (int b = 0; b < nrows && st == CNN_OK; b++)
        st = write_model(run, name, bench_row_backend(run, b), layers, &res[b], &res[0], f->csv, out);
    if (run->peer && st == CNN_OK && !run_dir_stopping())
        st = write_model(run, name, "pytorch", layers, &res[nrows], &res[0], f->csv, out);
    for (int b = 0; b <= nrows && st == CNN_OK && f->scaling; b++) {
        const char *be = b < nrows ? bench_row_backend(run, b) : "pytorch";
        for (int mode = 0; mode < CNN_MODE_COUNT && st == CNN_OK; mode++)
            if ((b < nrows || run->peer) && !*res[b].error[mode])
                st = bench_scaling_add(f->scaling, name, be, BENCH_MODE_NAME[mode], t, res[b].med[mode]);
    }
    if (nrows > run->nbackends && !*res[run->nbackends].error[0])
        fprintf(out, "  %s: %s\n", bench_row_backend(run, run->nbackends),
                res[run->nbackends].algorithm);
    fprintf(out, "  costliest layers of the instrumented step (share of its time):\n");
    for (int b = 0; b < nrows; b++)
        for (int mode = 0; mode < CNN_MODE_COUNT; mode++)
            if (!*res[b].error[mode])
                fprintf(out, "    %-10s %-10s %s\n", bench_row_backend(run, b), BENCH_MODE_NAME[mode],
                        res[b].top[mode]);
    for (int mode = 0; run->peer && mode < CNN_MODE_COUNT; mode++)
        if (!*res[nrows].error[mode])
            fprintf(out, "    %-10s %-10s (one process, no breakdown: %s)\n", "pytorch",
                    BENCH_MODE_NAME[mode], res[nrows].top[mode]);
    fflush(out);
    return st;
}

cnn_status bench_models_execute(const bench_models_run *run, FILE *out)
{
    char path[4200];
    run_files f = {0};
    snprintf(path, sizeof path, "%s/results.csv", run->dir);
    cnn_status st = report_csv_stream(path, BENCH_ROW_HEADER, &f.csv);
    snprintf(path, sizeof path, "%s/breakdown.csv", run->dir);
    if (st == CNN_OK)
        st = report_csv_stream(path, BREAKDOWN_HEADER, &f.bcsv);
    /* the listed backends, then the auto or plan row, then the peer's */
    int nrows = run->nbackends + (run->with_auto || run->plan_file);
    if (st == CNN_OK && run->with_auto)
        st = auto_plan_csv_open(run->dir, auto_device(run), &f.pcsv);
    if (st == CNN_OK && run->nthreads > 1)
        st = bench_scaling_open(run->thread_list, run->nthreads, &f.scaling);
    model_result *res = calloc((size_t)nrows + 1, sizeof *res);
    if (st == CNN_OK && !res)
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
    /* per model, every row at each thread count in turn: a backend's counts
     * are timed minutes apart at most, under the same load */
    int ncounts = run->nthreads > 0 ? run->nthreads : 1;
    bench_models_run at;
    for (int i = 0; i < run->nmodels && st == CNN_OK && !run_dir_stopping(); i++) {
        const char *name = run->models[i];
        cnn_model *m = NULL;
        cnn_model_opts mo = bench_model_opts(run, run->batch > 0 ? run->batch : 1);
        st = cnn_model_create(name, &mo, &m);
        if (st != CNN_OK)
            break;
        cnn_shape x = cnn_model_input_shape(m);
        int layers = cnn_model_layer_count(m);
        cnn_model_destroy(m);
        for (int t = 0; t < ncounts && st == CNN_OK && !run_dir_stopping(); t++) {
            at = *run;
            if (run->nthreads > 0)
                at.threads = cnn_set_process_threads(run->thread_list[t]);
            st = model_at(&at, name, layers, x, t, res, nrows, &f, out);
        }
    }
    free(res);
    cnn_status c0 = bench_scaling_finish(f.scaling, run->dir, out);
    cnn_status c1 = f.csv ? report_csv_close(f.csv, st == CNN_OK) : CNN_OK;
    cnn_status c2 = f.bcsv ? report_csv_close(f.bcsv, st == CNN_OK) : CNN_OK;
    cnn_status c3 = f.pcsv ? report_csv_close(f.pcsv, st == CNN_OK) : CNN_OK;
    if (st == CNN_OK)
        st = c0 != CNN_OK ? c0 : c1 != CNN_OK ? c1 : c2 != CNN_OK ? c2 : c3;
    return st;
}
