/* The process-wide thread settings, which the program's start-up changes
 * (and bench --models --threads LIST between binds; registry.h). Part of the registry library because that is what
 * knows which threaded libraries the build links. */
#include "registry.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef CNN_HAVE_OPENBLAS
#include <cblas.h>
#endif

int cnn_set_process_threads(int n)
{
    if (n > 0) {
#ifdef _OPENMP
        omp_set_num_threads(n);
#endif
#ifdef CNN_HAVE_OPENBLAS
        openblas_set_num_threads(n);
#endif
    }
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
