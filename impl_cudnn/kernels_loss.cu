/* Softmax + cross-entropy (mean over the batch), F.cross_entropy's values.
 *
 * Forward runs two kernels: one block per row writes the softmax, then one
 * block sums the per-row losses -log p[label] = log(sum_j exp(l_j - max)) -
 * (l_label - max) in a fixed order (each thread takes rows tid, tid + 256,
 * ..., then a tree over the threads), so the loss is the same on every run
 * without atomics and without a buffer of per-row losses, which the
 * interface gives no workspace for. Writing the loss as log(sum) minus a
 * shifted logit keeps its relative accuracy when the loss is near zero,
 * where lse - l_label would cancel.
 *
 * Labels live on the device, so checking them would cost a copy and a
 * wait: a label outside [0, classes) makes the loss and that row's
 * gradient NaN instead of returning an error. */
#include <math.h>

#include "cudnn_impl.h"

#define ROW_BLOCK 128
#define LOSS_BLOCK 256

/* Block-wide reductions over ROW_BLOCK threads, in a fixed tree order. */
static __device__ float block_max(float v, float *red)
{
    red[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s /= 2) {
        if ((int)threadIdx.x < s)
            red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + s]);
        __syncthreads();
    }
    float r = red[0];
    __syncthreads(); /* red is reused by the next reduction */
    return r;
}

static __device__ float block_sum(float v, float *red)
{
    red[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s /= 2) {
        if ((int)threadIdx.x < s)
            red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    float r = red[0];
    __syncthreads();
    return r;
}

/* fmaxf ignores a NaN logit for the maximum, but exp(NaN) then makes the
 * sum, and so the whole row, NaN: the same outcome as the reference. */
static __global__ void softmax_rows_kernel(const float *logits, float *prob, int classes)
{
    __shared__ float red[ROW_BLOCK];
    const float *row = logits + (int64_t)blockIdx.x * classes;
    float *out = prob + (int64_t)blockIdx.x * classes;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < classes; j += blockDim.x)
        m = fmaxf(m, row[j]);
    m = block_max(m, red);
    float s = 0.0f;
    for (int j = threadIdx.x; j < classes; j += blockDim.x)
        s += expf(row[j] - m);
    const float log_s = logf(block_sum(s, red));
    for (int j = threadIdx.x; j < classes; j += blockDim.x)
        out[j] = expf((row[j] - m) - log_s);
}

static __global__ void xent_loss_kernel(const float *logits, const int32_t *labels, float *loss,
                                        int n, int classes)
{
    __shared__ double red[LOSS_BLOCK];
    double acc = 0.0;
    for (int r = threadIdx.x; r < n; r += blockDim.x) {
        const float *row = logits + (int64_t)r * classes;
        const int label = labels[r];
        if (label < 0 || label >= classes) {
            acc += NAN;
            continue;
        }
        float m = -INFINITY;
        for (int j = 0; j < classes; j++)
            m = fmaxf(m, row[j]);
        float s = 0.0f;
        for (int j = 0; j < classes; j++)
            s += expf(row[j] - m);
        acc += (double)logf(s) - (double)(row[label] - m);
    }
    red[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s /= 2) {
        if ((int)threadIdx.x < s)
            red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        loss[0] = (float)(red[0] / n);
}

/* dlogits = (prob - onehot(label)) / n, in double and rounded once, as the
 * reference does. */
static __global__ void xent_bwd_kernel(const float *prob, const int32_t *labels, float *dlogits,
                                       int n, int classes)
{
    const int64_t total = (int64_t)n * classes;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int r = (int)(i / classes), j = (int)(i % classes);
        const int label = labels[r];
        if (label < 0 || label >= classes) {
            dlogits[i] = NAN;
            continue;
        }
        const double onehot = j == label ? 1.0 : 0.0;
        dlogits[i] = (float)(((double)prob[i] - onehot) / n);
    }
}

cnn_status cudnn_xent_fwd(cnn_ctx *ctx, const cnn_xent_desc *d, const float *logits,
                          const int32_t *labels, float *prob, float *loss)
{
    cudaStream_t s = cudnn_st(ctx)->stream;
    softmax_rows_kernel<<<(unsigned)d->n, ROW_BLOCK, 0, s>>>(logits, prob, d->classes);
    CUDA_CHECK_LAUNCH();
    xent_loss_kernel<<<1, LOSS_BLOCK, 0, s>>>(logits, labels, loss, d->n, d->classes);
    CUDA_CHECK_LAUNCH();
    return CNN_OK;
}

cnn_status cudnn_xent_bwd(cnn_ctx *ctx, const cnn_xent_desc *d, const float *prob,
                          const int32_t *labels, float *dlogits)
{
    const int64_t total = (int64_t)d->n * d->classes;
    int64_t blocks = (total + 255) / 256;
    if (blocks > (1 << 20))
        blocks = 1 << 20;
    xent_bwd_kernel<<<(unsigned)blocks, 256, 0, cudnn_st(ctx)->stream>>>(prob, labels, dlogits,
                                                                         d->n, d->classes);
    CUDA_CHECK_LAUNCH();
    return CNN_OK;
}
