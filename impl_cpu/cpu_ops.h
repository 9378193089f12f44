/* Fast float32 CPU versions of the operations that are not convolutions or
 * GEMMs: pooling, batch norm, activations, dropout, loss, concat, add, the
 * optimizer step, and linear layers at small batches.
 * OpenMP over batch and channels, inner loops the compiler vectorises.
 * Shared by the im2col and Winograd backends (library cnn_cpu_ops), which
 * put these functions straight into their tables; signatures are those of
 * the cnn_backend entries. */
#ifndef CNN_CPU_OPS_H
#define CNN_CPU_OPS_H

#include "backend.h"

/* The kinds they cover, as a group of backend_ops.h rows. */
#define CNN_CPU_OPS(X, ARG)                                                                        \
    CNN_OPS_POOL(X, ARG)                                                                           \
    CNN_OPS_ADAPOOL(X, ARG)                                                                        \
    CNN_OPS_BN(X, ARG)                                                                             \
    CNN_OPS_ACT(X, ARG)                                                                            \
    CNN_OPS_DROPOUT(X, ARG)                                                                        \
    CNN_OPS_ADD(X, ARG)                                                                            \
    CNN_OPS_XENT(X, ARG)                                                                           \
    CNN_OPS_CONCAT(X, ARG)                                                                         \
    CNN_OPS_OPTIM(X, ARG)

/* cnn_cpu_pool_fwd, ... cnn_cpu_concat_bwd, cnn_cpu_optim_step. */
CNN_CPU_OPS(CNN_ENTRY_DECL, cnn_cpu)

/* What the algorithm column says for an op these loops run: "cpu loops",
 * and for dropout which mask generator this CPU gets ("cpu loops, philox
 * avx512" / "avx2" / "scalar"). */
const char *cnn_cpu_ops_algorithm(const cnn_op *op);

/* Workspace bytes cnn_cpu_pool_bwd uses for d on ctx's threads (the
 * quarter form's buffers, cpu_pool_s2.c), 0 where it needs none. Given
 * less (a direct caller's NULL), it allocates them itself. */
size_t cnn_cpu_pool_bwd_ws(const cnn_ctx *ctx, const cnn_pool_desc *d);

/* Linear layers of at most CNN_CPU_LINEAR_SMALL_N rows (cpu_linear.c): each
 * pass one stream over the weight, where a GEMM library packs it first.
 * The BLAS backends' linear entries call these below that batch; the
 * semantics are theirs (weight [out][in]; forward y = x w^T + b, b may be
 * NULL; dx = dy w; dw = dy^T x, written, not accumulated). */
#define CNN_CPU_LINEAR_SMALL_N 8
void cnn_cpu_linear_fwd_small(const cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                              const float *w, const float *b, float *y);
void cnn_cpu_linear_bwd_data_small(const cnn_ctx *ctx, const cnn_linear_desc *d, const float *dy,
                                   const float *w, float *dx);
void cnn_cpu_linear_bwd_weight_small(const cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                     const float *dy, float *dw);

/* Linear layers of CNN_CPU_LINEAR_SMALL_N < n <= CNN_CPU_LINEAR_LANES_N
 * rows on CPUs with AVX2 + FMA or AVX-512 (cpu_linear_lanes.c): the batch
 * in vector lanes, each pass still one stream over the weight. lanes_apply
 * says whether they take d here (the batch in range, the ISA present, the
 * library built with them); the forward needs lanes_ws bytes of workspace
 * (x transposed), the other passes none. Semantics as the _small loops'. */
#define CNN_CPU_LINEAR_LANES_N 32
bool cnn_cpu_linear_lanes_apply(const cnn_linear_desc *d);
size_t cnn_cpu_linear_lanes_ws(const cnn_linear_desc *d, cnn_pass pass);
/* "batch-lane loops, avx512" or "..., avx2": the ISA this CPU runs. */
const char *cnn_cpu_linear_lanes_name(void);
void cnn_cpu_linear_fwd_lanes(const cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                              const float *w, const float *b, float *y, float *ws);
void cnn_cpu_linear_bwd_data_lanes(const cnn_ctx *ctx, const cnn_linear_desc *d, const float *dy,
                                   const float *w, float *dx);
void cnn_cpu_linear_bwd_weight_lanes(const cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                     const float *dy, float *dw);

/* The same entries as designated initialisers, for a backend table:
 *   static const cnn_backend t = { ..., CNN_CPU_OPS_ENTRIES ... }; */
#define CNN_CPU_OPS_ENTRIES CNN_CPU_OPS(CNN_ENTRY_INIT, cnn_cpu)

#endif
