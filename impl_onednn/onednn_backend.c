/* The oneDNN backend: Intel's library as the industrial reference that the
 * home-made CPU algorithms are measured against.
 *
 * oneDNN picks its own algorithms and layouts; this backend only translates
 * cnnbench's plain-NCHW calls into oneDNN primitives (cached per shape and
 * pass, see onednn_cache.c) and reorders. Threads: this libdnnl uses the
 * OpenMP runtime, so it runs on the process's OpenMP thread count, which
 * the harness sets once at start-up (onednn_internal.h). Arithmetic is f32
 * throughout (the default fpmath mode, strict): no reduced-precision paths.
 * Dropout and softmax cross-entropy are not oneDNN operations and stay
 * NULL. */
#include "onednn_internal.h"

#include <stdio.h>
#include <stdlib.h>

static bool onednn_available(char *why, size_t why_size)
{
    if (dnnl_engine_get_count(dnnl_cpu) == 0) {
        snprintf(why, why_size, "oneDNN reports no CPU engine");
        return false;
    }
    return true;
}

static cnn_status onednn_init(cnn_ctx *ctx)
{
    cnn_onednn_state *st = calloc(1, sizeof *st);
    if (!st)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "onednn: no memory for a context");
    dnnl_status_t s = dnnl_engine_create(&st->engine, dnnl_cpu, 0);
    if (s != dnnl_success) {
        free(st);
        return cnn_onednn_fail(s, "dnnl_engine_create", __FILE__, __LINE__);
    }
    s = dnnl_stream_create(&st->stream, st->engine, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        dnnl_engine_destroy(st->engine);
        free(st);
        return cnn_onednn_fail(s, "dnnl_stream_create", __FILE__, __LINE__);
    }
    ctx->impl = st;
    return CNN_OK;
}

static void onednn_fini(cnn_ctx *ctx)
{
    cnn_onednn_state *st = ctx->impl;
    if (!st)
        return;
    cnn_onednn_cache_clear(st);
    for (int i = 0; i < st->nnames; i++)
        free(st->names[i]);
    dnnl_stream_destroy(st->stream);
    dnnl_engine_destroy(st->engine);
    free(st);
    ctx->impl = NULL;
}

static bool onednn_supports(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    (void)ctx;
    switch (op->kind) {
    /* fused ReLU: the forward passes (post-op, fuse_norm_relu), not the
     * backward ones (oneDNN's fused backward wants its forward's mask) */
    case CNN_OP_CONV: return !op->conv.fuse_relu || pass == CNN_FWD;
    case CNN_OP_BN: return !op->bn.fuse_relu || pass == CNN_FWD || pass == CNN_FWD_INFER;
    case CNN_OP_POOL: return cnn_onednn_pool_supported(&op->pool);
    case CNN_OP_ADAPOOL: return cnn_onednn_adapool_supported(&op->adapool);
    default: return true;
    }
}

/* supports() above, in words. */
static cnn_coverage onednn_coverage(cnn_op_kind kind, cnn_pass pass)
{
    switch (kind) {
    case CNN_OP_CONV:
    case CNN_OP_BN:
        /* onednn_supports: the fused ReLU's backward passes */
        if (pass == (kind == CNN_OP_CONV ? CNN_BWD_BIAS : CNN_BWD_DATA))
            return (cnn_coverage){.partial = true, .note = "no fused ReLU (fuse_relu)"};
        return (cnn_coverage){0};
    case CNN_OP_POOL:
        return (cnn_coverage){.partial = true,
                              .note = "average: no window past the padding (oneDNN "
                                      "divides those differently)"};
    case CNN_OP_ADAPOOL:
        return (cnn_coverage){.partial = true,
                              .note = "only outputs that divide the input (even windows)"};
    default: return (cnn_coverage){0};
    }
}

/* Both queries build the entry (that is where oneDNN says what it needs);
 * the compute call then finds it in the cache. A failure to build reports
 * nothing here and surfaces, with its reason, from the compute call. */
static size_t onednn_workspace_size(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    cnn_onednn_entry *e;
    return cnn_onednn_get(ctx, op, pass, &e) == CNN_OK ? e->workspace_bytes : 0;
}

/* Strict f32 arithmetic (see the top): oneDNN's algorithms are reported as
 * plain float32 sums. */
static cnn_algo onednn_algorithm(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    cnn_onednn_entry *e;
    return (cnn_algo){.name = cnn_onednn_get(ctx, op, pass, &e) == CNN_OK ? e->algorithm : NULL};
}

/* Under the plain NCHW interface each call converts its operands to and
 * from oneDNN's blocked layouts (nChw8c, OIhw8i8o, ...); that conversion is
 * part of the call's time, and reported apart here so that a benchmark can
 * show the kernel without it. */
static bool onednn_side_time(cnn_ctx *ctx, const char **what, double *seconds)
{
    *what = "reorders";
    *seconds = ((const cnn_onednn_state *)ctx->impl)->reorder_seconds;
    return true;
}

const cnn_backend cnn_backend_onednn = {
    .name = "onednn",
    .about = "oneDNN (libdnnl, C API 2.x): its own algorithm and layout choice, reorders timed "
             "apart",
    .device = CNN_DEVICE_HOST,
    .available = onednn_available,
    .init = onednn_init,
    .fini = onednn_fini,
    .supports = onednn_supports,
    .coverage = onednn_coverage,
    .workspace_size = onednn_workspace_size,
    .algorithm = onednn_algorithm,
    .side_time = onednn_side_time,
    CNN_ONEDNN_OPS(CNN_ENTRY_INIT, cnn_onednn)};
