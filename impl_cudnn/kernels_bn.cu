/* Batch-norm backward with frozen statistics (eval-mode gradients), which
 * cuDNN's batch-norm backward does not have: with the running statistics
 * as constants and invstd = 1/sqrt(running_var + eps),
 *   dx = dy * gamma * invstd,  dgamma = sum dy * (x - mean) * invstd,
 *   dbeta = sum dy  (sums over n, h, w of each channel).
 * One block per channel: its threads stride over the channel's n planes of
 * h*w values, writing dx as they go and summing in double; the block then
 * reduces its partial sums in a fixed tree, so the result does not depend
 * on timing (deterministic), and no statistic ever leaves the device. */
#include "cudnn_impl.h"

#define BN_BLOCK 256

static __global__ void bn_bwd_frozen_kernel(const float *x, const float *dy, const float *gamma,
                                            const float *mean, const float *var, double eps,
                                            float *dx, float *dgamma, float *dbeta, int n, int c,
                                            int64_t hw)
{
    __shared__ double s_dy[BN_BLOCK], s_dyx[BN_BLOCK];
    const int ch = blockIdx.x;
    const double mu = mean[ch], invstd = 1.0 / sqrt((double)var[ch] + eps);
    const float scale = (float)((double)gamma[ch] * invstd);
    const int64_t count = (int64_t)n * hw;
    double a = 0.0, b = 0.0;
    for (int64_t k = threadIdx.x; k < count; k += BN_BLOCK) {
        const int64_t i = ((k / hw) * c + ch) * hw + k % hw;
        const float g = dy[i];
        a += g;
        b += (double)g * ((double)x[i] - mu);
        dx[i] = g * scale;
    }
    s_dy[threadIdx.x] = a;
    s_dyx[threadIdx.x] = b;
    __syncthreads();
    for (int half = BN_BLOCK / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) {
            s_dy[threadIdx.x] += s_dy[threadIdx.x + half];
            s_dyx[threadIdx.x] += s_dyx[threadIdx.x + half];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        dbeta[ch] = (float)s_dy[0];
        dgamma[ch] = (float)(s_dyx[0] * invstd);
    }
}

cnn_status cudnn_launch_bn_bwd_frozen(cudaStream_t s, const cnn_bn_desc *d, const float *x,
                                      const float *dy, const float *gamma,
                                      const float *running_mean, const float *running_var,
                                      float *dx, float *dgamma, float *dbeta)
{
    if (d->c <= 0)
        return CNN_OK;
    bn_bwd_frozen_kernel<<<(unsigned)d->c, BN_BLOCK, 0, s>>>(x, dy, gamma, running_mean,
                                                             running_var, d->eps, dx, dgamma, dbeta,
                                                             d->n, d->c, (int64_t)d->h * d->w);
    CUDA_CHECK_LAUNCH();
    return CNN_OK;
}
