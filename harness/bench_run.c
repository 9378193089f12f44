#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "gbench.h"
#include "machine.h"
#include "model.h"
#include "report.h"
#include "verify.h"

#define CSV_HEADER                                                                                 \
    "model,layer,layers,op,shape,pass,backend,algorithm,batch,threads,repetitions,cache,"          \
    "median_ms,min_ms,max_ms,gflops,ratio,reorder_ms"

/* Bigger than any last-level cache here: writing it evicts the operands. */
#define EVICT_FLOATS (64u << 20 >> 2)

/* One distinct layer shape and the layers that have it. */
typedef struct layer_group {
    cnn_op op;
    char first[96];
    int count;
} layer_group;

static cnn_status collect_layers(const bench_run *run, layer_group **out, int *n)
{
    cnn_model *m = NULL;
    cnn_model_opts mo = {.batch = run->batch};
    cnn_status st = cnn_model_create(run->model, &mo, &m);
    if (st != CNN_OK)
        return st;
    layer_group *g = calloc((size_t)cnn_model_layer_count(m) + 1, sizeof *g);
    int ng = 0;
    if (!g)
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
    for (int l = 0; st == CNN_OK && l < cnn_model_layer_count(m); l++) {
        cnn_layer_info info;
        st = cnn_model_layer(m, l, &info);
        if (st != CNN_OK || !cli_in_list(run->ops, cnn_op_name(info.op)))
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
    if (st != CNN_OK) {
        free(g);
        return st;
    }
    *out = g;
    *n = ng;
    return CNN_OK;
}

typedef struct bench_case {
    cnn_ctx *ctx;
    const cnn_op *op;
    cnn_pass pass;
    void **dev;
    void *ws;
    size_t ws_size;
    float *evict;
} bench_case;

static int iterate(void *arg)
{
    bench_case *c = arg;
    cnn_status st = vcase_call(c->ctx, c->op, c->pass, c->dev, c->ws, c->ws_size);
    if (st == CNN_OK)
        st = cnn_sync(c->ctx);
    return st != CNN_OK;
}

static void evict_caches(void *arg)
{
    bench_case *c = arg;
    for (size_t i = 0; i < EVICT_FLOATS; i++)
        c->evict[i] += 1.0f;
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
        if (iterate(c))
            return NAN;
        cnn_side_time(c->ctx, &what, &s);
        total += s;
    }
    return total / 3.0 * 1e3;
}

typedef struct bench_out {
    FILE *out;
    report_csv *csv;
    double total_ms[BENCH_MAX_BACKENDS][CNN_PASS_COUNT];
    int missing[BENCH_MAX_BACKENDS][CNN_PASS_COUNT];
} bench_out;

/* Time every backend and pass on one layer shape. */
static cnn_status bench_layer(const bench_run *run, cnn_ctx *const *ctx, const layer_group *g,
                              float *evict, bench_out *bo)
{
    vcase vc;
    cnn_status st = vcase_init(&vc, &g->op, 1);
    if (st != CNN_OK)
        return st;
    void *dev[BENCH_MAX_BACKENDS][VT_COUNT];
    void *ws[BENCH_MAX_BACKENDS] = {0};
    bench_case cases[BENCH_MAX_BACKENDS][CNN_PASS_COUNT];
    int idx[BENCH_MAX_BACKENDS][CNN_PASS_COUNT];
    memset(dev, 0, sizeof dev);
    cnn_gbench *gb = cnn_gbench_create(run->repetitions, run->min_time);
    if (!gb)
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
    for (int b = 0; b < run->nbackends && st == CNN_OK; b++) {
        size_t wss = 0;
        for (int p = 0; p < CNN_PASS_COUNT; p++) {
            idx[b][p] = -1;
            if (ctx[b] && run->passes[p] && cnn_supports(ctx[b], &g->op, (cnn_pass)p)) {
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
            cases[b][p] = (bench_case){ctx[b], &g->op, (cnn_pass)p, dev[b], ws[b], wss, evict};
            char name[256];
            snprintf(name, sizeof name, "%s/%s/%s/%s", run->model, g->first, run->backends[b]->name,
                     cnn_pass_str((cnn_pass)p));
            idx[b][p] =
                cnn_gbench_add(gb, name, iterate, run->cold ? evict_caches : NULL, &cases[b][p]);
            if (idx[b][p] < 0)
                st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
        }
    }
    if (st == CNN_OK && cnn_gbench_run(gb) != 0)
        st = cnn_fail(CNN_ERR_BACKEND, "bench: Google Benchmark failed");

    for (int p = 0; p < CNN_PASS_COUNT && st == CNN_OK; p++) {
        if (!run->passes[p] || !cnn_op_has_pass(&g->op, (cnn_pass)p))
            continue;
        double flops = cnn_op_flops(&g->op, (cnn_pass)p);
        double base = NAN;
        for (int b = 0; b < run->nbackends && st == CNN_OK; b++) {
            const cnn_gbench_result *r =
                idx[b][p] >= 0 ? cnn_gbench_result_at(gb, idx[b][p]) : NULL;
            bool ok = r && !r->error && r->repetitions > 0;
            double med = ok ? r->median_s * 1e3 : NAN;
            if (b == 0)
                base = med;
            if (!ok)
                bo->missing[b][p]++;
            else
                bo->total_ms[b][p] += med * g->count;
            const char *algo = ok  ? cnn_algorithm(ctx[b], &g->op, (cnn_pass)p)
                               : r ? r->error_msg
                                   : "unsupported";
            double reo = ok ? reorder_ms(&cases[b][p]) : NAN;
            char f[12][64];
            snprintf(f[0], 64, "%d", g->count);
            snprintf(f[1], 64, "%d", run->batch);
            snprintf(f[2], 64, "%d", run->threads);
            snprintf(f[3], 64, "%d", run->repetitions);
            snprintf(f[4], 64, "%.4f", med);
            snprintf(f[5], 64, "%.4f", ok ? r->min_s * 1e3 : NAN);
            snprintf(f[6], 64, "%.4f", ok ? r->max_s * 1e3 : NAN);
            snprintf(f[7], 64, "%.2f", ok ? flops / (r->median_s * 1e9) : NAN);
            snprintf(f[8], 64, "%.3f", base / med);
            snprintf(f[9], 64, "%.4f", reo);
            char shape[256];
            cnn_op_str(&g->op, shape, sizeof shape);
            const char *fields[] = {run->model,
                                    g->first,
                                    f[0],
                                    cnn_op_name(&g->op),
                                    shape,
                                    cnn_pass_str((cnn_pass)p),
                                    run->backends[b]->name,
                                    algo,
                                    f[1],
                                    f[2],
                                    f[3],
                                    run->cold ? "cold" : "warm",
                                    f[4],
                                    f[5],
                                    f[6],
                                    f[7],
                                    f[8],
                                    f[9]};
            st = report_csv_row(bo->csv, 18, fields);
            char layer[128];
            snprintf(layer, sizeof layer, "%s x%d", g->first, g->count);
            fprintf(bo->out, "%-26s %-10s %-14s %10s %8s %7s %8s %s %s\n", layer,
                    cnn_pass_str((cnn_pass)p), run->backends[b]->name, f[4], ok ? f[7] : "-",
                    ok ? f[8] : "-", isnan(reo) ? "" : f[9], ok ? "" : "(not run)", algo);
        }
    }
    for (int b = 0; b < run->nbackends; b++) {
        if (ctx[b]) {
            vcase_device_free(ctx[b], dev[b]);
            cnn_mem_free(ctx[b], ws[b]);
        }
    }
    cnn_gbench_destroy(gb);
    vcase_free(&vc);
    return st;
}

static cnn_status write_meta(const bench_run *run)
{
    machine_info m;
    machine_read(&m);
    char path[4200], extra[2048], list[512] = "";
    for (int b = 0; b < run->nbackends; b++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", b ? ", " : "",
                 run->backends[b]->name);
    snprintf(extra, sizeof extra,
             "\"model\": \"%s\",\n  \"batch\": %d,\n  \"threads\": %d,\n  \"repetitions\": %d,\n"
             "  \"min_time_s\": %g,\n  \"cache\": \"%s\",\n  \"timer\": \"wall clock per call, "
             "median of repetitions (Google Benchmark %s)\",\n  \"backends\": [%s]",
             run->model, run->batch, run->threads, run->repetitions, run->min_time,
             run->cold ? "cold (64 MiB written between calls)" : "warm", cnn_gbench_version(),
             list);
    snprintf(path, sizeof path, "%s/meta.json", run->dir);
    return machine_write_json(path, &m, "cnnbench bench", extra);
}

cnn_status bench_execute(const bench_run *run, FILE *out)
{
    layer_group *groups = NULL;
    int ng = 0;
    cnn_status st = collect_layers(run, &groups, &ng);
    if (st != CNN_OK)
        return st;
    if (ng == 0) {
        free(groups);
        return cnn_fail(CNN_ERR_INVALID_ARG, "bench: %s has no layer of the ops '%s'", run->model,
                        run->ops);
    }
    cnn_ctx *ctx[BENCH_MAX_BACKENDS] = {0};
    cnn_ctx_opts co = {.threads = run->threads};
    for (int b = 0; b < run->nbackends && st == CNN_OK; b++) {
        char why[256];
        if (!cnn_backend_available(run->backends[b], why, sizeof why))
            fprintf(out, "%s: not usable here (%s); its rows say so\n", run->backends[b]->name,
                    why);
        else
            st = cnn_ctx_create(run->backends[b], &co, &ctx[b]);
    }
    float *evict = run->cold ? calloc(EVICT_FLOATS, sizeof *evict) : NULL;
    if (st == CNN_OK && run->cold && !evict)
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory for the cache eviction buffer");
    bench_out bo = {.out = out};
    char csv_path[4200];
    snprintf(csv_path, sizeof csv_path, "%s/bench.csv", run->dir);
    if (st == CNN_OK)
        st = report_mkdirs(run->dir);
    if (st == CNN_OK)
        st = report_csv_open(csv_path, CSV_HEADER, &bo.csv);
    if (st == CNN_OK) {
        fprintf(out, "%s, batch %d, %d threads, %d repetitions of >= %g s, %s caches\n", run->model,
                run->batch, run->threads, run->repetitions, run->min_time,
                run->cold ? "cold" : "warm");
        fprintf(out, "%-26s %-10s %-14s %10s %8s %7s %8s %s\n", "layer (x count)", "pass",
                "backend", "median_ms", "GFLOP/s", "ratio", "reorder", "algorithm");
    }
    for (int i = 0; i < ng && st == CNN_OK; i++)
        st = bench_layer(run, ctx, &groups[i], evict, &bo);
    if (st == CNN_OK) {
        fprintf(out, "\ntotal over the model's layers (each distinct shape times its count):\n");
        for (int p = 0; p < CNN_PASS_COUNT; p++) {
            if (!run->passes[p])
                continue;
            for (int b = 0; b < run->nbackends; b++)
                fprintf(out, "  %-9s %-14s %10.2f ms  ratio %.3f%s\n", cnn_pass_str((cnn_pass)p),
                        run->backends[b]->name, bo.total_ms[b][p],
                        bo.total_ms[0][p] / bo.total_ms[b][p],
                        bo.missing[b][p] ? "  (incomplete: some layers not run)" : "");
        }
    }
    cnn_status cst = report_csv_close(bo.csv, st == CNN_OK);
    if (st == CNN_OK)
        st = cst;
    if (st == CNN_OK)
        st = write_meta(run);
    for (int b = 0; b < run->nbackends; b++)
        cnn_ctx_destroy(ctx[b]);
    free(evict);
    free(groups);
    return st;
}
