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

/* One checked wrapper per row of backend_ops.h. */
#define DISPATCH(ARG, ENTRY, KIND, DESC, PASS, WS, PARAMS, ARGS)                                   \
    cnn_status cnn_##ENTRY CNN_ENTRY_PARAMS(DESC, WS, PARAMS)                                      \
    {                                                                                              \
        cnn_op op = {.kind = KIND, .DESC = *d};                                                    \
        cnn_status st = admit(ctx, &op, PASS, ctx->backend->ENTRY != NULL, CNN_WS_SIZE_##WS);      \
        if (st != CNN_OK)                                                                          \
            return st;                                                                             \
        return ctx->backend->ENTRY CNN_ENTRY_ARGS(WS, ARGS);                                       \
    }
CNN_BACKEND_OPS(DISPATCH, )
