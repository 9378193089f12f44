#include "library_ceilings.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#ifdef CNN_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef CNN_HAVE_CUDNN
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#endif

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median3(double t[3])
{
    qsort(t, 3, sizeof *t, cmp_double);
    return t[1];
}

#ifdef CNN_HAVE_OPENBLAS
/* Seconds of one N x N product (a, b, c hold N*N each). */
static double sgemm_seconds(int n, const float *a, const float *b, float *c)
{
    double t0 = cnn_wall_seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    return cnn_wall_seconds() - t0;
}
#endif

double cnn_blas_sgemm_gflops(double seconds, int *n_out, char *why, size_t why_n)
{
    *n_out = 0;
#ifdef CNN_HAVE_OPENBLAS
    enum { NMAX = 4096, NPROBE = 512 };
    float *a = malloc(sizeof(float) * NMAX * NMAX), *b = malloc(sizeof(float) * NMAX * NMAX);
    float *c = malloc(sizeof(float) * NMAX * NMAX);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        snprintf(why, why_n, "not measured (no memory for %d x %d matrices)", NMAX, NMAX);
        return NAN;
    }
    for (size_t i = 0; i < (size_t)NMAX * NMAX; i++) {
        a[i] = (float)(i % 7) * 0.25f - 0.75f;
        b[i] = (float)(i % 5) * 0.25f - 0.5f;
    }
    /* a warm-up that also estimates the rate, then N for ~seconds */
    sgemm_seconds(NPROBE, a, b, c);
    double probe = sgemm_seconds(NPROBE, a, b, c);
    double rate = 2.0 * NPROBE * NPROBE * NPROBE / (probe > 0 ? probe : 1e-6);
    int n = (int)cbrt(rate * seconds / 2.0) / 64 * 64;
    n = n < 256 ? 256 : n > NMAX ? NMAX : n;
    double t[3];
    for (int r = 0; r < 3; r++)
        t[r] = sgemm_seconds(n, a, b, c);
    free(a), free(b), free(c);
    *n_out = n;
    why[0] = '\0';
    return 2.0 * n * n * (double)n / median3(t) / 1e9;
#else
    (void)seconds;
    snprintf(why, why_n, "not measured (no OpenBLAS in this build)");
    return NAN;
#endif
}

#ifdef CNN_HAVE_CUDNN
static float event_ms(cudaEvent_t e0, cudaEvent_t e1)
{
    float ms = 0;
    cudaEventSynchronize(e1);
    cudaEventElapsedTime(&ms, e0, e1);
    return ms;
}
#endif

int cnn_gpu_ceilings(double seconds, double *sgemm_gflops, double *d2d_gbs, char *why, size_t why_n)
{
    *sgemm_gflops = *d2d_gbs = NAN;
#ifdef CNN_HAVE_CUDNN
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices < 1) {
        cudaGetLastError();
        snprintf(why, why_n, "not measured here (no GPU)");
        return 0;
    }
    const int n = seconds >= 0.1 ? 8192 : 4096;
    const size_t copy_bytes = (size_t)256 << 20;
    size_t mat = sizeof(float) * (size_t)n * n;
    float *a = NULL, *b = NULL, *c = NULL;
    void *src = NULL, *dst = NULL;
    cublasHandle_t h = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    int ok = cudaMalloc((void **)&a, mat) == cudaSuccess &&
             cudaMalloc((void **)&b, mat) == cudaSuccess &&
             cudaMalloc((void **)&c, mat) == cudaSuccess &&
             cudaMalloc(&src, copy_bytes) == cudaSuccess &&
             cudaMalloc(&dst, copy_bytes) == cudaSuccess &&
             cublasCreate(&h) == CUBLAS_STATUS_SUCCESS && cudaEventCreate(&e0) == cudaSuccess &&
             cudaEventCreate(&e1) == cudaSuccess;
    if (ok) {
        cudaMemset(a, 0, mat), cudaMemset(b, 0, mat), cudaMemset(src, 0, copy_bytes);
        /* plain FP32: no TF32 tensor-core shortcut */
        cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
        const float one = 1.0f, zero = 0.0f;
        double t[5];
        for (int r = -1; r < 3 && ok; r++) { /* r = -1: warm-up */
            cudaEventRecord(e0, 0);
            ok = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, n, b, n, &zero, c, n) ==
                 CUBLAS_STATUS_SUCCESS;
            cudaEventRecord(e1, 0);
            if (r >= 0)
                t[r] = event_ms(e0, e1) * 1e-3;
        }
        if (ok)
            *sgemm_gflops = 2.0 * n * n * (double)n / median3(t) / 1e9;
        for (int r = -1; r < 5 && ok; r++) {
            cudaEventRecord(e0, 0);
            ok = cudaMemcpy(dst, src, copy_bytes, cudaMemcpyDeviceToDevice) == cudaSuccess;
            cudaEventRecord(e1, 0);
            if (r >= 0)
                t[r] = event_ms(e0, e1) * 1e-3;
        }
        if (ok) {
            qsort(t, 5, sizeof *t, cmp_double);
            *d2d_gbs = 2.0 * (double)copy_bytes / t[2] / 1e9; /* read + write */
        }
    }
    if (!ok)
        snprintf(why, why_n, "not measured (CUDA: %s)", cudaGetErrorString(cudaGetLastError()));
    else
        why[0] = '\0';
    if (e0)
        cudaEventDestroy(e0);
    if (e1)
        cudaEventDestroy(e1);
    if (h)
        cublasDestroy(h);
    cudaFree(a), cudaFree(b), cudaFree(c), cudaFree(src), cudaFree(dst);
    return ok;
#else
    (void)seconds;
    snprintf(why, why_n, "not measured here (no CUDA in this build)");
    return 0;
#endif
}
