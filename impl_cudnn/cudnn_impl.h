/* The cuDNN backend's internals, shared by its C files and its CUDA kernels.
 *
 * Every pointer an entry receives is device memory on the context's device,
 * except the small arrays of pointers that concat takes (a host array of
 * device pointers, as the harness builds it). All work goes to one stream
 * owned by the context, so entries return as soon as the work is queued and
 * cnn_sync() is the only wait. Calls must come from a thread whose current
 * device is the context's (the thread that created it, or one that called
 * cudaSetDevice(ctx->opts.device)).
 *
 * Numerics are float32 throughout: cuDNN convolutions run with
 * CUDNN_FMA_MATH and cuBLAS with CUBLAS_DEFAULT_MATH, because on Hopper the
 * default cuDNN math mode lets float32 convolutions use TF32 tensor cores
 * (10-bit mantissa inputs, ~3e-4 relative error) and every number this
 * backend reports would silently belong to a different arithmetic. */
#ifndef CNN_CUDNN_IMPL_H
#define CNN_CUDNN_IMPL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Short file names in messages where the compiler has them. */
#ifdef __FILE_NAME__
#define CUDNN_FILE __FILE_NAME__
#else
#define CUDNN_FILE __FILE__
#endif

/* One check per library: record file:line, the call and the library's own
 * message, and return CNN_ERR_BACKEND from the enclosing function. */
#define CUDA_CHECK(call)                                                                           \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return cnn_fail(CNN_ERR_BACKEND, "%s:%d %s: %s", CUDNN_FILE, __LINE__, #call,          \
                            cudaGetErrorString(e_));                                               \
    } while (0)

#define CUDNN_CHECK(call)                                                                          \
    do {                                                                                           \
        cudnnStatus_t s_ = (call);                                                                 \
        if (s_ != CUDNN_STATUS_SUCCESS)                                                            \
            return cnn_fail(CNN_ERR_BACKEND, "%s:%d %s: %s", CUDNN_FILE, __LINE__, #call,          \
                            cudnnGetErrorString(s_));                                              \
    } while (0)

#define CUBLAS_CHECK(call)                                                                         \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                           \
            return cnn_fail(CNN_ERR_BACKEND, "%s:%d %s: %s", CUDNN_FILE, __LINE__, #call,          \
                            cublasGetStatusString(s_));                                            \
    } while (0)

/* A kernel launch reports configuration errors only through the last-error
 * slot, so every launch is followed by this. */
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

/* The passes of a convolution that have an algorithm to choose. */
enum { CUDNN_CONV_FWD = 0, CUDNN_CONV_BWD_DATA, CUDNN_CONV_BWD_FILTER, CUDNN_CONV_PASSES };

/* The algorithm chosen for one pass of one convolution shape. */
typedef struct cudnn_conv_choice {
    bool searched;
    cnn_status status; /* of the search; its reason is kept in why */
    int algo;          /* cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t */
    size_t ws_bytes;
    char name[96];
    char why[256];
} cudnn_conv_choice;

/* Descriptors and algorithms for one convolution shape, built on first use
 * and kept for the context's life, so a compute call sets up nothing. */
typedef struct cudnn_conv_plan {
    cnn_conv_desc key; /* has_bias cleared: the bias does not change the plan */
    cudnnTensorDescriptor_t x, y, b;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnn_conv_choice choice[CUDNN_CONV_PASSES];
} cudnn_conv_plan;

typedef struct cudnn_state {
    int device;
    cudaStream_t stream;
    cudaEvent_t timer_start, timer_stop; /* the timer entries' marks */
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    void *cublas_ws; /* cuBLAS's workspace, given once so that it never allocates mid-run */
    /* scratch descriptors for batch norm, set per call (host-only, cheap) */
    cudnnTensorDescriptor_t bn_x, bn_param;
    cudnn_conv_plan **plans; /* pointers, so that a plan never moves once handed out */
    int plan_count, plan_cap;
} cudnn_state;

static inline cudnn_state *cudnn_st(cnn_ctx *ctx)
{
    return (cudnn_state *)ctx->impl;
}

/* Largest workspace a convolution algorithm may ask for; faster algorithms
 * that need more are passed over. */
#define CUDNN_CONV_WS_LIMIT ((size_t)1 << 30)

/* ---- cudnn_conv.c ---- */
/* Find (or fetch) the plan for d and the algorithm for pass (CUDNN_CONV_*). */
cnn_status cudnn_conv_choose(cnn_ctx *ctx, const cnn_conv_desc *d, int pass,
                             cudnn_conv_plan **plan_out, const cudnn_conv_choice **choice_out);
void cudnn_conv_plans_free(cudnn_state *st);

/* ---- kernels_eltwise.cu ---- */
/* y[r][c] += b[c] for a dense rows x cols matrix. */
cnn_status cudnn_launch_add_row_bias(cudaStream_t s, float *y, const float *b, int64_t rows,
                                     int64_t cols);
/* out[c] = sum_r m[r][c] for a dense rows x cols matrix, each column summed
 * in row order by one thread (deterministic). */
cnn_status cudnn_launch_column_sum(cudaStream_t s, const float *m, float *out, int64_t rows,
                                   int64_t cols);
/* ---- kernels_bn.cu ---- */
/* Batch-norm backward with frozen statistics: running_mean and running_var
 * are constants (cnn_bn_desc.global_stats). */
cnn_status cudnn_launch_bn_bwd_frozen(cudaStream_t s, const cnn_bn_desc *d, const float *x,
                                      const float *dy, const float *gamma,
                                      const float *running_mean, const float *running_var,
                                      float *dx, float *dgamma, float *dbeta);

/* Whether this build's kernels can run on the current device (compiled for
 * its architecture); a reason is recorded when not. */
cnn_status cudnn_kernels_probe(void);

/* ---- the table's entries (backend_ops.h), every one: cudnn_conv_fwd, ...
 * cudnn_concat_bwd. Convolution in cudnn_conv.c, batch norm in cudnn_bn.c
 * (its frozen-statistics backward in kernels_bn.cu),
 * linear in cudnn_linear.c, concat in cudnn_concat.c; pooling in
 * kernels_pool.cu, activations, dropout and add in kernels_eltwise.cu, the
 * loss in kernels_loss.cu, the optimizer step in kernels_optim.cu. ---- */
CNN_BACKEND_OPS(CNN_ENTRY_DECL, cudnn)

/* ---- cudnn_mem.c ---- */
cnn_status cudnn_mem_alloc(cnn_ctx *ctx, size_t bytes, void **out);
void cudnn_mem_free(cnn_ctx *ctx, void *p);
cnn_status cudnn_mem_upload(cnn_ctx *ctx, void *dst, const void *host_src, size_t bytes);
cnn_status cudnn_mem_download(cnn_ctx *ctx, void *host_dst, const void *src, size_t bytes);
cnn_status cudnn_mem_zero(cnn_ctx *ctx, void *p, size_t bytes);
cnn_status cudnn_sync(cnn_ctx *ctx);
cnn_status cudnn_device_memory(cnn_ctx *ctx, size_t *used, size_t *total);
size_t cudnn_cache_bytes(cnn_ctx *ctx);
cnn_status cudnn_timer_start(cnn_ctx *ctx);
cnn_status cudnn_timer_stop(cnn_ctx *ctx, double *seconds);

#ifdef __cplusplus
}
#endif
#endif
