#include "test_util.h"

#include <math.h>
#include <stdarg.h>

int tu_failures;
int tu_checks;

void tu_fail_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    tu_failures++;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int tu_finish(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, tu_checks, tu_failures);
    if (tu_checks == 0) {
        fprintf(stderr, "%s: no checks ran\n", name);
        return 1;
    }
    return tu_failures ? 1 : 0;
}

uint64_t tu_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float tu_uniform(uint64_t *state, float lo, float hi)
{
    return lo + (hi - lo) * (float)((tu_next(state) >> 40) * (1.0 / 16777216.0));
}

void tu_fill(float *x, int64_t n, uint64_t *state, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = tu_uniform(state, lo, hi);
}

double tu_rel_l2(const float *a, const float *ref, int64_t n)
{
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * (double)ref[i];
    }
    if (isnan(num))
        return NAN;
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

double tu_max_abs_diff(const float *a, const float *ref, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        if (isnan(d))
            return NAN;
        if (d > m)
            m = d;
    }
    return m;
}
