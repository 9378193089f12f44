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
#include "verify.h"

#define VERIFY_MAX_BACKENDS 16

/* The verdict on one output tensor:
 *  PASS        within its tolerance;
 *  FAIL        beyond it, NaN or Inf where the reference is finite, or the
 *              backend's call failed;
 *  MISTRUSTED  within its tolerance, but mostly exact zeros where the
 *              reference is not zero (verify_judge): a result that agrees
 *              only because the values it lost were small proves nothing,
 *              and counts as a failure;
 *  SKIPPED     the backend does not implement the pass. */
typedef enum verify_status {
    VERIFY_PASS,
    VERIFY_FAIL,
    VERIFY_MISTRUSTED,
    VERIFY_SKIPPED
} verify_status;

const char *verify_status_str(verify_status s); /* "PASS", "FAIL", ... */

/* benchdnn's zero-trust rule, as a fraction: more exact zeros than this
 * where the reference is not zero make a passing result MISTRUSTED. Only
 * elements where the reference is non-zero count, so ops whose true
 * outputs are mostly zero (ReLU and max-pool backward, dropout) are judged
 * against the reference's own zeros. Outputs of fewer than
 * VERIFY_ZERO_TRUST_MIN elements are not judged this way. */
#define VERIFY_ZERO_TRUST 0.3
#define VERIFY_ZERO_TRUST_MIN 10

typedef struct verify_tally {
    int pass, fail, mistrusted, skip;
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
    bool no_fuse;    /* --models --no-fuse: only the unfused runs (cnn_exec_opts.no_fuse) */
    const char *ops; /* filter by op name, NULL = all */
    bool skip_pass[CNN_PASS_COUNT]; /* --passes left these out */
    bool header_done;               /* the table's header line is printed */
    const cnn_backend *backends[VERIFY_MAX_BACKENDS];
    int nbackends;
    cnn_ctx *ctx[VERIFY_MAX_BACKENDS]; /* NULL where the backend is unusable */
    char why[VERIFY_MAX_BACKENDS][256];
    cnn_ctx *naive;
    report_csv *csv;
    verify_tally tally[VERIFY_MAX_BACKENDS];
    verify_group *groups;
    int ngroups;
    int failed; /* rows that FAILed or were MISTRUSTED, all backends */
    bool quiet; /* print only FAIL and MISTRUSTED rows (tests) */
} verify_run;

/* Create the contexts and start the CSV at csv_path (none when NULL), a
 * streamed one (report.h): each row is in the file once it is produced. */
cnn_status verify_run_open(verify_run *run, const char *csv_path);
/* Sweep every op of the shape set over every backend and pass. */
cnn_status verify_run_ops(verify_run *run, const char *shapes);
/* The same over a list of initialised ops, from model layers layers[i]
 * (NULL: none); case i is seeded with seed + i. Stops early, with CNN_OK,
 * when the run is asked to stop (run_dir_stopping). */
cnn_status verify_run_op_list(verify_run *run, const cnn_op *ops, const verify_layer *layers,
                              int n);
/* One case whose inputs are in place (vcase_init, then changed at will):
 * the reference, then every pass on every usable backend, a row per
 * output tensor. */
cnn_status verify_run_case(verify_run *run, vcase *c);
/* One row of the table and of verify.csv (columns: results/README.md). */
typedef struct verify_row {
    const char *algorithm, *op, *pass, *tensor;
    const char *layer; /* the model layer the shape came from; NULL or "" for none */
    const char *shape;
    const cnn_op *desc;       /* its dimensions go to the CSV; NULL: none (whole models) */
    double rel, max_abs, tol; /* tol < 0 for a SKIPPED row */
    verify_status status;
} verify_row;
/* Record one row: printed, written to the CSV, tallied. */
cnn_status verify_run_row(verify_run *run, int backend, const verify_row *row);
void verify_run_summary(const verify_run *run, FILE *out);
/* Close the CSV (its rows stay, whatever `ok`) and free everything. */
cnn_status verify_run_close(verify_run *run, bool ok);

/* Relative L2 and max abs error of a against the reference, in double; NaN
 * when a holds a NaN or Inf where ref is finite, or differs from ref where
 * ref is not finite (a NaN input must give NaN). Elements where both are
 * the same non-finite value add nothing. */
void verify_compare(const float *a, const float *ref, int64_t n, double *rel, double *max_abs);
/* verify_compare, then the verdict against tol: FAIL, MISTRUSTED or PASS. */
verify_status verify_judge(const float *a, const float *ref, int64_t n, double tol, double *rel,
                           double *max_abs);

#endif
