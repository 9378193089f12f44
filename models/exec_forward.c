/* Forward: one pass over the nodes in order, each on the backend its route
 * names. Every node writes its own output slot, so backward has every
 * activation it needs: the conv/linear/BN input x, the pooling input and
 * output, and the activation output y (relu and sigmoid backward read y).
 * The exception is a fused pair (fuse.c): the conv or BN writes the ReLU's
 * slot, the ReLU runs nothing, and the pre-ReLU value, which no backward
 * reads, is never stored. */
#include "model_internal.h"

static cnn_status forward_node(cnn_model *m, int i, cnn_mode mode, cnn_ctx **ctx, cnn_pass *pass)
{
    const cnn_node *nd = &m->net.nodes[i];
    const float *x = model_y(m, nd->in[0]);
    float *y = model_y(m, i);
    *pass = CNN_FWD;
    if (nd->op.kind == CNN_OP_BN && mode == CNN_MODE_EVAL)
        *pass = CNN_FWD_INFER;
    /* a fused pair (fuse.c): the producer writes the ReLU's output, the
     * ReLU runs nothing */
    if (model_relu_fused(m, i))
        return CNN_OK;
    int relu = model_fused_relu(m, i);
    const cnn_op op = relu >= 0 ? model_fused_op(&nd->op) : nd->op;
    if (relu >= 0)
        y = model_y(m, relu);
    cnn_status st = model_route(m, i, *pass, ctx);
    if (st != CNN_OK)
        return st;
    cnn_ctx *c = *ctx;
    switch (nd->op.kind) {
    case CNN_OP_CONV:
        return cnn_conv_fwd(c, &op.conv, x, model_tensor_ptr(m, nd->weight),
                            model_tensor_ptr(m, nd->bias), y, m->ws, m->ws_size);
    case CNN_OP_POOL: return cnn_pool_fwd(c, &nd->op.pool, x, y, m->ws, m->ws_size);
    case CNN_OP_ADAPOOL: return cnn_adapool_fwd(c, &nd->op.adapool, x, y, m->ws, m->ws_size);
    case CNN_OP_BN:
        if (mode == CNN_MODE_EVAL)
            return cnn_bn_fwd_infer(c, &op.bn, x, model_tensor_ptr(m, nd->weight),
                                    model_tensor_ptr(m, nd->bias), model_tensor_ptr(m, nd->mean),
                                    model_tensor_ptr(m, nd->var), y, m->ws, m->ws_size);
        st = cnn_bn_fwd_train(c, &op.bn, x, model_tensor_ptr(m, nd->weight),
                              model_tensor_ptr(m, nd->bias), y, model_tensor_ptr(m, nd->mean),
                              model_tensor_ptr(m, nd->var), model_act(m, m->mem[i].save_mean),
                              model_act(m, m->mem[i].save_invstd), m->ws, m->ws_size);
        if (st == CNN_OK)
            m->batches_tracked[nd->bn]++;
        return st;
    case CNN_OP_LINEAR:
        return cnn_linear_fwd(c, &nd->op.linear, x, model_tensor_ptr(m, nd->weight),
                              model_tensor_ptr(m, nd->bias), y, m->ws, m->ws_size);
    case CNN_OP_ACT: return cnn_act_fwd(c, &nd->op.act, x, y);
    case CNN_OP_DROPOUT:
        /* Eval mode runs the same entry with p = 0, which keeps every element
         * and scales by 1: an exact copy on any backend, and its backward is
         * the identity. The descriptor of this forward, seed included, is
         * kept for backward; the layer's own stays as built. */
        m->dropout[i] = nd->op.dropout;
        m->dropout[i].p = mode == CNN_MODE_TRAIN ? nd->dropout_p : 0.0;
        m->dropout[i].seed = cnn_dropout_seed(m->opts.seed, i, m->step);
        return cnn_dropout_fwd(c, &m->dropout[i], x, y);
    case CNN_OP_CONCAT: {
        const float *xs[CNN_MAX_CONCAT];
        for (int k = 0; k < nd->nin; k++)
            xs[k] = model_y(m, nd->in[k]);
        return cnn_concat_fwd(c, &nd->op.concat, xs, y);
    }
    case CNN_OP_ADD: return cnn_add_fwd(c, &nd->op.add, x, model_y(m, nd->in[1]), y);
    default:
        return cnn_fail(CNN_ERR_INVALID_ARG, "operation %s cannot be a layer",
                        cnn_op_name(&nd->op));
    }
}

cnn_status cnn_model_forward(cnn_model *m, cnn_mode mode)
{
    if (!m->bound)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: bind it to a backend before forward",
                        m->desc->name);
    if (mode != CNN_MODE_EVAL && mode != CNN_MODE_TRAIN)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: unknown mode %d", m->desc->name, (int)mode);
    m->have_forward = m->have_loss = m->acts_spent = false;
    for (int i = 0; i < m->net.nnodes; i++) {
        cnn_ctx *ctx = NULL;
        cnn_pass pass;
        pass = CNN_FWD;
        double t0;
        cnn_status st = model_before_layer(m, &t0);
        if (st == CNN_OK)
            st = forward_node(m, i, mode, &ctx, &pass);
        st = model_after_layer(m, i, CNN_PHASE_FORWARD, st, t0);
        if (st != CNN_OK)
            return model_layer_error(m, i, pass, st);
    }
    if (mode == CNN_MODE_TRAIN)
        m->step++;
    m->fwd_mode = mode;
    m->have_forward = true;
    return CNN_OK;
}

cnn_status cnn_model_loss(cnn_model *m, float *loss)
{
    if (!m->have_forward || !m->have_labels)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: the loss needs a forward pass and labels",
                        m->desc->name);
    cnn_ctx *ctx;
    cnn_status st = model_route(m, CNN_LAYER_LOSS, CNN_FWD, &ctx);
    if (st == CNN_OK)
        st = cnn_xent_fwd(ctx, &m->xent.xent, model_y(m, m->net.nnodes - 1),
                          (const int32_t *)model_act(m, m->labels_off), model_act(m, m->prob_off),
                          model_act(m, m->loss_off));
    m->have_loss = st == CNN_OK;
    if (st == CNN_OK && loss)
        st = cnn_model_get_loss(m, loss);
    if (st != CNN_OK) {
        m->have_loss = false;
        return model_layer_error(m, CNN_LAYER_LOSS, CNN_FWD, st);
    }
    return CNN_OK;
}

cnn_status cnn_model_get_loss(cnn_model *m, float *loss)
{
    if (!m->have_loss)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "model %s: no loss has been computed since the last forward pass (or "
                        "change of input, labels or weights); call cnn_model_loss first",
                        m->desc->name);
    /* the one read-back, when the caller asks for the value */
    return cnn_mem_download(m->ctx[0], loss, model_act(m, m->loss_off), sizeof *loss);
}
