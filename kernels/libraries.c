#include "libraries.h"

#include "blas_core.h"

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

#ifdef CNN_HAVE_ONEDNN
/* The instruction set oneDNN dispatches to on this CPU. */
static const char *onednn_isa(void)
{
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41:
        return "sse41";
    case dnnl_cpu_isa_avx:
        return "avx";
    case dnnl_cpu_isa_avx2:
        return "avx2";
    case dnnl_cpu_isa_avx2_vnni:
        return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core:
        return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
        return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
        return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
        return "avx512_core_amx";
    default:
        return "other";
    }
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
    size_t used = strlen(l->version);
    const char *note = cnn_blas_core_note();
    snprintf(l->version + used, sizeof l->version - used, ", core %s%s%s%s", openblas_get_corename(),
             *note ? " (" : "", note, *note ? ")" : "");
#endif
#ifdef CNN_HAVE_ONEDNN
    l = add(out, &n, "oneDNN");
    const dnnl_version_t *dv = dnnl_version();
    snprintf(l->version, sizeof l->version, "%d.%d.%d (commit %s), ISA %s", dv->major, dv->minor,
             dv->patch, dv->hash && *dv->hash ? dv->hash : "unknown", onednn_isa());
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
    l = add(out, &n, "GPU");
    struct cudaDeviceProp prop;
    int count = 0;
    if (cudaGetDeviceCount(&count) == cudaSuccess && count > 0 &&
        cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
        snprintf(l->version, sizeof l->version, "%.120s, sm_%d%d, %.1f GiB, %d device%s", prop.name,
                 prop.major, prop.minor, (double)prop.totalGlobalMem / 1073741824.0, count,
                 count == 1 ? "" : "s");
    else
        snprintf(l->version, sizeof l->version, "none");
    l = add(out, &n, "cuBLAS");
    property_version(l->version, sizeof l->version,
                     cublasGetProperty(MAJOR_VERSION, &v[0]) == CUBLAS_STATUS_SUCCESS &&
                         cublasGetProperty(MINOR_VERSION, &v[1]) == CUBLAS_STATUS_SUCCESS &&
                         cublasGetProperty(PATCH_LEVEL, &v[2]) == CUBLAS_STATUS_SUCCESS,
                     v);
#endif
    return n;
}
