/* Element-wise kernels: activations, dropout, the residual add, and the two
 * helpers of the linear layer (row bias, column sum).
 *
 * Each is a grid-stride loop with 64-bit indices (kernels_grid.cuh), one
 * coalesced pass over the data. Every element is read and then written
 * by the same thread, so an output may alias its input. Arithmetic is
 * float32, except where the result must be bitwise the reference's
 * (dropout's scaling, done in double exactly as impl_naive/eltwise.c does). */
#include "cudnn_impl.h"
#include "kernels_grid.cuh"
#include "philox.h"

/* relu keeps NaN and -0.0, as torch.relu does: (x < 0) is false for both. */
static __global__ void relu_fwd_kernel(const float *x, float *y, int64_t n)
{
    GRID_STRIDE(i, n)
    {
        float v = x[i];
        y[i] = v < 0.0f ? 0.0f : v;
    }
}

/* expf(-v) overflows to inf for v < -88, giving exactly 0; it underflows
 * to 0 for large v, giving exactly 1. */
static __global__ void sigmoid_fwd_kernel(const float *x, float *y, int64_t n)
{
    GRID_STRIDE(i, n)
    {
        y[i] = 1.0f / (1.0f + expf(-x[i]));
    }
}

static __global__ void relu_bwd_kernel(const float *y, const float *dy, float *dx, int64_t n)
{
    GRID_STRIDE(i, n)
    {
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    }
}

static __global__ void sigmoid_bwd_kernel(const float *y, const float *dy, float *dx, int64_t n)
{
    GRID_STRIDE(i, n)
    {
        float t = y[i];
        dx[i] = dy[i] * t * (1.0f - t);
    }
}

/* The keep decision is the shared cnn_dropout_keep() itself, so the mask is
 * the CPU backends' by construction. Each element evaluates its own Philox
 * block (about 20 integer multiplies) although four elements share one;
 * sharing would mean restating philox.h's word-to-uniform rule here, and
 * this kernel is a small part of any step. The scaling is done in double
 * and rounded once, as the reference does, which makes the whole output
 * bitwise equal to the reference's. */
static __global__ void dropout_kernel(const float *x, float *y, int64_t n, uint64_t seed, double p,
                                      double scale)
{
    GRID_STRIDE(i, n)
    {
        y[i] = cnn_dropout_keep(seed, (uint64_t)i, p) ? (float)((double)x[i] * scale) : 0.0f;
    }
}

static __global__ void add_kernel(const float *a, const float *b, float *y, int64_t n)
{
    GRID_STRIDE(i, n)
    {
        y[i] = a[i] + b[i];
    }
}

static __global__ void add_row_bias_kernel(float *y, const float *b, int64_t rows, int64_t cols)
{
    GRID_STRIDE(i, rows * cols)
    {
        y[i] += b[i % cols];
    }
}

/* One thread per column, rows in order: consecutive threads read
 * consecutive addresses of each row, and every sum has a fixed order. */
static __global__ void column_sum_kernel(const float *m, float *out, int64_t rows, int64_t cols)
{
    GRID_STRIDE(c, cols)
    {
        float acc = 0.0f;
        for (int64_t r = 0; r < rows; r++)
            acc += m[r * cols + c];
        out[c] = acc;
    }
}

cnn_status cudnn_act_fwd(cnn_ctx *ctx, const cnn_act_desc *d, const float *x, float *y)
{
    cudaStream_t s = cudnn_st(ctx)->stream;
    if (d->mode == CNN_ACT_RELU)
        relu_fwd_kernel<<<blocks_for(d->count), BLOCK, 0, s>>>(x, y, d->count);
    else
        sigmoid_fwd_kernel<<<blocks_for(d->count), BLOCK, 0, s>>>(x, y, d->count);
    CUDA_CHECK_LAUNCH();
    return CNN_OK;
}

cnn_status cudnn_act_bwd(cnn_ctx *ctx, const cnn_act_desc *d, const float *y, const float *dy,
                         float *dx)
{
    cudaStream_t s = cudnn_st(ctx)->stream;
    if (d->mode == CNN_ACT_RELU)
        relu_bwd_kernel<<<blocks_for(d->count), BLOCK, 0, s>>>(y, dy, dx, d->count);
    else
        sigmoid_bwd_kernel<<<blocks_for(d->count), BLOCK, 0, s>>>(y, dy, dx, d->count);
    CUDA_CHECK_LAUNCH();
    return CNN_OK;
}

/* p = 1 keeps nothing, and its scale is 0 rather than inf. */
static double dropout_scale(double p)
{
    return p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
}

/* Backward is the forward map applied to dy: the same mask, the same scale. */
static cnn_status dropout_launch(cnn_ctx *ctx, const cnn_dropout_desc *d, const float *in,
                                 float *out)
{
    dropout_kernel<<<blocks_for(d->count), BLOCK, 0, cudnn_st(ctx)->stream>>>(
        in, out, d->count, d->seed, d->p, dropout_scale(d->p));
    CUDA_CHECK_LAUNCH();
    return CNN_OK;
}

cnn_status cudnn_dropout_fwd(cnn_ctx *ctx, const cnn_dropout_desc *d, const float *x, float *y)
{
    return dropout_launch(ctx, d, x, y);
}

cnn_status cudnn_dropout_bwd(cnn_ctx *ctx, const cnn_dropout_desc *d, const float *dy, float *dx)
{
    return dropout_launch(ctx, d, dy, dx);
}

cnn_status cudnn_add_fwd(cnn_ctx *ctx, const cnn_add_desc *d, const float *a, const float *b,
                         float *y)
{
    add_kernel<<<blocks_for(d->count), BLOCK, 0, cudnn_st(ctx)->stream>>>(a, b, y, d->count);
    CUDA_CHECK_LAUNCH();
    return CNN_OK;
}

cnn_status cudnn_launch_add_row_bias(cudaStream_t s, float *y, const float *b, int64_t rows,
                                     int64_t cols)
{
    add_row_bias_kernel<<<blocks_for(rows * cols), BLOCK, 0, s>>>(y, b, rows, cols);
    CUDA_CHECK_LAUNCH();
    return CNN_OK;
}

cnn_status cudnn_launch_column_sum(cudaStream_t s, const float *m, float *out, int64_t rows,
                                   int64_t cols)
{
    column_sum_kernel<<<blocks_for(cols), BLOCK, 0, s>>>(m, out, rows, cols);
    CUDA_CHECK_LAUNCH();
    return CNN_OK;
}

/* Loading one kernel's attributes fails with "no kernel image is available"
 * when the build targets other architectures than the device's. */
cnn_status cudnn_kernels_probe(void)
{
    cudaFuncAttributes attr;
    cudaError_t e = cudaFuncGetAttributes(&attr, (const void *)relu_fwd_kernel);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return cnn_fail(CNN_ERR_BACKEND,
                        "%s:%d cudaFuncGetAttributes: %s (this build's kernels were compiled for "
                        "other GPU architectures: set CNN_CUDA_ARCHS)",
                        CUDNN_FILE, __LINE__, cudaGetErrorString(e));
    }
    return CNN_OK;
}
