/* Timing through Google Benchmark, from C. The shim (gbench_shim.cc, the
 * project's one C++ file) registers each case as a benchmark that calls back
 * into C once per iteration, runs `repetitions` repetitions of at least
 * `min_time` seconds each and returns the time per iteration of every
 * repetition, with median and spread computed here. The time is manual:
 * each iteration reports the seconds its work took, measured by the
 * backend's timer (cnn_timer_start/stop: CUDA events on a GPU, the wall
 * clock after a sync on the host, never CPU time, which misleads for
 * multi-threaded kernels), so preparation outside it is never counted. */
#ifndef CNN_GBENCH_H
#define CNN_GBENCH_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CNN_GBENCH_MAX_REPS 64

/* One iteration: sets *seconds to the time of the timed work and returns
 * 0, or non-zero to abort the case (its message is then taken from
 * cnn_last_error()). */
typedef int (*cnn_gbench_fn)(void *arg, double *seconds);
/* Optional: called before every iteration, outside the time it reports (to
 * flush caches, reset state). */
typedef void (*cnn_gbench_prep)(void *arg);

typedef struct cnn_gbench_result {
    char name[256];
    bool error;
    char error_msg[256];
    int repetitions;
    int64_t iterations;                /* per repetition */
    double rep_s[CNN_GBENCH_MAX_REPS]; /* seconds per iteration, each repetition */
    double median_s, min_s, max_s;
} cnn_gbench_result;

typedef struct cnn_gbench cnn_gbench;

/* NULL when out of memory. */
cnn_gbench *cnn_gbench_create(int repetitions, double min_time_s);
void cnn_gbench_destroy(cnn_gbench *g);
/* Register one case; returns its index, or -1. */
int cnn_gbench_add(cnn_gbench *g, const char *name, cnn_gbench_fn fn, cnn_gbench_prep prep,
                   void *arg);
/* Run every registered case (in order); returns 0 or -1 if the run itself
 * failed. A case that failed is marked in its result. */
int cnn_gbench_run(cnn_gbench *g);
int cnn_gbench_count(const cnn_gbench *g);
const cnn_gbench_result *cnn_gbench_result_at(const cnn_gbench *g, int i);
/* Google Benchmark's version, e.g. "1.7.1" (from its CMake package). */
const char *cnn_gbench_version(void);

#ifdef __cplusplus
}
#endif
#endif
