/* Channel concatenation: forward with oneDNN's concat primitive; backward,
 * which oneDNN has no primitive for, as one reorder per input from a
 * sub-memory view of dy (its channels [offset, offset + c_i)) into dx_i, the
 * way oneDNN's documentation suggests. */
#include "onednn_internal.h"

cnn_status cnn_onednn_concat_build(cnn_onednn_state *st, cnn_onednn_entry *e,
                                   const cnn_concat_desc *d, cnn_pass pass)
{
    dnnl_memory_desc_t y, xs[CNN_MAX_CONCAT];
    TRY(cnn_onednn_md4(&y, d->n, d->c_out, d->h, d->w, dnnl_nchw));
    for (int i = 0; i < d->count; i++)
        TRY(cnn_onednn_md4(&xs[i], d->n, d->c[i], d->h, d->w, dnnl_nchw));
    int s;
    if (pass == CNN_FWD) {
        dnnl_primitive_desc_t pd = NULL;
        DNNL_CHECK(
            dnnl_concat_primitive_desc_create(&pd, &y, d->count, 1, xs, e->attr, st->engine));
        TRY(cnn_onednn_add_pd(st, e, pd, &s));
        for (int i = 0; i < d->count; i++)
            TRY(cnn_onednn_user(st, e, s, DNNL_ARG_MULTIPLE_SRC + i, &xs[i], false));
        return cnn_onednn_user(st, e, s, DNNL_ARG_DST, &y, true);
    }
    int64_t offset = 0;
    for (int i = 0; i < d->count; i++) {
        const dnnl_dims_t dims = {d->n, d->c[i], d->h, d->w}, offsets = {0, offset, 0, 0};
        dnnl_memory_desc_t part;
        DNNL_CHECK(dnnl_memory_desc_init_submemory(&part, &y, dims, offsets));
        dnnl_primitive_desc_t pd = NULL;
        DNNL_CHECK(dnnl_reorder_primitive_desc_create(&pd, &part, st->engine, &xs[i], st->engine,
                                                      e->attr));
        TRY(cnn_onednn_add_pd(st, e, pd, &s));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_FROM, &part, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_TO, &xs[i], true));
        offset += d->c[i];
    }
    return CNN_OK;
}

cnn_status cnn_onednn_concat_fwd(cnn_ctx *ctx, const cnn_concat_desc *d, const float *const *xs,
                                 float *y)
{
    cnn_op op = {.kind = CNN_OP_CONCAT};
    op.concat = *d;
    void *ptrs[CNN_MAX_CONCAT + 1];
    for (int i = 0; i < d->count; i++)
        ptrs[i] = (void *)xs[i];
    ptrs[d->count] = y;
    return cnn_onednn_call(ctx, &op, CNN_FWD, ptrs, NULL, 0);
}

cnn_status cnn_onednn_concat_bwd(cnn_ctx *ctx, const cnn_concat_desc *d, const float *dy,
                                 float *const *dxs)
{
    cnn_op op = {.kind = CNN_OP_CONCAT};
    op.concat = *d;
    /* Each input's reorder reads the whole dy through its own view. */
    void *ptrs[2 * CNN_MAX_CONCAT];
    for (int i = 0; i < d->count; i++) {
        ptrs[2 * i] = (void *)dy;
        ptrs[2 * i + 1] = dxs[i];
    }
    return cnn_onednn_call(ctx, &op, CNN_BWD_DATA, ptrs, NULL, 0);
}
