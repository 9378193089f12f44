#include "backend.h"

#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cnn_status cnn_ctx_create(const cnn_backend *be, const cnn_ctx_opts *opts, cnn_ctx **out)
{
    *out = NULL;
    char why[256] = "";
    if (!cnn_backend_available(be, why, sizeof why))
        return cnn_fail(CNN_ERR_UNSUPPORTED, "backend %s is not usable here: %s", be->name, why);
    cnn_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "backend %s: no memory for a context", be->name);
    ctx->backend = be;
    if (opts)
        ctx->opts = *opts;
    if (be->init) {
        cnn_status st = be->init(ctx);
        if (st != CNN_OK) {
            free(ctx);
            return st;
        }
    }
    *out = ctx;
    return CNN_OK;
}

void cnn_ctx_destroy(cnn_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->backend->fini)
        ctx->backend->fini(ctx);
    free(ctx);
}

bool cnn_backend_available(const cnn_backend *be, char *why, size_t why_size)
{
    if (why_size)
        why[0] = '\0';
    return be->available ? be->available(why, why_size) : true;
}

#define IMPLEMENTS(ARG, ENTRY, KIND, DESC, PASS, ...)                                              \
    if (kind == KIND && pass == PASS)                                                              \
        return be->ENTRY != NULL;

bool cnn_backend_implements(const cnn_backend *be, cnn_op_kind kind, cnn_pass pass)
{
    CNN_BACKEND_OPS(IMPLEMENTS, )
    return false;
}

bool cnn_supports(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    const cnn_backend *be = ctx->backend;
    if (!cnn_op_has_pass(op, pass) || !cnn_backend_implements(be, op->kind, pass))
        return false;
    return be->supports ? be->supports(ctx, op, pass) : true;
}

size_t cnn_workspace_size(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    const cnn_backend *be = ctx->backend;
    return be->workspace_size ? be->workspace_size(ctx, op, pass) : 0;
}

cnn_coverage cnn_backend_coverage(const cnn_backend *be, cnn_op_kind kind, cnn_pass pass)
{
    if (!be->coverage || !cnn_backend_implements(be, kind, pass))
        return (cnn_coverage){0};
    return be->coverage(kind, pass);
}

cnn_algo cnn_algorithm_info(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    cnn_algo a = ctx->backend->algorithm ? ctx->backend->algorithm(ctx, op, pass) : (cnn_algo){0};
    if (!a.name)
        a.name = ctx->backend->name;
    return a;
}

const char *cnn_algorithm(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    return cnn_algorithm_info(ctx, op, pass).name;
}

bool cnn_side_time(cnn_ctx *ctx, const char **what, double *seconds)
{
    *what = NULL;
    *seconds = 0.0;
    return ctx->backend->side_time && ctx->backend->side_time(ctx, what, seconds);
}

/* Host backends: 64-byte aligned so that vector loads never split a line. */
cnn_status cnn_mem_alloc(cnn_ctx *ctx, size_t bytes, void **out)
{
    *out = NULL;
    if (ctx->backend->mem_alloc)
        return ctx->backend->mem_alloc(ctx, bytes, out);
    size_t rounded = (bytes + 63) / 64 * 64;
    *out = aligned_alloc(64, rounded ? rounded : 64);
    if (!*out)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes", bytes);
    return CNN_OK;
}

void cnn_mem_free(cnn_ctx *ctx, void *p)
{
    if (!p)
        return;
    if (ctx->backend->mem_free)
        ctx->backend->mem_free(ctx, p);
    else
        free(p);
}

cnn_status cnn_mem_upload(cnn_ctx *ctx, void *dst, const void *host_src, size_t bytes)
{
    if (ctx->backend->mem_upload)
        return ctx->backend->mem_upload(ctx, dst, host_src, bytes);
    if (bytes)
        memcpy(dst, host_src, bytes);
    return CNN_OK;
}

cnn_status cnn_mem_download(cnn_ctx *ctx, void *host_dst, const void *src, size_t bytes)
{
    if (ctx->backend->mem_download)
        return ctx->backend->mem_download(ctx, host_dst, src, bytes);
    if (bytes)
        memcpy(host_dst, src, bytes);
    return CNN_OK;
}

cnn_status cnn_mem_zero(cnn_ctx *ctx, void *p, size_t bytes)
{
    if (ctx->backend->mem_zero)
        return ctx->backend->mem_zero(ctx, p, bytes);
    if (bytes)
        memset(p, 0, bytes);
    return CNN_OK;
}

cnn_status cnn_sync(cnn_ctx *ctx)
{
    return ctx->backend->sync ? ctx->backend->sync(ctx) : CNN_OK;
}

cnn_status cnn_timer_start(cnn_ctx *ctx)
{
    if (ctx->timing)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: timer started twice without a stop",
                        ctx->backend->name);
    cnn_status st = ctx->backend->timer_start ? ctx->backend->timer_start(ctx) : cnn_sync(ctx);
    if (st != CNN_OK)
        return st;
    ctx->timing = true;
    ctx->timer_t0 = cnn_wall_seconds();
    return CNN_OK;
}

cnn_status cnn_timer_stop(cnn_ctx *ctx, double *seconds)
{
    *seconds = 0;
    if (!ctx->timing)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: timer stopped without a start",
                        ctx->backend->name);
    ctx->timing = false;
    if (ctx->backend->timer_stop)
        return ctx->backend->timer_stop(ctx, seconds);
    cnn_status st = cnn_sync(ctx);
    *seconds = cnn_wall_seconds() - ctx->timer_t0;
    return st;
}

cnn_status cnn_device_memory(cnn_ctx *ctx, size_t *used, size_t *total)
{
    *used = *total = 0;
    if (!ctx->backend->device_memory)
        return cnn_fail(CNN_ERR_UNSUPPORTED, "%s: no device memory to report",
                        ctx->backend->name);
    return ctx->backend->device_memory(ctx, used, total);
}

size_t cnn_device_cache_bytes(cnn_ctx *ctx)
{
    return ctx->backend->cache_bytes ? ctx->backend->cache_bytes(ctx) : 0;
}

double cnn_host_memory_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f) && sscanf(line, "MemAvailable: %llu kB", &kb) != 1)
        ;
    fclose(f);
    return (double)kb * 1024.0;
}
