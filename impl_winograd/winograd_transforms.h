/* Winograd minimal filtering F(m x m, 3 x 3), m = 2 or 4 (Lavin & Gray 2015),
 * with tiles of alpha = m + 2 input points per side:
 *   input  V = B^T d B   (alpha x alpha from an alpha x alpha input tile d)
 *   filter U = G g G^T   (alpha x alpha from a 3 x 3 filter g)
 *   output Y = A^T M A   (m x m from the alpha x alpha product M)
 * For m = 2 the interpolation points are 0, 1, -1, inf; for m = 4 they are
 * 0, 1, -1, 2, -2, inf (the matrices are written out in winograd_transforms.c).
 *
 * Transform-domain layout, chosen so that each of the alpha^2 element-wise
 * stages is one contiguous row-major GEMM M[xi] (K x T) = U[xi] (K x C) . V[xi] (C x T):
 *   U[xi][k][c], V[xi][c][t], M[xi][k][t],  xi = xi_y * alpha + xi_x,
 * with t the tile index. The chunk functions below fill or drain the
 * "bands" (rows of tiles) of one channel that a chunk holds: their tiles are
 * consecutive in t, so each of the alpha^2 outputs is written as one
 * contiguous run, and the arithmetic runs over a group of bands' tiles at
 * once, which the compiler vectorises. */
#ifndef CNN_WINOGRAD_TRANSFORMS_H
#define CNN_WINOGRAD_TRANSFORMS_H

#include <stdbool.h>
#include <stddef.h>

/* The input, output and dy transforms of one channel over nbands
 * consecutive bands band0 .. band0 + nbands - 1 of a batch: band b is tile
 * row b % tiles_y of image b / tiles_y, whose plane is at x (y, dy) +
 * image * img_stride. The bands' tiles follow one another in t, so element
 * xi of the chunk's tile t lives at v[xi * xi_stride + t]
 * (winograd_chunk.c). scratch: cnn_winograd_chunk_scratch floats. */
size_t cnn_winograd_chunk_scratch(int m, int tiles_x);

/* Input transform. Tile tx of tile row ty covers input rows row0 + ty*m ..
 * + alpha - 1 and columns col0 + tx*m .. + alpha - 1, where anything
 * outside the h x w plane reads as zero (so row0 and col0 are minus the
 * padding; they may be positive, as in the backward pass of a convolution
 * with padding above 2). */
void cnn_winograd_input_chunk(int m, const float *x, size_t img_stride, int h, int w, int row0,
                              int col0, int tiles_x, int tiles_y, int band0, int nbands, float *v,
                              size_t xi_stride, float *scratch);

/* One row's taps as the input and dy transforms gather them: tap j < ntaps
 * of tile tx < tiles_x is dst[j * lanes + tx] = row[c0 + tx*m + j], zero
 * where that column lies outside [0, w). ph: m * (tiles_x + 1) floats of
 * scratch (the phase split of builds without AVX-512). */
void cnn_winograd_gather_row(int m, int ntaps, const float *row, int w, int c0, int tiles_x,
                             float *dst, size_t lanes, float *ph);

/* Output transform: tile row ty writes rows ty*m .. ty*m + m - 1 of the
 * h x w plane (those that exist), all w columns, each value plus bias, then
 * zero below lo (lo = 0: the fused ReLU; -inf: none). */
void cnn_winograd_output_chunk(int m, const float *mt, size_t xi_stride, int tiles_x, int tiles_y,
                               int band0, int nbands, float bias, float lo, float *y,
                               size_t img_stride, int h, int w, float *scratch);

/* Filter transform of n 3 x 3 filters: filter i is the 9 floats g[r][s] at
 * g + (i / inner) * outer_stride + (i % inner) * inner_stride, rotated by
 * 180 degrees when flip (the backward-data pass); element xi of its
 * transform goes to u[xi * xi_stride + i]. (Two strides: a run of filters
 * that fills one of the GEMM's panels, winograd_gemm.h, is an inner index
 * within the panel's rows under an outer one along its columns.) */
void cnn_winograd_filters(int m, int n, const float *g, int inner, size_t inner_stride,
                          size_t outer_stride, bool flip, float *u, size_t xi_stride);

/* Backward weights, F(3x3, m x m) (derivation in winograd_transforms.c).
 * Transform of dy over a chunk's bands, as above: tile tx of tile row ty
 * covers rows ty*m .. + m - 1 and columns tx*m .. + m - 1 of the h x w
 * plane dy, zero outside it; D = A dy A^T goes to v as the input
 * transform's V. */
void cnn_winograd_grad_chunk(int m, const float *dy, size_t img_stride, int h, int w, int tiles_x,
                             int tiles_y, int band0, int nbands, float *v, size_t xi_stride,
                             float *scratch);

/* Inverse transform of n accumulated products: element xi of pair i is
 * mt[xi * xi_stride + i]; G^T M G goes to the 9 floats dw[i * 9 ..]. */
void cnn_winograd_filter_grads(int m, int n, const float *mt, size_t xi_stride, float *dw);

#endif
