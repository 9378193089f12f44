/* The optimizer step (kernels/ops.h, cnn_optim_desc) in float32, one flat
 * loop per rule, split across threads and vectorised by the compiler.
 *
 * The arithmetic is PyTorch's own on float tensors: its scalars (lr, the
 * betas, 1 - beta, Adam's step size and sqrt of the bias correction, all
 * computed in double as Python does) are rounded to float once, and each
 * tensor operation of torch.optim's single-tensor code is one float
 * expression here, in the same order (addcdiv's value * m / denom). */
#include "cpu_ops.h"
#include "cpu_parallel.h"

#include <math.h>

/* p -= lr * (g + wd * p), and with momentum buf = mom * buf + d first; at
 * step 1 the buffer is d itself (PyTorch clones d into a new buffer). */
static void sgd(const cnn_optim_desc *d, float *restrict p, const float *restrict g,
                float *restrict buf, int nt)
{
    const int64_t n = d->count;
    const float lr = (float)d->lr, wd = (float)d->weight_decay, mom = (float)d->momentum;
    if (!buf) {
#pragma omp parallel for simd num_threads(nt) schedule(static)
        for (int64_t i = 0; i < n; i++)
            p[i] = p[i] - lr * (g[i] + wd * p[i]);
    } else if (d->step == 1) {
#pragma omp parallel for simd num_threads(nt) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float b = g[i] + wd * p[i];
            buf[i] = b;
            p[i] = p[i] - lr * b;
        }
    } else {
#pragma omp parallel for simd num_threads(nt) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float b = buf[i] * mom + (g[i] + wd * p[i]);
            buf[i] = b;
            p[i] = p[i] - lr * b;
        }
    }
}

/* At step 1 the moments are taken as zero whatever the state holds (a
 * select, so that garbage there, NaN included, cannot leak in). */
static void adam(const cnn_optim_desc *d, float *restrict p, const float *restrict g,
                 float *restrict m, float *restrict v, int nt)
{
    double step_size, bc2_sqrt;
    cnn_optim_adam_scalars(d, &step_size, &bc2_sqrt);
    const int64_t n = d->count;
    const bool first = d->step == 1;
    const float b1 = (float)d->beta1, b2 = (float)d->beta2, one_b1 = (float)(1.0 - d->beta1),
                one_b2 = (float)(1.0 - d->beta2), wd = (float)d->weight_decay, eps = (float)d->eps,
                neg_step = (float)-step_size, bc2 = (float)bc2_sqrt;
#pragma omp parallel for simd num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        float mi = (first ? 0.0f : m[i]) * b1 + one_b1 * gi;
        float vi = (first ? 0.0f : v[i]) * b2 + (one_b2 * gi) * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] + neg_step * mi / (sqrtf(vi) / bc2 + eps);
    }
}

cnn_status cnn_cpu_optim_step(cnn_ctx *ctx, const cnn_optim_desc *d, float *param,
                              const float *grad, float *state)
{
    const int nt = cnn_cpu_team(ctx, d->count);
    if (d->mode == CNN_OPTIM_ADAM)
        adam(d, param, grad, state, state + d->count, nt);
    else
        sgd(d, param, grad, cnn_optim_state_count(d) ? state : NULL, nt);
    return CNN_OK;
}
