/* Small helpers for the ctest programs: checks that count failures instead of
 * aborting (so one run reports every problem), a seeded RNG, test buffers,
 * error norms. */
#ifndef CNN_TEST_UTIL_H
#define CNN_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "backend.h"

extern int tu_failures;
extern int tu_checks;

/* Record a failed check with its location and a printf-style reason. */
void tu_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define TU_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        tu_checks++;                                                                               \
        if (!(cond))                                                                               \
            tu_fail_at(__FILE__, __LINE__, __VA_ARGS__);                                           \
    } while (0)

/* A check that call returned CNN_OK, naming the call and the backend's reason. */
#define TU_EXPECT_OK(call)                                                                         \
    do {                                                                                           \
        cnn_status st_ = (call);                                                                   \
        TU_CHECK(st_ == CNN_OK, "%s: %s: %s", #call, cnn_status_str(st_), cnn_last_error());       \
    } while (0)

/* Print "<name>: N checks, M failed" and return the exit status for ctest. */
int tu_finish(const char *name);

/* splitmix64: a tiny, seeded, portable generator for test inputs. */
uint64_t tu_next(uint64_t *state);
/* Uniform in [lo, hi). */
float tu_uniform(uint64_t *state, float lo, float hi);
void tu_fill(float *x, int64_t n, uint64_t *state, float lo, float hi);

/* malloc that exits with status 2 when memory runs out (and never returns NULL for 0 bytes). */
void *tu_xmalloc(size_t bytes);
/* n NaNs, so an output element a backend leaves unwritten fails the comparison. */
float *tu_nan_buf(int64_t n);
/* n floats uniform in [lo, hi) drawn from *state. */
float *tu_rand_buf(int64_t n, uint64_t *state, float lo, float hi);
/* A workspace of exactly the size asked for (NULL for none), so an overrun trips ASan. */
void *tu_ws_for(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass, size_t *size);

/* A stand-in CUDA backend called "fakecuda": host memory behind the
 * device's label, no operations (device rules of a run, nothing to run). */
cnn_backend tu_fake_cuda_backend(void);

/* A convolution case in one short line: sizes, strides sh, sw and paddings ph, pw. */
typedef struct tu_conv_case {
    int n, c, h, w, k, r, s, sh, sw, ph, pw;
    bool bias;
} tu_conv_case;
/* The conv op of a case, still to be passed through cnn_op_init. */
cnn_op tu_conv_op(const tu_conv_case *cc);
/* How many floats a conv pass writes: y, dx, dw or db. */
int64_t tu_conv_out_size(const cnn_conv_desc *d, cnn_pass pass);
/* What a conv pass reads, in host or device memory as ctx wants. */
typedef struct tu_conv_io {
    const float *x, *w, *b, *dy;
} tu_conv_io;
/* Run one conv pass through the checked dispatch into out (y, dx, dw or db). */
cnn_status tu_conv_pass(cnn_ctx *ctx, const cnn_conv_desc *d, const tu_conv_io *io, cnn_pass pass,
                        float *out, void *ws, size_t ws_size);
/* A pooling descriptor by position, so that a table of cases takes a line each. */
cnn_pool_desc tu_pool(cnn_pool_mode mode, int n, int c, int h, int w, int kh, int kw, int sh,
                      int sw, int ph, int pw, bool ceil_mode);

/* ||a||_2 in double: comparing against an all-zero reference proves nothing. */
double tu_norm2(const float *a, int64_t n);
/* ||a - ref||_2 / ||ref||_2 in double (ref all zero: ||a||_2). */
double tu_rel_l2(const float *a, const float *ref, int64_t n);
double tu_max_abs_diff(const float *a, const float *ref, int64_t n);

/* ---- running a program (the CLI tests) ---- */

/* Read a whole small text file into buf (truncated to n - 1 bytes); "" if
 * it cannot be read. */
void tu_slurp(const char *path, char *buf, size_t n);
bool tu_exists(const char *path);
/* The entries of folder `dir` but "." and "..", sorted; at most max of them
 * go to names. Returns how many there are, -1 if dir cannot be read. */
int tu_list_dir(const char *dir, char names[][256], int max);
/* The run folders of a results root: tu_list_dir without the runs index
 * (index.csv) that runs append to when they end. */
int tu_list_runs(const char *root, char names[][256], int max);
/* Run exe with the NULL-terminated argv (argv[0] included); its stdout and
 * stderr pass through files in dir and come back in out and err. Returns the
 * exit code, 128 + the signal that ended it, or -1 if it could not run. */
int tu_run_process(const char *exe, char *const *argv, const char *dir, char *out, size_t nout,
                   char *err, size_t nerr);
/* argv for `exe command ARGS... --results results` (args NULL-terminated,
 * at most 58 of them); the strings are borrowed, not copied. */
void tu_cli_argv(char *argv[64], const char *exe, const char *command, const char *const *args,
                 const char *results);
/* The same in two halves, for processes that run side by side or get a
 * signal: start exe with stdout and stderr going to the two files (returns
 * its pid, -1 if it could not start); wait for it (the exit code, 128 + the
 * signal that ended it, or -1). */
pid_t tu_start_process(const char *exe, char *const *argv, const char *out_path,
                       const char *err_path);
int tu_wait_process(pid_t pid);
/* Sleep ms milliseconds. */
void tu_sleep_ms(long ms);

#endif
