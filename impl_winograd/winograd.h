/* The Winograd backends' one public function beyond their tables. */
#ifndef CNN_WINOGRAD_H
#define CNN_WINOGRAD_H

#ifdef __cplusplus
extern "C" {
#endif

/* Tolerance on the relative L2 error ||y - y_ref||_2 / ||y_ref||_2 of a
 * float32 Winograd F(tile_m x tile_m, 3x3) convolution against a reference
 * accumulated in double, for a reduction over c channels (c = C for the
 * forward pass, K for backward data). tile_m is 2 or 4. How it was fitted is
 * in winograd_tolerance.c. */
double cnn_winograd_tolerance(int tile_m, int c);

#ifdef __cplusplus
}
#endif
#endif
