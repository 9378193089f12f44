/* Fusion of a convolution or batch norm with the ReLU that follows it
 * (kernels/ops.h, "Fused ReLU"), decided per pair at bind.
 *
 * A pair fuses when the ReLU is the only reader of the producer's output
 * (so the pre-ReLU tensor is needed by nothing: conv backward reads its
 * input and dy, BN backward its input x and dy, neither its own output),
 * the bind does not set no_fuse, and the backend each forward pass of the
 * producer is routed to takes the fused descriptor. The producer then
 * writes relu(op(x)) straight into the ReLU's output slot and the ReLU node
 * runs nothing; the producer's own slot is left unwritten, and reading it
 * (cnn_model_get_output) is refused. Backward folds the ReLU's mask into
 * the producer's first pass over dy (conv: the bias gradient; BN: its
 * backward) where that pass's backend takes the fused descriptor; else the
 * ReLU's backward runs as a layer of its own, which needs only the ReLU's
 * output, so a fused forward never depends on a fused backward. */
#include <stdio.h>
#include <stdlib.h>

#include "model_internal.h"

static bool is_relu(const cnn_node *nd)
{
    return nd->op.kind == CNN_OP_ACT && nd->op.act.mode == CNN_ACT_RELU && nd->nin == 1;
}

/* The conv or BN node whose output only ReLU node j reads, else -1. */
static int producer_of(const cnn_net *net, int j)
{
    const cnn_node *r = &net->nodes[j];
    if (!is_relu(r) || r->in[0] == CNN_NET_INPUT)
        return -1;
    int i = r->in[0];
    cnn_op_kind k = net->nodes[i].op.kind;
    if (k != CNN_OP_CONV && k != CNN_OP_BN)
        return -1;
    for (int n = 0; n < net->nnodes; n++)
        for (int a = 0; a < net->nodes[n].nin; a++)
            if (net->nodes[n].in[a] == i && n != j)
                return -1;
    return i;
}

cnn_op model_fused_op(const cnn_op *op)
{
    cnn_op f = *op;
    if (f.kind == CNN_OP_CONV)
        f.conv.fuse_relu = true;
    else if (f.kind == CNN_OP_BN)
        f.bn.fuse_relu = true;
    return f;
}

/* Does the route of node i's pass take op? A pass that is not planned
 * (not run by this bind) does not stand in the way. */
static bool route_takes(const cnn_model *m, int i, cnn_pass p, const cnn_op *op)
{
    const cnn_route *r = &m->route[i][p];
    if (r->requested < 0)
        return true;
    return r->ctx >= 0 && cnn_supports(m->ctx[r->ctx], op, p);
}

static size_t ws_of(cnn_model *m, int i, cnn_pass p, const cnn_op *op)
{
    const cnn_route *r = &m->route[i][p];
    return r->ctx >= 0 ? cnn_workspace_size(m->ctx[r->ctx], op, p) : 0;
}

static void name_passes(cnn_model *m, int i, int j, const cnn_op *f)
{
    cnn_fuse *pi = &m->fuse[i], *pj = &m->fuse[j];
    for (int p = 0; p < CNN_PASS_COUNT; p++) {
        const cnn_route *r = &m->route[i][p];
        bool fused = p == CNN_FWD || p == CNN_FWD_INFER ||
                     (pi->bwd && p == (f->kind == CNN_OP_CONV ? CNN_BWD_BIAS : CNN_BWD_DATA));
        if (!fused || r->ctx < 0)
            continue;
        snprintf(pi->algo[p], sizeof pi->algo[p], "%s+relu",
                 cnn_algorithm(m->ctx[r->ctx], f, (cnn_pass)p));
    }
    snprintf(pj->algo[CNN_FWD], sizeof pj->algo[CNN_FWD], "fused into %s", m->net.nodes[i].name);
    if (pi->bwd)
        snprintf(pj->algo[CNN_BWD_DATA], sizeof pj->algo[CNN_BWD_DATA], "fused into %s",
                 m->net.nodes[i].name);
}

cnn_status model_plan_fusion(cnn_model *m, size_t *ws)
{
    int nn = m->net.nnodes;
    m->fuse = calloc((size_t)nn, sizeof *m->fuse);
    if (!m->fuse)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "model %s: no memory for the fusion plan",
                        m->desc->name);
    for (int i = 0; i < nn; i++)
        m->fuse[i].relu = m->fuse[i].into = -1;
    /* keep_activations asks for every layer's output, the pre-ReLU ones too */
    bool off = m->opts.no_fuse || (m->opts.forward_only && m->opts.keep_activations);
    for (int j = 0; j < nn && !off; j++) {
        int i = producer_of(&m->net, j);
        if (i < 0)
            continue;
        const cnn_op f = model_fused_op(&m->net.nodes[i].op);
        bool bn = f.kind == CNN_OP_BN;
        if (!route_takes(m, i, CNN_FWD, &f) || (bn && !route_takes(m, i, CNN_FWD_INFER, &f)))
            continue;
        m->fuse[i].relu = j;
        m->fuse[j].into = i;
        cnn_pass back = bn ? CNN_BWD_DATA : CNN_BWD_BIAS;
        cnn_op frozen = f;
        frozen.bn.global_stats = true;
        m->fuse[i].bwd = !m->opts.forward_only && m->route[i][back].ctx >= 0 &&
                         route_takes(m, i, back, &f) && (!bn || route_takes(m, i, back, &frozen));
        size_t need[4] = {ws_of(m, i, CNN_FWD, &f), bn ? ws_of(m, i, CNN_FWD_INFER, &f) : 0,
                          m->fuse[i].bwd ? ws_of(m, i, back, &f) : 0,
                          m->fuse[i].bwd && bn ? ws_of(m, i, back, &frozen) : 0};
        for (int k = 0; k < 4; k++)
            *ws = need[k] > *ws ? need[k] : *ws;
        name_passes(m, i, j, &f);
    }
    return CNN_OK;
}

int cnn_model_layer_fused(const cnn_model *m, int layer, cnn_pass pass)
{
    if (!m->bound || !m->fuse || layer < 0 || layer >= m->net.nnodes || pass < 0 ||
        pass >= CNN_PASS_COUNT)
        return -1;
    return m->fuse[layer].algo[pass][0]
               ? (m->fuse[layer].relu >= 0 ? m->fuse[layer].relu : m->fuse[layer].into)
               : -1;
}
