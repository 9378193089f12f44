/* The oneDNN backend's one public extra, beside the table cnn_backend_onednn.
 *
 * oneDNN prefers blocked layouts (nChw8c, OIhw8i8o, ...) for convolution;
 * under cnnbench's plain NCHW interface each call converts its operands with
 * reorders, and that conversion is part of the call's time. A benchmark that
 * wants to show the kernel apart from the conversion reads this counter
 * before and after the calls it times. */
#ifndef CNN_ONEDNN_H
#define CNN_ONEDNN_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds spent in layout reorders by calls on ctx since it was created
 * (wall clock, CLOCK_MONOTONIC). 0 for a context of another backend. */
double cnn_onednn_reorder_seconds(cnn_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
