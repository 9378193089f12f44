/* One row of results.csv, the long-form table every timing writes (layer
 * benches, model totals, whole models, the PyTorch peer): one row per
 * backend x model x layer-or-whole x pass x batch x threads. Columns in
 * results/README.md; every writer fills this struct and bench_row_write
 * formats it, so the columns cannot drift apart between writers. */
#ifndef CNN_BENCH_ROW_H
#define CNN_BENCH_ROW_H

#include <stdbool.h>

#include "ops.h"
#include "report.h"

#define BENCH_ROW_HEADER                                                                           \
    "model,layer,layers,op,shape," REPORT_DIMS_HEADER ",pass,backend,status,algorithm,batch,"      \
    "image_size,threads,repetitions,cache,median_ms,min_ms,max_ms,reps_ms,gflops,pct_peak,"        \
    "intensity,ratio,reorder_ms,charged_layers,charged_at,images_per_s,params_bytes,grads_bytes,"  \
    "act_bytes,act_unshared_bytes,ws_bytes,peak_rss_bytes,device_mem_bytes,optimizer_ms,gbs,pct_triad"

/* The status column. */
#define ST_OK "OK"
#define ST_UNSUPPORTED "UNSUPPORTED"
#define ST_FAILED "FAILED"
#define ST_NOT_USABLE "NOT_USABLE"

#define BENCH_ROW_MAX_REPS 64

/* NaN in a double and a negative byte count mean "not measured": an empty
 * field, except the times, gflops, pct_peak, ratio and reorder_ms, which
 * are written as nan (so a reader can tell "did not run" from "no such
 * figure" where the README says so). */
typedef struct bench_row {
    const char *model;
    const char *layer; /* a layer name, "TOTAL" or "MODEL" */
    int layers;        /* how many layers the row covers */
    const cnn_op *op;  /* the layer's op; NULL on TOTAL and MODEL rows */
    const char *op_name; /* when op is NULL: "model", or a TOTAL's --ops selection */
    const char *pass;    /* a pass, or infer / train_step */
    const char *backend, *status, *algorithm;
    int batch, image_size, threads, repetitions;
    bool cold;
    double median_ms, min_ms, max_ms;
    const double *reps_s; /* every repetition's seconds (nreps of them), or NULL */
    int nreps;
    double gflops, pct_peak, intensity, ratio, reorder_ms;
    int charged_layers;
    const char *charged_at;
    double images_per_s;
    /* memory, bytes (< 0: not measured) */
    double params_bytes, grads_bytes, act_bytes, act_unshared_bytes, ws_bytes;
    double peak_rss_bytes, device_mem_bytes;
    double optimizer_ms; /* MODEL train_step rows: one Adam step's median, apart; NaN: none */
    /* The run's measured bandwidth ceiling (ceilings.triad_gbs; 0: unknown):
     * the row's achieved GB/s (gflops / intensity: the least bytes the pass
     * must move over its median time) is written beside its share of it. */
    double triad_gbs;
    /* The least bytes the row's work must move (cnn_op_min_bytes, times the
     * layer count on a TOTAL); NaN: gbs from gflops / intensity instead,
     * which has no value for work without FLOPs (concat). */
    double min_bytes;
} bench_row;

/* A row with every number "not measured" and the strings empty. */
bench_row bench_row_empty(void);
cnn_status bench_row_write(report_csv *csv, const bench_row *r);
/* The row's gbs and pct_triad columns: minimum bytes over the median time
 * (else GFLOP/s over the intensity), and that as a percentage of triad_gbs;
 * NaN where unknown. */
double bench_row_gbs(const bench_row *r);
double bench_row_pct_triad(const bench_row *r);

#endif
