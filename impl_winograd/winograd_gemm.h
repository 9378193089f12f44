/* The forward and backward-data GEMMs of the Winograd domain, one per
 * element xi of the alpha x alpha tile:
 *   M[k][t] = sum_c U[k][c] V[c][t]   (K x T = (K x C)(C x T)),
 * M and V row-major, U in panels (below). Both operands are read where they
 * lie, in the layout the transforms write; nothing is copied. cblas_sgemm,
 * which these replaced, packs both operands on every call, and a chunk
 * makes alpha^2 calls, each with few tiles (see winograd_gemm.c). */
#ifndef CNN_WINOGRAD_GEMM_H
#define CNN_WINOGRAD_GEMM_H

#include <stdbool.h>
#include <stddef.h>

/* U (K x C) is stored in panels of CNN_WINOGRAD_GEMM_ROWS rows, the
 * kernel's register block: panel k0 (rows k0 .. k0 + w - 1, w the rows
 * per panel or fewer in the last) starts at k0 * C, and its element
 * (k0 + r, j) is at k0 * C + j * w + r. Each step of the kernel then
 * broadcasts one contiguous run. */
#if defined(__AVX512F__)
#define CNN_WINOGRAD_GEMM_ROWS 8
#elif defined(__AVX__)
#define CNN_WINOGRAD_GEMM_ROWS 6
#else
#define CNN_WINOGRAD_GEMM_ROWS 4
#endif

/* The kernel works on blocks of columns (tiles) of at most this many, so
 * it reads V's columns t .. round_up(t, CNN_WINOGRAD_GEMM_COLS) - 1 past
 * the last tile t - 1 and writes M's: V's and M's row stride ldt must
 * reach that far, and those columns of V must hold finite numbers (the
 * caller zeroes them; they never reach an output). */
#define CNN_WINOGRAD_GEMM_COLS 32

/* M (k x t, row stride ldt) = U (k x c, panels) . V (c x t, row stride
 * ldt), or M += U . V when acc. Single-threaded. */
void cnn_winograd_gemm(int k, int t, int c, const float *u, const float *v, size_t ldt, float *mt,
                       bool acc);

#endif
