/* Helpers of the hostile-input tests (tests/test_hostile_*.c): a scratch
 * folder, `cnnbench ARGS...` as a child (optionally under a file-size limit,
 * a full disk's stand-in), the exact-message check, and a fingerprint of a
 * folder so that a refused run is seen to create or change nothing. */
#ifndef CNN_TEST_HOSTILE_UTIL_H
#define CNN_TEST_HOSTILE_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "test_util.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Make the scratch folder /tmp/cnn_NAME_XXXXXX; false if it cannot be made. */
bool th_init(const char *name);
/* Remove the scratch folder and return tu_finish(name). */
int th_finish(const char *name);
/* "SCRATCH/rel" in one of 8 rotating buffers. */
const char *th_path(const char *rel);

/* What the last th_run printed. */
extern char th_out[1 << 16], th_err[1 << 16];
/* Run `cnnbench ARGS...` (args NULL-terminated, no --results added); with
 * fsize_limit > 0 the child runs under RLIMIT_FSIZE of that many bytes with
 * SIGXFSZ ignored, so that a write past it fails with EFBIG. Returns the exit
 * code, 128 + the signal that ended it, or -1. */
int th_run(const char *const *args, long fsize_limit);
/* The last run exited `want` and its stderr holds every one of `words`. */
void th_expect(const char *what, int rc, int want, const char *const *words);

/* A fingerprint of the tree under path (names, sizes, contents), sorted;
 * "absent" if there is nothing there. */
void th_fingerprint(const char *path, char *buf, size_t n);
/* Write text to SCRATCH/rel. */
void th_write(const char *rel, const char *text);
/* The number of CPUs this process may run on (its affinity mask). */
int th_cpus(void);

#endif
