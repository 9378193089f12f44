#include "dispatch.h"

/* Turn a descriptor back into an op, ask whether the backend takes it, and
 * check the workspace the caller passes against what the backend asked for. */
static cnn_status admit(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass, bool has_entry,
                        size_t ws_size)
{
    char desc[256];
    if (!has_entry || !cnn_supports(ctx, op, pass))
        return cnn_fail(CNN_ERR_UNSUPPORTED, "backend %s does not support %s %s %s",
                        ctx->backend->name, cnn_op_name(op), cnn_pass_str(pass),
                        cnn_op_str(op, desc, sizeof desc));
    /* PyTorch's rule: batch statistics need two values per channel (the
     * unbiased variance for the running average divides by count - 1). */
    if (op->kind == CNN_OP_BN && pass == CNN_FWD && (int64_t)op->bn.n * op->bn.h * op->bn.w < 2)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "batchnorm2d training needs more than one value per channel, got "
                        "n*h*w = %lld",
                        (long long)op->bn.n * op->bn.h * op->bn.w);
    size_t need = cnn_workspace_size(ctx, op, pass);
    if (ws_size < need)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "backend %s: %s %s needs a workspace of %zu bytes, got %zu",
                        ctx->backend->name, cnn_op_name(op), cnn_pass_str(pass), need, ws_size);
    return CNN_OK;
}

/* One checked wrapper: ENTRY is the table field, FIELD the op union member,
 * WSZ the workspace size passed (0 for entries without a workspace). */
#define DISPATCH(ENTRY, KIND, FIELD, PASS, WSZ, PARAMS, ARGS)                                      \
    cnn_status cnn_##ENTRY PARAMS                                                                  \
    {                                                                                              \
        cnn_op op = {.kind = KIND, .FIELD = *d};                                                   \
        cnn_status st = admit(ctx, &op, PASS, ctx->backend->ENTRY != NULL, WSZ);                   \
        if (st != CNN_OK)                                                                          \
            return st;                                                                             \
        return ctx->backend->ENTRY ARGS;                                                           \
    }

DISPATCH(conv_fwd, CNN_OP_CONV, conv, CNN_FWD, ws_size,
         (cnn_ctx * ctx, const cnn_conv_desc *d, const float *x, const float *w, const float *b,
          float *y, CNN_WS),
         (ctx, d, x, w, b, y, ws, ws_size))
DISPATCH(conv_bwd_data, CNN_OP_CONV, conv, CNN_BWD_DATA, ws_size,
         (cnn_ctx * ctx, const cnn_conv_desc *d, const float *dy, const float *w, float *dx,
          CNN_WS),
         (ctx, d, dy, w, dx, ws, ws_size))
DISPATCH(conv_bwd_filter, CNN_OP_CONV, conv, CNN_BWD_WEIGHT, ws_size,
         (cnn_ctx * ctx, const cnn_conv_desc *d, const float *x, const float *dy, float *dw,
          CNN_WS),
         (ctx, d, x, dy, dw, ws, ws_size))
DISPATCH(conv_bwd_bias, CNN_OP_CONV, conv, CNN_BWD_BIAS, ws_size,
         (cnn_ctx * ctx, const cnn_conv_desc *d, const float *dy, float *db, CNN_WS),
         (ctx, d, dy, db, ws, ws_size))
DISPATCH(pool_fwd, CNN_OP_POOL, pool, CNN_FWD, ws_size,
         (cnn_ctx * ctx, const cnn_pool_desc *d, const float *x, float *y, CNN_WS),
         (ctx, d, x, y, ws, ws_size))
DISPATCH(pool_bwd, CNN_OP_POOL, pool, CNN_BWD_DATA, ws_size,
         (cnn_ctx * ctx, const cnn_pool_desc *d, const float *x, const float *y, const float *dy,
          float *dx, CNN_WS),
         (ctx, d, x, y, dy, dx, ws, ws_size))
DISPATCH(adapool_fwd, CNN_OP_ADAPOOL, adapool, CNN_FWD, ws_size,
         (cnn_ctx * ctx, const cnn_adapool_desc *d, const float *x, float *y, CNN_WS),
         (ctx, d, x, y, ws, ws_size))
DISPATCH(adapool_bwd, CNN_OP_ADAPOOL, adapool, CNN_BWD_DATA, ws_size,
         (cnn_ctx * ctx, const cnn_adapool_desc *d, const float *dy, float *dx, CNN_WS),
         (ctx, d, dy, dx, ws, ws_size))
DISPATCH(bn_fwd_train, CNN_OP_BN, bn, CNN_FWD, ws_size,
         (cnn_ctx * ctx, const cnn_bn_desc *d, const float *x, const float *gamma,
          const float *beta, float *y, float *running_mean, float *running_var, float *save_mean,
          float *save_invstd, CNN_WS),
         (ctx, d, x, gamma, beta, y, running_mean, running_var, save_mean, save_invstd, ws,
          ws_size))
DISPATCH(bn_fwd_infer, CNN_OP_BN, bn, CNN_FWD_INFER, ws_size,
         (cnn_ctx * ctx, const cnn_bn_desc *d, const float *x, const float *gamma,
          const float *beta, const float *running_mean, const float *running_var, float *y, CNN_WS),
         (ctx, d, x, gamma, beta, running_mean, running_var, y, ws, ws_size))
DISPATCH(bn_bwd, CNN_OP_BN, bn, CNN_BWD_DATA, ws_size,
         (cnn_ctx * ctx, const cnn_bn_desc *d, const float *x, const float *dy, const float *gamma,
          const float *save_mean, const float *save_invstd, float *dx, float *dgamma, float *dbeta,
          CNN_WS),
         (ctx, d, x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta, ws, ws_size))
DISPATCH(linear_fwd, CNN_OP_LINEAR, linear, CNN_FWD, ws_size,
         (cnn_ctx * ctx, const cnn_linear_desc *d, const float *x, const float *w, const float *b,
          float *y, CNN_WS),
         (ctx, d, x, w, b, y, ws, ws_size))
DISPATCH(linear_bwd_data, CNN_OP_LINEAR, linear, CNN_BWD_DATA, ws_size,
         (cnn_ctx * ctx, const cnn_linear_desc *d, const float *dy, const float *w, float *dx,
          CNN_WS),
         (ctx, d, dy, w, dx, ws, ws_size))
DISPATCH(linear_bwd_weight, CNN_OP_LINEAR, linear, CNN_BWD_WEIGHT, ws_size,
         (cnn_ctx * ctx, const cnn_linear_desc *d, const float *x, const float *dy, float *dw,
          float *db, CNN_WS),
         (ctx, d, x, dy, dw, db, ws, ws_size))
DISPATCH(act_fwd, CNN_OP_ACT, act, CNN_FWD, 0,
         (cnn_ctx * ctx, const cnn_act_desc *d, const float *x, float *y), (ctx, d, x, y))
DISPATCH(act_bwd, CNN_OP_ACT, act, CNN_BWD_DATA, 0,
         (cnn_ctx * ctx, const cnn_act_desc *d, const float *y, const float *dy, float *dx),
         (ctx, d, y, dy, dx))
DISPATCH(dropout_fwd, CNN_OP_DROPOUT, dropout, CNN_FWD, 0,
         (cnn_ctx * ctx, const cnn_dropout_desc *d, const float *x, float *y), (ctx, d, x, y))
DISPATCH(dropout_bwd, CNN_OP_DROPOUT, dropout, CNN_BWD_DATA, 0,
         (cnn_ctx * ctx, const cnn_dropout_desc *d, const float *dy, float *dx), (ctx, d, dy, dx))
DISPATCH(add_fwd, CNN_OP_ADD, add, CNN_FWD, 0,
         (cnn_ctx * ctx, const cnn_add_desc *d, const float *a, const float *b, float *y),
         (ctx, d, a, b, y))
DISPATCH(xent_fwd, CNN_OP_XENT, xent, CNN_FWD, 0,
         (cnn_ctx * ctx, const cnn_xent_desc *d, const float *logits, const int32_t *labels,
          float *prob, float *loss),
         (ctx, d, logits, labels, prob, loss))
DISPATCH(xent_bwd, CNN_OP_XENT, xent, CNN_BWD_DATA, 0,
         (cnn_ctx * ctx, const cnn_xent_desc *d, const float *prob, const int32_t *labels,
          float *dlogits),
         (ctx, d, prob, labels, dlogits))
DISPATCH(concat_fwd, CNN_OP_CONCAT, concat, CNN_FWD, 0,
         (cnn_ctx * ctx, const cnn_concat_desc *d, const float *const *xs, float *y),
         (ctx, d, xs, y))
DISPATCH(concat_bwd, CNN_OP_CONCAT, concat, CNN_BWD_DATA, 0,
         (cnn_ctx * ctx, const cnn_concat_desc *d, const float *dy, float *const *dxs),
         (ctx, d, dy, dxs))
