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

cnn_im2col_plan cnn_im2col_plan_conv(const cnn_conv_desc *d, cnn_pass pass, size_t cap)
{
    cnn_im2col_plan pl = {.direct = false, .images = 1, .rows = d->p};
    if (pass != CNN_FWD && pass != CNN_BWD_DATA && pass != CNN_BWD_WEIGHT)
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
            pl.images = (int)images;
            pl.col_floats = crs * pq * images;
            pl.stage_floats = (size_t)d->k * pq * images;
            pl.bytes = (round_up_64b(pl.col_floats) + pl.stage_floats) * sizeof(float);
            return pl;
        }
    }
    if (pointwise) {
        pl.direct = true;
        return pl;
    }
    /* Equal tiles rather than full ones and a short last one: each GEMM then
     * has the same width, none of them a sliver. */
    const size_t row_floats = crs * (size_t)d->q;
    size_t rows = min_size((want + d->q - 1) / d->q, cap / (row_floats * sizeof(float)));
    rows = rows < 1 ? 1 : min_size(rows, (size_t)d->p);
    size_t tiles = ((size_t)d->p + rows - 1) / rows;
    pl.rows = (int)(((size_t)d->p + tiles - 1) / tiles);
    pl.col_floats = (size_t)pl.rows * row_floats;
    pl.bytes = pl.col_floats * sizeof(float);
    return pl;
}

bool cnn_im2col_plan_fits(const cnn_conv_desc *d, const cnn_im2col_plan *pl)
{
    const size_t crs = (size_t)d->c * d->r * d->s, pq = (size_t)d->p * d->q;
    const size_t width = pl->images > 1 ? pq * (size_t)pl->images : (size_t)pl->rows * d->q;
    return crs <= INT_MAX && pq <= INT_MAX && width <= INT_MAX;
}
