/* The timing run behind cnnbench bench. */
#ifndef CNN_BENCH_H
#define CNN_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "backend.h"

#define BENCH_MAX_BACKENDS 16

typedef struct bench_run {
    const char *model;
    int batch;
    const char *ops; /* op names, comma-separated */
    bool passes[CNN_PASS_COUNT];
    const cnn_backend *backends[BENCH_MAX_BACKENDS];
    int nbackends;
    int repetitions;
    double min_time;
    bool cold;
    int threads;
    char dir[4096]; /* where bench.csv and meta.json go */
} bench_run;

/* Time every distinct layer of the model whose op is selected, print the
 * table to `out` and write the result folder. */
cnn_status bench_execute(const bench_run *run, FILE *out);

#endif
