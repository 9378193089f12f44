/* bench --peer pytorch, per layer: the PyTorch peer times every selected
 * layer shape and pass in one process, after cnnbench's own backends; its
 * rows go to results.csv as backend pytorch, with a TOTAL row per pass. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "peer.h"
#include "run_dir.h"

/* The cases: every group's selected passes, in group order. */
static int collect(const bench_run *run, peer_layer_case *cases, int *group, int *pass)
{
    int n = 0;
    for (int i = 0; i < run->ngroups; i++)
        for (int p = 0; p < CNN_PASS_COUNT; p++)
            if (run->passes[p] && cnn_op_has_pass(&run->groups[i].op, (cnn_pass)p)) {
                if (cases) {
                    cases[n] = (peer_layer_case){.op = run->groups[i].op, .pass = (cnn_pass)p};
                    group[n] = i;
                    pass[n] = p;
                }
                n++;
            }
    return n;
}

static bench_row peer_row_base(const bench_run *run, int image_size)
{
    bench_row row = bench_row_empty();
    row.triad_gbs = run->triad_gbs;
    row.model = run->model;
    row.backend = "pytorch";
    row.batch = run->batch;
    row.image_size = image_size;
    row.threads = run->threads;
    row.repetitions = run->repetitions;
    row.cold = false; /* the peer has no cache eviction */
    return row;
}

cnn_status bench_peer_layers(const bench_run *run, const double *base_ms, int image_size,
                             report_csv *csv, FILE *out)
{
    int n = collect(run, NULL, NULL, NULL);
    peer_layer_case *cases = calloc((size_t)n + 1, sizeof *cases);
    int *group = calloc((size_t)n + 1, sizeof *group), *pass = calloc((size_t)n + 1, sizeof *pass);
    if (!cases || !group || !pass) {
        free(cases);
        free(group);
        free(pass);
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
    }
    collect(run, cases, group, pass);
    peer_opts po = {.dir = run->dir,
                    .threads = run->threads,
                    .repetitions = run->repetitions,
                    .min_time = run->min_time};
    peer_rows rows;
    fprintf(out, "\npytorch (the peer, in its own process%s):\n",
            run->cold ? "; warm caches: it has no --cold" : "");
    cnn_status st = peer_run_layers(cases, n, &po, &rows);
    if (st != CNN_OK) {
        /* the peer's failure is reported, not the run's */
        fprintf(out, "  not run: %s\n", cnn_last_error());
        free(cases);
        free(group);
        free(pass);
        return run_dir_stopping() ? st : CNN_OK;
    }
    double total_ms[CNN_PASS_COUNT] = {0}, total_flops[CNN_PASS_COUNT] = {0};
    double total_bytes[CNN_PASS_COUNT] = {0};
    int total_layers[CNN_PASS_COUNT] = {0};
    for (int i = 0; i < rows.count && st == CNN_OK; i++) {
        const peer_row *pr = &rows.rows[i];
        const bench_group *g = &run->groups[group[i]];
        cnn_pass p = (cnn_pass)pass[i];
        double flops = cnn_op_flops(&g->op, p), bytes = cnn_op_min_bytes(&g->op, p);
        double reps[BENCH_ROW_MAX_REPS];
        int nreps = pr->repetitions < BENCH_ROW_MAX_REPS ? pr->repetitions : BENCH_ROW_MAX_REPS;
        for (int k = 0; k < nreps; k++)
            reps[k] = pr->reps_ms[k] * 1e-3;
        bench_row row = peer_row_base(run, image_size);
        row.layer = g->first;
        row.layers = g->count;
        row.op = &g->op;
        row.pass = cnn_pass_str(p);
        row.status = ST_OK;
        row.algorithm = "torch";
        row.median_ms = pr->median_ms;
        row.min_ms = pr->min_ms;
        row.max_ms = pr->max_ms;
        row.reps_s = reps;
        row.nreps = nreps;
        row.gflops = flops / (pr->median_ms * 1e6);
        row.pct_peak = bench_pct_peak(run->fma_peak_gflops, row.gflops);
        row.intensity = flops / bytes;
        row.ratio = base_ms[group[i] * CNN_PASS_COUNT + p] / pr->median_ms;
        st = bench_row_write(csv, &row);
        total_ms[p] += pr->median_ms * g->count;
        total_flops[p] += flops * g->count;
        total_bytes[p] += bytes * g->count;
        total_layers[p] += g->count;
        char layer[128];
        snprintf(layer, sizeof layer, "%s x%d", g->first, g->count);
        fprintf(out, "%-26s %-10s %-14s %10.4f %8.2f %6.1f %7.3f\n", layer, cnn_pass_str(p),
                "pytorch", pr->median_ms, row.gflops, row.pct_peak, row.ratio);
    }
    for (int p = 0; p < CNN_PASS_COUNT && st == CNN_OK; p++) {
        if (!total_layers[p])
            continue;
        double base = 0;
        for (int i = 0; i < n; i++)
            if (pass[i] == p)
                base += base_ms[group[i] * CNN_PASS_COUNT + p] * run->groups[group[i]].count;
        bench_row row = peer_row_base(run, image_size);
        row.layer = "TOTAL";
        row.layers = total_layers[p];
        row.op_name = run->ops ? run->ops : "all";
        row.pass = cnn_pass_str(p);
        row.status = ST_OK;
        row.median_ms = total_ms[p];
        row.gflops = total_flops[p] / (total_ms[p] * 1e6);
        row.pct_peak = bench_pct_peak(run->fma_peak_gflops, row.gflops);
        row.intensity = total_bytes[p] > 0 ? total_flops[p] / total_bytes[p] : NAN;
        row.ratio = base / total_ms[p]; /* NaN when the baseline has a gap */
        st = bench_row_write(csv, &row);
        fprintf(out, "  %-9s %-14s %10.2f ms  ratio %.3f (total)\n", cnn_pass_str(p), "pytorch",
                total_ms[p], row.ratio);
    }
    fprintf(out, "  (torch %s, %s, %d threads)\n", rows.torch_version, rows.cpu_capability,
            rows.torch_threads);
    peer_rows_free(&rows);
    free(cases);
    free(group);
    free(pass);
    return st;
}
