/* The team size beside OpenBLAS (cpu_parallel.h says why). It reads
 * OpenBLAS's settings and never changes them. */
#include "cpu_parallel.h"

#include <cblas.h>

int cnn_cpu_gemm_team(const cnn_ctx *ctx)
{
    if (openblas_get_parallel() == OPENBLAS_THREAD && openblas_get_num_threads() > 1)
        return 1;
    return cnn_cpu_threads(ctx);
}
