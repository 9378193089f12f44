/* The timing run behind cnnbench bench. */
#ifndef CNN_BENCH_H
#define CNN_BENCH_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "backend.h"
#include "bench_row.h"
#include "cli.h"
#include "report.h"

#define BENCH_MAX_BACKENDS 16

/* GFLOP/s as a percentage of an FMA peak (NaN if the peak is unknown, 0). */
static inline double bench_pct_peak(double fma_peak_gflops, double gflops)
{
    return fma_peak_gflops > 0 ? gflops / fma_peak_gflops * 100 : (double)NAN;
}

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
    double triad_gbs;       /* its memory bandwidth, for pct_triad; 0: unknown */
    bool peer;              /* --peer pytorch: the PyTorch peer times the layers too */
    const char *peer_note;  /* meta.json's "peer": what ran it, or why not; NULL: none asked */
    char dir[4096];         /* the run folder (run_dir.h): results.csv goes there */
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
 * results.csv once they are timed. When the run is asked to stop
 * (run_dir_stopping) it stops after the layer at hand, without totals. */
cnn_status bench_execute(const bench_run *run, FILE *out);

/* --peer pytorch on the layer bench: the peer times every selected group
 * and pass (bench_peer_layers.c); rows as backend pytorch, then a TOTAL row
 * per pass. base_ms[group * CNN_PASS_COUNT + pass] is the first listed
 * backend's median (NaN where it has none), for the ratio; the baseline's
 * TOTAL sums its own medians (no stand-ins). A peer that cannot run is a
 * line in the output, not a failure of the run. */
cnn_status bench_peer_layers(const bench_run *run, const double *base_ms, int image_size,
                             report_csv *csv, FILE *out);

/* ---- whole models (cnnbench bench --models) ---- */

#define BENCH_MAX_MODELS 16

typedef struct bench_models_run {
    const char *models[BENCH_MAX_MODELS]; /* names, each cnn_model_find-able */
    int nmodels;
    int batch;      /* 0: each model's default (bench_model_batch) */
    int image_size; /* N x N input; 0 = the model's usual one */
    const cnn_backend *backends[BENCH_MAX_BACKENDS];
    int nbackends;
    int repetitions;
    int threads; /* the count the rows at hand are timed at */
    /* --threads LIST: each model is timed on every backend at each count
     * in turn (cnn_set_process_threads before each), rows carrying their
     * count; nthreads 0: once, at `threads`. threads_list: LIST as given. */
    int thread_list[CLI_MAX_THREAD_COUNTS];
    int nthreads;
    const char *threads_list;
    bool no_fuse; /* --no-fuse: cnn_exec_opts.no_fuse */
    double fma_peak_gflops;
    double triad_gbs; /* for pct_triad; 0: unknown */
    bool peer; /* --peer pytorch: the PyTorch peer times each model too */
    const char *peer_note; /* meta.json's "peer": what ran it, or why not; NULL: none asked */
    char dir[4096]; /* the run folder: results.csv and breakdown.csv go there */
    /* One more row per model, timed on a plan (auto_plan.h): with_auto
     * ("auto" listed in --backends) searches it and writes plan.csv, backend
     * auto; plan_file (--plan FILE) reads it, backend plan. */
    bool with_auto;
    const char *plan_file;
} bench_models_run;

/* The batch a model is timed at on backend `be` when --batch is not given
 * (batch 0): fashion_cnn 128, lenet5 128, alexnet 16, vgg16 4, googlenet 8,
 * resnet18 8, and 1 for the four large ones on naive. */
int bench_model_batch(const char *model, const char *backend, int batch);

/* Can every model take the run's input? CNN_ERR_INVALID_ARG naming the
 * layer otherwise (nothing is written). */
cnn_status bench_models_check(const bench_models_run *run);
void bench_models_settings(const bench_models_run *run, report_json *j);

/* Time infer and train_step of every model on each backend alone, print a
 * table per model, write the rows to results.csv (layer MODEL) and one
 * instrumented step's per-layer times to breakdown.csv; then, with_auto or
 * plan_file, the model on its plan as one more row (auto: the searched
 * plans to plan.csv). Stops after the (model, backend) at hand when the run
 * is asked to (run_dir_stopping). */
cnn_status bench_models_execute(const bench_models_run *run, FILE *out);

/* ---- thread scaling (bench --models --threads LIST, bench_scaling.c) ---- */

/* The median step times of a run over several thread counts, collected
 * as they are measured, then the speed-up of each (model, backend, mode)
 * over the first count listed: written to DIR/scaling.csv and printed as a
 * table of train_step's. */
typedef struct bench_scaling bench_scaling;
cnn_status bench_scaling_open(const int *threads, int nthreads, bench_scaling **out);
/* One median, of count threads[t]; NaN or a failed mode: leave it out. */
cnn_status bench_scaling_add(bench_scaling *s, const char *model, const char *backend,
                             const char *mode, int t, double median_ms);
/* Write DIR/scaling.csv (all at once), print the table, and free s (NULL:
 * nothing). */
cnn_status bench_scaling_finish(bench_scaling *s, const char *dir, FILE *out);

#endif
