/* The three Winograd backend tables: "winograd_f2x3" and "winograd_f4x3"
 * always use that tile; "winograd" picks one per layer. Forward, backward
 * data and backward filter run Winograd; linear layers are delegated to an
 * im2col context that this one owns, created on im2col's table and called
 * through dispatch.h (and say so in algorithm()); the bias
 * gradient is a plain reduction; the other operations are the shared CPU ones. */
#include <stdlib.h>

#include "cpu_ops.h"
#include "cpu_parallel.h"
#include "dispatch.h"
#include "registry.h"
#include "winograd.h"
#include "winograd_plan.h"

typedef struct wino_impl {
    int fixed_m; /* 2 or 4, or 0 to choose per layer */
    int threads; /* of the team that runs the transforms and GEMMs */
    cnn_ctx *inner; /* im2col, for what is delegated */
} wino_impl;

static wino_impl *impl_of(cnn_ctx *ctx)
{
    return (wino_impl *)ctx->impl;
}

static cnn_status wino_init(cnn_ctx *ctx, int fixed_m)
{
    wino_impl *im = calloc(1, sizeof *im);
    if (!im)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory for the context", ctx->backend->name);
    im->fixed_m = fixed_m;
    im->threads = cnn_cpu_gemm_team(ctx);
    cnn_status st = cnn_ctx_create(&cnn_backend_im2col, &ctx->opts, &im->inner);
    if (st != CNN_OK) {
        free(im);
        return st;
    }
    ctx->impl = im;
    return CNN_OK;
}

static cnn_status wino_init_auto(cnn_ctx *ctx)
{
    return wino_init(ctx, 0);
}

static cnn_status wino_init_f2(cnn_ctx *ctx)
{
    return wino_init(ctx, 2);
}

static cnn_status wino_init_f4(cnn_ctx *ctx)
{
    return wino_init(ctx, 4);
}

static void wino_fini(cnn_ctx *ctx)
{
    wino_impl *im = impl_of(ctx);
    if (!im)
        return;
    cnn_ctx_destroy(im->inner);
    free(im);
    ctx->impl = NULL;
}

/* Transform-domain multiplies for an out_h x out_w output per channel pair:
 * tiles times alpha^2. */
static long long tile_cost(int m, int out_h, int out_w)
{
    long long ty = (out_h + m - 1) / m, tx = (out_w + m - 1) / m;
    return ty * tx * (m + 2) * (m + 2);
}

/* Backward weights sums over the batch's tiles into alpha^2 K C
 * accumulators, which it writes, updates and transforms back once per
 * chunk: a cost per (k, c) pair and transform-domain element that does not
 * shrink with the tiles. In units of one tile's multiply-add it is about
 * WGRAD_PAIR_COST, fitted to one-thread runs (CPU time) at C = K = 512:
 * 14x14 at batch 1, F(4x4) 18.4 ms against F(2x2) 11.8; batch 4, 31.9
 * against 29.2; batch 8, 53.1 against 56.6. */
#define WGRAD_PAIR_COST 42

static long long wgrad_cost(int m, const cnn_conv_desc *d)
{
    return d->n * tile_cost(m, d->p, d->q) + (long long)WGRAD_PAIR_COST * (m + 2) * (m + 2);
}

/* The per-layer choice. The alpha^2 GEMMs are most of the work and the
 * input and output transforms scale with the same tiles x alpha^2, so the
 * tile with fewer transform-domain multiplies is the faster one: F(4x4)
 * needs 36 per 16 outputs against F(2x2)'s 16 per 4, but an output of a few
 * pixels wastes most of a 4x4 tile (a 2x2 output: 36 against 16). On a tie
 * (5x5 and 6x6 outputs: 144 each) F(2x2) wins because it is the more
 * accurate. Not counted: the filter transform, alpha^2 K C whatever the
 * tiles, which makes the two tiles about even on VGG-16's 14x14 layers at
 * batch 4 (64 tiles of F(4x4) against 196 of F(2x2)). */
static int tile_for(cnn_ctx *ctx, const cnn_conv_desc *d, cnn_pass pass)
{
    const wino_impl *im = impl_of(ctx);
    if (im->fixed_m)
        return im->fixed_m;
    if (pass == CNN_BWD_WEIGHT)
        return wgrad_cost(4, d) < wgrad_cost(2, d) ? 4 : 2;
    int oh = pass == CNN_BWD_DATA ? d->h : d->p, ow = pass == CNN_BWD_DATA ? d->w : d->q;
    return tile_cost(4, oh, ow) < tile_cost(2, oh, ow) ? 4 : 2;
}

/* What is_winograd_conv() takes, and the algorithm name of what is run on
 * the im2col context, as coverage() and algorithm() say them. */
#define WINO_CONVS "3x3 stride 1 only"
#define WINO_DELEGATED "im2col (delegated)"

static bool is_winograd_conv(const cnn_conv_desc *d)
{
    return d->r == 3 && d->s == 3 && d->stride_h == 1 && d->stride_w == 1;
}

static bool wino_supports(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    switch (op->kind) {
    case CNN_OP_CONV: return is_winograd_conv(&op->conv);
    case CNN_OP_LINEAR: return cnn_supports(impl_of(ctx)->inner, op, pass);
    default: return true;
    }
}

/* supports() above, in words; what it declines goes to the table's
 * fallback, im2col. */
static cnn_coverage wino_coverage(cnn_op_kind kind, cnn_pass pass)
{
    (void)pass;
    switch (kind) {
    case CNN_OP_CONV: return (cnn_coverage){.partial = true, .note = WINO_CONVS};
    case CNN_OP_LINEAR: return (cnn_coverage){.note = "via " WINO_DELEGATED};
    default: return (cnn_coverage){0};
    }
}

static void plan_for(cnn_ctx *ctx, const cnn_conv_desc *d, cnn_pass pass, cnn_winograd_plan *p)
{
    int m = tile_for(ctx, d, pass);
    if (pass == CNN_BWD_DATA)
        cnn_winograd_plan_bwd_data(p, m, impl_of(ctx)->threads, d);
    else if (pass == CNN_BWD_WEIGHT)
        cnn_winograd_plan_bwd_weight(p, m, impl_of(ctx)->threads, d);
    else
        cnn_winograd_plan_fwd(p, m, impl_of(ctx)->threads, d);
}

static size_t wino_workspace_size(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    if (op->kind == CNN_OP_CONV &&
        (pass == CNN_FWD || pass == CNN_BWD_DATA || pass == CNN_BWD_WEIGHT)) {
        cnn_winograd_plan p;
        plan_for(ctx, &op->conv, pass, &p);
        return cnn_winograd_plan_bytes(&p);
    }
    if (op->kind == CNN_OP_CONV && pass == CNN_BWD_BIAS)
        return 0;
    /* Everything else is the im2col backend's code, shared or delegated. */
    return cnn_workspace_size(impl_of(ctx)->inner, op, pass);
}

/* The three Winograd passes carry Winograd's error class (per pass: the
 * weight gradient's differs); what is delegated or reduced directly sums in
 * float32 (the default class). */
static cnn_algo wino_algorithm(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    const cnn_algo delegated = {.name = WINO_DELEGATED};
    if (op->kind == CNN_OP_LINEAR)
        return delegated;
    if (op->kind != CNN_OP_CONV) /* the shared loops of impl_cpu */
        return (cnn_algo){.name = cnn_cpu_ops_algorithm(op)};
    switch (pass) {
    case CNN_FWD:
    case CNN_BWD_DATA:
    case CNN_BWD_WEIGHT: {
        int m = tile_for(ctx, &op->conv, pass);
        return (cnn_algo){.name = m == 4 ? "winograd F(4x4,3x3)" : "winograd F(2x2,3x3)",
                          .error = cnn_winograd_error(m, pass)};
    }
    case CNN_BWD_BIAS: return (cnn_algo){.name = "direct reduction"};
    default: return (cnn_algo){0};
    }
}

static cnn_status wino_conv_fwd(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x,
                                const float *w, const float *b, float *y, CNN_WS)
{
    (void)ws_size; /* checked by dispatch against wino_workspace_size() */
    cnn_winograd_plan p;
    plan_for(ctx, d, CNN_FWD, &p);
    cnn_winograd_run(&p, x, w, d->has_bias ? b : NULL, y, ws);
    return CNN_OK;
}

static cnn_status wino_conv_bwd_data(cnn_ctx *ctx, const cnn_conv_desc *d, const float *dy,
                                     const float *w, float *dx, CNN_WS)
{
    (void)ws_size;
    cnn_winograd_plan p;
    plan_for(ctx, d, CNN_BWD_DATA, &p);
    cnn_winograd_run(&p, dy, w, NULL, dx, ws);
    return CNN_OK;
}

static cnn_status wino_conv_bwd_filter(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x,
                                       const float *dy, float *dw, CNN_WS)
{
    (void)ws_size;
    cnn_winograd_plan p;
    plan_for(ctx, d, CNN_BWD_WEIGHT, &p);
    cnn_winograd_run_bwd_weight(&p, x, dy, dw, ws);
    return CNN_OK;
}

/* db[k] = sum over n, p, q of dy[n][k][p][q], accumulated in double: the sum
 * runs over up to millions of terms and costs nothing next to the GEMMs. */
static cnn_status wino_conv_bwd_bias(cnn_ctx *ctx, const cnn_conv_desc *d, const float *y,
                                     const float *dy, float *db, float *dz, CNN_WS)
{
    /* the fused ReLU's mask with the sum: im2col's pass (ops.h) */
    if (d->fuse_relu)
        return cnn_conv_bwd_bias(impl_of(ctx)->inner, d, y, dy, db, dz, ws, ws_size);
    const size_t plane = (size_t)d->p * d->q;
#pragma omp parallel for num_threads(cnn_cpu_threads(ctx)) schedule(static)
    for (int k = 0; k < d->k; k++) {
        double sum = 0.0;
        for (int n = 0; n < d->n; n++) {
            const float *src = dy + ((size_t)n * d->k + k) * plane;
            for (size_t i = 0; i < plane; i++)
                sum += src[i];
        }
        db[k] = (float)sum;
    }
    return CNN_OK;
}

static cnn_status wino_linear_fwd(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                  const float *w, const float *b, float *y, CNN_WS)
{
    return cnn_linear_fwd(impl_of(ctx)->inner, d, x, w, b, y, ws, ws_size);
}

static cnn_status wino_linear_bwd_data(cnn_ctx *ctx, const cnn_linear_desc *d, const float *dy,
                                       const float *w, float *dx, CNN_WS)
{
    return cnn_linear_bwd_data(impl_of(ctx)->inner, d, dy, w, dx, ws, ws_size);
}

static cnn_status wino_linear_bwd_weight(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                         const float *dy, float *dw, float *db, CNN_WS)
{
    return cnn_linear_bwd_weight(impl_of(ctx)->inner, d, x, dy, dw, db, ws, ws_size);
}

#define WINO_ENTRIES                                                                               \
    .device = CNN_DEVICE_HOST, .fallback = "im2col", .fini = wino_fini, .supports = wino_supports, \
    .coverage = wino_coverage, .workspace_size = wino_workspace_size, .algorithm = wino_algorithm, \
    CNN_OPS_CONV(CNN_ENTRY_INIT, wino) CNN_OPS_LINEAR(CNN_ENTRY_INIT, wino) CNN_CPU_OPS_ENTRIES

const cnn_backend cnn_backend_winograd = {
    .name = "winograd",
    .about = "Winograd F(4x4,3x3) or F(2x2,3x3) per layer, OpenBLAS GEMMs (3x3 stride-1 conv)",
    .init = wino_init_auto,
    WINO_ENTRIES
};

const cnn_backend cnn_backend_winograd_f2x3 = {
    .name = "winograd_f2x3",
    .about = "Winograd F(2x2,3x3), OpenBLAS GEMMs (3x3 stride-1 conv)",
    .init = wino_init_f2,
    WINO_ENTRIES
};

const cnn_backend cnn_backend_winograd_f4x3 = {
    .name = "winograd_f4x3",
    .about = "Winograd F(4x4,3x3), OpenBLAS GEMMs (3x3 stride-1 conv)",
    .init = wino_init_f4,
    WINO_ENTRIES
};
