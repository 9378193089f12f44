/* Which kernels ("core") OpenBLAS runs, and whether the environment chose them.
 *
 * A DYNAMIC_ARCH OpenBLAS picks its core once, as it loads: from the CPU,
 * unless OPENBLAS_CORETYPE names one. A core older than the CPU runs narrower
 * kernels: OPENBLAS_CORETYPE=Haswell on an AMD Zen 5 VM (the development
 * machine's environment sets it) runs AVX2 kernels on a CPU with full-width
 * AVX-512, and sgemm halves (bench's ceilings: 195-237 GFLOP/s against
 * 410-452 unset, when 0.3.21 picks Cooperlake there itself). Every backend built on OpenBLAS (im2col,
 * Winograd's GEMMs) and PyTorch's GEMMs move with it. cnnbench never changes
 * the choice (it is the user's); it reports it in meta.json's libraries and
 * warns beside the measured ceilings when the forced core lacks AVX-512 on a
 * CPU that has it. */
#ifndef CNN_BLAS_CORE_H
#define CNN_BLAS_CORE_H

#ifdef __cplusplus
extern "C" {
#endif

/* "" where OPENBLAS_CORETYPE is unset (or the build has no OpenBLAS); else
 * "set by OPENBLAS_CORETYPE=Haswell", for the libraries' report. */
const char *cnn_blas_core_note(void);

/* "" unless OPENBLAS_CORETYPE holds OpenBLAS to a core without AVX-512 on a
 * CPU with the AVX-512 its SkylakeX kernels need (F, CD, BW, DQ, VL); then
 * one sentence that says so and how to undo it. */
const char *cnn_blas_core_warning(void);

#ifdef __cplusplus
}
#endif
#endif
