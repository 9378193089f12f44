/* The optimizer step (kernels/ops.h, cnn_optim_desc): one thread per
 * parameter in a grid-stride loop (kernels_grid.cuh), each element read and
 * written by the same thread, in one pass over param, grad and the state.
 *
 * Float32 arithmetic in the order of torch.optim's single-tensor code, with
 * its scalars computed in double on the host and rounded to float once, as
 * impl_cpu/cpu_optim.c does. nvcc may fuse a multiply and an add into an
 * FMA, and sqrtf and the division are IEEE-rounded (no fast math), so each
 * step stays within a few float32 roundings of the reference. */
#include "cudnn_impl.h"
#include "kernels_grid.cuh"

/* buf == NULL: plain SGD. first: the buffer becomes d (PyTorch's clone). */
static __global__ void sgd_kernel(float *p, const float *g, float *buf, int64_t n, float lr,
                                  float wd, float mom, bool first)
{
    GRID_STRIDE(i, n)
    {
        float d = g[i] + wd * p[i];
        if (buf) {
            d = first ? d : buf[i] * mom + d;
            buf[i] = d;
        }
        p[i] = p[i] - lr * d;
    }
}

typedef struct adam_args {
    float b1, b2, one_b1, one_b2, wd, eps, neg_step, bc2_sqrt;
    bool first; /* the moments are taken as zero, whatever the state holds */
} adam_args;

static __global__ void adam_kernel(float *p, const float *g, float *m, float *v, int64_t n,
                                   adam_args a)
{
    GRID_STRIDE(i, n)
    {
        float gi = g[i] + a.wd * p[i];
        float mi = (a.first ? 0.0f : m[i]) * a.b1 + a.one_b1 * gi;
        float vi = (a.first ? 0.0f : v[i]) * a.b2 + (a.one_b2 * gi) * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] + a.neg_step * mi / (sqrtf(vi) / a.bc2_sqrt + a.eps);
    }
}

cnn_status cudnn_optim_step(cnn_ctx *ctx, const cnn_optim_desc *d, float *param, const float *grad,
                            float *state)
{
    cudaStream_t s = cudnn_st(ctx)->stream;
    const int64_t n = d->count;
    if (d->mode == CNN_OPTIM_ADAM) {
        double step_size, bc2_sqrt;
        cnn_optim_adam_scalars(d, &step_size, &bc2_sqrt);
        adam_args a = {(float)d->beta1,         (float)d->beta2,        (float)(1.0 - d->beta1),
                       (float)(1.0 - d->beta2), (float)d->weight_decay, (float)d->eps,
                       (float)-step_size,       (float)bc2_sqrt,        d->step == 1};
        adam_kernel<<<blocks_for(n), BLOCK, 0, s>>>(param, grad, state, state + n, n, a);
    } else {
        sgd_kernel<<<blocks_for(n), BLOCK, 0, s>>>(
            param, grad, cnn_optim_state_count(d) ? state : NULL, n, (float)d->lr,
            (float)d->weight_decay, (float)d->momentum, d->step == 1);
    }
    CUDA_CHECK_LAUNCH();
    return CNN_OK;
}
