/* The state of one verify run: the backends under test with their contexts,
 * the reference context, the CSV, and the tallies behind the summary. Shared
 * by the op sweep and the whole-model check. */
#ifndef CNN_VERIFY_RUN_H
#define CNN_VERIFY_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "backend.h"
#include "report.h"

#define VERIFY_MAX_BACKENDS 16

typedef struct verify_tally {
    int pass, fail, skip;
    double worst_ratio; /* max over rows of error / tolerance */
    char worst[320];    /* the row it came from */
} verify_tally;

/* Errors of one (backend, algorithm, op, pass), for the accuracy summary. */
typedef struct verify_group {
    char key[160];
    double *errs;
    int n, cap;
} verify_group;

typedef struct verify_run {
    uint64_t seed;
    int threads;
    const char *ops; /* filter by op name, NULL = all */
    const cnn_backend *backends[VERIFY_MAX_BACKENDS];
    int nbackends;
    cnn_ctx *ctx[VERIFY_MAX_BACKENDS]; /* NULL where the backend is unusable */
    char why[VERIFY_MAX_BACKENDS][256];
    cnn_ctx *naive;
    report_csv *csv;
    verify_tally tally[VERIFY_MAX_BACKENDS];
    verify_group *groups;
    int ngroups;
    int failed;
} verify_run;

/* Create the contexts and start the CSV. */
cnn_status verify_run_open(verify_run *run, const char *csv_path);
/* Sweep every op of the shape set over every backend and pass. */
cnn_status verify_run_ops(verify_run *run, const char *shapes);
/* Record one row: printed, written to the CSV, tallied. status is "PASS",
 * "FAIL" or "SKIPPED"; tol < 0 for a SKIPPED row. */
cnn_status verify_run_row(verify_run *run, int backend, const char *algorithm, const char *op,
                          const char *pass, const char *tensor, const char *shape, double rel,
                          double max_abs, double tol, const char *status);
void verify_run_summary(const verify_run *run, FILE *out);
/* Commit (or discard) the CSV and free everything. */
cnn_status verify_run_close(verify_run *run, bool commit);

/* Relative L2 and max abs error of a against the reference, in double; NaN
 * when a holds a NaN or Inf where ref is finite. */
void verify_compare(const float *a, const float *ref, int64_t n, double *rel, double *max_abs);

#endif
