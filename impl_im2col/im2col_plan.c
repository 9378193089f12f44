/* Cutting a convolution pass into GEMMs under the workspace cap. The plan is
 * a pure function of (descriptor, pass, cap): workspace_size() and the
 * compute entries derive the same one, so the size asked for is exactly the
 * size used. */
#include "im2col_impl.h"

#include <limits.h>

/* How many output pixels (the GEMM's N) one column block should hold. Two
 * costs pull in opposite directions:
 *  - every sgemm call packs the whole weight matrix (K x CRS) again, so
 *    blocks must be wide where the weights are large: N >= K*CRS / 512
 *    keeps that repacking to a few percent of the multiply;
 *  - the lowering writes the block and sgemm's packing reads it back, in
 *    cache while the block stays near 2 MiB, from memory beyond. This
 *    matters most where K is small and there are few FLOPs per column.
 * Measured single-threaded (CPU time, batch 4, this 2-core AVX2 machine)
 * on VGG-16 layers: conv1_2 in blocks of 224 / 896 / 3584 columns took
 * 204 / 202 / 224 ms; conv3_2 in 224 / 896 / 3136: 227 / 199 / 201 ms;
 * conv4_2 in 112 / 392 / 1568 (two images): 214 / 198 / 186 ms. When one
 * image has fewer pixels than wanted, several images share a GEMM. */
#define BLOCK_CACHE_BYTES ((size_t)2 << 20)
#define WEIGHTS_PER_COLUMN 512

static size_t wanted_columns(const cnn_conv_desc *d, bool pointwise)
{
    const size_t crs = (size_t)d->c * d->r * d->s;
    size_t want = (size_t)d->k * crs / WEIGHTS_PER_COLUMN;
    /* A 1x1 conv without lowering has no column block to keep in cache. */
    if (!pointwise && BLOCK_CACHE_BYTES / (crs * sizeof(float)) > want)
        want = BLOCK_CACHE_BYTES / (crs * sizeof(float));
    return want ? want : 1;
}

static size_t round_up_64b(size_t floats)
{
    return (floats + 15) / 16 * 16;
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static size_t plan_bytes(const cnn_im2col_plan *pl)
{
    return (round_up_64b(pl->col_floats) + round_up_64b(pl->stage_floats) + pl->weight_floats) *
           sizeof(float);
}

/* Rows per tile for `want` columns of `width` pixels, at most `fit`, and
 * then equal tiles rather than full ones and a short last one: each GEMM
 * has the same width, none of them a sliver. */
static int tile_rows(size_t want, size_t width, size_t fit, int p)
{
    size_t rows = min_size((want + width - 1) / width, fit);
    rows = rows < 1 ? 1 : min_size(rows, (size_t)p);
    size_t tiles = ((size_t)p + rows - 1) / rows;
    return (int)(((size_t)p + tiles - 1) / tiles);
}

/* Stride-1 forward on wide maps runs one GEMM per kernel tap over padded
 * input rows (im2col_taps.c) instead of lowering: the lowering writes and
 * re-reads R*S copies of the input. Per-tap GEMMs compute S-1 extra columns
 * per output row, a cost below 1/16 once Q >= 16*(S-1); their inner
 * dimension is C, which must be wide enough for sgemm to run well.
 * Measured single-threaded (CPU time): VGG-16 conv1_2 / conv2_2 / conv3_2
 * at batch 4 took 194 / 180 / 174 ms against 203 / 186 / 179 ms lowered; a
 * conv with C = 16 took 63 ms against 54. On both cores with the pthreads
 * OpenBLAS, whose lowering runs on one core (cnn_cpu_gemm_team),
 * conv1_2 took 111 ms against 130; with the OpenMP OpenBLAS the two paths
 * are within the machine's noise of each other (105 to 124 ms).
 * The data gradient of a stride-1 conv takes the same path as the forward
 * of its adjoint conv (cnn_im2col_adjoint) where that qualifies and C is at
 * least TAPS_MIN_CHANNELS (the adjoint's GEMMs have M = C): VGG-16 conv1_2's
 * took 190-240 ms against 270 ms with col2im, conv1_1's (C = 3) would take
 * 58 ms against 20. */
#define TAPS_MIN_CHANNELS 32
#define TAPS_MIN_WIDTH_PER_TAP 16

static bool plan_taps(const cnn_conv_desc *d, size_t cap, cnn_im2col_plan *plan)
{
    if (d->stride_h != 1 || d->stride_w != 1 || d->r * d->s == 1 || d->c < TAPS_MIN_CHANNELS ||
        d->q < TAPS_MIN_WIDTH_PER_TAP * (d->s - 1))
        return false;
    const size_t c = (size_t)d->c, k = (size_t)d->k, wp = (size_t)d->w + 2 * (size_t)d->pad_w;
    cnn_im2col_plan pl = {.path = CNN_IM2COL_TAPS, .images = 1};
    pl.weight_floats = k * c * d->r * d->s;
    /* A tile of `rows` output rows needs rows + R - 1 padded input rows per
     * channel, S - 1 floats of slack read by the last row's extra columns,
     * and rows padded output rows; 32 floats cover the alignment. */
    const size_t fixed = c * ((size_t)d->r - 1) * wp + (size_t)d->s - 1 + 32 + pl.weight_floats;
    const size_t per_row = (c + k) * wp;
    if ((fixed + per_row) * sizeof(float) > cap)
        return false;
    size_t want = BLOCK_CACHE_BYTES / ((c + k) * sizeof(float));
    if (pl.weight_floats / WEIGHTS_PER_COLUMN > want)
        want = pl.weight_floats / WEIGHTS_PER_COLUMN;
    pl.rows = tile_rows(want, wp, (cap / sizeof(float) - fixed) / per_row, d->p);
    pl.col_floats = c * ((size_t)pl.rows + d->r - 1) * wp + d->s - 1;
    pl.stage_floats = k * (size_t)pl.rows * wp;
    pl.bytes = plan_bytes(&pl);
    *plan = pl;
    return true;
}

/* A forward with a short column (C*R*S, the GEMM's inner dimension, at
 * most STAGED_MAX_CRS: the 7x7 stem over 3 channels has 147, VGG-16's
 * conv1_1 27) does few FLOPs per output, and writing the output costs as
 * much as the multiply: sgemm zeroes its output (beta = 0) in one pass over
 * memory, updates it in another, and the bias takes a third. Such a forward
 * runs in row tiles small enough that the column block and the output tile
 * (K x tile) stay in L2 together, the tile staged in the workspace and
 * copied out once through the epilogue (bias). Measured (CPU time, one
 * thread, under load): conv1_1 at batch 4 took 22 ms against 24 ms; the
 * stem at batch 8 is unchanged (34-37 ms): its zeroing got cheaper by what
 * the copy out costs, since the output is written to memory once either way. */
#define STAGED_MAX_CRS 256
#define STAGED_BYTES ((size_t)384 << 10)

cnn_im2col_plan cnn_im2col_plan_conv(const cnn_conv_desc *d, cnn_pass pass, size_t cap)
{
    cnn_im2col_plan pl = {.path = CNN_IM2COL_ROWS, .images = 1, .rows = d->p};
    if (pass != CNN_FWD && pass != CNN_BWD_DATA && pass != CNN_BWD_WEIGHT)
        return pl;
    if (pass == CNN_FWD && plan_taps(d, cap, &pl))
        return pl;
    /* The adjoint's GEMMs have M = C: VGG-16's conv1_1 (C = 3) keeps col2im. */
    cnn_conv_desc adj;
    if (pass == CNN_BWD_DATA && d->c >= TAPS_MIN_CHANNELS && cnn_im2col_adjoint(d, &adj) &&
        plan_taps(&adj, cap, &pl))
        return pl;
    const size_t crs = (size_t)d->c * d->r * d->s, pq = (size_t)d->p * d->q;
    const bool pointwise = d->r == 1 && d->s == 1 && d->stride_h == 1 && d->stride_w == 1 &&
                           d->pad_h == 0 && d->pad_w == 0;
    const size_t want = wanted_columns(d, pointwise);
    if (d->n > 1 && want > pq) {
        size_t per_image = (crs + (size_t)d->k) * pq * sizeof(float);
        size_t images = min_size((size_t)d->n, (want + pq - 1) / pq);
        images = min_size(images, cap / per_image);
        if (images > 1) {
            pl.path = CNN_IM2COL_BATCH;
            pl.images = (int)images;
            pl.col_floats = crs * pq * images;
            pl.stage_floats = (size_t)d->k * pq * images;
            pl.bytes = plan_bytes(&pl);
            return pl;
        }
    }
    if (pointwise) {
        pl.path = CNN_IM2COL_DIRECT;
        return pl;
    }
    const size_t row_floats = crs * (size_t)d->q;
    const size_t stage_row = (crs + (size_t)d->k) * d->q * sizeof(float);
    if (pass == CNN_FWD && crs <= STAGED_MAX_CRS && stage_row + 128 <= cap) {
        /* Staged: the column block and its output tile together in L2. */
        pl.rows = tile_rows((STAGED_BYTES + stage_row - 1) / stage_row * d->q, d->q,
                            (cap - 128) / stage_row, d->p);
        pl.col_floats = (size_t)pl.rows * row_floats;
        pl.stage_floats = (size_t)pl.rows * d->k * d->q;
        pl.bytes = plan_bytes(&pl);
        return pl;
    }
    pl.rows = tile_rows(want, d->q, cap / (row_floats * sizeof(float)), d->p);
    pl.col_floats = (size_t)pl.rows * row_floats;
    pl.bytes = plan_bytes(&pl);
    return pl;
}

bool cnn_im2col_plan_fits(const cnn_conv_desc *conv, cnn_pass pass, const cnn_im2col_plan *pl)
{
    /* A data gradient along the taps path is planned on the adjoint conv. */
    cnn_conv_desc adj;
    const cnn_conv_desc *d = conv;
    if (pl->path == CNN_IM2COL_TAPS && pass == CNN_BWD_DATA && cnn_im2col_adjoint(conv, &adj))
        d = &adj;
    const size_t crs = (size_t)d->c * d->r * d->s, pq = (size_t)d->p * d->q;
    const size_t wp = (size_t)d->w + 2 * (size_t)d->pad_w;
    size_t width = (size_t)pl->rows * d->q;
    if (pl->path == CNN_IM2COL_BATCH)
        width = pq * (size_t)pl->images;
    if (pl->path == CNN_IM2COL_TAPS)
        width = pl->col_floats; /* the leading dimension of the padded rows */
    return crs <= INT_MAX && pq <= INT_MAX && width <= INT_MAX && wp <= INT_MAX;
}

/* Threads over images, when there are at least as many images as threads:
 * each thread lowers, multiplies and scatters its own images, with no
 * barrier between the steps and each GEMM on one core. Threaded GEMMs
 * instead split every (often small) GEMM in two and meet at a barrier
 * between the lowering and each GEMM. Measured on GoogLeNet's convolutions
 * (batch 8, this project's 2-core Zen 4, before this path): one thread took
 * 342 ms forward in all, oneDNN's gemm convolution on the same NCHW data
 * 338 ms (each GEMM on one core); on two threads 259 ms against oneDNN's
 * 167 (1.32x against 2.02x). */
int cnn_im2col_member(const cnn_conv_desc *d, int t, int members, cnn_conv_desc *sub)
{
    const int first = (int)((int64_t)d->n * t / members);
    const int end = (int)((int64_t)d->n * (t + 1) / members);
    *sub = *d;
    sub->n = end - first;
    return first;
}

static size_t round_up_bytes(size_t bytes)
{
    return (bytes + 63) / 64 * 64;
}

cnn_im2col_team cnn_im2col_plan_team(const cnn_conv_desc *d, cnn_pass pass, size_t cap, int threads)
{
    cnn_im2col_team one = {.members = 1};
    one.first = cnn_im2col_plan_conv(d, pass, cap);
    one.bytes = one.slice_bytes = one.first.bytes;
    one.fits = cnn_im2col_plan_fits(d, pass, &one.first);
    const bool gemm_pass = pass == CNN_FWD || pass == CNN_BWD_DATA || pass == CNN_BWD_WEIGHT;
    if (!gemm_pass || threads < 2 || d->n < threads)
        return one;
    cnn_im2col_team tm = {.members = threads, .fits = true};
    if (pass == CNN_BWD_WEIGHT)
        tm.partial_floats = round_up_64b((size_t)d->k * d->c * d->r * d->s);
    const size_t partials = tm.partial_floats * sizeof(float) * (size_t)(threads - 1);
    if (partials >= cap / 2)
        return one;
    const size_t member_cap = cnn_im2col_member_cap(&tm, cap);
    /* Shares differ by one image at most: the largest slice serves all. */
    for (int t = 0; t < threads; t++) {
        cnn_conv_desc sub;
        cnn_im2col_member(d, t, threads, &sub);
        cnn_im2col_plan pl = cnn_im2col_plan_conv(&sub, pass, member_cap);
        if (t == 0)
            tm.first = pl;
        tm.fits = tm.fits && cnn_im2col_plan_fits(&sub, pass, &pl);
        if (round_up_bytes(pl.bytes) > tm.slice_bytes)
            tm.slice_bytes = round_up_bytes(pl.bytes);
    }
    tm.bytes = tm.slice_bytes * (size_t)threads + partials;
    /* Where even one row per member overflows the cap, the caller alone. */
    return tm.bytes <= cap || tm.bytes <= one.bytes ? tm : one;
}
