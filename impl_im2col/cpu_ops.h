/* Fast float32 CPU versions of the operations that are not convolutions or
 * GEMMs: pooling, batch norm, activations, dropout, loss, concat, add.
 * OpenMP over batch and channels, inner loops the compiler vectorises.
 * Shared by the im2col and Winograd backends (library cnn_cpu_ops), which
 * put these functions straight into their tables; signatures are those of
 * the cnn_backend entries. */
#ifndef CNN_CPU_OPS_H
#define CNN_CPU_OPS_H

#include "backend.h"

cnn_status cnn_cpu_pool_fwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, float *y,
                            CNN_WS);
cnn_status cnn_cpu_pool_bwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, const float *y,
                            const float *dy, float *dx, CNN_WS);
cnn_status cnn_cpu_adapool_fwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *x, float *y,
                               CNN_WS);
cnn_status cnn_cpu_adapool_bwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *dy,
                               float *dx, CNN_WS);
cnn_status cnn_cpu_bn_fwd_train(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x,
                                const float *gamma, const float *beta, float *y,
                                float *running_mean, float *running_var, float *save_mean,
                                float *save_invstd, CNN_WS);
cnn_status cnn_cpu_bn_fwd_infer(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x,
                                const float *gamma, const float *beta, const float *running_mean,
                                const float *running_var, float *y, CNN_WS);
cnn_status cnn_cpu_bn_bwd(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x, const float *dy,
                          const float *gamma, const float *save_mean, const float *save_invstd,
                          float *dx, float *dgamma, float *dbeta, CNN_WS);
cnn_status cnn_cpu_act_fwd(cnn_ctx *ctx, const cnn_act_desc *d, const float *x, float *y);
cnn_status cnn_cpu_act_bwd(cnn_ctx *ctx, const cnn_act_desc *d, const float *y, const float *dy,
                           float *dx);
cnn_status cnn_cpu_dropout_fwd(cnn_ctx *ctx, const cnn_dropout_desc *d, const float *x, float *y);
cnn_status cnn_cpu_dropout_bwd(cnn_ctx *ctx, const cnn_dropout_desc *d, const float *dy,
                               float *dx);
cnn_status cnn_cpu_add_fwd(cnn_ctx *ctx, const cnn_add_desc *d, const float *a, const float *b,
                           float *y);
cnn_status cnn_cpu_xent_fwd(cnn_ctx *ctx, const cnn_xent_desc *d, const float *logits,
                            const int32_t *labels, float *prob, float *loss);
cnn_status cnn_cpu_xent_bwd(cnn_ctx *ctx, const cnn_xent_desc *d, const float *prob,
                            const int32_t *labels, float *dlogits);
cnn_status cnn_cpu_concat_fwd(cnn_ctx *ctx, const cnn_concat_desc *d, const float *const *xs,
                              float *y);
cnn_status cnn_cpu_concat_bwd(cnn_ctx *ctx, const cnn_concat_desc *d, const float *dy,
                              float *const *dxs);

/* The same entries as designated initialisers, for a backend table:
 *   static const cnn_backend t = { ..., CNN_CPU_OPS_ENTRIES, ... }; */
#define CNN_CPU_OPS_ENTRIES                                                                        \
    .pool_fwd = cnn_cpu_pool_fwd, .pool_bwd = cnn_cpu_pool_bwd,                                    \
    .adapool_fwd = cnn_cpu_adapool_fwd, .adapool_bwd = cnn_cpu_adapool_bwd,                        \
    .bn_fwd_train = cnn_cpu_bn_fwd_train, .bn_fwd_infer = cnn_cpu_bn_fwd_infer,                    \
    .bn_bwd = cnn_cpu_bn_bwd, .act_fwd = cnn_cpu_act_fwd, .act_bwd = cnn_cpu_act_bwd,              \
    .dropout_fwd = cnn_cpu_dropout_fwd, .dropout_bwd = cnn_cpu_dropout_bwd,                        \
    .add_fwd = cnn_cpu_add_fwd, .xent_fwd = cnn_cpu_xent_fwd, .xent_bwd = cnn_cpu_xent_bwd,        \
    .concat_fwd = cnn_cpu_concat_fwd, .concat_bwd = cnn_cpu_concat_bwd

#endif
