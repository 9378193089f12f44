/* The forward and backward-data GEMMs of the Winograd domain, one per
 * element xi of the alpha x alpha tile:
 *   M[k][t] = sum_c U[k][c] V[c][t]   (row-major, K x T = (K x C)(C x T)).
 * Both operands are read where they lie, in the layout the transforms
 * write (U's rows, V's rows of tiles); nothing is copied. cblas_sgemm,
 * which these replaced, packs both operands on every call, and a chunk
 * makes alpha^2 calls, each with few tiles (see winograd_gemm.c). */
#ifndef CNN_WINOGRAD_GEMM_H
#define CNN_WINOGRAD_GEMM_H

#include <stddef.h>

/* The kernel works on blocks of columns (tiles) of at most this many, so
 * it reads V's columns t .. round_up(t, CNN_WINOGRAD_GEMM_COLS) - 1 past
 * the last tile t - 1 and writes M's: V's and M's row stride ldt must
 * reach that far, and those columns of V must hold finite numbers (the
 * caller zeroes them; they never reach an output). */
#define CNN_WINOGRAD_GEMM_COLS 32

/* M (k x t, row stride ldt) = U (k x c, row stride ldu) . V (c x t, row
 * stride ldt). Single-threaded. */
void cnn_winograd_gemm(int k, int t, int c, const float *u, size_t ldu, const float *v, size_t ldt,
                       float *mt);

#endif
