/* Internals shared by the im2col backend's files. */
#ifndef CNN_IM2COL_IMPL_H
#define CNN_IM2COL_IMPL_H

#include "backend.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

/* ctx->impl of an im2col context. */
typedef struct cnn_im2col_state {
    size_t ws_cap; /* bytes; see CNN_IM2COL_DEFAULT_WS_CAP */
} cnn_im2col_state;

/* How one convolution pass is cut into GEMMs (im2col_plan.c). */
typedef enum cnn_im2col_path {
    /* A 1x1, stride-1, unpadded conv: the input already is the column
     * matrix; one GEMM per image, no workspace. */
    CNN_IM2COL_DIRECT,
    /* Per image, `rows` output rows at a time: their columns
     * [C*R*S][rows*Q] in the workspace. */
    CNN_IM2COL_ROWS,
    /* `images` images per GEMM, for layers with few output pixels: columns
     * [C*R*S][images*P*Q] plus a [K][images*P*Q] staging buffer for the
     * output (forward) or dy (backward), since NCHW keeps each image's
     * [K][P*Q] block apart. */
    CNN_IM2COL_BATCH,
    /* Forward of a stride-1 conv on wide maps (im2col_taps.c), and the data
     * gradient as the forward of its adjoint conv: no lowering,
     * one GEMM per kernel tap over `rows` output rows of zero-padded input;
     * the padded rows [C][rows+R-1][W+2pw] are the columns, the output of
     * padded width is staged, and the weights regrouped by tap. */
    CNN_IM2COL_TAPS,
} cnn_im2col_path;

typedef struct cnn_im2col_plan {
    cnn_im2col_path path;
    int images;
    int rows;
    /* The workspace holds these three buffers in this order, each starting
     * on a 64-byte boundary. */
    size_t col_floats, stage_floats, weight_floats;
    size_t bytes;
} cnn_im2col_plan;

/* The buffers of a plan within a workspace. */
static inline float *cnn_im2col_stage(const cnn_im2col_plan *pl, float *ws)
{
    return ws + (pl->col_floats + 15) / 16 * 16;
}

static inline float *cnn_im2col_weights(const cnn_im2col_plan *pl, float *ws)
{
    return cnn_im2col_stage(pl, ws) + (pl->stage_floats + 15) / 16 * 16;
}

/* The forward's epilogue, its only one: channel k's n outputs from src to
 * dst (src may be dst), plus bias[k] where the conv has a bias (bias is the
 * forward's, NULL without one), then with fuse_relu the ReLU as v < 0 ? 0 : v
 * (NaN and -0.0 kept, as torch.relu). d is NULL for a copy out that is no
 * forward's output (the adjoint's dx): a plain copy. */
static inline void cnn_im2col_epilogue(const cnn_conv_desc *d, const float *bias, int k,
                                       const float *src, float *dst, int64_t n)
{
    const bool add = d && bias, relu = d && d->fuse_relu;
    if (src == dst && !add && !relu)
        return;
    const float b = add ? bias[k] : 0.0f, lo = relu ? 0.0f : -INFINITY;
#pragma omp simd
    for (int64_t j = 0; j < n; j++) {
        const float v = src[j] + b;
        dst[j] = v < lo ? 0.0f : v;
    }
}

/* Whether the epilogue changes an output in place (else it can be skipped). */
static inline bool cnn_im2col_has_epilogue(const cnn_conv_desc *d, const float *bias)
{
    return d && (bias || d->fuse_relu);
}

cnn_im2col_plan cnn_im2col_plan_conv(const cnn_conv_desc *d, cnn_pass pass, size_t cap);

/* A conv pass run by a team of threads over images (im2col_plan.c): member t
 * of `members` takes images [n*t/members, n*(t+1)/members), runs the serial
 * plan for them (cnn_im2col_plan_conv on that sub-batch, under
 * cnn_im2col_member_cap: the cap less the dw copies, over members) with
 * single-threaded GEMMs and loops, in its own slice of the workspace; a
 * weight gradient's members other than the first sum into their own copies
 * of dw, added up at the end. members == 1: the caller alone, the GEMMs
 * threaded inside OpenBLAS (also where the team's workspace would pass the
 * cap or the dw copies take half of it). */
typedef struct cnn_im2col_team {
    int members;
    size_t slice_bytes;    /* each member's workspace, a multiple of 64 */
    size_t partial_floats; /* each extra member's dw copy (weight gradient) */
    size_t bytes;          /* members * slice_bytes + (members - 1) * partial */
    cnn_im2col_plan first; /* member 0's plan (the caller's, for one member) */
    bool fits;             /* every member's plan within BLAS's int (cnn_im2col_plan_fits) */
} cnn_im2col_team;

/* threads: the GEMM team's size (cnn_cpu_gemm_team). */
cnn_im2col_team cnn_im2col_plan_team(const cnn_conv_desc *d, cnn_pass pass, size_t cap,
                                     int threads);
/* The workspace cap each member plans under. */
static inline size_t cnn_im2col_member_cap(const cnn_im2col_team *tm, size_t cap)
{
    const size_t partials = tm->partial_floats * sizeof(float) * (size_t)(tm->members - 1);
    return (cap - partials) / (size_t)tm->members / 64 * 64;
}

/* Member t's share: its sub-batch descriptor, and its first image. */
int cnn_im2col_member(const cnn_conv_desc *d, int t, int members, cnn_conv_desc *sub);

/* Whether every GEMM dimension and leading dimension of the plan (made for
 * that pass) fits a BLAS int. */
bool cnn_im2col_plan_fits(const cnn_conv_desc *d, cnn_pass pass, const cnn_im2col_plan *pl);

/* Lowering (im2col_lower.c). `images` consecutive images starting at x,
 * output rows [p0, p0 + rows): column (i, p, q) of row (c, r, s) of col, at
 * col[((c*R + r)*S + s) * ld + i*rows*Q + (p - p0)*Q + q] with
 * ld = images*rows*Q, holds x[i][c][p*sh - ph + r][q*sw - pw + s], or 0 in
 * the padding. */
void cnn_im2col_lower(const cnn_conv_desc *d, const float *x, int images, int p0, int rows,
                      float *col, int threads);
/* The adjoint: adds each column entry into dx at the same place. The images'
 * dx planes are zeroed first when p0 == 0, so a pass over row tiles in
 * order starting at 0 builds the whole gradient. */
void cnn_im2col_raise(const cnn_conv_desc *d, const float *col, int images, int p0, int rows,
                      float *dx, int threads);

/* Forward along CNN_IM2COL_TAPS; ws is the plan's workspace. With adjoint,
 * d is cnn_im2col_adjoint()'s descriptor of a conv, w that conv's weights,
 * x its dy and y its dx (the data gradient as a forward). */
void cnn_im2col_taps_fwd(const cnn_conv_desc *d, const cnn_im2col_plan *pl, const float *x,
                         const float *w, bool adjoint, const float *bias, float *y, float *ws,
                         int threads);

/* The stride-1 conv whose forward is d's data gradient (weights transposed
 * and flipped, padding R-1-ph, S-1-pw); false when d has stride > 1 or a
 * padding of R or more, where there is no such conv. */
bool cnn_im2col_adjoint(const cnn_conv_desc *d, cnn_conv_desc *adj);

/* Conv passes (im2col_conv.c) and linear passes (im2col_linear.c):
 * cnn_im2col_conv_fwd, ... cnn_im2col_linear_bwd_weight. */
#define CNN_IM2COL_OPS(X, ARG) CNN_OPS_CONV(X, ARG) CNN_OPS_LINEAR(X, ARG)
CNN_IM2COL_OPS(CNN_ENTRY_DECL, cnn_im2col)

#endif
