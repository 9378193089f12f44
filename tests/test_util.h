/* Small helpers for the ctest programs: checks that count failures instead of
 * aborting (so one run reports every problem), a seeded RNG, error norms. */
#ifndef CNN_TEST_UTIL_H
#define CNN_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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

/* Print "<name>: N checks, M failed" and return the exit status for ctest. */
int tu_finish(const char *name);

/* splitmix64: a tiny, seeded, portable generator for test inputs. */
uint64_t tu_next(uint64_t *state);
/* Uniform in [lo, hi). */
float tu_uniform(uint64_t *state, float lo, float hi);
void tu_fill(float *x, int64_t n, uint64_t *state, float lo, float hi);

/* ||a - ref||_2 / ||ref||_2 in double (ref all zero: ||a||_2). */
double tu_rel_l2(const float *a, const float *ref, int64_t n);
double tu_max_abs_diff(const float *a, const float *ref, int64_t n);

#endif
