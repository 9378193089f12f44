/* The batch-lane linear loops for AVX2 + FMA (cpu_linear_lanes_body.h),
 * compiled with -mavx2 -mfma -ffp-contract=fast; called only where the CPU
 * has them. */
#define LANES 8
#include "cpu_linear_lanes_body.h"
