/* Device memory for the caller. Copies go through the context's stream so
 * they are ordered after the work already queued there; uploads and
 * downloads then wait for it, because the host buffer is the caller's again
 * when they return. */
#include "cudnn_impl.h"

cnn_status cudnn_mem_alloc(cnn_ctx *ctx, size_t bytes, void **out)
{
    (void)ctx;
    *out = NULL;
    /* A zero-byte request still gets a distinct pointer, as on the host. */
    cudaError_t e = cudaMalloc(out, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "cudnn: cudaMalloc of %zu bytes: %s", bytes,
                        cudaGetErrorString(e));
    }
    CUDA_CHECK(e);
    return CNN_OK;
}

void cudnn_mem_free(cnn_ctx *ctx, void *p)
{
    (void)ctx;
    (void)cudaFree(p);
}

cnn_status cudnn_mem_upload(cnn_ctx *ctx, void *dst, const void *host_src, size_t bytes)
{
    cudaStream_t s = cudnn_st(ctx)->stream;
    if (bytes == 0)
        return CNN_OK;
    CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    return CNN_OK;
}

cnn_status cudnn_mem_download(cnn_ctx *ctx, void *host_dst, const void *src, size_t bytes)
{
    cudaStream_t s = cudnn_st(ctx)->stream;
    if (bytes == 0)
        return CNN_OK;
    CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    return CNN_OK;
}

cnn_status cudnn_mem_zero(cnn_ctx *ctx, void *p, size_t bytes)
{
    if (bytes == 0)
        return CNN_OK;
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cudnn_st(ctx)->stream));
    return CNN_OK;
}

/* Also surfaces errors of kernels that failed after their launch returned. */
cnn_status cudnn_sync(cnn_ctx *ctx)
{
    CUDA_CHECK(cudaStreamSynchronize(cudnn_st(ctx)->stream));
    return CNN_OK;
}

cnn_status cudnn_device_memory(cnn_ctx *ctx, size_t *used, size_t *total)
{
    (void)ctx;
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    *used = total_b - free_b;
    *total = total_b;
    return CNN_OK;
}

size_t cudnn_cache_bytes(cnn_ctx *ctx)
{
    int l2 = 0;
    if (cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, cudnn_st(ctx)->device) != cudaSuccess)
        return 0;
    return (size_t)l2;
}

/* Events on the context's stream: the time between them is the device's,
 * whatever the host did meanwhile. */
cnn_status cudnn_timer_start(cnn_ctx *ctx)
{
    cudnn_state *st = cudnn_st(ctx);
    CUDA_CHECK(cudaEventRecord(st->timer_start, st->stream));
    return CNN_OK;
}

cnn_status cudnn_timer_stop(cnn_ctx *ctx, double *seconds)
{
    cudnn_state *st = cudnn_st(ctx);
    float ms = 0;
    CUDA_CHECK(cudaEventRecord(st->timer_stop, st->stream));
    CUDA_CHECK(cudaEventSynchronize(st->timer_stop));
    CUDA_CHECK(cudaEventElapsedTime(&ms, st->timer_start, st->timer_stop));
    *seconds = ms * 1e-3;
    return CNN_OK;
}
