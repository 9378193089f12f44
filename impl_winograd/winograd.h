/* The Winograd backends' error class: what their algorithm() reports for
 * the passes they run (forward, backward data, backward weights), from
 * which verify computes its tolerance (harness/verify_tolerance.c). */
#ifndef CNN_WINOGRAD_H
#define CNN_WINOGRAD_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CNN_ERROR_WINOGRAD for F(tile_m x tile_m, 3x3), tile_m 2 or 4: the bound
 * on the relative L2 error ||y - y_ref||_2 / ||y_ref||_2 against a
 * reference accumulated in double, for a reduction over C channels (C for
 * the forward pass, K for backward data):
 *
 *   tol(F, C) = s * eps * (a_F + b_F * sqrt(C)),   eps = 2^-24, s = 4,
 *   F(2x2): a = 2, b = 0.4        F(4x4): a = 12, b = 2.5
 *
 * Two sources of rounding error:
 *  - the transforms: each product U[xi]V[xi] carries the error of B^T d B
 *    and G g G^T, a few eps relative to the largest terms of the tile, and
 *    A^T then amplifies it (its coefficients reach 8 in F(4x4)). These
 *    errors are independent per term, so relative to an output that is
 *    itself a sum of C*9 random-signed terms they stay constant in C;
 *  - the GEMMs: a float sum over C channels, whose relative error grows
 *    like sqrt(C) eps for random-signed terms.
 * Hence a + b sqrt(C) rather than a pure sqrt(C) law, which would have to
 * be loose at large C to hold at C = 3.
 *
 * Measured (relative L2 against the double-accumulating naive backend,
 * inputs uniform in [-1,1] or [0,1], He weights N(0, 2/(9C)), K = 16 and
 * 32, 28x28 and 56x56, padding 1, forward and backward data, worst over 2-3
 * seeds each; OpenBLAS 0.3.21 sgemm on AVX2), in units of eps = 2^-24:
 *              C =    3     64    256    512
 *   F(2x2,3x3)      2.1    4.3    8.0    7.9
 *   F(4x4,3x3)     14.7   28.0   50.3   51.2
 *   (im2col, for scale: 1.7, 4.9, 5.1, 5.2)
 * So F(2x2) costs 1.5x im2col's error at C = 512 and F(4x4) 10x. The fits
 * a + b sqrt(C) that bound every measurement are a = 2, b = 0.4 for F(2x2)
 * and a = 12, b = 2.5 for F(4x4); s = 4 is the safety factor, for other
 * shapes, data and BLAS blockings. An indexing error costs a whole term,
 * O(1/sqrt(9C)) relative: 1.5% at C = 512, far above these (at C = 512,
 * 2.6e-6 for F(2x2) and 1.6e-5 for F(4x4)). */
/*
 * Backward weights (pass CNN_BWD_WEIGHT) has its own constants, for the
 * reduction over L = N * P * Q terms of each dW element:
 *
 *   tol(F, L) = s * eps * (a + b * sqrt(L)),   s = 4,
 *   F(2x2): a = 2, b = 0.3        F(4x4): a = 21, b = 0.6
 *
 * dW = G^T [sum over tiles of (A dy A^T) . (B^T x B)] G: the transform
 * errors are per term again (constant relative to the sum), and the float
 * sums over the tiles of a chunk (the GEMMs' reduction) and over chunks add
 * an error that grows with L until L passes one chunk, then levels off.
 * Measured (cnnbench verify --ops conv2d --passes bwd_weight --shapes all,
 * seeds 1-4, worst; edge shapes and every model layer at batch 2), in eps:
 *              L =    2     98    162    392   1568   6272   8192  100352
 *   F(2x2,3x3)      1.6    3.0    5.4    5.2    7.6    8.4    9.0     9.5
 *   F(4x4,3x3)      3.1   11.3   28.0   19.6   34.6   50.1   66.4    55.5
 *   (im2col:        0.7    2.7    4.1    4.0    5.2    5.2    6.2     7.6)
 * L = 162 and 8192 are C = 1 layers, whose few outputs average least; they
 * set a. The bound is loose at large L (at L = 100352, 2.3e-5 and 5.0e-5),
 * still below the generic float-sum bound there (3.0e-4), and a wrong
 * transform coefficient fails it (tests/test_verify.c: 1/6 written 0.1667
 * gives 18x the tolerance). */
cnn_error_class cnn_winograd_error(int tile_m, cnn_pass pass);

#ifdef __cplusplus
}
#endif
#endif
