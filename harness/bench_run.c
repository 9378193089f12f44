#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ceilings.h"
#include "cli.h"
#include "gbench.h"
#include "model.h"
#include "registry.h"
#include "report.h"
#include "run_dir.h"
#include "verify.h"

/* The --cold eviction buffer: twice the last-level cache sysfs reports, so
 * that writing it between calls evicts the operands (256 MiB when the size
 * is unknown). On CPUs whose L3 is split between core complexes (AMD) cpu0
 * sees its own slice, which is the one its threads' data lives in. */
static size_t evict_floats(void)
{
    double llc = cnn_llc_bytes();
    return (size_t)((llc > 0 ? 2.0 * llc : 256.0 * 1048576.0) / sizeof(float));
}

/* Append ", name" (or "name" first) to a list unless it is there already. */
static void list_add(char *list, size_t n, const char *name)
{
    if (!cli_in_list(list, name))
        snprintf(list + strlen(list), n - strlen(list), "%s%s", *list ? ", " : "", name);
}

/* The selection matches something: every op asked for is in the model and
 * every pass asked for belongs to some selected layer. */
static cnn_status check_selection(const bench_run *run, const char *model_ops)
{
    char item[64];
    for (const char *p = run->ops; p && cli_next_item(&p, item, sizeof item);)
        if (!cli_in_list(model_ops, item))
            return cnn_fail(CNN_ERR_INVALID_ARG, "%s has no layer of op '%s'; ops there: %s",
                            run->model, item, model_ops);
    char passes[128] = "";
    for (int p = 0; p < CNN_PASS_COUNT; p++)
        for (int i = 0; i < run->ngroups; i++)
            if (cnn_op_has_pass(&run->groups[i].op, (cnn_pass)p))
                list_add(passes, sizeof passes, cnn_pass_str((cnn_pass)p));
    for (int p = 0; p < CNN_PASS_COUNT; p++)
        if (run->passes[p] && !cli_in_list(passes, cnn_pass_str((cnn_pass)p)))
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "no layer of %s has pass %s for ops %s; passes there: %s", run->model,
                            cnn_pass_str((cnn_pass)p), run->ops ? run->ops : "all", passes);
    return CNN_OK;
}

cnn_status bench_select(bench_run *run)
{
    cnn_model *m = NULL;
    cnn_model_opts mo = {.batch = run->batch, .h = run->image_size, .w = run->image_size};
    cnn_status st = cnn_model_create(run->model, &mo, &m);
    if (st != CNN_OK)
        return st;
    bench_group *g = calloc((size_t)cnn_model_layer_count(m) + 1, sizeof *g);
    int ng = 0;
    char model_ops[512] = "";
    if (!g)
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
    for (int l = 0; st == CNN_OK && l < cnn_model_layer_count(m); l++) {
        cnn_layer_info info;
        st = cnn_model_layer(m, l, &info);
        if (st != CNN_OK)
            break;
        list_add(model_ops, sizeof model_ops, cnn_op_name(info.op));
        if (run->ops && !cli_in_list(run->ops, cnn_op_name(info.op)))
            continue;
        char a[256], b[256];
        cnn_op_str(info.op, a, sizeof a);
        int found = -1;
        for (int i = 0; i < ng && found < 0; i++)
            if (g[i].op.kind == info.op->kind && !strcmp(cnn_op_str(&g[i].op, b, sizeof b), a))
                found = i;
        if (found < 0) {
            found = ng++;
            g[found].op = *info.op;
            snprintf(g[found].first, sizeof g[found].first, "%s", info.name);
        }
        g[found].count++;
    }
    cnn_model_destroy(m);
    run->groups = g;
    run->ngroups = ng;
    if (st == CNN_OK)
        st = check_selection(run, model_ops);
    if (st != CNN_OK)
        bench_release(run);
    return st;
}

void bench_release(bench_run *run)
{
    free(run->groups);
    run->groups = NULL;
    run->ngroups = 0;
}

/* The input's N x N size, for the rows. */
static int image_size(const bench_run *run)
{
    const cnn_model_desc *d = cnn_model_find(run->model);
    return run->image_size ? run->image_size : d ? d->h : 0;
}

static double pct_peak(const bench_run *run, double gflops)
{
    return bench_pct_peak(run->fma_peak_gflops, gflops);
}

typedef struct bench_case {
    cnn_ctx *ctx;
    const cnn_op *op;
    cnn_pass pass;
    void **dev;
    void *ws;
    size_t ws_size;
    float *evict; /* host backends: written on the host */
    size_t evict_n;
    void *dev_evict; /* device backends: zeroed on the device */
    size_t dev_evict_bytes;
} bench_case;

/* One timed call, by the backend's timer (cnn_timer_start: CUDA events on
 * a GPU, the wall clock after a sync on the host). */
static int iterate(void *arg, double *seconds)
{
    bench_case *c = arg;
    cnn_status st = cnn_timer_start(c->ctx);
    if (st == CNN_OK) {
        st = vcase_call(c->ctx, c->op, c->pass, c->dev, c->ws, c->ws_size);
        double s = 0;
        cnn_status tst = cnn_timer_stop(c->ctx, &s);
        *seconds = s;
        if (st == CNN_OK)
            st = tst;
    }
    return st != CNN_OK;
}

/* --cold: the eviction buffer is written before the timer starts; on a GPU
 * the memset is queued before the start event, so it is not timed. */
static void evict_caches(void *arg)
{
    bench_case *c = arg;
    if (c->dev_evict) {
        (void)cnn_mem_zero(c->ctx, c->dev_evict, c->dev_evict_bytes);
        return;
    }
    for (size_t i = 0; i < c->evict_n; i++)
        c->evict[i] += 1.0f;
}

/* A GPU's eviction buffer: twice its L2 (256 MiB when unknown). */
static size_t dev_evict_bytes(cnn_ctx *ctx)
{
    size_t l2 = cnn_device_cache_bytes(ctx);
    return l2 ? 2 * l2 : (size_t)256 << 20;
}

/* Time per call spent outside the operation proper, for backends that
 * report it (cnn_side_time: oneDNN's reorders between NCHW and its blocked
 * layouts; the CSV column is reorder_ms): averaged over a few extra calls,
 * since the timed calls' count includes Google Benchmark's calibration
 * runs. NaN for backends that report none. */
static double reorder_ms(bench_case *c)
{
    const char *what;
    double s, total = 0.0;
    if (!cnn_side_time(c->ctx, &what, &s))
        return NAN;
    for (int i = 0; i < 3; i++) {
        double t;
        if (iterate(c, &t))
            return NAN;
        cnn_side_time(c->ctx, &what, &s);
        total += s;
    }
    return total / 3.0 * 1e3;
}

/* The backends of a run: a slot for each listed one, then one for each
 * unlisted backend that would stand in for a listed one, to time the layers
 * it would run. */
#define BENCH_SLOTS (BENCH_MAX_BACKENDS + CNN_BACKEND_ORDER_MAX)
typedef struct bench_env {
    cnn_ctx *ctx[BENCH_SLOTS];
    void *dev_evict[BENCH_SLOTS]; /* --cold on device backends */
    cnn_ctx *naive;               /* computes the forward outputs that backward passes read */
    const cnn_backend *be[BENCH_SLOTS];
    int nlisted, nslots;
} bench_env;

static int slot_of(const bench_env *env, const cnn_backend *be)
{
    for (int s = 0; s < env->nslots; s++)
        if (env->be[s] == be)
            return s;
    return -1;
}

/* The backend that would run this case instead of the listed backend b,
 * which does not support it: the one a model run on b alone
 * (`cnnbench run --backends B`) would use, by the executor's rule
 * (cnn_backend_order: b's own fallback, the device's default fallbacks,
 * naive); -1 if none. So a model total answers "how fast is a model run on
 * this backend", whatever else the bench lists. */
static int fallback_slot(const bench_env *env, int b, const cnn_op *op, cnn_pass pass)
{
    const cnn_backend *order[CNN_BACKEND_ORDER_MAX];
    int n = cnn_backend_order(&env->be[b], 1, NULL, order, CNN_BACKEND_ORDER_MAX);
    for (int i = 1; i < n; i++) {
        int s = slot_of(env, order[i]);
        if (s >= 0 && env->ctx[s] && cnn_supports(env->ctx[s], op, pass))
            return s;
    }
    return -1;
}

/* One backend's model total for one pass. */
typedef struct bench_total {
    double ms, flops;
    double min_bytes;         /* cnn_op_min_bytes over the layers */
    int layers;               /* layers that have the pass */
    int charged[BENCH_SLOTS]; /* of them, charged at each other backend */
    char gap[400];            /* why there is no total, or "" */
    const char *gap_status;   /* and its status (ST_*) */
} bench_total;

typedef struct bench_out {
    FILE *out;
    report_csv *csv;
    bench_total total[BENCH_MAX_BACKENDS][CNN_PASS_COUNT];
    double *base_ms; /* [group][pass]: the first backend's median, for the peer's ratios */
} bench_out;

/* The median of a timed case in ms; NaN if it was not timed or failed. */
static double case_ms(const cnn_gbench *gb, int idx)
{
    const cnn_gbench_result *r = idx >= 0 ? cnn_gbench_result_at(gb, idx) : NULL;
    return r && !r->error && r->repetitions > 0 ? r->median_s * 1e3 : NAN;
}

/* Add a group to a total: the backend's own time, else (it does not
 * support the case) the time of fallback slot fb; else the total has a gap.
 * failed: why the backend's own timing failed, or NULL. */
static void add_to_total(bench_total *t, const bench_group *g, double flops, double bytes,
                         double own_ms, const char *failed, int fb, double fb_ms)
{
    t->layers += g->count;
    t->flops += flops * g->count;
    t->min_bytes += bytes * g->count;
    if (*t->gap)
        return;
    if (!isnan(own_ms)) {
        t->ms += own_ms * g->count;
    } else if (failed) {
        snprintf(t->gap, sizeof t->gap, "%s failed: %s", g->first, failed);
        t->gap_status = ST_FAILED;
    } else if (fb >= 0 && !isnan(fb_ms)) {
        t->ms += fb_ms * g->count;
        t->charged[fb] += g->count;
    } else {
        snprintf(t->gap, sizeof t->gap, "no backend that could stand in ran %s", g->first);
        t->gap_status = ST_UNSUPPORTED;
    }
}

/* "7 of 20 layers charged at im2col, 1 at naive" (sep ", ") or the names
 * alone, "im2col+naive" (names_only); "" when nothing was charged. */
static char *charged_str(const bench_total *t, const bench_env *env, bool names_only, char *buf,
                         size_t n)
{
    buf[0] = '\0';
    for (int s = 0; s < env->nslots; s++) {
        if (!t->charged[s])
            continue;
        size_t used = strlen(buf);
        if (names_only)
            snprintf(buf + used, n - used, "%s%s", used ? "+" : "", env->be[s]->name);
        else if (!used)
            snprintf(buf, n, "%d of %d layers charged at %s", t->charged[s], t->layers,
                     env->be[s]->name);
        else
            snprintf(buf + used, n - used, ", %d at %s", t->charged[s], env->be[s]->name);
    }
    return buf;
}

static int charged_count(const bench_total *t)
{
    int n = 0;
    for (int s = 0; s < BENCH_SLOTS; s++)
        n += t->charged[s];
    return n;
}

cnn_status bench_inputs(const bench_run *run, const cnn_op *op, cnn_ctx *naive, vcase *c)
{
    bool backward = false;
    for (int p = 0; p < CNN_PASS_COUNT; p++)
        backward |= p != CNN_FWD && p != CNN_FWD_INFER && run->passes[p] &&
                    cnn_op_has_pass(op, (cnn_pass)p);
    cnn_status st = vcase_init(c, op, 1);
    if (st == CNN_OK && backward)
        st = vcase_forward_inputs(c, naive);
    return st;
}

/* Time every backend and pass on one layer shape. */
static cnn_status bench_layer(const bench_run *run, const bench_env *env, const bench_group *g,
                              float *evict, bench_out *bo)
{
    vcase vc;
    cnn_status st = bench_inputs(run, &g->op, env->naive, &vc);
    if (st != CNN_OK) {
        vcase_free(&vc);
        return st;
    }
    cnn_ctx *const *ctx = env->ctx;
    void *dev[BENCH_SLOTS][VT_COUNT];
    void *ws[BENCH_SLOTS] = {0};
    bench_case cases[BENCH_SLOTS][CNN_PASS_COUNT];
    int idx[BENCH_SLOTS][CNN_PASS_COUNT];
    int fb[BENCH_MAX_BACKENDS][CNN_PASS_COUNT]; /* who stands in for an unsupported case */
    int ncases = 0;
    memset(dev, 0, sizeof dev);
    for (int p = 0; p < CNN_PASS_COUNT; p++) {
        bool wanted = run->passes[p] && cnn_op_has_pass(&g->op, (cnn_pass)p);
        for (int b = 0; b < env->nlisted; b++)
            fb[b][p] = wanted && ctx[b] && !cnn_supports(ctx[b], &g->op, (cnn_pass)p)
                           ? fallback_slot(env, b, &g->op, (cnn_pass)p)
                           : -1;
    }
    cnn_gbench *gb = cnn_gbench_create(run->repetitions, run->min_time);
    if (!gb)
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
    for (int b = 0; b < env->nslots && st == CNN_OK; b++) {
        size_t wss = 0;
        for (int p = 0; p < CNN_PASS_COUNT; p++) {
            idx[b][p] = -1;
            /* an unlisted stand-in times only what it stands in for */
            bool needed = b < env->nlisted;
            for (int k = 0; k < env->nlisted && !needed; k++)
                needed = fb[k][p] == b;
            if (needed && ctx[b] && run->passes[p] && cnn_op_has_pass(&g->op, (cnn_pass)p) &&
                cnn_supports(ctx[b], &g->op, (cnn_pass)p)) {
                size_t w = cnn_workspace_size(ctx[b], &g->op, (cnn_pass)p);
                wss = w > wss ? w : wss;
                idx[b][p] = 0;
            }
        }
        bool any = false;
        for (int p = 0; p < CNN_PASS_COUNT; p++)
            any |= idx[b][p] == 0;
        if (!any)
            continue;
        st = vcase_upload(&vc, ctx[b], dev[b]);
        if (st == CNN_OK && wss)
            st = cnn_mem_alloc(ctx[b], wss, &ws[b]);
        for (int p = 0; p < CNN_PASS_COUNT && st == CNN_OK; p++) {
            if (idx[b][p] < 0)
                continue;
            cases[b][p] = (bench_case){ctx[b], &g->op, (cnn_pass)p, dev[b], ws[b], wss, evict,
                                       evict_floats(), env->dev_evict[b],
                                       env->dev_evict[b] ? dev_evict_bytes(ctx[b]) : 0};
            char name[256];
            snprintf(name, sizeof name, "%s/%s/%s/%s", run->model, g->first, env->be[b]->name,
                     cnn_pass_str((cnn_pass)p));
            idx[b][p] =
                cnn_gbench_add(gb, name, iterate, run->cold ? evict_caches : NULL, &cases[b][p]);
            if (idx[b][p] < 0)
                st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
            ncases++;
        }
    }
    /* nothing to time (no backend supports this shape's selected passes) */
    if (st == CNN_OK && ncases > 0 && cnn_gbench_run(gb) != 0)
        st = cnn_fail(CNN_ERR_BACKEND, "bench: Google Benchmark failed");

    for (int p = 0; p < CNN_PASS_COUNT && st == CNN_OK; p++) {
        if (!run->passes[p] || !cnn_op_has_pass(&g->op, (cnn_pass)p))
            continue;
        double flops = cnn_op_flops(&g->op, (cnn_pass)p);
        double base = NAN;
        for (int b = 0; b < env->nslots && st == CNN_OK; b++) {
            if (b >= env->nlisted && idx[b][p] < 0)
                continue;
            const cnn_gbench_result *r =
                idx[b][p] >= 0 ? cnn_gbench_result_at(gb, idx[b][p]) : NULL;
            bool ok = r && !r->error && r->repetitions > 0;
            double med = ok ? r->median_s * 1e3 : NAN;
            if (b == 0) {
                base = med;
                bo->base_ms[(g - run->groups) * CNN_PASS_COUNT + p] = med;
            }
            int stand_in = b < env->nlisted ? fb[b][p] : -1;
            if (b < env->nlisted)
                add_to_total(&bo->total[b][p], g, flops, cnn_op_min_bytes(&g->op, (cnn_pass)p), med,
                             ok || !r   ? NULL
                             : r->error ? r->error_msg
                                        : "no repetitions",
                             stand_in, stand_in >= 0 ? case_ms(gb, idx[stand_in][p]) : NAN);
            const char *algo = ok       ? cnn_algorithm(ctx[b], &g->op, (cnn_pass)p)
                               : r      ? r->error_msg
                               : ctx[b] ? "unsupported"
                                        : "not usable here";
            const char *status = ok       ? ST_OK
                                 : r      ? ST_FAILED
                                 : ctx[b] ? ST_UNSUPPORTED
                                          : ST_NOT_USABLE;
            double reo = ok ? reorder_ms(&cases[b][p]) : NAN;
            double gflops = ok ? flops / (r->median_s * 1e9) : NAN;
            bench_row row = bench_row_empty();
            row.triad_gbs = run->triad_gbs;
            row.model = run->model;
            row.layer = g->first;
            row.layers = g->count;
            row.op = &g->op;
            row.pass = cnn_pass_str((cnn_pass)p);
            row.backend = env->be[b]->name;
            row.status = status;
            row.algorithm = algo;
            row.batch = run->batch;
            row.image_size = image_size(run);
            row.threads = run->threads;
            row.repetitions = run->repetitions;
            row.cold = run->cold;
            row.median_ms = med;
            row.min_ms = ok ? r->min_s * 1e3 : NAN;
            row.max_ms = ok ? r->max_s * 1e3 : NAN;
            row.reps_s = ok ? r->rep_s : NULL;
            row.nreps = ok ? r->repetitions : 0;
            row.gflops = gflops;
            row.pct_peak = pct_peak(run, gflops);
            row.intensity = flops / cnn_op_min_bytes(&g->op, (cnn_pass)p);
            row.min_bytes = cnn_op_min_bytes(&g->op, (cnn_pass)p);
            row.ratio = base / med;
            row.reorder_ms = reo;
            row.charged_layers = !ok && stand_in >= 0 ? g->count : 0;
            row.charged_at = !ok && stand_in >= 0 ? env->be[stand_in]->name : "";
            row.ws_bytes = ctx[b] && cnn_supports(ctx[b], &g->op, (cnn_pass)p)
                               ? (double)cnn_workspace_size(ctx[b], &g->op, (cnn_pass)p)
                               : -1;
            st = bench_row_write(bo->csv, &row);
            char f[14][64];
            snprintf(f[12], 64, "%.2f", bench_row_gbs(&row));
            snprintf(f[13], 64, "%.1f", bench_row_pct_triad(&row));
            snprintf(f[4], 64, "%.4f", med);
            snprintf(f[7], 64, "%.2f", gflops);
            snprintf(f[8], 64, "%.3f", row.ratio);
            snprintf(f[9], 64, "%.4f", reo);
            snprintf(f[11], 64, "%.1f", row.pct_peak);
            char layer[128], shown[320];
            snprintf(layer, sizeof layer, "%s x%d", g->first, g->count);
            snprintf(shown, sizeof shown, "%s%s%s", algo,
                     b >= env->nlisted      ? " (timed only as the stand-in)"
                     : !ok && stand_in >= 0 ? ", charged at "
                                            : "",
                     !ok && stand_in >= 0 ? env->be[stand_in]->name : "");
            fprintf(bo->out, "%-26s %-10s %-14s %10s %8s %6s %7s %6s %7s %8s %s %s\n", layer,
                    cnn_pass_str((cnn_pass)p), env->be[b]->name, ok ? f[4] : "-", ok ? f[7] : "-",
                    ok && run->fma_peak_gflops > 0 ? f[11] : "-", ok ? f[12] : "-",
                    ok && run->triad_gbs > 0 ? f[13] : "-", ok && !isnan(base) ? f[8] : "-",
                    isnan(reo) ? "" : f[9], ok ? "" : "(not run)", shown);
        }
    }
    for (int b = 0; b < env->nslots; b++) {
        if (ctx[b]) {
            vcase_device_free(ctx[b], dev[b]);
            cnn_mem_free(ctx[b], ws[b]);
        }
    }
    cnn_gbench_destroy(gb);
    vcase_free(&vc);
    return st;
}

/* The model totals: printed, and as layer=TOTAL rows of the CSV. */
static cnn_status write_totals(const bench_run *run, const bench_env *env, bench_out *bo)
{
    fprintf(bo->out,
            "\ntotal over the model's layers (each distinct shape times its count; where a "
            "backend\ndoes not support a layer, the time of the backend that would run it "
            "instead);\nratio = %s's total / this backend's, > 1 is faster:\n",
            env->be[0]->name);
    cnn_status st = CNN_OK;
    for (int p = 0; p < CNN_PASS_COUNT && st == CNN_OK; p++) {
        if (!run->passes[p])
            continue;
        const bench_total *t0 = &bo->total[0][p];
        for (int b = 0; b < env->nlisted && st == CNN_OK; b++) {
            const bench_total *t = &bo->total[b][p];
            bool have = !*t->gap;
            char ratio[64], note[512], names[256];
            double gflops = have ? t->flops / (t->ms * 1e6) : NAN;
            snprintf(ratio, sizeof ratio, "%.3f", have && !*t0->gap ? t0->ms / t->ms : NAN);
            charged_str(t, env, false, note, sizeof note);
            if (have)
                fprintf(bo->out, "  %-9s %-14s %10.2f ms  ratio %s%s%s%s\n",
                        cnn_pass_str((cnn_pass)p), env->be[b]->name, t->ms, *t0->gap ? "-" : ratio,
                        *note ? "  (" : "", note, *note ? ")" : "");
            else
                fprintf(bo->out, "  %-9s %-14s %10s     ratio -  (%s)\n", cnn_pass_str((cnn_pass)p),
                        env->be[b]->name, "n/a", t->gap);
            bench_row row = bench_row_empty();
            row.triad_gbs = run->triad_gbs;
            row.model = run->model;
            row.layer = "TOTAL";
            row.layers = t->layers;
            row.op_name = run->ops ? run->ops : "all";
            row.pass = cnn_pass_str((cnn_pass)p);
            row.backend = env->be[b]->name;
            row.status = have ? ST_OK : t->gap_status;
            row.algorithm = have ? "" : t->gap;
            row.batch = run->batch;
            row.image_size = image_size(run);
            row.threads = run->threads;
            row.repetitions = run->repetitions;
            row.cold = run->cold;
            row.median_ms = have ? t->ms : NAN;
            row.gflops = gflops;
            row.pct_peak = pct_peak(run, gflops);
            row.intensity = t->min_bytes > 0 ? t->flops / t->min_bytes : NAN;
            row.min_bytes = t->min_bytes;
            row.ratio = have && !*t0->gap ? t0->ms / t->ms : NAN;
            row.charged_layers = have ? charged_count(t) : 0;
            row.charged_at = have ? charged_str(t, env, true, names, sizeof names) : "";
            st = bench_row_write(bo->csv, &row);
        }
    }
    return st;
}

void bench_settings(const bench_run *run, report_json *j)
{
    char list[512] = "", passes[128] = "";
    for (int b = 0; b < run->nbackends; b++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", b ? "," : "",
                 run->backends[b]->name);
    for (int p = 0; p < CNN_PASS_COUNT; p++)
        if (run->passes[p])
            list_add(passes, sizeof passes, cnn_pass_str((cnn_pass)p));
    const cnn_model_desc *d = cnn_model_find(run->model);
    report_json_str(j, "model", run->model);
    report_json_raw(j, "batch", "%d", run->batch);
    report_json_raw(j, "image_size", "%d", run->image_size ? run->image_size : d ? d->h : 0);
    report_json_str(j, "ops", run->ops ? run->ops : "all");
    report_json_str(j, "passes", passes);
    report_json_str(j, "backends", list);
    report_json_raw(j, "repetitions", "%d", run->repetitions);
    report_json_raw(j, "min_time_s", "%g", run->min_time);
    char cache[96];
    snprintf(cache, sizeof cache,
             "cold (%.0f MiB written between calls: twice the LLC; on a GPU twice its L2)",
             (double)evict_floats() * sizeof(float) / 1048576.0);
    report_json_str(j, "cache", run->cold ? cache : "warm");
    char timer[256];
    snprintf(timer, sizeof timer,
             "the backend timer per call (CUDA events on a GPU, wall clock after a sync on the "
             "host) as Google Benchmark %s manual time; median, min, max and every repetition in "
             "results.csv",
             cnn_gbench_version());
    report_json_str(j, "timer", timer);
    report_json_str(j, "peer", run->peer_note ? run->peer_note : "none");
}

/* A context for every listed backend that is usable here, and for every
 * unlisted one that would stand in for one of them (fallback_slot). */
static cnn_status open_env(const bench_run *run, bench_env *env, bench_out *bo)
{
    cnn_ctx_opts co = {.threads = run->threads};
    env->nlisted = env->nslots = run->nbackends;
    for (int b = 0; b < run->nbackends; b++)
        env->be[b] = run->backends[b];
    for (int b = 0; b < run->nbackends; b++) {
        const cnn_backend *order[CNN_BACKEND_ORDER_MAX];
        int n = cnn_backend_order(&env->be[b], 1, NULL, order, CNN_BACKEND_ORDER_MAX);
        for (int i = 1; i < n && env->nslots < BENCH_SLOTS; i++)
            if (slot_of(env, order[i]) < 0)
                env->be[env->nslots++] = order[i];
    }
    cnn_status st = cnn_ctx_create(cnn_backend_find("naive"), &co, &env->naive);
    for (int b = 0; b < env->nslots && st == CNN_OK; b++) {
        char why[256];
        if (cnn_backend_available(env->be[b], why, sizeof why)) {
            st = cnn_ctx_create(env->be[b], &co, &env->ctx[b]);
            if (st == CNN_OK && run->cold && env->be[b]->device != CNN_DEVICE_HOST)
                st = cnn_mem_alloc(env->ctx[b], dev_evict_bytes(env->ctx[b]), &env->dev_evict[b]);
            continue;
        }
        if (b >= env->nlisted)
            continue;
        fprintf(bo->out, "%s: not usable here (%s); its rows say so\n", env->be[b]->name, why);
        for (int p = 0; p < CNN_PASS_COUNT; p++) {
            snprintf(bo->total[b][p].gap, sizeof bo->total[b][p].gap, "not usable here: %s", why);
            bo->total[b][p].gap_status = ST_NOT_USABLE;
        }
    }
    return st;
}

cnn_status bench_execute(const bench_run *run, FILE *out)
{
    bench_env env = {0};
    bench_out bo = {.out = out};
    cnn_status st = open_env(run, &env, &bo);
    float *evict = run->cold ? calloc(evict_floats(), sizeof *evict) : NULL;
    if (st == CNN_OK && run->cold && !evict)
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory for the cache eviction buffer");
    char csv_path[4200];
    snprintf(csv_path, sizeof csv_path, "%s/results.csv", run->dir);
    if (st == CNN_OK)
        st = report_csv_stream(csv_path, BENCH_ROW_HEADER, &bo.csv);
    if (st == CNN_OK) {
        fprintf(out, "%s, batch %d, %d threads, %d repetitions of >= %g s, %s caches\n", run->model,
                run->batch, run->threads, run->repetitions, run->min_time,
                run->cold ? "cold" : "warm");
        fprintf(out, "ratio = %s's time / this backend's (> 1: faster than %s)\n", env.be[0]->name,
                env.be[0]->name);
        fprintf(out, "%-26s %-10s %-14s %10s %8s %6s %7s %6s %7s %8s %s\n", "layer (x count)",
                "pass", "backend", "median_ms", "GFLOP/s", "%peak", "GB/s", "%triad", "ratio",
                "reorder", "algorithm");
    }
    bo.base_ms = malloc(((size_t)run->ngroups + 1) * CNN_PASS_COUNT * sizeof *bo.base_ms);
    if (st == CNN_OK && !bo.base_ms)
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
    for (int i = 0; bo.base_ms && i < run->ngroups * CNN_PASS_COUNT; i++)
        bo.base_ms[i] = NAN;
    for (int i = 0; i < run->ngroups && st == CNN_OK && !run_dir_stopping(); i++)
        st = bench_layer(run, &env, &run->groups[i], evict, &bo);
    /* no totals over the layers an interrupted run got to */
    if (st == CNN_OK && !run_dir_stopping())
        st = write_totals(run, &env, &bo);
    if (st == CNN_OK && run->peer && !run_dir_stopping())
        st = bench_peer_layers(run, bo.base_ms, image_size(run), bo.csv, out);
    free(bo.base_ms);
    cnn_status cst = report_csv_close(bo.csv, st == CNN_OK);
    if (st == CNN_OK)
        st = cst;
    for (int b = 0; b < env.nslots; b++) {
        if (env.dev_evict[b])
            cnn_mem_free(env.ctx[b], env.dev_evict[b]);
        cnn_ctx_destroy(env.ctx[b]);
    }
    cnn_ctx_destroy(env.naive);
    free(evict);
    return st;
}
