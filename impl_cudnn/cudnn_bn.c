/* Batch norm through cuDNN, CUDNN_BATCHNORM_SPATIAL (one statistic per
 * channel over n, h, w), which is torch.nn.BatchNorm2d:
 *  - exponentialAverageFactor is PyTorch's momentum: running = (1 - f) *
 *    running + f * batch;
 *  - cuDNN folds the *unbiased* batch variance (m / (m - 1)) into the
 *    running variance while normalising with the biased one, as PyTorch
 *    does (PyTorch's own cuDNN path passes its running_var straight to this
 *    call, and its results match the native kernels'); test_backends checks it
 *    on a shape with m = 6, where the two differ by 20%;
 *  - resultSaveInvVariance is 1 / sqrt(var_biased + eps), our save_invstd,
 *    and the backward pass takes it back together with save_mean.
 * Frozen statistics (eval-mode gradients) are not cuDNN's: the backward
 * runs them on this backend's own kernel (kernels_bn.cu).
 * The legacy API needs no workspace. SPATIAL_PERSISTENT is faster but may
 * overflow for some inputs, so it is not used. */
#include "cudnn_impl.h"

static const float one = 1.0f, zero = 0.0f;

/* The context's two scratch descriptors: cuDNN reads a descriptor when it is
 * called, not when the kernel runs, so reusing them between calls is safe. */
static cnn_status set_descriptors(cudnn_state *st, const cnn_bn_desc *d)
{
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(st->bn_x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->n,
                                           d->c, d->h, d->w));
    CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(st->bn_param, st->bn_x, CUDNN_BATCHNORM_SPATIAL));
    return CNN_OK;
}

cnn_status cudnn_bn_fwd_train(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x,
                              const float *gamma, const float *beta, float *y, float *running_mean,
                              float *running_var, float *save_mean, float *save_invstd, CNN_WS)
{
    (void)ws;
    (void)ws_size;
    if ((running_mean == NULL) != (running_var == NULL))
        return cnn_fail(CNN_ERR_UNSUPPORTED,
                        "cudnn: batchnorm2d updates both running statistics or neither");
    cudnn_state *st = cudnn_st(ctx);
    cnn_status s = set_descriptors(st, d);
    if (s != CNN_OK)
        return s;
    CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
        st->cudnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, st->bn_x, x, st->bn_x, y, st->bn_param,
        gamma, beta, d->momentum, running_mean, running_var, d->eps, save_mean, save_invstd));
    return CNN_OK;
}

cnn_status cudnn_bn_fwd_infer(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x,
                              const float *gamma, const float *beta, const float *running_mean,
                              const float *running_var, float *y, CNN_WS)
{
    (void)ws;
    (void)ws_size;
    cudnn_state *st = cudnn_st(ctx);
    cnn_status s = set_descriptors(st, d);
    if (s != CNN_OK)
        return s;
    CUDNN_CHECK(cudnnBatchNormalizationForwardInference(
        st->cudnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, st->bn_x, x, st->bn_x, y, st->bn_param,
        gamma, beta, running_mean, running_var, d->eps));
    return CNN_OK;
}

/* cuDNN's backward is the training form; frozen statistics (global_stats:
 * mean and invstd_or_var are running_mean and running_var) go to this
 * backend's own kernel (kernels_bn.cu). */
cnn_status cudnn_bn_bwd(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x, const float *y,
                        const float *dy, const float *gamma, const float *mean,
                        const float *invstd_or_var, float *dx, float *dgamma, float *dbeta, CNN_WS)
{
    (void)y; /* fuse_relu is declined (cudnn_supports) */
    (void)ws;
    (void)ws_size;
    cudnn_state *st = cudnn_st(ctx);
    if (d->global_stats)
        return cudnn_launch_bn_bwd_frozen(st->stream, d, x, dy, gamma, mean, invstd_or_var, dx,
                                          dgamma, dbeta);
    cnn_status s = set_descriptors(st, d);
    if (s != CNN_OK)
        return s;
    /* Data and parameter gradients both overwritten (alpha 1, beta 0). */
    CUDNN_CHECK(cudnnBatchNormalizationBackward(
        st->cudnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero, st->bn_x, x, st->bn_x, dy,
        st->bn_x, dx, st->bn_param, gamma, dgamma, dbeta, d->eps, mean, invstd_or_var));
    return CNN_OK;
}
