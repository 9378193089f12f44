/* cnnbench sweep: the main job. verify (ops on the quick shapes, models at
 * a small batch and input), then bench (layers and whole models on every
 * backend usable here, auto, and the PyTorch peer when present), then the
 * charts, all into one run folder.
 *
 * Each stage is a child process of cnnbench itself (its own verify or
 * bench command, output into the sweep's parts/ folder), so a stage that
 * fails or crashes is one failed line of the sweep, every thread count
 * runs in its own process, and the stages' CSVs are appended into the
 * sweep folder's results.csv, verify.csv, breakdown.csv and plan.csv (the
 * same headers), which `cnnbench plot` then draws. */
#ifndef CNN_SWEEP_H
#define CNN_SWEEP_H

#include <stdbool.h>
#include <stdio.h>

#include "status.h"

#define SWEEP_MAX_STAGES 48
#define SWEEP_MAX_ARGS 40

typedef struct sweep_stage {
    char label[160]; /* "bench whole models (threads 2)" */
    char kind[16];   /* verify, bench, plot */
    char *argv[SWEEP_MAX_ARGS];
    int argc;
    double weight; /* for the ETA: a rough cost relative to the others */
    /* after the run */
    int status;     /* exit code, 128 + signal, -1 spawn failure, -2 stopped */
    double seconds;
    char folder[4096]; /* the child's run folder ("run folder: ..." line) */
} sweep_stage;

typedef struct sweep_plan {
    sweep_stage stage[SWEEP_MAX_STAGES];
    int n;
    char strings[SWEEP_MAX_STAGES][SWEEP_MAX_ARGS][160]; /* the argv's storage */
} sweep_plan;

/* Append a stage: the words of its cnnbench command line (after the
 * program), NULL-terminated. */
void sweep_add(sweep_plan *p, const char *kind, const char *label, double weight, ...);

/* Append more words to the last stage added, NULL-terminated. */
void sweep_more(sweep_plan *p, ...);
/* This program's path (/proc/self/exe), for the children. */
void sweep_self_exe(char *buf, size_t n);

/* Run every stage in order into `dir` (the sweep's run folder): children's
 * run folders under dir/parts/, their logs in dir/parts/NN-kind.log, their
 * CSVs appended into dir. A progress line (harness/progress.h) while it
 * runs, one line per stage as it ends. A stage that fails is reported and
 * the sweep goes on; a stop request ends it after the stage at hand (the
 * child gets the SIGINT too). Returns CNN_OK unless the sweep's own files
 * could not be written; failed stages are counted in *failed. */
cnn_status sweep_execute(sweep_plan *p, const char *dir, FILE *out, int *failed);

/* The summary table: per model, the fastest configuration of train_step
 * (and infer) with its images/s, the ratio to PyTorch and to oneDNN, and
 * whether every backend's numerics passed (verify.csv). *verify_failed:
 * FAIL or MISTRUSTED rows anywhere. */
cnn_status sweep_summary(const char *dir, FILE *out, int *verify_failed);

#endif
