/* A Winograd convolution of a 3x3 stride-1 layer, planned once per call:
 * the forward pass, or the backward-data pass as a forward convolution of dy
 * with the 180-degree-rotated filter, channels swapped, padding 2 - pad, or
 * the weight gradient (the forward plan's tiles, its own chunks and run;
 * see cnn_winograd_run_bwd_weight).
 *
 * Tiles are processed in chunks of whole bands (rows of tiles), so that the
 * workspace is bounded whatever the batch and image size. A chunk is the
 * input transforms of its tiles, alpha^2 GEMMs and the output transforms.
 * Two ways to share the work between threads, both in one parallel region
 * with single-threaded GEMM calls (see winograd_plan.c for why):
 *  - private: each thread takes whole chunks, with its own V and M, and
 *    never waits for another (layers with many tiles);
 *  - shared: all threads work on one chunk, splitting each stage (channels,
 *    then the alpha^2 GEMMs, then output channels) with a barrier between
 *    stages (layers with too few tiles to give every thread chunks).
 * Workspace, each part 64-byte aligned, plus 64 bytes to align the caller's
 * pointer:
 *   [ U: alpha^2 x (cout x cin, the GEMM's panels) | per buffer set (threads
 *     of them when private, one when shared): V: alpha^2 x (cin x ldt),
 *     M: alpha^2 x (cout x ldt) | per thread: transform scratch
 *     (cnn_winograd_chunk_scratch) ]
 * with each of the alpha^2 matrices padded to an odd number of cache lines
 * (u_xi, v_xi, m_xi; see winograd_plan.c). */
#ifndef CNN_WINOGRAD_PLAN_H
#define CNN_WINOGRAD_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "ops.h"

typedef struct cnn_winograd_plan {
    int m, alpha;
    int n, cin, cout;
    int hin, win, hout, wout;
    int row0, col0;       /* input position of output (0,0)'s tile: minus the padding */
    bool flip;            /* backward data: w is [cin][cout][3][3], used rotated */
    bool relu;            /* forward with fuse_relu: the ReLU in the output transform */
    int tiles_x, tiles_y; /* per image */
    int bands;            /* n * tiles_y */
    int bands_per_chunk;
    int ldt;     /* row stride of V and M: tiles per chunk, padded */
    int threads; /* OpenMP threads */
    bool shared; /* all threads on one chunk at a time, else a chunk per thread */
    /* > 0: one chunk, its filters transformed a block of fuse_rows x
     * fuse_cols of U at a time in the GEMM stage (winograd_plan.c's
     * fused_gemms); U is then each thread's block, u_xi its matrices' */
    int fuse_rows, fuse_cols;
    size_t u_xi, v_xi, m_xi; /* floats from one element xi's matrix to the next */
    size_t u_floats, v_floats, m_floats, scratch_floats; /* V, M: per set; scratch: per thread */
} cnn_winograd_plan;

void cnn_winograd_plan_fwd(cnn_winograd_plan *p, int m, int threads, const cnn_conv_desc *d);
void cnn_winograd_plan_bwd_data(cnn_winograd_plan *p, int m, int threads, const cnn_conv_desc *d);
/* Backward weights: x [n][cin][hin][win] and dy [n][cout][hout][wout] of
 * the forward convolution to dw [cout][cin][3][3]; U holds the alpha^2
 * accumulated products (K x C each), V the chunk's transformed x and M its
 * transformed dy (see cnn_winograd_run_bwd_weight). */
void cnn_winograd_plan_bwd_weight(cnn_winograd_plan *p, int m, int threads, const cnn_conv_desc *d);
size_t cnn_winograd_plan_bytes(const cnn_winograd_plan *p);
/* Override the chunk size (in bands, clamped to 1 .. p->bands) and the
 * sharing, and resize the workspace to match: for tests of both schedules. */
void cnn_winograd_plan_set_chunk(cnn_winograd_plan *p, int bands, bool shared);
/* Fuse the filter transform into the GEMM stage with blocks of rows
 * (rounded up to the GEMM's panels) x cols of U, or not (rows or cols 0),
 * and resize the workspace: for tests. A plan of more than one chunk is
 * never fused. */
void cnn_winograd_plan_set_fused(cnn_winograd_plan *p, int rows, int cols);

/* x [n][cin][hin][win] -> y [n][cout][hout][wout]; bias [cout] or NULL.
 * ws holds at least cnn_winograd_plan_bytes(p) bytes. */
void cnn_winograd_run(const cnn_winograd_plan *p, const float *x, const float *w, const float *bias,
                      float *y, void *ws);

void cnn_winograd_run_bwd_weight(const cnn_winograd_plan *p, const float *x, const float *dy,
                                 float *dw, void *ws);

#endif
