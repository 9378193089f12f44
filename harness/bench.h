/* The timing run behind cnnbench bench. */
#ifndef CNN_BENCH_H
#define CNN_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "backend.h"
#include "report.h"

#define BENCH_MAX_BACKENDS 16

/* One distinct layer shape of the model and how many layers have it. */
typedef struct bench_group {
    cnn_op op;
    char first[96]; /* the first layer with it */
    int count;
} bench_group;

typedef struct bench_run {
    const char *model;
    int batch;
    int image_size;  /* N x N input; 0 = the model's usual one */
    const char *ops; /* op names, comma-separated; NULL = every op */
    bool passes[CNN_PASS_COUNT];
    const cnn_backend *backends[BENCH_MAX_BACKENDS];
    int nbackends;
    int repetitions;
    double min_time;
    bool cold;
    int threads;
    double fma_peak_gflops; /* the machine's (ceilings.h), for pct_peak; 0: unknown */
    char dir[4096];         /* the run folder (run_dir.h): bench.csv goes there */
    /* set by bench_select */
    bench_group *groups;
    int ngroups;
} bench_run;

/* Read the model's distinct layers of the selected ops into run->groups.
 * CNN_ERR_INVALID_ARG, with a reason naming what the model has, when the
 * model cannot take the input size, or an op or a pass of the selection
 * matches no layer; nothing is timed or written then. */
cnn_status bench_select(bench_run *run);
void bench_release(bench_run *run);

/* The run's settings as members of meta.json: model, batch, image_size,
 * ops, passes, backends, repetitions, min_time_s, cache, timer. */
void bench_settings(const bench_run *run, report_json *j);

/* The inputs a layer of `op` is timed on (vcase_init, seed 1): when the run
 * times a backward pass, what its forward would have written (max
 * pooling's y, batch norm's saved statistics, an activation's y,
 * cross-entropy's probabilities) comes from a forward run on `naive`
 * (vcase_forward_inputs), so the pass is timed on real data whether or not
 * its forward is timed too. Free with vcase_free, also on failure. */
struct vcase;
cnn_status bench_inputs(const bench_run *run, const cnn_op *op, cnn_ctx *naive, struct vcase *c);

/* Time every selected group on every backend and pass, print the table and
 * the model totals to `out`, and write each layer's rows to run->dir's
 * bench.csv once they are timed. When the run is asked to stop
 * (run_dir_stopping) it stops after the layer at hand, without totals. */
cnn_status bench_execute(const bench_run *run, FILE *out);

#endif
