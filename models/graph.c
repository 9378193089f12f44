#include "net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void net_init(cnn_net *net, const char *model, cnn_shape input, cnn_shape def_input, int classes)
{
    memset(net, 0, sizeof *net);
    net->model = model;
    net->input = input;
    net->def_input = def_input;
    net->classes = classes;
    net->err = CNN_OK;
}

void net_free(cnn_net *net)
{
    free(net->nodes);
    free(net->tensors);
    net->nodes = NULL;
    net->tensors = NULL;
    net->nnodes = net->ntensors = 0;
}

cnn_shape net_shape(const cnn_net *net, int id)
{
    return id == CNN_NET_INPUT ? net->input : net->nodes[id].y;
}

int64_t net_numel(const cnn_net *net, int id)
{
    cnn_shape s = net_shape(net, id);
    return cnn_shape_numel(&s);
}

int net_channels(const cnn_net *net, int id)
{
    cnn_shape s = net_shape(net, id);
    return (int)s.dim[1];
}

const char *net_join(char *buf, const char *prefix, const char *suffix)
{
    snprintf(buf, CNN_NAME_BUF, "%s.%s", prefix, suffix);
    return buf;
}

static bool failed(const cnn_net *net, const int *ins, int count)
{
    if (net->err != CNN_OK)
        return true;
    for (int i = 0; i < count; i++)
        if (ins[i] < CNN_NET_INPUT || ins[i] >= net->nnodes)
            return true;
    return false;
}

static int set_error(cnn_net *net, cnn_status st)
{
    net->err = st;
    return CNN_NET_BAD;
}

/* Initialise op and append it as a node; a descriptor the input cannot
 * satisfy (an image too small for the kernel) names the layer and shapes. */
static int add_node(cnn_net *net, const char *name, cnn_op *op, const int *ins, int nin,
                    cnn_shape y_override)
{
    if (strlen(name) >= CNN_NAME_MAX)
        return set_error(net, cnn_fail(CNN_ERR_INVALID_ARG, "model %s: layer name '%s' is too long",
                                       net->model, name));
    cnn_status st = cnn_op_init(op);
    if (st != CNN_OK) {
        char why[512], xs[64], in[64];
        snprintf(why, sizeof why, "%s", cnn_last_error());
        cnn_shape x = net_shape(net, ins[0]);
        return set_error(net, cnn_fail(st,
                                       "model %s: layer %s (%s) cannot take input %s "
                                       "(network input %s): %s",
                                       net->model, name, cnn_op_name(op),
                                       cnn_shape_str(&x, xs, sizeof xs),
                                       cnn_shape_str(&net->input, in, sizeof in), why));
    }
    if (net->nnodes == net->cap_nodes) {
        int cap = net->cap_nodes ? 2 * net->cap_nodes : 64;
        cnn_node *p = realloc(net->nodes, (size_t)cap * sizeof *p);
        if (!p)
            return set_error(
                net, cnn_fail(CNN_ERR_OUT_OF_MEMORY, "model %s: no memory for layers", net->model));
        net->nodes = p;
        net->cap_nodes = cap;
    }
    cnn_node *nd = &net->nodes[net->nnodes];
    memset(nd, 0, sizeof *nd);
    snprintf(nd->name, sizeof nd->name, "%s", name);
    nd->op = *op;
    nd->y = y_override.ndim ? y_override : cnn_op_y_shape(op);
    nd->nin = nin;
    for (int i = 0; i < nin; i++)
        nd->in[i] = ins[i];
    nd->weight = nd->bias = nd->mean = nd->var = -1;
    nd->bn = -1;
    return net->nnodes++;
}

static int add_tensor(cnn_net *net, int node, const char *suffix, cnn_shape shape, bool trainable,
                      cnn_init_kind init, double arg)
{
    if (net->err != CNN_OK)
        return -1;
    if (net->ntensors == net->cap_tensors) {
        int cap = net->cap_tensors ? 2 * net->cap_tensors : 64;
        cnn_tensor_def *p = realloc(net->tensors, (size_t)cap * sizeof *p);
        if (!p) {
            set_error(net, cnn_fail(CNN_ERR_OUT_OF_MEMORY, "model %s: no memory for parameters",
                                    net->model));
            return -1;
        }
        net->tensors = p;
        net->cap_tensors = cap;
    }
    cnn_tensor_def *t = &net->tensors[net->ntensors];
    memset(t, 0, sizeof *t);
    int w = snprintf(t->key, sizeof t->key, "%s.%s", net->nodes[node].name, suffix);
    if (w < 0 || (size_t)w >= sizeof t->key) {
        set_error(net, cnn_fail(CNN_ERR_INVALID_ARG, "model %s: parameter key %s.%s is too long",
                                net->model, net->nodes[node].name, suffix));
        return -1;
    }
    t->shape = shape;
    t->trainable = trainable;
    t->init = init;
    t->init_arg = arg;
    t->node = node;
    return net->ntensors++;
}

int net_conv(cnn_net *net, const char *name, int in, int k, int r, int stride, int pad, bool bias)
{
    if (failed(net, &in, 1))
        return CNN_NET_BAD;
    cnn_shape x = net_shape(net, in);
    cnn_op op = {.kind = CNN_OP_CONV};
    op.conv = (cnn_conv_desc){.n = (int)x.dim[0],
                              .c = (int)x.dim[1],
                              .h = (int)x.dim[2],
                              .w = (int)x.dim[3],
                              .k = k,
                              .r = r,
                              .s = r,
                              .stride_h = stride,
                              .stride_w = stride,
                              .pad_h = pad,
                              .pad_w = pad,
                              .has_bias = bias};
    int id = add_node(net, name, &op, &in, 1, (cnn_shape){0});
    if (id < 0)
        return id;
    /* Kaiming normal, mode fan_out, ReLU gain: std = sqrt(2 / (k*r*s)). */
    double fan_out = (double)k * r * r;
    cnn_node *nd = &net->nodes[id];
    nd->weight = add_tensor(net, id, "weight", cnn_shape4(k, x.dim[1], r, r), true, CNN_INIT_NORMAL,
                            sqrt(2.0 / fan_out));
    if (bias)
        net->nodes[id].bias = add_tensor(net, id, "bias", cnn_shape1(k), true, CNN_INIT_ZEROS, 0);
    return net->err == CNN_OK ? id : CNN_NET_BAD;
}

int net_bn(cnn_net *net, const char *name, int in, double eps)
{
    if (failed(net, &in, 1))
        return CNN_NET_BAD;
    cnn_shape x = net_shape(net, in);
    cnn_op op = {.kind = CNN_OP_BN};
    op.bn = (cnn_bn_desc){.n = (int)x.dim[0],
                          .c = (int)x.dim[1],
                          .h = (int)x.dim[2],
                          .w = (int)x.dim[3],
                          .eps = eps,
                          .momentum = 0.1};
    int id = add_node(net, name, &op, &in, 1, (cnn_shape){0});
    if (id < 0)
        return id;
    cnn_shape c = cnn_shape1(x.dim[1]);
    int w = add_tensor(net, id, "weight", c, true, CNN_INIT_ONES, 0);
    int b = add_tensor(net, id, "bias", c, true, CNN_INIT_ZEROS, 0);
    int m = add_tensor(net, id, "running_mean", c, false, CNN_INIT_ZEROS, 0);
    int v = add_tensor(net, id, "running_var", c, false, CNN_INIT_ONES, 0);
    if (net->err != CNN_OK)
        return CNN_NET_BAD;
    cnn_node *nd = &net->nodes[id];
    nd->weight = w;
    nd->bias = b;
    nd->mean = m;
    nd->var = v;
    nd->bn = net->nbn++;
    return id;
}

static int act(cnn_net *net, const char *name, int in, cnn_act_mode mode)
{
    if (failed(net, &in, 1))
        return CNN_NET_BAD;
    cnn_op op = {.kind = CNN_OP_ACT};
    op.act.mode = mode;
    op.act.count = net_numel(net, in);
    return add_node(net, name, &op, &in, 1, net_shape(net, in));
}

int net_relu(cnn_net *net, const char *name, int in)
{
    return act(net, name, in, CNN_ACT_RELU);
}

int net_sigmoid(cnn_net *net, const char *name, int in)
{
    return act(net, name, in, CNN_ACT_SIGMOID);
}

static int pool(cnn_net *net, const char *name, int in, cnn_pool_mode mode, int k, int stride,
                int pad, bool ceil_mode)
{
    if (failed(net, &in, 1))
        return CNN_NET_BAD;
    cnn_shape x = net_shape(net, in);
    cnn_op op = {.kind = CNN_OP_POOL};
    op.pool = (cnn_pool_desc){.mode = mode,
                              .n = (int)x.dim[0],
                              .c = (int)x.dim[1],
                              .h = (int)x.dim[2],
                              .w = (int)x.dim[3],
                              .kh = k,
                              .kw = k,
                              .stride_h = stride,
                              .stride_w = stride,
                              .pad_h = pad,
                              .pad_w = pad,
                              .ceil_mode = ceil_mode};
    return add_node(net, name, &op, &in, 1, (cnn_shape){0});
}

int net_maxpool(cnn_net *net, const char *name, int in, int k, int stride, int pad, bool ceil_mode)
{
    return pool(net, name, in, CNN_POOL_MAX, k, stride, pad, ceil_mode);
}

int net_avgpool(cnn_net *net, const char *name, int in, int k, int stride, int pad, bool ceil_mode)
{
    return pool(net, name, in, CNN_POOL_AVG, k, stride, pad, ceil_mode);
}

int net_adapool(cnn_net *net, const char *name, int in, int p, int q)
{
    if (failed(net, &in, 1))
        return CNN_NET_BAD;
    cnn_shape x = net_shape(net, in);
    cnn_op op = {.kind = CNN_OP_ADAPOOL};
    op.adapool = (cnn_adapool_desc){.n = (int)x.dim[0],
                                    .c = (int)x.dim[1],
                                    .h = (int)x.dim[2],
                                    .w = (int)x.dim[3],
                                    .p = p,
                                    .q = q};
    return add_node(net, name, &op, &in, 1, (cnn_shape){0});
}

int net_linear(cnn_net *net, const char *name, int in, int in_features, int out, bool bias)
{
    if (failed(net, &in, 1))
        return CNN_NET_BAD;
    cnn_shape x = net_shape(net, in);
    int64_t features = cnn_shape_numel(&x) / x.dim[0];
    if (in_features && features != in_features) {
        char xs[64], given[64], usual[64];
        cnn_shape_str(&x, xs, sizeof xs);
        cnn_shape_str(&net->input, given, sizeof given);
        cnn_shape def = net->def_input;
        def.dim[0] = net->input.dim[0];
        cnn_shape_str(&def, usual, sizeof usual);
        return set_error(net, cnn_fail(CNN_ERR_INVALID_ARG,
                                       "model %s: layer %s (linear %d -> %d) needs %d input "
                                       "features, but input %s gives %s = %lld features; expected "
                                       "input %s (this model's linear layers fix the image size)",
                                       net->model, name, in_features, out, in_features, given, xs,
                                       (long long)features, usual));
    }
    cnn_op op = {.kind = CNN_OP_LINEAR};
    op.linear =
        (cnn_linear_desc){.n = (int)x.dim[0], .in = (int)features, .out = out, .has_bias = bias};
    int id = add_node(net, name, &op, &in, 1, (cnn_shape){0});
    if (id < 0)
        return id;
    /* PyTorch's nn.Linear default: weight and bias U(-1/sqrt(in), 1/sqrt(in)). */
    double bound = 1.0 / sqrt((double)features);
    int w = add_tensor(net, id, "weight", cnn_shape2(out, features), true, CNN_INIT_UNIFORM, bound);
    net->nodes[id].weight = w;
    if (bias)
        net->nodes[id].bias =
            add_tensor(net, id, "bias", cnn_shape1(out), true, CNN_INIT_UNIFORM, bound);
    return net->err == CNN_OK ? id : CNN_NET_BAD;
}

int net_dropout(cnn_net *net, const char *name, int in, double p)
{
    if (failed(net, &in, 1))
        return CNN_NET_BAD;
    cnn_op op = {.kind = CNN_OP_DROPOUT};
    op.dropout.p = p;
    op.dropout.count = net_numel(net, in);
    int id = add_node(net, name, &op, &in, 1, net_shape(net, in));
    if (id >= 0)
        net->nodes[id].dropout_p = p;
    return id;
}

int net_concat(cnn_net *net, const char *name, const int *ins, int count)
{
    if (count < 1 || count > CNN_MAX_CONCAT)
        return set_error(net, cnn_fail(CNN_ERR_INVALID_ARG,
                                       "model %s: layer %s concatenates %d inputs, at most %d",
                                       net->model, name, count, CNN_MAX_CONCAT));
    if (failed(net, ins, count))
        return CNN_NET_BAD;
    cnn_shape x0 = net_shape(net, ins[0]);
    cnn_op op = {.kind = CNN_OP_CONCAT};
    op.concat.n = (int)x0.dim[0];
    op.concat.h = (int)x0.dim[2];
    op.concat.w = (int)x0.dim[3];
    op.concat.count = count;
    for (int i = 0; i < count; i++) {
        cnn_shape x = net_shape(net, ins[i]);
        if (x.ndim != 4 || x.dim[0] != x0.dim[0] || x.dim[2] != x0.dim[2] ||
            x.dim[3] != x0.dim[3]) {
            char a[64], b[64];
            return set_error(net, cnn_fail(CNN_ERR_INVALID_ARG,
                                           "model %s: layer %s: input %d has shape %s, input 0 "
                                           "has %s; they must agree in n, h and w",
                                           net->model, name, i, cnn_shape_str(&x, a, sizeof a),
                                           cnn_shape_str(&x0, b, sizeof b)));
        }
        op.concat.c[i] = (int)x.dim[1];
    }
    return add_node(net, name, &op, ins, count, (cnn_shape){0});
}

int net_add(cnn_net *net, const char *name, int a, int b)
{
    int ins[2] = {a, b};
    if (failed(net, ins, 2))
        return CNN_NET_BAD;
    cnn_shape sa = net_shape(net, a), sb = net_shape(net, b);
    if (!cnn_shape_eq(&sa, &sb)) {
        char x[64], y[64];
        return set_error(net, cnn_fail(CNN_ERR_INVALID_ARG,
                                       "model %s: layer %s adds tensors of shapes %s and %s",
                                       net->model, name, cnn_shape_str(&sa, x, sizeof x),
                                       cnn_shape_str(&sb, y, sizeof y)));
    }
    cnn_op op = {.kind = CNN_OP_ADD};
    op.add.count = cnn_shape_numel(&sa);
    return add_node(net, name, &op, ins, 2, sa);
}

cnn_status net_finish(cnn_net *net)
{
    if (net->err != CNN_OK)
        return net->err;
    if (net->nnodes == 0)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s has no layers", net->model);
    cnn_shape y = net->nodes[net->nnodes - 1].y;
    if (y.ndim != 2 || y.dim[1] != net->classes) {
        char s[64];
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: output has shape %s, expected [n][%d]",
                        net->model, cnn_shape_str(&y, s, sizeof s), net->classes);
    }
    int64_t off = 0;
    net->trainable_floats = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < net->ntensors; i++) {
            cnn_tensor_def *t = &net->tensors[i];
            if (t->trainable != (pass == 0))
                continue;
            t->offset = off;
            off = net_align(off + cnn_shape_numel(&t->shape));
            if (t->trainable)
                net->trainable_floats += cnn_shape_numel(&t->shape);
        }
        if (pass == 0)
            net->grad_floats = off;
    }
    net->block_floats = off;
    return CNN_OK;
}
