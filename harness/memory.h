/* The process's resident memory, for the memory columns of results.csv. */
#ifndef CNN_HARNESS_MEMORY_H
#define CNN_HARNESS_MEMORY_H

#include <stdbool.h>

/* Reset the kernel's high-water mark of this process's resident memory
 * (Linux: "5" into /proc/self/clear_refs), so that the next
 * memory_peak_rss_bytes covers what ran since. False when the kernel does
 * not allow it: the peak is then the process's since it started. */
bool memory_reset_peak_rss(void);
/* VmHWM of /proc/self/status, in bytes; -1 when unknown. */
double memory_peak_rss_bytes(void);

#endif
