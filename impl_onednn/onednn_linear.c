/* Linear layers as oneDNN inner products: x [n][in] is "ab" (nc), the weight
 * [out][in] is "ab" (oi), exactly PyTorch's layouts. oneDNN may still prefer
 * another weight layout (format `any`); the reorder is then paid per call. */
#include "onednn_internal.h"

typedef struct linear_mds {
    dnnl_memory_desc_t x, w, b, y, x_any, w_any, y_any;
} linear_mds;

static cnn_status mds_init(const cnn_linear_desc *d, linear_mds *m)
{
    const dnnl_dims_t x = {d->n, d->in}, w = {d->out, d->in}, y = {d->n, d->out};
    TRY(cnn_onednn_md(&m->x, 2, x, dnnl_ab));
    TRY(cnn_onednn_md(&m->w, 2, w, dnnl_ab));
    TRY(cnn_onednn_md(&m->y, 2, y, dnnl_ab));
    TRY(cnn_onednn_md1(&m->b, d->out));
    TRY(cnn_onednn_md(&m->x_any, 2, x, dnnl_format_tag_any));
    TRY(cnn_onednn_md(&m->w_any, 2, w, dnnl_format_tag_any));
    return cnn_onednn_md(&m->y_any, 2, y, dnnl_format_tag_any);
}

cnn_status cnn_onednn_linear_build(cnn_onednn_state *st, cnn_onednn_entry *e,
                                   const cnn_linear_desc *d, cnn_pass pass)
{
    linear_mds m;
    TRY(mds_init(d, &m));
    bool bias = d->has_bias && pass != CNN_BWD_DATA;
    dnnl_inner_product_desc_t fwd, bwd;
    DNNL_CHECK(dnnl_inner_product_forward_desc_init(&fwd, dnnl_forward_training, &m.x_any, &m.w_any,
                                                    bias ? &m.b : NULL, &m.y_any));
    int s;
    switch (pass) {
    case CNN_FWD:
        TRY(cnn_onednn_add_op(st, e, &fwd, NULL, &s));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SRC, &m.x, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_WEIGHTS, &m.w, false));
        if (bias)
            TRY(cnn_onednn_user(st, e, s, DNNL_ARG_BIAS, &m.b, false));
        return cnn_onednn_user(st, e, s, DNNL_ARG_DST, &m.y, true);
    case CNN_BWD_DATA:
        DNNL_CHECK(dnnl_inner_product_backward_data_desc_init(&bwd, &m.x_any, &m.w_any, &m.y_any));
        TRY(cnn_onednn_set_hint(st, e, &fwd));
        TRY(cnn_onednn_add_op(st, e, &bwd, e->hint, &s));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_DST, &m.y, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_WEIGHTS, &m.w, false));
        return cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_SRC, &m.x, true);
    case CNN_BWD_WEIGHT:
        DNNL_CHECK(dnnl_inner_product_backward_weights_desc_init(&bwd, &m.x_any, &m.w_any,
                                                                 bias ? &m.b : NULL, &m.y_any));
        TRY(cnn_onednn_set_hint(st, e, &fwd));
        TRY(cnn_onednn_add_op(st, e, &bwd, e->hint, &s));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SRC, &m.x, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_DST, &m.y, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_WEIGHTS, &m.w, true));
        if (!bias)
            return CNN_OK;
        /* A caller that passes no db gets the bias gradient computed into
         * the extra region and dropped. */
        e->extra_bytes = (size_t)d->out * sizeof(float);
        return cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_BIAS, &m.b, true);
    default: return cnn_fail(CNN_ERR_UNSUPPORTED, "onednn: linear has no %s", cnn_pass_str(pass));
    }
}

static cnn_status entry(cnn_ctx *ctx, const cnn_linear_desc *d, cnn_pass pass, cnn_onednn_entry **e)
{
    cnn_op op = {.kind = CNN_OP_LINEAR};
    op.linear = *d;
    return cnn_onednn_get(ctx, &op, pass, e);
}

cnn_status cnn_onednn_linear_fwd(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                 const float *w, const float *b, float *y, CNN_WS)
{
    cnn_onednn_entry *e;
    TRY(entry(ctx, d, CNN_FWD, &e));
    void *with_bias[] = {(void *)x, (void *)w, (void *)b, y};
    void *without[] = {(void *)x, (void *)w, y};
    return cnn_onednn_run(ctx, e, d->has_bias ? with_bias : without, ws, ws_size);
}

cnn_status cnn_onednn_linear_bwd_data(cnn_ctx *ctx, const cnn_linear_desc *d, const float *dy,
                                      const float *w, float *dx, CNN_WS)
{
    cnn_onednn_entry *e;
    TRY(entry(ctx, d, CNN_BWD_DATA, &e));
    void *ptrs[] = {(void *)dy, (void *)w, dx};
    return cnn_onednn_run(ctx, e, ptrs, ws, ws_size);
}

cnn_status cnn_onednn_linear_bwd_weight(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                        const float *dy, float *dw, float *db, CNN_WS)
{
    cnn_onednn_entry *e;
    TRY(entry(ctx, d, CNN_BWD_WEIGHT, &e));
    TRY(cnn_onednn_check_ws(e, ws, ws_size));
    void *ptrs[] = {(void *)x, (void *)dy, dw,
                    d->has_bias && !db ? cnn_onednn_extra(e, ws) : (void *)db};
    return cnn_onednn_run(ctx, e, ptrs, ws, ws_size);
}
