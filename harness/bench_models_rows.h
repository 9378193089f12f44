/* What bench_models.c and bench_rounds.c share (internal to the harness):
 * one row's results and the steps, binds and bookkeeping both use. */
#ifndef CNN_BENCH_MODELS_ROWS_H
#define CNN_BENCH_MODELS_ROWS_H

#include <stdbool.h>
#include <stdio.h>

#include "auto_plan.h"
#include "bench.h"
#include "bench_row.h"
#include "model.h"
#include "peer.h"

extern const char *const BENCH_MODE_NAME[CNN_MODE_COUNT]; /* "infer", "train_step" */

/* One row (a backend, auto or plan, or the peer) of one model. */
typedef struct model_result {
    double med[CNN_MODE_COUNT], lo[CNN_MODE_COUNT], hi[CNN_MODE_COUNT];
    double flops[CNN_MODE_COUNT], bytes[CNN_MODE_COUNT];
    int batch, image_size;
    cnn_model_mem mem[CNN_MODE_COUNT]; /* each mode's bind: infer's is forward-only */
    bool have_mem[CNN_MODE_COUNT];
    double peak_rss[CNN_MODE_COUNT];   /* bytes, -1: unknown */
    double optim_ms;                   /* one Adam step after train_step's backward; NaN: none */
    double device_mem[CNN_MODE_COUNT]; /* bytes in use on the GPU at most, -1: host */
    double reps[CNN_MODE_COUNT][BENCH_ROW_MAX_REPS]; /* seconds, in the order run */
    int nreps;
    char top[CNN_MODE_COUNT][512]; /* the breakdown's costliest layers */
    char fallbacks[256];           /* backends other than the one asked for that ran */
    char algorithm[700];           /* the auto and plan rows: the plan's summary and check */
    int fallback_layers;
    char error[CNN_MODE_COUNT][512]; /* why a mode has no times, or "" */
    const char *status[CNN_MODE_COUNT];
} model_result;


/* The model options of the run at batch `batch`. */
cnn_model_opts bench_model_opts(const bench_models_run *run, int batch);

/* One step of `mode`, ending with a sync; the same timed by the backend's
 * timer on the model's first context (CUDA events on a GPU; the wall clock
 * after a sync on the host). */
cnn_status bench_step(cnn_model *m, cnn_mode mode);
cnn_status bench_timed_step(cnn_model *m, cnn_mode mode, double *seconds);

/* FLOPs of one step: every layer's forward, and in train mode every
 * backward pass it has (cnn_op_flops); *bytes: the least memory traffic of
 * the same passes (cnn_op_min_bytes). */
double bench_step_flops(const cnn_model *m, cnn_mode mode, double *bytes);

/* A model bound for one mode on backend be, or (be NULL) on plan, its
 * parameters initialised and its input fed (*out NULL after an error). */
cnn_status bench_bind_row(const bench_models_run *run, const char *name, const cnn_backend *be,
                          const auto_plan *plan, int batch, cnn_mode mode, cnn_model **out);

/* Errors into a row: both modes (a backend not usable, a model that cannot
 * bind), or one mode with cnn_last_error(). */
void bench_fail_both(model_result *r, const char *status, const char *why);
void bench_fail_mode(model_result *r, int mode);

/* The median, least and greatest of the k repetitions in s (seconds, in
 * the order run; sorted here) into r's mode, as ms. */
void bench_set_times(model_result *r, int mode, double *s, int k);

/* The backend column of row b: a listed backend, then auto or plan. */
const char *bench_row_backend(const bench_models_run *run, int b);

/* The peer (--peer pytorch) on one model, paced: started (NULL, its reason
 * in both of r's modes, when it cannot run), and its CSV's rows into r. */
peer_paced *bench_start_peer(const bench_models_run *run, const char *name, model_result *r);
void bench_peer_results(const peer_rows *rows, model_result *r);

/* Every row's timed repetitions of one mode (res: nrows rows, then the
 * peer's; plans: the auto or plan row's), in rounds with the peer's steps;
 * a peer that fails is stopped and *peer set to NULL. */
cnn_status bench_time_rounds(const bench_models_run *run, const char *name, cnn_mode mode,
                             const auto_plan *plans, model_result *res, int nrows,
                             peer_paced **peer, FILE *out);

/* Auto's searched plan checked in the model (bench_auto_check.c): its
 * train step in rounds against each candidate alone whose layer times come
 * close; a faster candidate replaces the plan (its rows where it runs the
 * pass). note gets the medians, "" when nothing was close enough to check;
 * the same line goes to out. */
cnn_status bench_auto_check(const bench_models_run *run, const char *name, auto_plan *plan,
                            char *note, size_t nnote, FILE *out);

#endif
