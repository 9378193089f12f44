/* The input and output transforms of one channel over a chunk's bands.
 *
 * The band functions (winograd_transforms.c) run each 1-D pass over one
 * band's tiles, tiles_x lanes: on ResNet-18's 28x28, 14x14 and 7x7 layers
 * that is 7, 4 and 2 lanes with F(4x4), under half an AVX2 vector, so the
 * passes ran in the loops' scalar remainders. Here the tiles of up to
 * GROUP_LANES / tiles_x consecutive bands of the channel sit side by side
 * in each lane array, so every pass runs over a group's tiles at once; the
 * group's tiles are also consecutive in t, so the last pass of the input
 * transform writes straight into V, and the first of the output transform
 * reads straight from M. The arithmetic per lane is the band functions'. */
#include "winograd_transforms.h"

#include "winograd_rows.h"

/* At least this many lanes per group (whole bands; one band when a band
 * has more): a few vectors, and a group's lane arrays stay in L1. */
#define GROUP_LANES 128

static int group_bands(int tiles_x)
{
    return tiles_x >= GROUP_LANES ? 1 : GROUP_LANES / tiles_x;
}

size_t cnn_winograd_chunk_scratch(int m, int tiles_x)
{
    const size_t alpha = (size_t)m + 2, lanes = (size_t)group_bands(tiles_x) * tiles_x;
    /* input: taps and the column pass (alpha^2 arrays each) and one row's
     * phases; output: the row pass (alpha x m arrays) and the m x m
     * outputs; the weight gradient's dy: less than the input's */
    size_t in = 2 * alpha * alpha * lanes + (size_t)m * phase_len(tiles_x);
    size_t out = (alpha * m + (size_t)m * m) * lanes;
    return in > out ? in : out;
}

void cnn_winograd_input_chunk(int m, const float *x, size_t img_stride, int h, int w, int row0,
                              int col0, int tiles_x, int tiles_y, int band0, int nbands, float *v,
                              size_t xi_stride, float *scratch)
{
    const int alpha = m + 2, len = phase_len(tiles_x), gb = group_bands(tiles_x);
    const size_t lanes = (size_t)gb * tiles_x, a2 = (size_t)alpha * alpha;
    float *taps = scratch, *e = taps + a2 * lanes, *ph = e + a2 * lanes;
    const float *in[6] = {NULL};
    float *out[6] = {NULL};

    for (int g0 = 0; g0 < nbands; g0 += gb) {
        const int gn = nbands - g0 < gb ? nbands - g0 : gb, n = gn * tiles_x;
        /* taps[i][j][lane]: tap (i, j) of each of the group's tiles */
        for (int g = 0; g < gn; g++) {
            const int band = band0 + g0 + g, img = band / tiles_y, ty = band % tiles_y;
            const float *plane = x + (size_t)img * img_stride;
            for (int i = 0; i < alpha; i++) {
                float *dst = taps + (size_t)i * alpha * lanes + (size_t)g * tiles_x;
                const int yy = row0 + ty * m + i;
                if (yy < 0 || yy >= h) {
                    for (int j = 0; j < alpha; j++)
                        memset(dst + j * lanes, 0, (size_t)tiles_x * sizeof *dst);
                    continue;
                }
                split_row(m, plane + (size_t)yy * w, w, col0, len, ph);
                /* tap j of tile tx is phase j % m of tile tx + j / m */
                for (int j = 0; j < alpha; j++) {
                    const float *src = ph + (size_t)(j % m) * len + j / m;
                    float *d = dst + j * lanes;
                    for (int tx = 0; tx < tiles_x; tx++)
                        d[tx] = src[tx];
                }
            }
        }
        /* Column pass: down i, for each tap column j. */
        for (int j = 0; j < alpha; j++) {
            for (int i = 0; i < alpha; i++) {
                in[i] = taps + ((size_t)i * alpha + j) * lanes;
                out[i] = e + ((size_t)i * alpha + j) * lanes;
            }
            bt_rows(m, n, in, out);
        }
        /* Row pass: along j, into V. */
        for (int xy = 0; xy < alpha; xy++) {
            for (int j = 0; j < alpha; j++)
                in[j] = e + ((size_t)xy * alpha + j) * lanes;
            for (int xx = 0; xx < alpha; xx++)
                out[xx] = v + (size_t)(xy * alpha + xx) * xi_stride + (size_t)g0 * tiles_x;
            bt_rows(m, n, in, out);
        }
    }
}

void cnn_winograd_output_chunk(int m, const float *mt, size_t xi_stride, int tiles_x, int tiles_y,
                               int band0, int nbands, float bias, float lo, float *y,
                               size_t img_stride, int h, int w, float *scratch)
{
    const int alpha = m + 2, gb = group_bands(tiles_x);
    const size_t lanes = (size_t)gb * tiles_x;
    float *s = scratch, *o = scratch + (size_t)alpha * m * lanes;
    const float *in[6] = {NULL};
    float *out[6] = {NULL};
    const int full = w / m, rest = w - full * m;

    for (int g0 = 0; g0 < nbands; g0 += gb) {
        const int gn = nbands - g0 < gb ? nbands - g0 : gb, n = gn * tiles_x;
        /* Row pass: collapse xi_x into the m output columns, s[xy][j]. */
        for (int xy = 0; xy < alpha; xy++) {
            for (int xx = 0; xx < alpha; xx++)
                in[xx] = mt + (size_t)(xy * alpha + xx) * xi_stride + (size_t)g0 * tiles_x;
            for (int j = 0; j < m; j++)
                out[j] = s + ((size_t)xy * m + j) * lanes;
            at_rows(m, n, in, out);
        }
        /* Column pass: collapse xi_y into the m output rows, o[i][j]. */
        for (int j = 0; j < m; j++) {
            for (int xy = 0; xy < alpha; xy++)
                in[xy] = s + ((size_t)xy * m + j) * lanes;
            for (int i = 0; i < m; i++)
                out[i] = o + ((size_t)i * m + j) * lanes;
            at_rows(m, n, in, out);
        }
        /* Each band's rows back into its image; the last tile of a row or
         * column may hang over the edge of the plane. */
        for (int g = 0; g < gn; g++) {
            const int band = band0 + g0 + g, img = band / tiles_y, ty = band % tiles_y;
            for (int i = 0; i < m && ty * m + i < h; i++) {
                float *dst = y + (size_t)img * img_stride + (size_t)(ty * m + i) * w;
                const float *oi = o + (size_t)i * m * lanes + (size_t)g * tiles_x;
                if (m == 2)
                    merge2(full, oi, oi + lanes, bias, lo, dst);
                else
                    merge4(full, oi, oi + lanes, oi + 2 * lanes, oi + 3 * lanes, bias, lo, dst);
                for (int j = 0; j < rest; j++)
                    dst[full * m + j] = epilogue(oi[(size_t)j * lanes + full], bias, lo);
            }
        }
    }
}

void cnn_winograd_grad_chunk(int m, const float *dy, size_t img_stride, int h, int w, int tiles_x,
                             int tiles_y, int band0, int nbands, float *v, size_t xi_stride,
                             float *scratch)
{
    const int alpha = m + 2, gb = group_bands(tiles_x);
    const size_t lanes = (size_t)gb * tiles_x;
    float *d = scratch, *e = d + (size_t)m * m * lanes, *ph = e + (size_t)alpha * m * lanes;
    const float *in[6] = {NULL};
    float *out[6] = {NULL};

    for (int g0 = 0; g0 < nbands; g0 += gb) {
        const int gn = nbands - g0 < gb ? nbands - g0 : gb, n = gn * tiles_x;
        /* d[i][j][lane]: element (i, j) of each of the group's m x m tiles */
        for (int g = 0; g < gn; g++) {
            const int band = band0 + g0 + g, img = band / tiles_y, ty = band % tiles_y;
            for (int i = 0; i < m; i++) {
                float *dst = d + (size_t)i * m * lanes + (size_t)g * tiles_x;
                const int yy = ty * m + i;
                if (yy >= h) {
                    for (int j = 0; j < m; j++)
                        memset(dst + j * lanes, 0, (size_t)tiles_x * sizeof *dst);
                    continue;
                }
                split_row(m, dy + (size_t)img * img_stride + (size_t)yy * w, w, 0, tiles_x, ph);
                for (int j = 0; j < m; j++)
                    for (int tx = 0; tx < tiles_x; tx++)
                        dst[j * lanes + tx] = ph[(size_t)j * tiles_x + tx];
            }
        }
        /* Column pass: m rows to alpha, for each column j. */
        for (int j = 0; j < m; j++) {
            for (int i = 0; i < m; i++)
                in[i] = d + ((size_t)i * m + j) * lanes;
            for (int xy = 0; xy < alpha; xy++)
                out[xy] = e + ((size_t)xy * m + j) * lanes;
            a_rows(m, n, in, out);
        }
        /* Row pass: m columns to alpha, into V. */
        for (int xy = 0; xy < alpha; xy++) {
            for (int j = 0; j < m; j++)
                in[j] = e + ((size_t)xy * m + j) * lanes;
            for (int xx = 0; xx < alpha; xx++)
                out[xx] = v + (size_t)(xy * alpha + xx) * xi_stride + (size_t)g0 * tiles_x;
            a_rows(m, n, in, out);
        }
    }
}
