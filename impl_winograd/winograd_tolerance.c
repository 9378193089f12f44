#include "winograd.h"

#include <math.h>

/* The derivation and the measurements behind the constants are in
 * winograd.h. */
double cnn_winograd_tolerance(int tile_m, int c)
{
    const double eps = 5.9604644775390625e-08; /* 2^-24 */
    const double s = 4.0;
    const double a = tile_m <= 2 ? 2.0 : 12.0, b = tile_m <= 2 ? 0.4 : 2.5;
    return s * eps * (a + b * sqrt((double)(c > 1 ? c : 1)));
}
