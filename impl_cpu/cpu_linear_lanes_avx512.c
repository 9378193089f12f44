/* The batch-lane linear loops for AVX-512 (cpu_linear_lanes_body.h),
 * compiled with -mavx512f -mfma -ffp-contract=fast; called only where the
 * CPU has them. */
#define LANES 16
#include "cpu_linear_lanes_body.h"
