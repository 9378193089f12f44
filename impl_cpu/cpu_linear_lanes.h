/* The per-ISA halves of the batch-lane linear loops (cpu_linear_lanes.c,
 * cpu_linear_lanes_body.h): each runs a thread's share inside the caller's
 * OpenMP team. */
#ifndef CNN_CPU_LINEAR_LANES_H
#define CNN_CPU_LINEAR_LANES_H

#include "cpu_ops.h"

/* Batch rows per panel of the forward's transposed x: xT[p][i][l] holds
 * x[p * PANEL + l][i], zero past the batch. */
#define CNN_CPU_LINEAR_LANES_PANEL 16

#define CNN_CPU_LINEAR_LANES_DECL(isa)                                                             \
    void cnn_cpu_linear_fwd_lanes_share_##isa(const cnn_linear_desc *d, const float *xt,           \
                                              const float *w, const float *b, float *y);           \
    void cnn_cpu_linear_bwd_data_lanes_share_##isa(const cnn_linear_desc *d, const float *dy,      \
                                                   const float *w, float *dx);                     \
    void cnn_cpu_linear_bwd_weight_lanes_share_##isa(const cnn_linear_desc *d, const float *x,     \
                                                     const float *dy, float *dw);
CNN_CPU_LINEAR_LANES_DECL(avx512)
CNN_CPU_LINEAR_LANES_DECL(avx2)
#undef CNN_CPU_LINEAR_LANES_DECL

#endif
