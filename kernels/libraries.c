#include "libraries.h"

#include <stdio.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef CNN_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef CNN_HAVE_ONEDNN
#include <dnnl.h>
#endif
#ifdef CNN_HAVE_CUDNN
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#endif

static cnn_library_version *add(cnn_library_version *out, int *n, const char *name)
{
    cnn_library_version *l = &out[(*n)++];
    l->name = name;
    l->version[0] = '\0';
    return l;
}

#ifdef CNN_HAVE_CUDNN
/* "major.minor.patch" of a library that answers libraryPropertyType queries. */
static void property_version(char *buf, size_t n, int ok, const int v[3])
{
    if (ok)
        snprintf(buf, n, "%d.%d.%d", v[0], v[1], v[2]);
    else
        snprintf(buf, n, "unknown (the library did not say)");
}
#endif

int cnn_library_versions(cnn_library_version out[CNN_LIBRARIES_MAX])
{
    int n = 0;
    cnn_library_version *l = NULL;
    (void)l; /* a build with none of them */
#ifdef _OPENMP
    l = add(out, &n, "OpenMP");
    /* the specification date the compiler implements */
    snprintf(l->version, sizeof l->version, "_OPENMP %d, %d threads by default", _OPENMP,
             omp_get_max_threads());
#endif
#ifdef CNN_HAVE_OPENBLAS
    l = add(out, &n, "OpenBLAS");
    snprintf(l->version, sizeof l->version, "%s", openblas_get_config());
    /* openblas_get_config() ends with a space in some versions */
    for (size_t e = strlen(l->version); e > 0 && l->version[e - 1] == ' ';)
        l->version[--e] = '\0';
#endif
#ifdef CNN_HAVE_ONEDNN
    l = add(out, &n, "oneDNN");
    const dnnl_version_t *dv = dnnl_version();
    snprintf(l->version, sizeof l->version, "%d.%d.%d (commit %s)", dv->major, dv->minor, dv->patch,
             dv->hash && *dv->hash ? dv->hash : "unknown");
#endif
#ifdef CNN_HAVE_CUDNN
    int rt = 0, drv = 0, v[3];
    l = add(out, &n, "CUDA runtime");
    if (cudaRuntimeGetVersion(&rt) == cudaSuccess)
        snprintf(l->version, sizeof l->version, "%d.%d", rt / 1000, rt % 1000 / 10);
    else
        snprintf(l->version, sizeof l->version, "unknown");
    l = add(out, &n, "CUDA driver");
    if (cudaDriverGetVersion(&drv) == cudaSuccess && drv > 0)
        snprintf(l->version, sizeof l->version, "%d.%d", drv / 1000, drv % 1000 / 10);
    else
        snprintf(l->version, sizeof l->version, "none (no NVIDIA driver here)");
    l = add(out, &n, "cuDNN");
    property_version(l->version, sizeof l->version,
                     cudnnGetProperty(MAJOR_VERSION, &v[0]) == CUDNN_STATUS_SUCCESS &&
                         cudnnGetProperty(MINOR_VERSION, &v[1]) == CUDNN_STATUS_SUCCESS &&
                         cudnnGetProperty(PATCH_LEVEL, &v[2]) == CUDNN_STATUS_SUCCESS,
                     v);
    l = add(out, &n, "cuBLAS");
    property_version(l->version, sizeof l->version,
                     cublasGetProperty(MAJOR_VERSION, &v[0]) == CUBLAS_STATUS_SUCCESS &&
                         cublasGetProperty(MINOR_VERSION, &v[1]) == CUBLAS_STATUS_SUCCESS &&
                         cublasGetProperty(PATCH_LEVEL, &v[2]) == CUBLAS_STATUS_SUCCESS,
                     v);
#endif
    return n;
}
