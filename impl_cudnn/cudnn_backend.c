/* The "cudnn" backend: cuDNN for convolution and batch norm, cuBLAS for
 * linear layers, and this folder's own CUDA kernels for the operations where
 * cuDNN either lacks PyTorch's semantics (pooling's ceil mode, its divisor
 * and tie rules, adaptive pooling) or where a library call would add nothing
 * (element-wise, dropout with the shared Philox mask, the loss, concat, the
 * optimizer step).
 * Everything runs on one stream that the context owns. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cudnn_impl.h"

/* Must not crash or hang where there is no GPU or no driver: the runtime
 * answers cudaGetDeviceCount with an error then, which is the reason. */
static bool cudnn_available(char *why, size_t why_size)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        snprintf(why, why_size, "no CUDA device (cudaGetDeviceCount: %s)", cudaGetErrorString(e));
        (void)cudaGetLastError(); /* leave no sticky error behind for later callers */
        return false;
    }
    if (count < 1) {
        snprintf(why, why_size, "no CUDA device");
        return false;
    }
    /* A cuDNN library of another major version than the headers would
     * misread every descriptor. */
    size_t version = cudnnGetVersion();
    if (version / 10000 != CUDNN_MAJOR) {
        snprintf(why, why_size, "cuDNN library %zu does not match the headers (%d.%d.%d)", version,
                 CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL);
        return false;
    }
    return true;
}

/* cuBLAS's recommended workspace for Hopper. */
#define CUBLAS_WS_BYTES ((size_t)32 << 20)

static void cudnn_teardown(cudnn_state *st)
{
    if (st->stream)
        (void)cudaStreamSynchronize(st->stream);
    cudnn_conv_plans_free(st);
    if (st->bn_x)
        (void)cudnnDestroyTensorDescriptor(st->bn_x);
    if (st->bn_param)
        (void)cudnnDestroyTensorDescriptor(st->bn_param);
    if (st->cublas)
        (void)cublasDestroy(st->cublas);
    if (st->cublas_ws)
        (void)cudaFree(st->cublas_ws);
    if (st->cudnn)
        (void)cudnnDestroy(st->cudnn);
    if (st->timer_start)
        (void)cudaEventDestroy(st->timer_start);
    if (st->timer_stop)
        (void)cudaEventDestroy(st->timer_stop);
    if (st->stream)
        (void)cudaStreamDestroy(st->stream);
}

static cnn_status cudnn_setup(cudnn_state *st)
{
    int count = 0;
    CUDA_CHECK(cudaGetDeviceCount(&count));
    if (st->device < 0 || st->device >= count)
        return cnn_fail(CNN_ERR_INVALID_ARG, "cudnn: device %d does not exist (%d device%s)",
                        st->device, count, count == 1 ? "" : "s");
    CUDA_CHECK(cudaSetDevice(st->device));
    cnn_status s = cudnn_kernels_probe();
    if (s != CNN_OK)
        return s;
    CUDA_CHECK(cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreate(&st->timer_start));
    CUDA_CHECK(cudaEventCreate(&st->timer_stop));

    CUDNN_CHECK(cudnnCreate(&st->cudnn));
    CUDNN_CHECK(cudnnSetStream(st->cudnn, st->stream));

    /* Default math is true float32 for sgemm: TF32 and the BF16x9
     * emulation each need their own math mode, which is never set here.
     * cublasSetStream resets the workspace, so the workspace comes after. */
    CUBLAS_CHECK(cublasCreate(&st->cublas));
    CUBLAS_CHECK(cublasSetStream(st->cublas, st->stream));
    CUBLAS_CHECK(cublasSetMathMode(st->cublas, CUBLAS_DEFAULT_MATH));
    CUDA_CHECK(cudaMalloc(&st->cublas_ws, CUBLAS_WS_BYTES));
    CUBLAS_CHECK(cublasSetWorkspace(st->cublas, st->cublas_ws, CUBLAS_WS_BYTES));

    CUDNN_CHECK(cudnnCreateTensorDescriptor(&st->bn_x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&st->bn_param));
    return CNN_OK;
}

static cnn_status cudnn_init(cnn_ctx *ctx)
{
    cudnn_state *st = calloc(1, sizeof *st);
    if (!st)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "cudnn: no memory for the context state");
    st->device = ctx->opts.device;
    cnn_status s = cudnn_setup(st);
    if (s != CNN_OK) {
        cudnn_teardown(st);
        free(st);
        return s;
    }
    ctx->impl = st;
    return CNN_OK;
}

static void cudnn_fini(cnn_ctx *ctx)
{
    cudnn_state *st = cudnn_st(ctx);
    if (!st)
        return;
    cudnn_teardown(st);
    free(st);
    ctx->impl = NULL;
}

static bool fits_int(int64_t n)
{
    return n <= INT_MAX;
}

/* cuDNN's legacy descriptors and cuBLAS take int sizes and strides. */
static bool cudnn_supports(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    (void)ctx;
    (void)pass;
    /* No fused ReLU (kernels/ops.h) here yet: a run keeps the pair apart.
     * cudnnConvolutionBiasActivationForward would do the forward. */
    if ((op->kind == CNN_OP_CONV && op->conv.fuse_relu) ||
        (op->kind == CNN_OP_BN && op->bn.fuse_relu))
        return false;
    switch (op->kind) {
    case CNN_OP_CONV: {
        const cnn_conv_desc *d = &op->conv;
        return fits_int((int64_t)d->n * d->c * d->h * d->w) &&
               fits_int((int64_t)d->n * d->k * d->p * d->q) &&
               fits_int((int64_t)d->k * d->c * d->r * d->s);
    }
    case CNN_OP_BN: return fits_int((int64_t)op->bn.n * op->bn.c * op->bn.h * op->bn.w);
    /* The pooling kernels index within a plane with int. */
    case CNN_OP_POOL:
        return fits_int((int64_t)op->pool.h * op->pool.w) &&
               fits_int((int64_t)op->pool.p * op->pool.q);
    case CNN_OP_ADAPOOL:
        return fits_int((int64_t)op->adapool.h * op->adapool.w) &&
               fits_int((int64_t)op->adapool.p * op->adapool.q);
    case CNN_OP_LINEAR: {
        const cnn_linear_desc *d = &op->linear;
        return fits_int((int64_t)d->n * d->in) && fits_int((int64_t)d->n * d->out) &&
               fits_int((int64_t)d->out * d->in);
    }
    default: return true;
    }
}

/* cudnn_supports() above, in words: size limits, and no fused ReLU. */
static cnn_coverage cudnn_coverage(cnn_op_kind kind, cnn_pass pass)
{
    switch (kind) {
    case CNN_OP_CONV: /* only fwd and bwd_bias have a fused form to decline */
        if (pass == CNN_FWD || pass == CNN_BWD_BIAS)
            return (cnn_coverage){
                .partial = true,
                .note = "tensors of up to 2^31-1 elements; no fused ReLU (fuse_relu)"};
        return (cnn_coverage){.note = "tensors of up to 2^31-1 elements"};
    case CNN_OP_LINEAR: return (cnn_coverage){.note = "tensors of up to 2^31-1 elements"};
    case CNN_OP_POOL:
    case CNN_OP_ADAPOOL: return (cnn_coverage){.note = "planes of up to 2^31-1 elements"};
    case CNN_OP_BN:
        if (pass == CNN_BWD_DATA)
            return (cnn_coverage){.partial = true,
                                  .note = "tensors of up to 2^31-1 elements; frozen statistics "
                                          "(eval-mode gradients) on an own CUDA kernel; no fused "
                                          "ReLU (fuse_relu)"};
        return (cnn_coverage){.partial = true,
                              .note = "tensors of up to 2^31-1 elements; no fused ReLU (fuse_relu)"};
    default: return (cnn_coverage){0};
    }
}

static int conv_pass(cnn_pass pass)
{
    switch (pass) {
    case CNN_FWD: return CUDNN_CONV_FWD;
    case CNN_BWD_DATA: return CUDNN_CONV_BWD_DATA;
    case CNN_BWD_WEIGHT: return CUDNN_CONV_BWD_FILTER;
    default: return -1;
    }
}

/* Only convolutions need a workspace: the chosen algorithm's. A failed
 * search answers 0 here and its reason comes back from the compute call. */
static size_t cudnn_workspace_size(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    if (op->kind != CNN_OP_CONV || conv_pass(pass) < 0)
        return 0;
    cudnn_conv_plan *plan;
    const cudnn_conv_choice *choice;
    if (cudnn_conv_choose(ctx, &op->conv, conv_pass(pass), &plan, &choice) != CNN_OK)
        return 0;
    return choice->ws_bytes;
}

static const char *algorithm_name(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    switch (op->kind) {
    case CNN_OP_CONV: {
        if (pass == CNN_BWD_BIAS)
            return "cudnnConvolutionBackwardBias";
        cudnn_conv_plan *plan;
        const cudnn_conv_choice *choice;
        if (conv_pass(pass) < 0 ||
            cudnn_conv_choose(ctx, &op->conv, conv_pass(pass), &plan, &choice) != CNN_OK)
            return "cudnn (no algorithm: search failed)";
        return choice->name;
    }
    case CNN_OP_POOL: return "own CUDA kernel (PyTorch window rules)";
    case CNN_OP_BN:
        return pass == CNN_BWD_DATA && op->bn.global_stats ? "own CUDA kernel (frozen statistics)"
                                                           : "cudnnBatchNormalization (SPATIAL)";
    case CNN_OP_LINEAR:
        return pass == CNN_BWD_WEIGHT ? "cublasSgemm (fp32) + column-sum kernel"
                                      : "cublasSgemm (fp32)";
    default: return "own CUDA kernel";
    }
}

/* Float32 with FMA math throughout (no TF32): the default error class. */
static cnn_algo cudnn_algorithm(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    return (cnn_algo){.name = algorithm_name(ctx, op, pass)};
}

const cnn_backend cnn_backend_cudnn = {
    .name = "cudnn",
    .about = "NVIDIA GPU: cuDNN conv/bn (fp32 FMA math, no TF32), cuBLAS linear, own kernels",
    .device = CNN_DEVICE_CUDA,

    .available = cudnn_available,
    .init = cudnn_init,
    .fini = cudnn_fini,
    .supports = cudnn_supports,
    .coverage = cudnn_coverage,
    .workspace_size = cudnn_workspace_size,
    .algorithm = cudnn_algorithm,

    .mem_alloc = cudnn_mem_alloc,
    .mem_free = cudnn_mem_free,
    .mem_upload = cudnn_mem_upload,
    .mem_download = cudnn_mem_download,
    .mem_zero = cudnn_mem_zero,
    .sync = cudnn_sync,
    .device_memory = cudnn_device_memory,
    .cache_bytes = cudnn_cache_bytes,
    .timer_start = cudnn_timer_start,
    .timer_stop = cudnn_timer_stop,

    CNN_BACKEND_OPS(CNN_ENTRY_INIT, cudnn)
};
