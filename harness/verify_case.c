#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "verify.h"

const char *vt_name(vt t)
{
    static const char *const names[VT_CAT] = {
        [VT_X] = "x",
        [VT_W] = "w",
        [VT_B] = "b",
        [VT_Y] = "y",
        [VT_DY] = "dy",
        [VT_DX] = "dx",
        [VT_DW] = "dw",
        [VT_DB] = "db",
        [VT_GAMMA] = "gamma",
        [VT_BETA] = "beta",
        [VT_RMEAN] = "running_mean",
        [VT_RVAR] = "running_var",
        [VT_SMEAN] = "save_mean",
        [VT_SINVSTD] = "save_invstd",
        [VT_DGAMMA] = "dgamma",
        [VT_DBETA] = "dbeta",
        [VT_PROB] = "prob",
        [VT_LOSS] = "loss",
        [VT_LABELS] = "labels",
        [VT_PARAM] = "param",
        [VT_GRAD] = "grad",
        [VT_STATE] = "state",
    };
    static _Thread_local char buf[16];
    if (t < VT_CAT)
        return names[t];
    if (t < VT_DCAT) {
        snprintf(buf, sizeof buf, "x%d", (int)(t - VT_CAT));
        return buf;
    }
    snprintf(buf, sizeof buf, "dx%d", (int)(t - VT_DCAT));
    return buf;
}

/* splitmix64: seeded and portable, so a verify run is reproducible. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float uniform(uint64_t *s, float lo, float hi)
{
    return lo + (hi - lo) * (float)((next_u64(s) >> 40) * (1.0 / 16777216.0));
}

static void fill(float *x, int64_t n, uint64_t *s, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = uniform(s, lo, hi);
}

/* Distinct values (a shuffled ramp in [-1, 1)), so max pooling never meets a
 * tie: a tie would make the backward pass's routing a matter of convention,
 * which is tested on its own elsewhere. */
static void fill_distinct(float *x, int64_t n, uint64_t *s)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = -1.0f + 2.0f * (float)i / (float)n;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(next_u64(s) % (uint64_t)(i + 1));
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

static cnn_status alloc_tensors(vcase *c)
{
    /* too big a case fails with both sizes before an allocation does */
    double need = 0, avail = cnn_host_memory_available();
    for (int t = 0; t < VT_COUNT; t++)
        need += (double)c->numel[t] * 4;
    if (avail > 0 && need > avail)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY,
                        "%s needs %.0f bytes (%.2f GiB) of host memory for its tensors, more than "
                        "the %.0f bytes (%.2f GiB) available (MemAvailable in /proc/meminfo); "
                        "nothing was allocated",
                        c->shape, need, need / 1073741824.0, avail, avail / 1073741824.0);
    for (int t = 0; t < VT_COUNT; t++) {
        if (!c->numel[t])
            continue;
        c->host[t] = calloc((size_t)c->numel[t], 4);
        if (!c->host[t])
            return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "verify: no memory for %s of %s", vt_name((vt)t),
                            c->shape);
    }
    return CNN_OK;
}

/* Which tensors exist for each kind of op, and their sizes. */
static void size_tensors(vcase *c)
{
    const cnn_op *op = &c->op;
    int64_t *m = c->numel;
    cnn_shape xs = cnn_op_x_shape(op), ys = cnn_op_y_shape(op);
    int64_t x = cnn_shape_numel(&xs), y = cnn_shape_numel(&ys);
    switch (op->kind) {
    case CNN_OP_CONV:
        /* with fuse_relu, dx holds bwd_bias's dz (kernels/ops.h), the size of
         * y: the data pass has no fused form and is not run */
        m[VT_X] = x;
        m[VT_DX] = op->conv.fuse_relu ? y : x;
        m[VT_Y] = m[VT_DY] = y;
        m[VT_W] = m[VT_DW] = (int64_t)op->conv.k * op->conv.c * op->conv.r * op->conv.s;
        if (op->conv.has_bias)
            m[VT_B] = m[VT_DB] = op->conv.k;
        break;
    case CNN_OP_LINEAR:
        m[VT_X] = m[VT_DX] = x;
        m[VT_Y] = m[VT_DY] = y;
        m[VT_W] = m[VT_DW] = (int64_t)op->linear.in * op->linear.out;
        if (op->linear.has_bias)
            m[VT_B] = m[VT_DB] = op->linear.out;
        break;
    case CNN_OP_BN:
        m[VT_X] = m[VT_DX] = m[VT_Y] = m[VT_DY] = x;
        m[VT_GAMMA] = m[VT_BETA] = m[VT_RMEAN] = m[VT_RVAR] = op->bn.c;
        m[VT_SMEAN] = m[VT_SINVSTD] = m[VT_DGAMMA] = m[VT_DBETA] = op->bn.c;
        break;
    case CNN_OP_XENT:
        m[VT_X] = m[VT_DX] = m[VT_PROB] = x;
        m[VT_LABELS] = op->xent.n;
        m[VT_LOSS] = 1;
        break;
    case CNN_OP_CONCAT:
        m[VT_Y] = m[VT_DY] = y;
        for (int i = 0; i < op->concat.count; i++)
            m[VT_CAT + i] = m[VT_DCAT + i] =
                (int64_t)op->concat.n * op->concat.c[i] * op->concat.h * op->concat.w;
        break;
    case CNN_OP_ADD: m[VT_X] = m[VT_W] = m[VT_Y] = x; break;
    case CNN_OP_OPTIM:
        m[VT_PARAM] = m[VT_GRAD] = x;
        m[VT_STATE] = cnn_optim_state_count(&op->optim);
        break;
    default: /* pool, adaptive pool, activation, dropout */
        m[VT_X] = m[VT_DX] = x;
        m[VT_Y] = m[VT_DY] = y;
    }
}

/* An optimizer's state as after some steps: momentum buffers and Adam's
 * first moments of either sign, Adam's second moments positive (they are
 * sums of squares) and of the size of a squared gradient, so that sqrt(v)
 * and eps are both in play for the smallest. At step 1 the state must be
 * ignored, and these values show when it is not. */
static void fill_optim(vcase *c, uint64_t *s)
{
    const cnn_optim_desc *d = &c->op.optim;
    float *p = c->host[VT_PARAM], *g = c->host[VT_GRAD], *state = c->host[VT_STATE];
    fill(p, d->count, s, -1.0f, 1.0f);
    fill(g, d->count, s, -1.0f, 1.0f);
    if (d->mode == CNN_OPTIM_ADAM) {
        fill(state, d->count, s, -0.3f, 0.3f);
        fill(state + d->count, d->count, s, 0.0f, 0.5f);
    } else if (state) {
        fill(state, d->count, s, -1.0f, 1.0f);
    }
}

cnn_status vcase_init(vcase *c, const cnn_op *op, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    c->op = *op;
    cnn_op_str(op, c->shape, sizeof c->shape);
    size_tensors(c);
    cnn_status st = alloc_tensors(c);
    if (st != CNN_OK)
        return st;
    uint64_t s = seed ^ 0x5DEECE66Dull;
    float **h = (float **)c->host;
    if (op->kind == CNN_OP_POOL && op->pool.mode == CNN_POOL_MAX)
        fill_distinct(h[VT_X], c->numel[VT_X], &s);
    else if (c->numel[VT_X])
        fill(h[VT_X], c->numel[VT_X], &s, -1.0f, 1.0f);
    if (op->kind == CNN_OP_BN) /* an offset mean, as real activations have */
        for (int64_t i = 0; i < c->numel[VT_X]; i++)
            h[VT_X][i] = 0.5f + 2.0f * h[VT_X][i];
    if (op->kind == CNN_OP_XENT) /* logits of a realistic spread */
        for (int64_t i = 0; i < c->numel[VT_X]; i++)
            h[VT_X][i] *= 4.0f;
    if (c->numel[VT_W]) {
        /* variance 1/fan_in keeps outputs O(1) for conv and linear */
        double fan_in = op->kind == CNN_OP_CONV     ? (double)op->conv.c * op->conv.r * op->conv.s
                        : op->kind == CNN_OP_LINEAR ? op->linear.in
                                                    : 3.0;
        float a = (float)sqrt(3.0 / fan_in);
        fill(h[VT_W], c->numel[VT_W], &s, -a, a);
    }
    if (c->numel[VT_B])
        fill(h[VT_B], c->numel[VT_B], &s, -0.5f, 0.5f);
    if (c->numel[VT_DY])
        fill(h[VT_DY], c->numel[VT_DY], &s, -1.0f, 1.0f);
    if (op->kind == CNN_OP_BN) {
        fill(h[VT_GAMMA], op->bn.c, &s, 0.5f, 1.5f);
        fill(h[VT_BETA], op->bn.c, &s, -0.5f, 0.5f);
        fill(h[VT_RMEAN], op->bn.c, &s, -0.5f, 0.5f);
        fill(h[VT_RVAR], op->bn.c, &s, 0.5f, 1.5f);
    }
    if (op->kind == CNN_OP_XENT) {
        int32_t *lab = c->host[VT_LABELS];
        for (int i = 0; i < op->xent.n; i++)
            lab[i] = (int32_t)(next_u64(&s) % (uint64_t)op->xent.classes);
    }
    for (int i = 0; op->kind == CNN_OP_CONCAT && i < op->concat.count; i++)
        fill(h[VT_CAT + i], c->numel[VT_CAT + i], &s, -1.0f, 1.0f);
    if (op->kind == CNN_OP_OPTIM)
        fill_optim(c, &s);
    return CNN_OK;
}

void vcase_free(vcase *c)
{
    for (int t = 0; t < VT_COUNT; t++) {
        free(c->host[t]);
        for (int p = 0; p < CNN_PASS_COUNT; p++)
            free(c->ref[p][t]);
    }
    memset(c, 0, sizeof *c);
}

int vcase_outputs(const vcase *c, cnn_pass pass, vt out[5])
{
    const cnn_op *op = &c->op;
    int n = 0;
    switch (op->kind) {
    case CNN_OP_CONV:
    case CNN_OP_LINEAR:
        /* a fused conv: the forward, and the bias pass that also writes dz */
        if (op->kind == CNN_OP_CONV && op->conv.fuse_relu && pass != CNN_FWD) {
            if (pass == CNN_BWD_BIAS && c->numel[VT_DB]) {
                out[n++] = VT_DB;
                out[n++] = VT_DX;
            }
            break;
        }
        if (pass == CNN_FWD)
            out[n++] = VT_Y;
        else if (pass == CNN_BWD_DATA)
            out[n++] = VT_DX;
        else if (pass == CNN_BWD_WEIGHT) {
            out[n++] = VT_DW;
            if (op->kind == CNN_OP_LINEAR && c->numel[VT_DB])
                out[n++] = VT_DB;
        } else if (pass == CNN_BWD_BIAS && op->kind == CNN_OP_CONV && c->numel[VT_DB])
            out[n++] = VT_DB;
        break;
    case CNN_OP_BN:
        if (pass == CNN_FWD) {
            out[n++] = VT_Y;
            out[n++] = VT_RMEAN;
            out[n++] = VT_RVAR;
            out[n++] = VT_SMEAN;
            out[n++] = VT_SINVSTD;
        } else if (pass == CNN_FWD_INFER)
            out[n++] = VT_Y;
        else if (pass == CNN_BWD_DATA) {
            out[n++] = VT_DX;
            out[n++] = VT_DGAMMA;
            out[n++] = VT_DBETA;
        }
        break;
    case CNN_OP_XENT:
        if (pass == CNN_FWD) {
            out[n++] = VT_PROB;
            out[n++] = VT_LOSS;
        } else if (pass == CNN_BWD_DATA)
            out[n++] = VT_DX;
        break;
    case CNN_OP_CONCAT:
        if (pass == CNN_FWD)
            out[n++] = VT_Y;
        else if (pass == CNN_BWD_DATA)
            for (int i = 0; i < op->concat.count && n < 5; i++)
                out[n++] = (vt)(VT_DCAT + i);
        break;
    case CNN_OP_OPTIM:
        if (pass == CNN_FWD) {
            out[n++] = VT_PARAM;
            if (c->numel[VT_STATE])
                out[n++] = VT_STATE;
        }
        break;
    default:
        if (pass == CNN_FWD)
            out[n++] = VT_Y;
        else if (pass == CNN_BWD_DATA && op->kind != CNN_OP_ADD)
            out[n++] = VT_DX;
    }
    return n;
}

bool vcase_in_place(vt t)
{
    return t == VT_RMEAN || t == VT_RVAR || t == VT_PARAM || t == VT_STATE;
}

/* One call through dispatch with every tensor in backend memory. */
cnn_status vcase_call(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass, void *const p[VT_COUNT],
                      void *ws, size_t wss)
{
    float *const *f = (float *const *)p;
    switch (op->kind) {
    case CNN_OP_CONV: {
        const cnn_conv_desc *d = &op->conv;
        switch (pass) {
        case CNN_FWD: return cnn_conv_fwd(ctx, d, f[VT_X], f[VT_W], f[VT_B], f[VT_Y], ws, wss);
        case CNN_BWD_DATA: return cnn_conv_bwd_data(ctx, d, f[VT_DY], f[VT_W], f[VT_DX], ws, wss);
        case CNN_BWD_WEIGHT:
            return cnn_conv_bwd_filter(ctx, d, f[VT_X], f[VT_DY], f[VT_DW], ws, wss);
        case CNN_BWD_BIAS:
            return cnn_conv_bwd_bias(ctx, d, f[VT_Y], f[VT_DY], f[VT_DB], f[VT_DX], ws, wss);
        default: break;
        }
        break;
    }
    case CNN_OP_POOL:
        if (pass == CNN_FWD)
            return cnn_pool_fwd(ctx, &op->pool, f[VT_X], f[VT_Y], ws, wss);
        return cnn_pool_bwd(ctx, &op->pool, f[VT_X], f[VT_Y], f[VT_DY], f[VT_DX], ws, wss);
    case CNN_OP_ADAPOOL:
        if (pass == CNN_FWD)
            return cnn_adapool_fwd(ctx, &op->adapool, f[VT_X], f[VT_Y], ws, wss);
        return cnn_adapool_bwd(ctx, &op->adapool, f[VT_DY], f[VT_DX], ws, wss);
    case CNN_OP_BN:
        if (pass == CNN_FWD)
            return cnn_bn_fwd_train(ctx, &op->bn, f[VT_X], f[VT_GAMMA], f[VT_BETA], f[VT_Y],
                                    f[VT_RMEAN], f[VT_RVAR], f[VT_SMEAN], f[VT_SINVSTD], ws, wss);
        if (pass == CNN_FWD_INFER)
            return cnn_bn_fwd_infer(ctx, &op->bn, f[VT_X], f[VT_GAMMA], f[VT_BETA], f[VT_RMEAN],
                                    f[VT_RVAR], f[VT_Y], ws, wss);
        if (op->bn.global_stats) /* frozen: the running statistics (backend_ops.h) */
            return cnn_bn_bwd(ctx, &op->bn, f[VT_X], f[VT_Y], f[VT_DY], f[VT_GAMMA], f[VT_RMEAN],
                              f[VT_RVAR], f[VT_DX], f[VT_DGAMMA], f[VT_DBETA], ws, wss);
        return cnn_bn_bwd(ctx, &op->bn, f[VT_X], f[VT_Y], f[VT_DY], f[VT_GAMMA], f[VT_SMEAN],
                          f[VT_SINVSTD], f[VT_DX], f[VT_DGAMMA], f[VT_DBETA], ws, wss);
    case CNN_OP_LINEAR: {
        const cnn_linear_desc *d = &op->linear;
        if (pass == CNN_FWD)
            return cnn_linear_fwd(ctx, d, f[VT_X], f[VT_W], f[VT_B], f[VT_Y], ws, wss);
        if (pass == CNN_BWD_DATA)
            return cnn_linear_bwd_data(ctx, d, f[VT_DY], f[VT_W], f[VT_DX], ws, wss);
        return cnn_linear_bwd_weight(ctx, d, f[VT_X], f[VT_DY], f[VT_DW], f[VT_DB], ws, wss);
    }
    case CNN_OP_ACT:
        if (pass == CNN_FWD)
            return cnn_act_fwd(ctx, &op->act, f[VT_X], f[VT_Y]);
        return cnn_act_bwd(ctx, &op->act, f[VT_Y], f[VT_DY], f[VT_DX]);
    case CNN_OP_DROPOUT:
        if (pass == CNN_FWD)
            return cnn_dropout_fwd(ctx, &op->dropout, f[VT_X], f[VT_Y]);
        return cnn_dropout_bwd(ctx, &op->dropout, f[VT_DY], f[VT_DX]);
    case CNN_OP_XENT:
        if (pass == CNN_FWD)
            return cnn_xent_fwd(ctx, &op->xent, f[VT_X], p[VT_LABELS], f[VT_PROB], f[VT_LOSS]);
        return cnn_xent_bwd(ctx, &op->xent, f[VT_PROB], p[VT_LABELS], f[VT_DX]);
    case CNN_OP_CONCAT:
        if (pass == CNN_FWD)
            return cnn_concat_fwd(ctx, &op->concat, (const float *const *)&f[VT_CAT], f[VT_Y]);
        return cnn_concat_bwd(ctx, &op->concat, f[VT_DY], &f[VT_DCAT]);
    case CNN_OP_ADD: return cnn_add_fwd(ctx, &op->add, f[VT_X], f[VT_W], f[VT_Y]);
    case CNN_OP_OPTIM: return cnn_optim_step(ctx, &op->optim, f[VT_PARAM], f[VT_GRAD], f[VT_STATE]);
    default: break;
    }
    return cnn_fail(CNN_ERR_INVALID_ARG, "verify: no %s pass for %s", cnn_pass_str(pass),
                    cnn_op_name(op));
}

cnn_status vcase_run(const vcase *c, cnn_ctx *ctx, cnn_pass pass, float *const out[VT_COUNT])
{
    void *dev[VT_COUNT], *ws = NULL;
    vt outs[5];
    int nout = vcase_outputs(c, pass, outs);
    cnn_status st = vcase_upload(c, ctx, dev);
    if (st != CNN_OK)
        return st;
    /* Every output starts as NaN, so an element the backend forgets to write
     * fails the comparison; those read and updated in place keep their
     * inputs. */
    for (int i = 0; i < nout && st == CNN_OK; i++) {
        vt t = outs[i];
        if (vcase_in_place(t))
            continue;
        size_t bytes = (size_t)c->numel[t] * 4;
        float *nan = malloc(bytes);
        if (!nan) {
            st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "verify: no memory");
            break;
        }
        for (int64_t j = 0; j < c->numel[t]; j++)
            nan[j] = NAN;
        st = cnn_mem_upload(ctx, dev[t], nan, bytes);
        free(nan);
    }
    size_t wss = cnn_workspace_size(ctx, &c->op, pass);
    if (st == CNN_OK && wss)
        st = cnn_mem_alloc(ctx, wss, &ws);
    if (st == CNN_OK)
        st = vcase_call(ctx, &c->op, pass, dev, ws, wss);
    if (st == CNN_OK)
        st = cnn_sync(ctx);
    for (int i = 0; i < nout && st == CNN_OK; i++)
        st = cnn_mem_download(ctx, out[outs[i]], dev[outs[i]], (size_t)c->numel[outs[i]] * 4);
    vcase_device_free(ctx, dev);
    cnn_mem_free(ctx, ws);
    return st;
}

/* Run the reference on one pass, keeping its outputs in c->ref[pass]; the
 * forward outputs that backward passes consume become inputs in c->host. */
static cnn_status reference_pass(vcase *c, cnn_ctx *naive, cnn_pass pass)
{
    static const vt from_forward[] = {VT_Y, VT_SMEAN, VT_SINVSTD, VT_PROB};
    vt outs[5];
    int nout = vcase_outputs(c, pass, outs);
    for (int i = 0; i < nout; i++) {
        free(c->ref[pass][outs[i]]); /* a second reference run replaces the first */
        c->ref[pass][outs[i]] = malloc((size_t)c->numel[outs[i]] * 4);
        if (!c->ref[pass][outs[i]])
            return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "verify: no memory for the reference");
    }
    cnn_status st = vcase_run(c, naive, pass, c->ref[pass]);
    if (st != CNN_OK || pass != CNN_FWD)
        return st;
    for (size_t i = 0; i < sizeof from_forward / sizeof from_forward[0]; i++) {
        vt t = from_forward[i];
        if (c->ref[pass][t] && c->host[t])
            memcpy(c->host[t], c->ref[pass][t], (size_t)c->numel[t] * 4);
    }
    return CNN_OK;
}

cnn_status vcase_reference(vcase *c, cnn_ctx *naive)
{
    for (int p = 0; p < CNN_PASS_COUNT; p++) {
        vt outs[5];
        if (!vcase_outputs(c, (cnn_pass)p, outs) || !cnn_op_has_pass(&c->op, (cnn_pass)p))
            continue;
        cnn_status st = reference_pass(c, naive, (cnn_pass)p);
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

/* The ops whose backward pass reads what their forward wrote: pooling's y
 * (max pooling routes dy to the window's maximum), batch norm's saved mean
 * and inverse std, an activation's y, cross-entropy's probabilities, a
 * fused conv's y (its ReLU mask). The backward passes of a plain conv,
 * linear, adaptive pooling, dropout and concat read none. */
static bool backward_reads_forward(const cnn_op *op)
{
    switch (op->kind) {
    case CNN_OP_CONV: return op->conv.fuse_relu;
    case CNN_OP_POOL:
    case CNN_OP_BN:
    case CNN_OP_ACT:
    case CNN_OP_XENT: return cnn_op_has_pass(op, CNN_FWD);
    default: return false;
    }
}

cnn_status vcase_forward_inputs(vcase *c, cnn_ctx *naive)
{
    return backward_reads_forward(&c->op) ? reference_pass(c, naive, CNN_FWD) : CNN_OK;
}

cnn_status vcase_upload(const vcase *c, cnn_ctx *ctx, void *dev[VT_COUNT])
{
    cnn_status st = CNN_OK;
    for (int t = 0; t < VT_COUNT; t++)
        dev[t] = NULL;
    for (int t = 0; t < VT_COUNT && st == CNN_OK; t++) {
        if (!c->numel[t])
            continue;
        st = cnn_mem_alloc(ctx, (size_t)c->numel[t] * 4, &dev[t]);
        if (st == CNN_OK && c->host[t])
            st = cnn_mem_upload(ctx, dev[t], c->host[t], (size_t)c->numel[t] * 4);
    }
    if (st != CNN_OK)
        vcase_device_free(ctx, dev);
    return st;
}

void vcase_device_free(cnn_ctx *ctx, void *dev[VT_COUNT])
{
    for (int t = 0; t < VT_COUNT; t++) {
        cnn_mem_free(ctx, dev[t]);
        dev[t] = NULL;
    }
}
