/* Max and average pooling, and adaptive average pooling where it is a plain
 * average pooling.
 *
 * PyTorch's ceil mode is oneDNN's pooling with a larger right padding
 * (cnn_onednn_pad_right). Max pooling ignores padding in both libraries.
 * Average pooling counts padding in the divisor (dnnl_pooling_avg_include_padding)
 * but divides by the whole kernel, while PyTorch leaves out the part of a
 * ceil-mode window beyond the right padding; so such shapes are declined
 * (cnn_onednn_pool_supported) rather than answered with other numbers.
 *
 * Layout: the primitives run on oneDNN's channel-blocked layout (nChw8c,
 * nChw16c with AVX-512), where its JIT kernels are; our NCHW operands are
 * reordered to and from it in each call (timed apart, like convolution's).
 * On plain NCHW oneDNN 2.6 has only its reference kernel (simple_nchw),
 * which ran 25-60x slower than the shared CPU loops (ResNet-18's max pool:
 * 92 ms forward for 26 MB, 121 ms backward) and made pooling most of some models' steps.
 *
 * Ties in max pooling: oneDNN keeps the first maximum in row-major window
 * order, as PyTorch does, so the backward pass sends the gradient to the
 * same element; test_backends checks it on inputs full of ties (the
 * FILL_TIES max-pool cases).
 * NaN is where the two differ: PyTorch's maximum is NaN if the window holds
 * one, oneDNN's comparisons skip NaNs (a window [NaN, 1, 2, 3] gives 3).
 * That depends on the data, so supports() cannot decline it. */
#include "onednn_internal.h"

static bool window_fits(int in, int out, int k, int stride, int pad)
{
    return cnn_onednn_pad_right(in, out, k, stride, pad) <= pad;
}

bool cnn_onednn_pool_supported(const cnn_pool_desc *d)
{
    if (d->mode == CNN_POOL_MAX)
        return true;
    return window_fits(d->h, d->p, d->kh, d->stride_h, d->pad_h) &&
           window_fits(d->w, d->q, d->kw, d->stride_w, d->pad_w);
}

/* Adaptive windows have varying sizes unless the output divides the input. */
bool cnn_onednn_adapool_supported(const cnn_adapool_desc *d)
{
    return d->h % d->p == 0 && d->w % d->q == 0;
}

typedef struct pool_geom {
    dnnl_alg_kind_t alg;
    dnnl_memory_desc_t x, y;   /* ours: NCHW */
    dnnl_memory_desc_t xb, yb; /* the primitives': channel-blocked */
    dnnl_dims_t strides, kernel, pad_l, pad_r;
} pool_geom;

static cnn_status geom_mds(pool_geom *g, int n, int c, int h, int w, int p, int q)
{
    TRY(cnn_onednn_md4(&g->x, n, c, h, w, dnnl_nchw));
    TRY(cnn_onednn_md4(&g->y, n, c, p, q, dnnl_nchw));
    TRY(cnn_onednn_md4(&g->xb, n, c, h, w, cnn_onednn_blocked_tag()));
    return cnn_onednn_md4(&g->yb, n, c, p, q, cnn_onednn_blocked_tag());
}

/* Forward and backward share the geometry; the forward runs for inference
 * in the forward pass (no workspace) and for training when the backward of
 * max pooling needs its workspace. */
static cnn_status build(cnn_onednn_state *st, cnn_onednn_entry *e, const pool_geom *g,
                        cnn_pass pass)
{
    dnnl_pooling_desc_t fwd;
    DNNL_CHECK(dnnl_pooling_forward_desc_init(
        &fwd, pass == CNN_FWD ? dnnl_forward_inference : dnnl_forward_training, g->alg, &g->xb,
        &g->yb, g->strides, g->kernel, g->pad_l, g->pad_r));
    int s;
    if (pass == CNN_FWD) {
        TRY(cnn_onednn_add_op(st, e, &fwd, NULL, &s));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SRC, &g->x, false));
        return cnn_onednn_user(st, e, s, DNNL_ARG_DST, &g->y, true);
    }
    dnnl_pooling_desc_t bwd;
    DNNL_CHECK(dnnl_pooling_backward_desc_init(&bwd, g->alg, &g->xb, &g->yb, g->strides, g->kernel,
                                               g->pad_l, g->pad_r));
    if (g->alg != dnnl_pooling_max) {
        TRY(cnn_onednn_set_hint(st, e, &fwd));
        TRY(cnn_onednn_add_op(st, e, &bwd, e->hint, &s));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_DST, &g->y, false));
        return cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_SRC, &g->x, true);
    }
    /* oneDNN's max-pooling backward reads the argmax indices that its
     * training forward left in a workspace. Our interface hands pool_bwd x
     * and y, not that workspace, so the forward is run again here from x
     * (into buffers of the caller's workspace) before the backward: the time
     * of a max-pool backward therefore includes one forward. */
    int f, dst, argmax;
    TRY(cnn_onednn_add_op(st, e, &fwd, NULL, &f));
    TRY(cnn_onednn_user(st, e, f, DNNL_ARG_SRC, &g->x, false));
    TRY(cnn_onednn_internal(st, e, f, DNNL_ARG_DST, &dst));
    TRY(cnn_onednn_internal(st, e, f, DNNL_ARG_WORKSPACE, &argmax));
    TRY(cnn_onednn_add_op(st, e, &bwd, e->steps[f].pd, &s));
    e->note = "forward recomputed";
    TRY(cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_DST, &g->y, false));
    TRY(cnn_onednn_bind(e, s, DNNL_ARG_WORKSPACE, argmax));
    return cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_SRC, &g->x, true);
}

cnn_status cnn_onednn_pool_build(cnn_onednn_state *st, cnn_onednn_entry *e, const cnn_pool_desc *d,
                                 cnn_pass pass)
{
    pool_geom g = {
        .alg = d->mode == CNN_POOL_MAX ? dnnl_pooling_max : dnnl_pooling_avg_include_padding,
        .strides = {d->stride_h, d->stride_w},
        .kernel = {d->kh, d->kw},
        .pad_l = {d->pad_h, d->pad_w},
        .pad_r = {cnn_onednn_pad_right(d->h, d->p, d->kh, d->stride_h, d->pad_h),
                  cnn_onednn_pad_right(d->w, d->q, d->kw, d->stride_w, d->pad_w)},
    };
    TRY(geom_mds(&g, d->n, d->c, d->h, d->w, d->p, d->q));
    return build(st, e, &g, pass);
}

cnn_status cnn_onednn_adapool_build(cnn_onednn_state *st, cnn_onednn_entry *e,
                                    const cnn_adapool_desc *d, cnn_pass pass)
{
    int kh = d->h / d->p, kw = d->w / d->q;
    pool_geom g = {
        .alg = dnnl_pooling_avg_exclude_padding,
        .strides = {kh, kw},
        .kernel = {kh, kw},
    };
    TRY(geom_mds(&g, d->n, d->c, d->h, d->w, d->p, d->q));
    return build(st, e, &g, pass);
}

static cnn_status pool_call(cnn_ctx *ctx, const cnn_pool_desc *d, cnn_pass pass, void *const *ptrs,
                            void *ws, size_t ws_size)
{
    cnn_op op = {.kind = CNN_OP_POOL};
    op.pool = *d;
    return cnn_onednn_call(ctx, &op, pass, ptrs, ws, ws_size);
}

cnn_status cnn_onednn_pool_fwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, float *y,
                               CNN_WS)
{
    void *ptrs[] = {(void *)x, y};
    return pool_call(ctx, d, CNN_FWD, ptrs, ws, ws_size);
}

cnn_status cnn_onednn_pool_bwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, const float *y,
                               const float *dy, float *dx, CNN_WS)
{
    (void)y;
    void *max_ptrs[] = {(void *)x, (void *)dy, dx};
    void *avg_ptrs[] = {(void *)dy, dx};
    return pool_call(ctx, d, CNN_BWD_DATA, d->mode == CNN_POOL_MAX ? max_ptrs : avg_ptrs, ws,
                     ws_size);
}

static cnn_status adapool_call(cnn_ctx *ctx, const cnn_adapool_desc *d, cnn_pass pass,
                               void *const *ptrs, void *ws, size_t ws_size)
{
    cnn_op op = {.kind = CNN_OP_ADAPOOL};
    op.adapool = *d;
    return cnn_onednn_call(ctx, &op, pass, ptrs, ws, ws_size);
}

cnn_status cnn_onednn_adapool_fwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *x, float *y,
                                  CNN_WS)
{
    void *ptrs[] = {(void *)x, y};
    return adapool_call(ctx, d, CNN_FWD, ptrs, ws, ws_size);
}

cnn_status cnn_onednn_adapool_bwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *dy,
                                  float *dx, CNN_WS)
{
    void *ptrs[] = {(void *)dy, dx};
    return adapool_call(ctx, d, CNN_BWD_DATA, ptrs, ws, ws_size);
}
