#include "cpu_parallel.h"

#include <cblas.h>

bool cnn_cpu_blas_spins(void)
{
    return openblas_get_parallel() == OPENBLAS_THREAD && openblas_get_num_threads() > 1;
}
