/* Element-wise operations: relu and sigmoid (oneDNN eltwise), and the
 * residual add (oneDNN binary). All on a flat 1-d array, plain layout.
 *
 * The backward pass gets the forward output y, not x, so both directions
 * use the *_use_dst_for_bwd algorithms: relu's gradient dy * (y > 0) and
 * the logistic's dy * y * (1 - y), exactly the interface's formulas. Their
 * forward is the ordinary relu / logistic. */
#include "onednn_internal.h"

static dnnl_alg_kind_t act_alg(cnn_act_mode mode)
{
    return mode == CNN_ACT_SIGMOID ? dnnl_eltwise_logistic_use_dst_for_bwd
                                   : dnnl_eltwise_relu_use_dst_for_bwd;
}

cnn_status cnn_onednn_act_build(cnn_onednn_state *st, cnn_onednn_entry *e, const cnn_act_desc *d,
                                cnn_pass pass)
{
    dnnl_memory_desc_t md;
    TRY(cnn_onednn_md1(&md, d->count));
    dnnl_eltwise_desc_t fwd, bwd;
    DNNL_CHECK(dnnl_eltwise_forward_desc_init(&fwd, dnnl_forward_training, act_alg(d->mode), &md,
                                              0.0f, 0.0f));
    int s;
    if (pass == CNN_FWD) {
        TRY(cnn_onednn_add_op(st, e, &fwd, NULL, &s));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SRC, &md, false));
        return cnn_onednn_user(st, e, s, DNNL_ARG_DST, &md, true);
    }
    DNNL_CHECK(dnnl_eltwise_backward_desc_init(&bwd, act_alg(d->mode), &md, &md, 0.0f, 0.0f));
    TRY(cnn_onednn_set_hint(st, e, &fwd));
    TRY(cnn_onednn_add_op(st, e, &bwd, e->hint, &s));
    TRY(cnn_onednn_user(st, e, s, DNNL_ARG_DST, &md, false));
    TRY(cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_DST, &md, false));
    return cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_SRC, &md, true);
}

cnn_status cnn_onednn_add_build(cnn_onednn_state *st, cnn_onednn_entry *e, const cnn_add_desc *d)
{
    dnnl_memory_desc_t md;
    TRY(cnn_onednn_md1(&md, d->count));
    dnnl_binary_desc_t bd;
    DNNL_CHECK(dnnl_binary_desc_init(&bd, dnnl_binary_add, &md, &md, &md));
    int s;
    TRY(cnn_onednn_add_op(st, e, &bd, NULL, &s));
    TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SRC_0, &md, false));
    TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SRC_1, &md, false));
    return cnn_onednn_user(st, e, s, DNNL_ARG_DST, &md, true);
}

static cnn_status act_call(cnn_ctx *ctx, const cnn_act_desc *d, cnn_pass pass, void *const *ptrs)
{
    cnn_op op = {.kind = CNN_OP_ACT};
    op.act = *d;
    return cnn_onednn_call(ctx, &op, pass, ptrs, NULL, 0);
}

cnn_status cnn_onednn_act_fwd(cnn_ctx *ctx, const cnn_act_desc *d, const float *x, float *y)
{
    void *ptrs[] = {(void *)x, y};
    return act_call(ctx, d, CNN_FWD, ptrs);
}

cnn_status cnn_onednn_act_bwd(cnn_ctx *ctx, const cnn_act_desc *d, const float *y, const float *dy,
                              float *dx)
{
    void *ptrs[] = {(void *)y, (void *)dy, dx};
    return act_call(ctx, d, CNN_BWD_DATA, ptrs);
}

cnn_status cnn_onednn_add_fwd(cnn_ctx *ctx, const cnn_add_desc *d, const float *a, const float *b,
                              float *y)
{
    cnn_op op = {.kind = CNN_OP_ADD};
    op.add = *d;
    void *ptrs[] = {(void *)a, (void *)b, y};
    return cnn_onednn_call(ctx, &op, CNN_FWD, ptrs, NULL, 0);
}
