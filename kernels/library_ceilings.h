/* The ceilings the libraries reach: the GFLOP/s of a large square sgemm
 * through OpenBLAS and, on a GPU, through cuBLAS, and the GPU's
 * device-to-device copy bandwidth (harness/ceilings.h puts them next to the
 * CPU's own FMA peak and memory bandwidth).
 *
 * Here, in the registry library, because that is what links the libraries;
 * the harness includes no library header. */
#ifndef CNN_LIBRARY_CEILINGS_H
#define CNN_LIBRARY_CEILINGS_H

#include <stddef.h>

/* GFLOP/s of C = A B, N x N float32 row-major, through cblas_sgemm on the
 * process's threads: the median of 3 products, N sized so that one takes
 * about `seconds` (a multiple of 64 in [256, 4096]); *n gets N. NaN, with
 * why in `why`, when the build has no OpenBLAS. */
double cnn_blas_sgemm_gflops(double seconds, int *n, char *why, size_t why_n);

/* On the first CUDA device: cuBLAS sgemm GFLOP/s of an N x N product
 * (median of 3, N = 4096 or 8192 for seconds >= 0.1) and cudaMemcpy
 * device-to-device bandwidth in GB/s (median of 5, 256 MiB, read + write
 * counted). Returns 0 and NaNs, with why in `why`, when the build has no
 * CUDA or the machine no GPU. */
int cnn_gpu_ceilings(double seconds, double *sgemm_gflops, double *d2d_gbs, char *why,
                     size_t why_n);

#endif
