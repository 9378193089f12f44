/* The timing run behind cnnbench bench. */
#ifndef CNN_BENCH_H
#define CNN_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "backend.h"

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
    char dir[4096]; /* where bench.csv and meta.json go */
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

/* Time every selected group on every backend and pass, print the table and
 * the model totals to `out` and write the result folder. */
cnn_status bench_execute(const bench_run *run, FILE *out);

#endif
