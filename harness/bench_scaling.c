/* cnnbench bench --models --threads LIST: how each backend's step time
 * scales with the thread count. The medians come in as bench_models.c
 * measures them (every backend of a model at one count, then at the next);
 * the speed-up of a count is the first count's median over its own, so
 * with --threads 1,2 the 2-thread row says how much faster two threads
 * are (2.00x: linear). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct scale_key {
    char model[64], backend[64], mode[16];
    double ms[CLI_MAX_THREAD_COUNTS]; /* NaN: not measured */
} scale_key;

struct bench_scaling {
    int threads[CLI_MAX_THREAD_COUNTS];
    int nthreads;
    scale_key *keys;
    int nkeys, cap;
};

cnn_status bench_scaling_open(const int *threads, int nthreads, bench_scaling **out)
{
    *out = NULL;
    if (nthreads < 1 || nthreads > CLI_MAX_THREAD_COUNTS)
        return cnn_fail(CNN_ERR_INVALID_ARG, "bench: %d thread counts (1 to %d)", nthreads,
                        CLI_MAX_THREAD_COUNTS);
    bench_scaling *s = calloc(1, sizeof *s);
    if (!s)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
    memcpy(s->threads, threads, (size_t)nthreads * sizeof *threads);
    s->nthreads = nthreads;
    *out = s;
    return CNN_OK;
}

static scale_key *find_key(bench_scaling *s, const char *model, const char *backend,
                           const char *mode)
{
    for (int i = 0; i < s->nkeys; i++)
        if (!strcmp(s->keys[i].model, model) && !strcmp(s->keys[i].backend, backend) &&
            !strcmp(s->keys[i].mode, mode))
            return &s->keys[i];
    if (s->nkeys == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        scale_key *k = realloc(s->keys, (size_t)cap * sizeof *k);
        if (!k)
            return NULL;
        s->keys = k;
        s->cap = cap;
    }
    scale_key *k = &s->keys[s->nkeys++];
    snprintf(k->model, sizeof k->model, "%s", model);
    snprintf(k->backend, sizeof k->backend, "%s", backend);
    snprintf(k->mode, sizeof k->mode, "%s", mode);
    for (int t = 0; t < CLI_MAX_THREAD_COUNTS; t++)
        k->ms[t] = NAN;
    return k;
}

cnn_status bench_scaling_add(bench_scaling *s, const char *model, const char *backend,
                             const char *mode, int t, double median_ms)
{
    if (t < 0 || t >= s->nthreads)
        return cnn_fail(CNN_ERR_INVALID_ARG, "bench: thread count index %d of %d", t, s->nthreads);
    if (!(median_ms > 0))
        return CNN_OK;
    scale_key *k = find_key(s, model, backend, mode);
    if (!k)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
    k->ms[t] = median_ms;
    return CNN_OK;
}

#define SCALING_HEADER                                                                             \
    "model,backend,mode,threads,median_ms,base_threads,base_median_ms,speedup,efficiency"

/* One row per measured (key, count): the speed-up over the first count
 * (NaN where that has no time) and the efficiency, speed-up / (count /
 * first count). */
static cnn_status write_csv(const bench_scaling *s, const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/scaling.csv", dir);
    report_csv *csv = NULL;
    cnn_status st = report_csv_open(path, SCALING_HEADER, &csv);
    for (int i = 0; i < s->nkeys && st == CNN_OK; i++) {
        const scale_key *k = &s->keys[i];
        for (int t = 0; t < s->nthreads && st == CNN_OK; t++) {
            if (isnan(k->ms[t]))
                continue;
            double up = k->ms[0] / k->ms[t];
            char f[6][32];
            snprintf(f[0], 32, "%d", s->threads[t]);
            snprintf(f[1], 32, "%.4f", k->ms[t]);
            snprintf(f[2], 32, "%d", s->threads[0]);
            snprintf(f[3], 32, "%.4f", k->ms[0]);
            snprintf(f[4], 32, "%.3f", up);
            snprintf(f[5], 32, "%.3f", up * s->threads[0] / s->threads[t]);
            const char *fields[] = {k->model, k->backend, k->mode, f[0], f[1],
                                    f[2],     f[3],       f[4],    f[5]};
            st = report_csv_row(csv, 9, fields);
        }
    }
    cnn_status cst = csv ? report_csv_close(csv, st == CNN_OK) : CNN_OK;
    return st != CNN_OK ? st : cst;
}

static void print_table(const bench_scaling *s, FILE *out)
{
    fprintf(out,
            "\ntrain_step speed-up over %d thread%s (its median / the count's; "
            "scaling.csv has infer too):\n",
            s->threads[0], s->threads[0] == 1 ? "" : "s");
    fprintf(out, "  %-12s %-12s", "model", "backend");
    for (int t = 1; t < s->nthreads; t++)
        fprintf(out, " %9d thr", s->threads[t]);
    fprintf(out, "\n");
    for (int i = 0; i < s->nkeys; i++) {
        const scale_key *k = &s->keys[i];
        if (strcmp(k->mode, "train_step"))
            continue;
        fprintf(out, "  %-12s %-12s", k->model, k->backend);
        for (int t = 1; t < s->nthreads; t++) {
            if (isnan(k->ms[0]) || isnan(k->ms[t]))
                fprintf(out, " %13s", "-");
            else
                fprintf(out, " %12.2fx", k->ms[0] / k->ms[t]);
        }
        fprintf(out, "\n");
    }
}

cnn_status bench_scaling_finish(bench_scaling *s, const char *dir, FILE *out)
{
    if (!s)
        return CNN_OK;
    cnn_status st = write_csv(s, dir);
    if (st == CNN_OK && s->nthreads > 1)
        print_table(s, out);
    free(s->keys);
    free(s);
    return st;
}
