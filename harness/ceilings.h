/* The machine's ceilings, measured at the start of every bench run and
 * stored in its meta.json ("ceilings"): the FMA peak of the widest vector
 * unit the CPU has (chosen at run time), a large sgemm through OpenBLAS, a
 * STREAM triad's memory bandwidth, and on a GPU cuBLAS sgemm and
 * device-to-device copy bandwidth. results.csv's pct_peak is a row's GFLOP/s
 * over fma_peak_gflops. */
#ifndef CNN_CEILINGS_H
#define CNN_CEILINGS_H

#include <stdio.h>

#include "report.h"

typedef struct cnn_ceilings {
    char isa[32]; /* "AVX-512F", "AVX2+FMA", "scalar" */
    int threads;
    double fma_peak_gflops;
    double sgemm_gflops; /* NaN: not measured (sgemm_note says why) */
    int sgemm_n;
    char sgemm_note[96];
    double triad_gbs;
    double triad_array_bytes;             /* each of the three arrays */
    double llc_bytes;                     /* the last-level cache cpu0 sees; 0: unknown */
    double gpu_sgemm_gflops, gpu_d2d_gbs; /* NaN: not measured (gpu_note) */
    char gpu_note[128];
} cnn_ceilings;

/* Measure them on the process's threads (OpenMP's count), each timed part
 * taking about `seconds` (0.15 in a bench run: about a second in all);
 * `seconds` <= 0 takes CNNBENCH_CEILINGS_SECONDS from the environment, else
 * 0.15. */
void cnn_ceilings_measure(cnn_ceilings *c, double seconds);

/* "ceilings": {...} as a member of meta.json. */
void cnn_ceilings_json(report_json *j, const cnn_ceilings *c);

/* "machine: AVX2+FMA, FMA peak 152 GFLOP/s (2 threads), sgemm 120 GFLOP/s,
 * triad 14 GB/s" and a newline. */
void cnn_ceilings_print(FILE *out, const cnn_ceilings *c);

/* The last-level cache size in bytes from sysfs, 0 if unknown. */
double cnn_llc_bytes(void);

#endif
