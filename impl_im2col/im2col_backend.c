/* The im2col backend's table, context and queries. */
#include "im2col.h"
#include "im2col_impl.h"
#include "cpu_ops.h"
#include "cpu_parallel.h"
#include "registry.h"

#include <stdlib.h>

static cnn_status im2col_init(cnn_ctx *ctx)
{
    cnn_im2col_state *st = calloc(1, sizeof *st);
    if (!st)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "im2col: no memory for a context");
    st->ws_cap = CNN_IM2COL_DEFAULT_WS_CAP;
    ctx->impl = st;
    return CNN_OK;
}

static void im2col_fini(cnn_ctx *ctx)
{
    free(ctx->impl);
    ctx->impl = NULL;
}

cnn_status cnn_im2col_set_workspace_cap(cnn_ctx *ctx, size_t bytes)
{
    if (!ctx || ctx->backend != &cnn_backend_im2col)
        return cnn_fail(CNN_ERR_INVALID_ARG, "cnn_im2col_set_workspace_cap: not an im2col context");
    cnn_im2col_state *st = ctx->impl;
    st->ws_cap = bytes;
    return CNN_OK;
}

static cnn_im2col_team team_of(cnn_ctx *ctx, const cnn_conv_desc *d, cnn_pass pass)
{
    const cnn_im2col_state *st = ctx->impl;
    return cnn_im2col_plan_team(d, pass, st->ws_cap, cnn_cpu_gemm_team(ctx));
}

/* BLAS takes int dimensions; a conv whose column block would not fit one is
 * declined rather than truncated (on a team: any member's). */
static bool im2col_supports(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    return op->kind != CNN_OP_CONV || team_of(ctx, &op->conv, pass).fits;
}

/* im2col_supports() above, in words. */
static cnn_coverage im2col_coverage(cnn_op_kind kind, cnn_pass pass)
{
    (void)pass;
    return kind == CNN_OP_CONV ? (cnn_coverage){.note = "GEMM sizes within BLAS's int range"}
                               : (cnn_coverage){0};
}

static size_t im2col_workspace_size(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    if (op->kind == CNN_OP_LINEAR)
        return cnn_cpu_linear_lanes_ws(&op->linear, pass);
    if (op->kind == CNN_OP_POOL && pass == CNN_BWD_DATA)
        return cnn_cpu_pool_bwd_ws(ctx, &op->pool);
    if (op->kind != CNN_OP_CONV)
        return 0;
    return team_of(ctx, &op->conv, pass).bytes;
}

/* Each name twice: run by the caller with threaded GEMMs, and by a team of
 * threads over images (cnn_im2col_team). */
#define NAMED(s)                                                                                   \
    {                                                                                              \
        s, s ", threads over images"                                                               \
    }

/* A 1x1 unpadded conv: its column matrix is the input itself (stride 1) or
 * the input subsampled (stride > 1), which the lowering then is. */
static const char *pointwise_name(const cnn_conv_desc *d, const cnn_im2col_plan *pl, int which,
                                  int team)
{
    static const char *const names[][3][2] = {
        {NAMED("gemm 1x1"), NAMED("gemm 1x1"), NAMED("gemm 1x1")},
        {NAMED("gemm 1x1 (batched)"), NAMED("gemm 1x1 (batched)"), NAMED("gemm 1x1 (batched)")},
        {NAMED("gemm 1x1 subsampled"), NAMED("gemm 1x1 scattered"), NAMED("gemm 1x1 subsampled")},
        {NAMED("gemm 1x1 subsampled (batched)"), NAMED("gemm 1x1 scattered (batched)"),
         NAMED("gemm 1x1 subsampled (batched)")},
        {NAMED("gemm 1x1 subsampled (row tiles)"), NAMED("gemm 1x1 scattered (row tiles)"),
         NAMED("gemm 1x1 subsampled (row tiles)")},
    };
    const bool strided = d->stride_h > 1 || d->stride_w > 1;
    int row = pl->path == CNN_IM2COL_BATCH ? 1 : 0;
    if (strided)
        row = pl->path == CNN_IM2COL_BATCH ? 3 : pl->rows < d->p ? 4 : 2;
    return names[row][which][team];
}

static const char *algorithm_name(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    switch (op->kind) {
    case CNN_OP_CONV: break;
    case CNN_OP_LINEAR:
        if (op->linear.n <= CNN_CPU_LINEAR_SMALL_N)
            return "weight-streaming loops";
        return cnn_cpu_linear_lanes_apply(&op->linear) ? cnn_cpu_linear_lanes_name() : "sgemm";
    default: return cnn_cpu_ops_algorithm(op);
    }
    if (pass == CNN_BWD_BIAS)
        return "reduction";
    const cnn_conv_desc *d = &op->conv;
    const cnn_im2col_team tm = team_of(ctx, d, pass);
    const cnn_im2col_plan pl = tm.first;
    const int which = pass == CNN_FWD ? 0 : pass == CNN_BWD_DATA ? 1 : 2;
    const int team = tm.members > 1;
    if (d->r == 1 && d->s == 1 && d->pad_h == 0 && d->pad_w == 0)
        return pointwise_name(d, &pl, which, team);
    static const char *const names[][3][2] = {
        [CNN_IM2COL_ROWS] = {NAMED("im2col+sgemm"), NAMED("sgemm+col2im"), NAMED("im2col+sgemm")},
        [CNN_IM2COL_BATCH] = {NAMED("im2col+sgemm (batched)"), NAMED("sgemm+col2im (batched)"),
                              NAMED("im2col+sgemm (batched)")},
        [CNN_IM2COL_TAPS] = {NAMED("sgemm per tap"), NAMED("sgemm per tap (adjoint conv)"),
                             NAMED("sgemm per tap")},
    };
    static const char *const tiled[3][2] = {NAMED("im2col+sgemm (row tiles)"),
                                            NAMED("sgemm+col2im (row tiles)"),
                                            NAMED("im2col+sgemm (row tiles)")};
    static const char *const staged[2] = NAMED("im2col+sgemm (staged row tiles)");
    if (pl.path == CNN_IM2COL_ROWS && pl.stage_floats)
        return staged[team];
    if (pl.path == CNN_IM2COL_ROWS && pl.rows < d->p)
        return tiled[which][team];
    return names[pl.path][which][team];
}

/* Every path sums in float32 (sgemm, the loops): the default error class. */
static cnn_algo im2col_algorithm(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    return (cnn_algo){.name = algorithm_name(ctx, op, pass)};
}

const cnn_backend cnn_backend_im2col = {
    .name = "im2col",
    .about = "im2col/col2im + OpenBLAS sgemm; OpenMP loops for the other ops",
    .device = CNN_DEVICE_HOST,
    .init = im2col_init,
    .fini = im2col_fini,
    .supports = im2col_supports,
    .coverage = im2col_coverage,
    .workspace_size = im2col_workspace_size,
    .algorithm = im2col_algorithm,
    // clang-format off
    CNN_IM2COL_OPS(CNN_ENTRY_INIT, cnn_im2col)
    CNN_CPU_OPS_ENTRIES
    // clang-format on
};
