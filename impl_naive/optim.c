/* The optimizer step (kernels/ops.h, cnn_optim_desc): SGD and Adam.
 *
 * Each element is computed in double from its float32 inputs and every
 * stored value (the parameter, the momentum buffer, Adam's moments) is
 * rounded to float once. So the reference is the exact rule applied to the
 * float32 values it is given, up to one rounding per output, rather than one
 * more float32 rounding order: PyTorch's float32 code and every float32
 * backend differ from it by a few units in the last place of each step,
 * never by an error of its own. Elements are independent, so the result is
 * the same for any thread count. */
#include "naive.h"

#include <math.h>

static void sgd(cnn_ctx *ctx, const cnn_optim_desc *d, float *param, const float *grad, float *buf)
{
    const double lr = d->lr, wd = d->weight_decay, mom = d->momentum;
    const bool first = d->step == 1;
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int64_t i = 0; i < d->count; i++) {
        double p = param[i], g = (double)grad[i] + wd * p;
        if (buf) {
            g = first ? g : mom * (double)buf[i] + g;
            buf[i] = (float)g;
        }
        param[i] = (float)(p - lr * g);
    }
}

static void adam(cnn_ctx *ctx, const cnn_optim_desc *d, float *param, const float *grad,
                 float *state)
{
    double step_size, bc2_sqrt;
    cnn_optim_adam_scalars(d, &step_size, &bc2_sqrt);
    const double b1 = d->beta1, b2 = d->beta2, eps = d->eps, wd = d->weight_decay;
    const bool first = d->step == 1;
    float *m = state, *v = state + d->count;
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int64_t i = 0; i < d->count; i++) {
        double p = param[i], g = (double)grad[i] + wd * p;
        double mi = (first ? 0.0 : b1 * (double)m[i]) + (1.0 - b1) * g;
        double vi = (first ? 0.0 : b2 * (double)v[i]) + (1.0 - b2) * g * g;
        m[i] = (float)mi;
        v[i] = (float)vi;
        param[i] = (float)(p - step_size * mi / (sqrt(vi) / bc2_sqrt + eps));
    }
}

cnn_status cnn_naive_optim_step(cnn_ctx *ctx, const cnn_optim_desc *d, float *param,
                                const float *grad, float *state)
{
    if (d->mode == CNN_OPTIM_ADAM)
        adam(ctx, d, param, grad, state);
    else
        sgd(ctx, d, param, grad, cnn_optim_state_count(d) ? state : NULL);
    return CNN_OK;
}
