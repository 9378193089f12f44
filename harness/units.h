/* Numbers for people: SI prefixes for counts and rates ("1.23 GFLOP",
 * "456 MFLOP/s"), binary ones for bytes ("1.5 MiB"). */
#ifndef CNN_UNITS_H
#define CNN_UNITS_H

#include <stddef.h>

/* v with an SI prefix (k, M, G, T) before unit, three significant digits:
 * units_si(1.234e9, "FLOP", buf, n) gives "1.23 GFLOP". Returns buf. */
char *units_si(double v, const char *unit, char *buf, size_t n);
/* bytes as B, KiB, MiB, GiB: "1.50 MiB". Returns buf. */
char *units_bytes(double bytes, char *buf, size_t n);

#endif
