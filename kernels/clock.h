/* Wall-clock seconds from a monotonic clock, for progress lines and the
 * "what ran, how long" summaries. Benchmarks time through the backend's own
 * timer (after sync), not through this. */
#ifndef CNN_CLOCK_H
#define CNN_CLOCK_H

#include <time.h>

static inline double cnn_wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
