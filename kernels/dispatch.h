/* Checked calls into a backend: one wrapper per entry of cnn_backend, with
 * the entry's arguments. Each returns CNN_ERR_UNSUPPORTED (with a reason
 * naming backend, op, pass and shape) when the entry is NULL or supports()
 * declines, and CNN_ERR_INVALID_ARG when the workspace is smaller than
 * workspace_size() asked for; otherwise it calls the entry. */
#ifndef CNN_DISPATCH_H
#define CNN_DISPATCH_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

cnn_status cnn_conv_fwd(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x, const float *w,
                        const float *b, float *y, CNN_WS);
cnn_status cnn_conv_bwd_data(cnn_ctx *ctx, const cnn_conv_desc *d, const float *dy, const float *w,
                             float *dx, CNN_WS);
cnn_status cnn_conv_bwd_filter(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x,
                               const float *dy, float *dw, CNN_WS);
cnn_status cnn_conv_bwd_bias(cnn_ctx *ctx, const cnn_conv_desc *d, const float *dy, float *db,
                             CNN_WS);
cnn_status cnn_pool_fwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, float *y, CNN_WS);
cnn_status cnn_pool_bwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, const float *y,
                        const float *dy, float *dx, CNN_WS);
cnn_status cnn_adapool_fwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *x, float *y,
                           CNN_WS);
cnn_status cnn_adapool_bwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *dy, float *dx,
                           CNN_WS);
cnn_status cnn_bn_fwd_train(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x, const float *gamma,
                            const float *beta, float *y, float *running_mean, float *running_var,
                            float *save_mean, float *save_invstd, CNN_WS);
cnn_status cnn_bn_fwd_infer(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x, const float *gamma,
                            const float *beta, const float *running_mean, const float *running_var,
                            float *y, CNN_WS);
cnn_status cnn_bn_bwd(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x, const float *dy,
                      const float *gamma, const float *save_mean, const float *save_invstd,
                      float *dx, float *dgamma, float *dbeta, CNN_WS);
cnn_status cnn_linear_fwd(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x, const float *w,
                          const float *b, float *y, CNN_WS);
cnn_status cnn_linear_bwd_data(cnn_ctx *ctx, const cnn_linear_desc *d, const float *dy,
                               const float *w, float *dx, CNN_WS);
cnn_status cnn_linear_bwd_weight(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                 const float *dy, float *dw, float *db, CNN_WS);
cnn_status cnn_act_fwd(cnn_ctx *ctx, const cnn_act_desc *d, const float *x, float *y);
cnn_status cnn_act_bwd(cnn_ctx *ctx, const cnn_act_desc *d, const float *y, const float *dy,
                       float *dx);
cnn_status cnn_dropout_fwd(cnn_ctx *ctx, const cnn_dropout_desc *d, const float *x, float *y);
cnn_status cnn_dropout_bwd(cnn_ctx *ctx, const cnn_dropout_desc *d, const float *dy, float *dx);
cnn_status cnn_add_fwd(cnn_ctx *ctx, const cnn_add_desc *d, const float *a, const float *b,
                       float *y);
cnn_status cnn_xent_fwd(cnn_ctx *ctx, const cnn_xent_desc *d, const float *logits,
                        const int32_t *labels, float *prob, float *loss);
cnn_status cnn_xent_bwd(cnn_ctx *ctx, const cnn_xent_desc *d, const float *prob,
                        const int32_t *labels, float *dlogits);
cnn_status cnn_concat_fwd(cnn_ctx *ctx, const cnn_concat_desc *d, const float *const *xs, float *y);
cnn_status cnn_concat_bwd(cnn_ctx *ctx, const cnn_concat_desc *d, const float *dy,
                          float *const *dxs);

#ifdef __cplusplus
}
#endif
#endif
