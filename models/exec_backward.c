/* Backward: the loss gradient enters the last node's gradient slot, then the
 * nodes run in reverse order. A node's gradient slot is complete when its
 * turn comes, because every consumer comes after it in the list.
 *
 * Backend entries overwrite their outputs, so gradients that meet at a node
 * read by several consumers (a ResNet block input, an Inception input) are
 * summed explicitly: the first contribution is written straight into the
 * slot, each later one into the scratch area and then added with add_fwd
 * as y = a + b with y aliasing a. backend.h does not promise that aliasing
 * works; an element-wise kernel reads a[i] before writing y[i], so it does,
 * and the whole-model checks against PyTorch on naive, im2col and oneDNN
 * (ResNet, GoogLeNet) would show a backend where it does not. */
#include "model_internal.h"

/* A fused conv/BN + ReLU pair whose backward is folded (fuse.c): the ReLU
 * runs nothing, and its producer's first pass over dy reads the ReLU's
 * output and gradient and applies the mask (kernels/ops.h, "Fused ReLU"). */

static float *dy_of(const cnn_model *m, int id)
{
    return model_act(m, m->mem[id].dy);
}

/* Where a contribution to node src's gradient goes: its own slot while
 * nothing is there yet, else the scratch at float offset `piece`. */
static float *target_for(const cnn_model *m, int src, int64_t piece)
{
    return m->written[src] ? model_act(m, m->scratch_off + piece) : dy_of(m, src);
}

/* Fold a contribution written to `target` (by target_for) into src's slot:
 * nothing to do when it went straight there, else added to what the slot
 * holds; either way the slot now counts as written. */
static cnn_status commit(cnn_model *m, int src, const float *target)
{
    float *dy = dy_of(m, src);
    m->written[src] = true;
    if (target == dy)
        return CNN_OK;
    cnn_ctx *ctx;
    cnn_status st = model_route(m, CNN_LAYER_SUM, CNN_FWD, &ctx);
    if (st != CNN_OK)
        return st;
    cnn_add_desc d = {.count = net_numel(&m->net, src)};
    return cnn_add_fwd(ctx, &d, dy, target, dy);
}

static cnn_status concat_backward(cnn_model *m, int i, cnn_ctx *ctx)
{
    const cnn_node *nd = &m->net.nodes[i];
    float *dxs[CNN_MAX_CONCAT];
    int64_t piece = 0;
    for (int k = 0; k < nd->nin; k++) {
        int src = nd->in[k];
        bool taken = src == CNN_NET_INPUT;
        for (int j = 0; j < k && !taken; j++)
            taken = nd->in[j] == src;
        /* Pieces for the image or for a node already fed by an earlier piece
         * of this concat go to the scratch too. */
        dxs[k] = taken || m->written[src] ? model_act(m, m->scratch_off + piece) : dy_of(m, src);
        piece += net_align(net_numel(&m->net, src));
    }
    cnn_status st = cnn_concat_bwd(ctx, &nd->op.concat, dy_of(m, i), dxs);
    for (int k = 0; k < nd->nin && st == CNN_OK; k++)
        if (nd->in[k] != CNN_NET_INPUT)
            st = commit(m, nd->in[k], dxs[k]);
    return st;
}

/* The gradient of an add flows unchanged into both inputs: copied (added to
 * zeros) into an empty slot, added into a slot that already holds one. */
static cnn_status add_backward(cnn_model *m, int i, cnn_ctx **ctx)
{
    const cnn_node *nd = &m->net.nodes[i];
    cnn_status st = model_route(m, CNN_LAYER_SUM, CNN_FWD, ctx);
    for (int k = 0; k < nd->nin && st == CNN_OK; k++) {
        int src = nd->in[k];
        if (src == CNN_NET_INPUT)
            continue;
        float *dst = dy_of(m, src);
        const float *other = m->written[src] ? dst : model_act(m, m->zeros_off);
        st = cnn_add_fwd(*ctx, &nd->op.add, other, dy_of(m, i), dst);
        m->written[src] = true;
    }
    return st;
}

static cnn_status backward_node(cnn_model *m, int i, cnn_ctx **ctx, cnn_pass *pass)
{
    const cnn_node *nd = &m->net.nodes[i];
    int src = nd->in[0];
    const float *x = model_y(m, src), *y = model_y(m, i), *dy = dy_of(m, i);
    bool want_dx = src != CNN_NET_INPUT;
    float *dx = want_dx ? target_for(m, src, 0) : NULL;
    cnn_status st = CNN_OK;
    *pass = CNN_BWD_DATA;
    /* A ReLU whose mask its producer's first pass over dy takes (fuse.c):
     * nothing here, and the producer's gradient slot, which that pass
     * writes or does without, counts as written. */
    if (model_relu_fused(m, i) && m->fuse[m->fuse[i].into].bwd) {
        m->written[src] = true;
        return CNN_OK;
    }
    /* The producer of such a pair reads the ReLU's output and gradient. */
    int relu = model_fused_relu(m, i);
    bool fold = relu >= 0 && m->fuse[i].bwd;
    const cnn_op fused = fold ? model_fused_op(&nd->op) : nd->op;
    switch (nd->op.kind) {
    case CNN_OP_CONV: {
        const cnn_conv_desc *d = &nd->op.conv;
        if (fold) {
            /* dz = dy * (y > 0) into this node's slot, and the bias
             * gradient, in one pass; weights and data then take dz */
            *pass = CNN_BWD_BIAS;
            st = model_route(m, i, CNN_BWD_BIAS, ctx);
            if (st == CNN_OK)
                st = cnn_conv_bwd_bias(*ctx, &fused.conv, model_y(m, relu), dy_of(m, relu),
                                       model_grad_ptr(m, nd->bias), dy_of(m, i), m->ws, m->ws_size);
            if (st != CNN_OK)
                return st;
        }
        *pass = CNN_BWD_WEIGHT;
        st = model_route(m, i, CNN_BWD_WEIGHT, ctx);
        if (st == CNN_OK)
            st = cnn_conv_bwd_filter(*ctx, d, x, dy, model_grad_ptr(m, nd->weight), m->ws,
                                     m->ws_size);
        if (st == CNN_OK && d->has_bias && !fold) {
            *pass = CNN_BWD_BIAS;
            st = model_route(m, i, CNN_BWD_BIAS, ctx);
            if (st == CNN_OK)
                st = cnn_conv_bwd_bias(*ctx, d, NULL, dy, model_grad_ptr(m, nd->bias), NULL, m->ws,
                                       m->ws_size);
        }
        if (st != CNN_OK || !want_dx)
            return st;
        *pass = CNN_BWD_DATA;
        st = model_route(m, i, CNN_BWD_DATA, ctx);
        if (st == CNN_OK)
            st = cnn_conv_bwd_data(*ctx, d, dy, model_tensor_ptr(m, nd->weight), dx, m->ws,
                                   m->ws_size);
        break;
    }
    case CNN_OP_LINEAR:
        *pass = CNN_BWD_WEIGHT;
        st = model_route(m, i, CNN_BWD_WEIGHT, ctx);
        if (st == CNN_OK)
            st = cnn_linear_bwd_weight(*ctx, &nd->op.linear, x, dy, model_grad_ptr(m, nd->weight),
                                       model_grad_ptr(m, nd->bias), m->ws, m->ws_size);
        if (st != CNN_OK || !want_dx)
            return st;
        *pass = CNN_BWD_DATA;
        st = model_route(m, i, CNN_BWD_DATA, ctx);
        if (st == CNN_OK)
            st = cnn_linear_bwd_data(*ctx, &nd->op.linear, dy, model_tensor_ptr(m, nd->weight), dx,
                                     m->ws, m->ws_size);
        break;
    case CNN_OP_BN: {
        /* eval mode: the statistics are the running ones, and constants; the
         * backend reads them where they are (backend_ops.h, bn_bwd) */
        cnn_bn_desc bn = fused.bn;
        bn.global_stats = m->fwd_mode == CNN_MODE_EVAL;
        const float *mean =
            bn.global_stats ? model_tensor_ptr(m, nd->mean) : model_act(m, m->mem[i].save_mean);
        const float *spread =
            bn.global_stats ? model_tensor_ptr(m, nd->var) : model_act(m, m->mem[i].save_invstd);
        st = model_route(m, i, CNN_BWD_DATA, ctx);
        if (st == CNN_OK)
            st = cnn_bn_bwd(*ctx, &bn, x, fold ? model_y(m, relu) : NULL,
                            fold ? dy_of(m, relu) : dy, model_tensor_ptr(m, nd->weight), mean,
                            spread, want_dx ? dx : model_act(m, m->scratch_off),
                            model_grad_ptr(m, nd->weight), model_grad_ptr(m, nd->bias), m->ws,
                            m->ws_size);
        break;
    }
    case CNN_OP_CONCAT:
        st = model_route(m, i, CNN_BWD_DATA, ctx);
        return st == CNN_OK ? concat_backward(m, i, *ctx) : st;
    case CNN_OP_ADD: *pass = CNN_FWD; return add_backward(m, i, ctx);
    default:
        /* The rest are data-only: nothing to do when they read the image. */
        if (!want_dx)
            return CNN_OK;
        st = model_route(m, i, CNN_BWD_DATA, ctx);
        if (st != CNN_OK)
            return st;
        switch (nd->op.kind) {
        case CNN_OP_POOL:
            st = cnn_pool_bwd(*ctx, &nd->op.pool, x, y, dy, dx, m->ws, m->ws_size);
            break;
        case CNN_OP_ADAPOOL:
            st = cnn_adapool_bwd(*ctx, &nd->op.adapool, dy, dx, m->ws, m->ws_size);
            break;
        case CNN_OP_ACT: st = cnn_act_bwd(*ctx, &nd->op.act, y, dy, dx); break;
        case CNN_OP_DROPOUT: st = cnn_dropout_bwd(*ctx, &m->dropout[i], dy, dx); break;
        default:
            st = cnn_fail(CNN_ERR_INVALID_ARG, "operation %s cannot be a layer",
                          cnn_op_name(&nd->op));
        }
        break;
    }
    return st == CNN_OK && want_dx ? commit(m, src, dx) : st;
}

cnn_status cnn_model_backward(cnn_model *m)
{
    if (!m->bound || m->opts.forward_only)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: %s", m->desc->name,
                        m->bound ? "bound forward-only, no backward"
                                 : "bind it to a backend before backward");
    if (!m->have_loss)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "model %s: backward needs a forward pass and the loss first",
                        m->desc->name);
    if (m->acts_spent)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "model %s: backward needs a new forward: the last backward reused the "
                        "memory of activations it read (bind with keep_activations to run "
                        "backward again on one forward)",
                        m->desc->name);
    m->acts_spent = !m->opts.keep_activations;
    int last = m->net.nnodes - 1;
    for (int i = 0; i <= last; i++)
        m->written[i] = false;
    cnn_ctx *ctx;
    cnn_status st = model_route(m, CNN_LAYER_LOSS, CNN_BWD_DATA, &ctx);
    if (st == CNN_OK)
        st = cnn_xent_bwd(ctx, &m->xent.xent, model_act(m, m->prob_off),
                          (const int32_t *)model_act(m, m->labels_off), dy_of(m, last));
    if (st != CNN_OK)
        return model_layer_error(m, CNN_LAYER_LOSS, CNN_BWD_DATA, st);
    m->written[last] = true;
    for (int i = last; i >= 0; i--) {
        cnn_pass pass = CNN_BWD_DATA;
        ctx = NULL;
        double t0;
        st = model_before_layer(m, &t0);
        /* A node no path from the loss reaches gets a zero gradient, so its
         * parameters' gradients are exactly zero, not stale. */
        if (st == CNN_OK && !m->written[i]) {
            st =
                cnn_mem_zero(m->ctx[0], dy_of(m, i), (size_t)net_numel(&m->net, i) * sizeof(float));
            m->written[i] = true;
        }
        if (st == CNN_OK)
            st = backward_node(m, i, &ctx, &pass);
        st = model_after_layer(m, i, CNN_PHASE_BACKWARD, st, t0);
        if (st != CNN_OK)
            return model_layer_error(m, i, pass, st);
    }
    return CNN_OK;
}
