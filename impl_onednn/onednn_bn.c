/* Batch normalisation: training forward, inference forward, backward.
 *
 * oneDNN 2.6 takes gamma and beta as separate arrays (dnnl_use_scale |
 * dnnl_use_shift) and its statistics as mean and biased variance. What it
 * does not do is PyTorch's bookkeeping: the running averages (with the
 * unbiased variance) and save_invstd are computed here from the mean and
 * variance the training forward returns. The backward takes the variance:
 * with frozen statistics it is running_var as given, after a training
 * forward it is recovered from save_invstd as 1/invstd^2 - eps (oneDNN only
 * uses it as sqrt(var + eps), which this round trip keeps to a few float
 * ulps). */
#include "onednn_internal.h"

#include <math.h>

static const unsigned FLAGS = dnnl_use_scale | dnnl_use_shift;

cnn_status cnn_onednn_bn_build(cnn_onednn_state *st, cnn_onednn_entry *e, const cnn_bn_desc *d,
                               cnn_pass pass)
{
    /* x: ours (NCHW); xb: the primitives' (cnn_onednn_blocked_tag; on NCHW
     * oneDNN 2.6 runs its reference ncsp_bnorm, 3x slower than the shared
     * CPU loops) */
    dnnl_memory_desc_t x, xb, c;
    TRY(cnn_onednn_md4(&x, d->n, d->c, d->h, d->w, dnnl_nchw));
    TRY(cnn_onednn_md4(&xb, d->n, d->c, d->h, d->w, cnn_onednn_blocked_tag()));
    TRY(cnn_onednn_md1(&c, d->c));
    float eps = (float)d->eps;
    /* fuse_relu: oneDNN's own fused form of the forward passes */
    const unsigned relu = d->fuse_relu ? dnnl_fuse_norm_relu : 0u;
    dnnl_batch_normalization_desc_t bd;
    int s;
    switch (pass) {
    case CNN_FWD:
        /* Mean and variance come out into the extra workspace region. */
        e->extra_bytes = 2 * (size_t)d->c * sizeof(float);
        DNNL_CHECK(dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_training, &xb, eps,
                                                              FLAGS | relu));
        TRY(cnn_onednn_add_op(st, e, &bd, NULL, &s));
        /* fuse_norm_relu's training forward writes the ReLU mask for its own
         * backward; ours is given y instead (supports() declines a fused
         * bn_bwd), so the mask goes to the caller's workspace and is dropped */
        if (relu) {
            int mask;
            TRY(cnn_onednn_internal(st, e, s, DNNL_ARG_WORKSPACE, &mask));
        }
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SRC, &x, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SCALE, &c, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SHIFT, &c, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_DST, &x, true));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_MEAN, &c, true));
        return cnn_onednn_user(st, e, s, DNNL_ARG_VARIANCE, &c, true);
    case CNN_FWD_INFER:
        DNNL_CHECK(dnnl_batch_normalization_forward_desc_init(
            &bd, dnnl_forward_inference, &xb, eps, FLAGS | dnnl_use_global_stats | relu));
        TRY(cnn_onednn_add_op(st, e, &bd, NULL, &s));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SRC, &x, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_MEAN, &c, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_VARIANCE, &c, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SCALE, &c, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SHIFT, &c, false));
        return cnn_onednn_user(st, e, s, DNNL_ARG_DST, &x, true);
    case CNN_BWD_DATA: {
        /* The variance goes in through the extra region, and so does a
         * beta of zeros: oneDNN 2.6 insists on a shift argument for the
         * backward although the gradients do not depend on it, and the
         * interface passes no beta here. */
        e->extra_bytes = 2 * (size_t)d->c * sizeof(float);
        /* frozen statistics (eval mode): oneDNN's use_global_stats backward
         * treats mean and variance as constants, as global_stats asks */
        unsigned flags = FLAGS | (d->global_stats ? dnnl_use_global_stats : 0u);
        dnnl_batch_normalization_desc_t fwd;
        DNNL_CHECK(dnnl_batch_normalization_forward_desc_init(&fwd, dnnl_forward_training, &xb, eps,
                                                              flags));
        DNNL_CHECK(
            dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, &xb, &xb, eps, flags));
        TRY(cnn_onednn_set_hint(st, e, &fwd));
        TRY(cnn_onednn_add_op(st, e, &bd, e->hint, &s));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SRC, &x, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_MEAN, &c, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_VARIANCE, &c, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_DST, &x, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SCALE, &c, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_SHIFT, &c, false));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_SRC, &x, true));
        TRY(cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_SCALE, &c, true));
        return cnn_onednn_user(st, e, s, DNNL_ARG_DIFF_SHIFT, &c, true);
    }
    default:
        return cnn_fail(CNN_ERR_UNSUPPORTED, "onednn: batchnorm2d has no %s", cnn_pass_str(pass));
    }
}

static cnn_status entry(cnn_ctx *ctx, const cnn_bn_desc *d, cnn_pass pass, cnn_onednn_entry **e)
{
    cnn_op op = {.kind = CNN_OP_BN};
    op.bn = *d;
    return cnn_onednn_get(ctx, &op, pass, e);
}

cnn_status cnn_onednn_bn_fwd_train(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x,
                                   const float *gamma, const float *beta, float *y,
                                   float *running_mean, float *running_var, float *save_mean,
                                   float *save_invstd, CNN_WS)
{
    cnn_onednn_entry *e;
    TRY(entry(ctx, d, CNN_FWD, &e));
    TRY(cnn_onednn_check_ws(e, ws, ws_size));
    float *mean = cnn_onednn_extra(e, ws);
    float *var = mean + d->c;
    void *ptrs[] = {(void *)x, (void *)gamma, (void *)beta, y, mean, var};
    TRY(cnn_onednn_run(ctx, e, ptrs, ws, ws_size));

    /* PyTorch's running variance is the unbiased one: m values per channel. */
    double m = (double)d->n * d->h * d->w;
    double mom = d->momentum;
    for (int c = 0; c < d->c; c++) {
        double v = var[c];
        save_mean[c] = mean[c];
        save_invstd[c] = (float)(1.0 / sqrt(v + d->eps));
        running_mean[c] = (float)((1.0 - mom) * running_mean[c] + mom * mean[c]);
        running_var[c] = (float)((1.0 - mom) * running_var[c] + mom * v * m / (m - 1.0));
    }
    return CNN_OK;
}

cnn_status cnn_onednn_bn_fwd_infer(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x,
                                   const float *gamma, const float *beta, const float *running_mean,
                                   const float *running_var, float *y, CNN_WS)
{
    cnn_onednn_entry *e;
    TRY(entry(ctx, d, CNN_FWD_INFER, &e));
    void *ptrs[] = {(void *)x,     (void *)running_mean, (void *)running_var,
                    (void *)gamma, (void *)beta,         y};
    return cnn_onednn_run(ctx, e, ptrs, ws, ws_size);
}

/* y is not read: supports() declines fuse_relu here. */
cnn_status cnn_onednn_bn_bwd(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x, const float *y,
                             const float *dy, const float *gamma, const float *mean,
                             const float *invstd_or_var, float *dx, float *dgamma, float *dbeta,
                             CNN_WS)
{
    (void)y;
    cnn_onednn_entry *e;
    TRY(entry(ctx, d, CNN_BWD_DATA, &e));
    TRY(cnn_onednn_check_ws(e, ws, ws_size));
    float *var = cnn_onednn_extra(e, ws), *beta = var + d->c;
    for (int c = 0; c < d->c; c++) {
        double inv = invstd_or_var[c];
        var[c] = d->global_stats ? invstd_or_var[c] : (float)(1.0 / (inv * inv) - d->eps);
        beta[c] = 0.0f;
    }
    void *ptrs[] = {(void *)x, (void *)mean, var,    (void *)dy, (void *)gamma,
                    beta,      dx,           dgamma, dbeta};
    return cnn_onednn_run(ctx, e, ptrs, ws, ws_size);
}
