/* Convolution: forward, backward data, backward weights, and the bias
 * gradient.
 *
 * oneDNN chooses the algorithm (dnnl_convolution_auto: direct or Winograd,
 * whichever it judges faster; on AVX2 f32 that is direct JIT or GEMM) and,
 * through format `any`, the layouts of activations and weights. Our operands
 * are plain NCHW / OIHW, so the reorders to and from its blocked layouts are
 * paid in every call (and timed apart: the side_time entry). Weights are reordered
 * every call too: between two training steps their contents change. */
#include "onednn_internal.h"

typedef struct conv_mds {
    dnnl_memory_desc_t x, w, b, y;          /* the caller's layouts */
    dnnl_memory_desc_t x_any, w_any, y_any; /* oneDNN's choice */
    dnnl_dims_t strides, pad_l, pad_r;
} conv_mds;

static cnn_status conv_mds_init(const cnn_conv_desc *d, conv_mds *m)
{
    TRY(cnn_onednn_md4(&m->x, d->n, d->c, d->h, d->w, dnnl_nchw));
    TRY(cnn_onednn_md4(&m->w, d->k, d->c, d->r, d->s, dnnl_oihw));
    TRY(cnn_onednn_md1(&m->b, d->k));
    TRY(cnn_onednn_md4(&m->y, d->n, d->k, d->p, d->q, dnnl_nchw));
    TRY(cnn_onednn_md4(&m->x_any, d->n, d->c, d->h, d->w, dnnl_format_tag_any));
    TRY(cnn_onednn_md4(&m->w_any, d->k, d->c, d->r, d->s, dnnl_format_tag_any));
    TRY(cnn_onednn_md4(&m->y_any, d->n, d->k, d->p, d->q, dnnl_format_tag_any));
    m->strides[0] = d->stride_h;
    m->strides[1] = d->stride_w;
    m->pad_l[0] = d->pad_h;
    m->pad_l[1] = d->pad_w;
    m->pad_r[0] = cnn_onednn_pad_right(d->h, d->p, d->r, d->stride_h, d->pad_h);
    m->pad_r[1] = cnn_onednn_pad_right(d->w, d->q, d->s, d->stride_w, d->pad_w);
    return CNN_OK;
}

/* The bias gradient is a sum of dy over n, p, q. The interface gives this
 * pass dy alone (no x), so it cannot come from the backward-weights
 * primitive's diff_bias; oneDNN's reduction primitive does it, in two steps
 * because oneDNN 2.6 has a JIT kernel only for reducing the innermost
 * dimensions: [n][k][p*q] -> [n][k] (JIT), then [n][k] -> [k] (its
 * reference kernel, on n*k values). A single [n][k][p][q] -> [k] reduction
 * runs the reference kernel on everything, some 10x slower. */
static cnn_status build_bias(cnn_onednn_state *st, cnn_onednn_entry *e, const cnn_conv_desc *d)
{
    dnnl_memory_desc_t dy, mid, db;
    TRY(cnn_onednn_md4(&dy, d->n, d->k, d->p, d->q, dnnl_nchw));
    TRY(cnn_onednn_md4(&mid, d->n, d->k, 1, 1, dnnl_nchw));
    TRY(cnn_onednn_md4(&db, 1, d->k, 1, 1, dnnl_nchw));
    bool spatial = (int64_t)d->p * d->q > 1, batch = d->n > 1;
    dnnl_reduction_desc_t rd;
    int s, main, mid_slot;
    if (!spatial && !batch) {
        dnnl_primitive_desc_t pd = NULL;
        DNNL_CHECK(
            dnnl_reorder_primitive_desc_create(&pd, &dy, st->engine, &db, st->engine, e->attr));
        TRY(cnn_onednn_add_pd(st, e, pd, &s));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_FROM, &dy, false));
        return cnn_onednn_user(st, e, s, DNNL_ARG_TO, &db, true);
    }
    if (spatial) {
        DNNL_CHECK(
            dnnl_reduction_desc_init(&rd, dnnl_reduction_sum, &dy, batch ? &mid : &db, 0.0f, 0.0f));
        TRY(cnn_onednn_add_op(st, e, &rd, NULL, &main));
        TRY(cnn_onednn_user(st, e, main, DNNL_ARG_SRC, &dy, false));
        if (!batch)
            return cnn_onednn_user(st, e, main, DNNL_ARG_DST, &db, true);
        TRY(cnn_onednn_internal(st, e, main, DNNL_ARG_DST, &mid_slot));
    }
    DNNL_CHECK(
        dnnl_reduction_desc_init(&rd, dnnl_reduction_sum, spatial ? &mid : &dy, &db, 0.0f, 0.0f));
    TRY(cnn_onednn_add_op(st, e, &rd, NULL, &s));
    if (spatial) {
        TRY(cnn_onednn_bind(e, s, DNNL_ARG_SRC, mid_slot));
        e->main_step = main;
    } else {
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SRC, &dy, false));
    }
    return cnn_onednn_user(st, e, s, DNNL_ARG_DST, &db, true);
}

/* The forward with the ReLU as an eltwise_relu post-op (fuse_relu): on an
 * attribute of its own, since the entry's attribute serves its reorders
 * too. */
static cnn_status add_fused_relu(cnn_onednn_state *st, cnn_onednn_entry *e, const void *fwd,
                                 int *step)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t ds = dnnl_primitive_attr_clone(&attr, e->attr);
    if (ds == dnnl_success)
        ds = dnnl_post_ops_create(&po);
    if (ds == dnnl_success)
        ds = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    if (ds == dnnl_success)
        ds = dnnl_primitive_attr_set_post_ops(attr, po);
    if (ds == dnnl_success)
        ds = dnnl_primitive_desc_create(&pd, fwd, attr, st->engine, NULL);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (ds != dnnl_success)
        return cnn_onednn_fail(ds, "conv2d with an eltwise_relu post-op", __FILE__, __LINE__);
    return cnn_onednn_add_pd(st, e, pd, step);
}

cnn_status cnn_onednn_conv_build(cnn_onednn_state *st, cnn_onednn_entry *e, const cnn_conv_desc *d,
                                 cnn_pass pass)
{
    if (pass == CNN_BWD_BIAS)
        return build_bias(st, e, d);
    conv_mds m;
    TRY(conv_mds_init(d, &m));
    bool bias = d->has_bias && pass == CNN_FWD;
    dnnl_convolution_desc_t fwd;
    DNNL_CHECK(dnnl_convolution_forward_desc_init(
        &fwd, dnnl_forward_training, dnnl_convolution_auto, &m.x_any, &m.w_any, bias ? &m.b : NULL,
        &m.y_any, m.strides, m.pad_l, m.pad_r));
    int s;
    switch (pass) {
    case CNN_FWD:
        if (d->fuse_relu)
            TRY(add_fused_relu(st, e, &fwd, &s));
        else
            TRY(cnn_onednn_add_op(st, e, &fwd, NULL, &s));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SRC, &m.x, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_WEIGHTS, &m.w, false));
        if (bias)
            TRY(cnn_onednn_user(st, e, s, DNNL_ARG_BIAS, &m.b, false));
        return cnn_onednn_user(st, e, s, DNNL_ARG_DST, &m.y, true);
    case CNN_BWD_DATA: {
        dnnl_convolution_desc_t bwd;
        DNNL_CHECK(dnnl_convolution_backward_data_desc_init(&bwd, dnnl_convolution_auto, &m.x_any,
                                                            &m.w_any, &m.y_any, m.strides, m.pad_l,
                                                            m.pad_r));
        TRY(cnn_onednn_set_hint(st, e, &fwd));
        TRY(cnn_onednn_add_op(st, e, &bwd, e->hint, &s));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_DST, &m.y, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_WEIGHTS, &m.w, false));
        return cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_SRC, &m.x, true);
    }
    case CNN_BWD_WEIGHT: {
        dnnl_convolution_desc_t bwd;
        DNNL_CHECK(dnnl_convolution_backward_weights_desc_init(&bwd, dnnl_convolution_auto,
                                                               &m.x_any, &m.w_any, NULL, &m.y_any,
                                                               m.strides, m.pad_l, m.pad_r));
        TRY(cnn_onednn_set_hint(st, e, &fwd));
        TRY(cnn_onednn_add_op(st, e, &bwd, e->hint, &s));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SRC, &m.x, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_DST, &m.y, false));
        return cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_WEIGHTS, &m.w, true);
    }
    default: return cnn_fail(CNN_ERR_UNSUPPORTED, "onednn: conv2d has no %s", cnn_pass_str(pass));
    }
}

static cnn_status run(cnn_ctx *ctx, const cnn_conv_desc *d, cnn_pass pass, void *const *ptrs,
                      void *ws, size_t ws_size)
{
    cnn_op op = {.kind = CNN_OP_CONV};
    op.conv = *d;
    return cnn_onednn_call(ctx, &op, pass, ptrs, ws, ws_size);
}

cnn_status cnn_onednn_conv_fwd(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x, const float *w,
                               const float *b, float *y, CNN_WS)
{
    void *with_bias[] = {(void *)x, (void *)w, (void *)b, y};
    void *without[] = {(void *)x, (void *)w, y};
    return run(ctx, d, CNN_FWD, d->has_bias ? with_bias : without, ws, ws_size);
}

cnn_status cnn_onednn_conv_bwd_data(cnn_ctx *ctx, const cnn_conv_desc *d, const float *dy,
                                    const float *w, float *dx, CNN_WS)
{
    void *ptrs[] = {(void *)dy, (void *)w, dx};
    return run(ctx, d, CNN_BWD_DATA, ptrs, ws, ws_size);
}

cnn_status cnn_onednn_conv_bwd_filter(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x,
                                      const float *dy, float *dw, CNN_WS)
{
    void *ptrs[] = {(void *)x, (void *)dy, dw};
    return run(ctx, d, CNN_BWD_WEIGHT, ptrs, ws, ws_size);
}

/* supports() declines fuse_relu here: y and dz are never read. */
cnn_status cnn_onednn_conv_bwd_bias(cnn_ctx *ctx, const cnn_conv_desc *d, const float *y,
                                    const float *dy, float *db, float *dz, CNN_WS)
{
    (void)y, (void)dz;
    void *ptrs[] = {(void *)dy, db};
    return run(ctx, d, CNN_BWD_BIAS, ptrs, ws, ws_size);
}
