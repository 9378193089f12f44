#include "winograd_transforms.h"

#include <string.h>

/* Each 2-D transform is two passes of a 1-D one: first down the columns of a
 * band (rows of the band are contiguous, so the pass runs over whole rows),
 * then across each tile (tiles of a band are contiguous in the phase layout
 * below). The 1-D kernels are straight-line formulas over n lanes with
 * restrict pointers, so that the compiler emits plain vector code; writing
 * out the sparse matrices also avoids multiplying by their zeros.
 *
 *   F(2,3):  B^T = [1  0 -1  0]     G = [ 1    0    0 ]   A^T = [1 1  1  0]
 *                  [0  1  1  0]         [1/2  1/2  1/2]         [0 1 -1 -1]
 *                  [0 -1  1  0]         [1/2 -1/2  1/2]
 *                  [0  1  0 -1]         [ 0    0    1 ]
 *
 *   F(4,3):  B^T = [4  0 -5  0  1  0]   G = [ 1/4     0     0  ]
 *                  [0 -4 -4  1  1  0]       [-1/6  -1/6  -1/6  ]
 *                  [0  4 -4 -1  1  0]       [-1/6   1/6  -1/6  ]
 *                  [0 -2 -1  2  1  0]       [1/24  1/12   1/6  ]
 *                  [0  2 -1 -2  1  0]       [1/24 -1/12   1/6  ]
 *                  [0  4  0 -5  0  1]       [  0     0     1   ]
 *            A^T = [1  1  1  1  1  0]
 *                  [0  1 -1  2 -2  0]
 *                  [0  1  1  4  4  0]
 *                  [0  1 -1  8 -8  1]
 */

static void bt2(int n, const float *restrict d0, const float *restrict d1, const float *restrict d2,
                const float *restrict d3, float *restrict o0, float *restrict o1,
                float *restrict o2, float *restrict o3)
{
    for (int l = 0; l < n; l++) {
        float a0 = d0[l], a1 = d1[l], a2 = d2[l], a3 = d3[l];
        o0[l] = a0 - a2;
        o1[l] = a1 + a2;
        o2[l] = a2 - a1;
        o3[l] = a1 - a3;
    }
}

static void bt4(int n, const float *restrict d0, const float *restrict d1, const float *restrict d2,
                const float *restrict d3, const float *restrict d4, const float *restrict d5,
                float *restrict o0, float *restrict o1, float *restrict o2, float *restrict o3,
                float *restrict o4, float *restrict o5)
{
    for (int l = 0; l < n; l++) {
        float a0 = d0[l], a1 = d1[l], a2 = d2[l], a3 = d3[l], a4 = d4[l], a5 = d5[l];
        float t42 = a4 - a2, t31 = a3 - a1;
        o0[l] = 4.0f * a0 - 5.0f * a2 + a4;
        o1[l] = (a4 + a3) - 4.0f * (a1 + a2);
        o2[l] = (a4 - a3) + 4.0f * (a1 - a2);
        o3[l] = t42 + 2.0f * t31;
        o4[l] = t42 - 2.0f * t31;
        o5[l] = 4.0f * a1 - 5.0f * a3 + a5;
    }
}

static void at2(int n, const float *restrict m0, const float *restrict m1, const float *restrict m2,
                const float *restrict m3, float *restrict y0, float *restrict y1)
{
    for (int l = 0; l < n; l++) {
        y0[l] = m0[l] + m1[l] + m2[l];
        y1[l] = m1[l] - m2[l] - m3[l];
    }
}

static void at4(int n, const float *restrict m0, const float *restrict m1, const float *restrict m2,
                const float *restrict m3, const float *restrict m4, const float *restrict m5,
                float *restrict y0, float *restrict y1, float *restrict y2, float *restrict y3)
{
    for (int l = 0; l < n; l++) {
        float s12 = m1[l] + m2[l], d12 = m1[l] - m2[l];
        float s34 = m3[l] + m4[l], d34 = m3[l] - m4[l];
        y0[l] = m0[l] + s12 + s34;
        y1[l] = d12 + 2.0f * d34;
        y2[l] = s12 + 4.0f * s34;
        y3[l] = d12 + 8.0f * d34 + m5[l];
    }
}

/* Apply B^T to alpha rows in[j] (each n long), writing out[xi]. */
static void bt_rows(int m, int n, const float *const *in, float *const *out)
{
    if (m == 2)
        bt2(n, in[0], in[1], in[2], in[3], out[0], out[1], out[2], out[3]);
    else
        bt4(n, in[0], in[1], in[2], in[3], in[4], in[5], out[0], out[1], out[2], out[3], out[4],
            out[5]);
}

static void at_rows(int m, int n, const float *const *in, float *const *out)
{
    if (m == 2)
        at2(n, in[0], in[1], in[2], in[3], out[0], out[1]);
    else
        at4(n, in[0], in[1], in[2], in[3], in[4], in[5], out[0], out[1], out[2], out[3]);
}

/* Phase layout of a band: phase j of row i holds, for each tile tx, the
 * input at column tx*m + j of that tile row, so phase[j][tx] is contiguous in
 * tx. Tap j of tile tx (0 <= j < alpha = m + 2) is then phase[j % m][tx + j / m]:
 * the two taps a tile shares with its right neighbour are that neighbour's
 * first two, so each phase holds tiles_x + 1 entries. */
static int phase_len(int tiles_x)
{
    return tiles_x + 1;
}

size_t cnn_winograd_input_scratch(int m, int tiles_x)
{
    /* d (input phases) and e (after the column pass), alpha rows each */
    return 2 * (size_t)(m + 2) * (size_t)m * (size_t)phase_len(tiles_x);
}

size_t cnn_winograd_output_scratch(int m, int tiles_x)
{
    /* s (after the row pass over xi_x, alpha rows) and o (m rows) */
    return (size_t)(2 * m + 2) * (size_t)m * (size_t)tiles_x;
}

/* The strided moves between image rows and phases, one loop per tile size
 * so that the compiler sees a fixed group of m interleaved elements and
 * vectorises it with shuffles. */
static void split2(int n, const float *restrict src, float *restrict d0, float *restrict d1)
{
    for (int t = 0; t < n; t++) {
        d0[t] = src[2 * t];
        d1[t] = src[2 * t + 1];
    }
}

static void split4(int n, const float *restrict src, float *restrict d0, float *restrict d1,
                   float *restrict d2, float *restrict d3)
{
    for (int t = 0; t < n; t++) {
        d0[t] = src[4 * t];
        d1[t] = src[4 * t + 1];
        d2[t] = src[4 * t + 2];
        d3[t] = src[4 * t + 3];
    }
}

/* v + bias, then zero below lo: lo = 0 is the fused ReLU (NaN and -0.0
 * kept, as torch.relu), lo = -inf none. */
static inline float epilogue(float v, float bias, float lo)
{
    v += bias;
    return v < lo ? 0.0f : v;
}

static void merge2(int n, const float *restrict o0, const float *restrict o1, float bias, float lo,
                   float *restrict dst)
{
    for (int t = 0; t < n; t++) {
        dst[2 * t] = epilogue(o0[t], bias, lo);
        dst[2 * t + 1] = epilogue(o1[t], bias, lo);
    }
}

static void merge4(int n, const float *restrict o0, const float *restrict o1,
                   const float *restrict o2, const float *restrict o3, float bias, float lo,
                   float *restrict dst)
{
    for (int t = 0; t < n; t++) {
        dst[4 * t] = epilogue(o0[t], bias, lo);
        dst[4 * t + 1] = epilogue(o1[t], bias, lo);
        dst[4 * t + 2] = epilogue(o2[t], bias, lo);
        dst[4 * t + 3] = epilogue(o3[t], bias, lo);
    }
}

/* Copy one input row into its m phases: element tx of phase j is
 * row[col0 + tx*m + j], zero outside the row. Tiles [lo, hi) lie wholly
 * inside the row; the few at the edges go one element at a time. */
static void split_row(int m, const float *row, int w, int col0, int len, float *d)
{
    int lo = col0 >= 0 ? 0 : (-col0 + m - 1) / m;
    int hi = w - m - col0 >= 0 ? (w - m - col0) / m + 1 : 0;
    lo = lo < len ? lo : len;
    hi = hi < len ? hi : len;
    hi = hi > lo ? hi : lo;
    for (int tx = 0; tx < len; tx++) {
        if (tx == lo)
            tx = hi;
        for (int j = 0; j < m && tx < len; j++) {
            int c = col0 + tx * m + j;
            d[(size_t)j * len + tx] = c >= 0 && c < w ? row[c] : 0.0f;
        }
    }
    const float *src = row + col0 + (ptrdiff_t)lo * m;
    if (m == 2)
        split2(hi - lo, src, d + lo, d + len + lo);
    else
        split4(hi - lo, src, d + lo, d + len + lo, d + 2 * len + lo, d + 3 * len + lo);
}

void cnn_winograd_input_band(int m, const float *x, int h, int w, int row0, int col0, int tiles_x,
                             float *v, size_t xi_stride, float *scratch)
{
    const int alpha = m + 2, len = phase_len(tiles_x);
    const size_t row_len = (size_t)m * len; /* one band row: m phases */
    float *d = scratch, *e = scratch + (size_t)alpha * row_len;

    for (int i = 0; i < alpha; i++) {
        int yy = row0 + i;
        if (yy < 0 || yy >= h)
            memset(d + i * row_len, 0, row_len * sizeof *d);
        else
            split_row(m, x + (size_t)yy * w, w, col0, len, d + i * row_len);
    }

    /* Column pass: all phases of a band row at once. */
    const float *in[6] = {NULL};
    float *out[6] = {NULL};
    for (int i = 0; i < alpha; i++) {
        in[i] = d + i * row_len;
        out[i] = e + i * row_len;
    }
    bt_rows(m, (int)row_len, in, out);

    /* Row pass within each tile, straight into the transform domain. */
    for (int xy = 0; xy < alpha; xy++) {
        const float *ey = e + xy * row_len;
        for (int j = 0; j < alpha; j++)
            in[j] = ey + (size_t)(j % m) * len + j / m;
        for (int xx = 0; xx < alpha; xx++)
            out[xx] = v + (size_t)(xy * alpha + xx) * xi_stride;
        bt_rows(m, tiles_x, in, out);
    }
}

void cnn_winograd_output_band(int m, const float *mt, size_t xi_stride, int tiles_x, float bias,
                              float lo, float *y, int h, int w, int row0, float *scratch)
{
    const int alpha = m + 2;
    const size_t row_len = (size_t)m * tiles_x;
    float *s = scratch, *o = scratch + (size_t)alpha * row_len;
    const float *in[6] = {NULL};
    float *out[6] = {NULL};

    /* Row pass: collapse xi_x into the m output columns, phase layout. */
    for (int xy = 0; xy < alpha; xy++) {
        for (int xx = 0; xx < alpha; xx++)
            in[xx] = mt + (size_t)(xy * alpha + xx) * xi_stride;
        for (int j = 0; j < m; j++)
            out[j] = s + xy * row_len + (size_t)j * tiles_x;
        at_rows(m, tiles_x, in, out);
    }
    /* Column pass: collapse xi_y into the m output rows. */
    for (int xy = 0; xy < alpha; xy++)
        in[xy] = s + xy * row_len;
    for (int i = 0; i < m; i++)
        out[i] = o + i * row_len;
    at_rows(m, (int)row_len, in, out);

    /* Interleave the phases back into image rows; the last tile of a row or
     * column may hang over the edge of the plane. */
    const int full = w / m, rest = w - full * m;
    for (int i = 0; i < m && row0 + i < h; i++) {
        float *dst = y + (size_t)(row0 + i) * w;
        const float *oi = o + i * row_len;
        if (m == 2)
            merge2(full, oi, oi + tiles_x, bias, lo, dst);
        else
            merge4(full, oi, oi + tiles_x, oi + 2 * tiles_x, oi + 3 * tiles_x, bias, lo, dst);
        for (int j = 0; j < rest; j++)
            dst[full * m + j] = epilogue(oi[(size_t)j * tiles_x + full], bias, lo);
    }
}

/* G applied down n lanes of three filter taps. The fractions of F(4x4)'s G
 * are applied as one multiplication by 1/6 after exact scalings by powers of
 * two, so that each output is rounded at most twice more than its sum. */
static void g2(int n, const float *restrict g0, const float *restrict g1, const float *restrict g2,
               float *restrict o0, float *restrict o1, float *restrict o2, float *restrict o3)
{
    for (int l = 0; l < n; l++) {
        float s02 = g0[l] + g2[l];
        o0[l] = g0[l];
        o1[l] = 0.5f * (s02 + g1[l]);
        o2[l] = 0.5f * (s02 - g1[l]);
        o3[l] = g2[l];
    }
}

static void g4(int n, const float *restrict g0, const float *restrict g1, const float *restrict g2,
               float *restrict o0, float *restrict o1, float *restrict o2, float *restrict o3,
               float *restrict o4, float *restrict o5)
{
    const float sixth = 1.0f / 6.0f;
    for (int l = 0; l < n; l++) {
        float s02 = g0[l] + g2[l], q = 0.25f * g0[l] + g2[l], h = 0.5f * g1[l];
        o0[l] = 0.25f * g0[l];
        o1[l] = -(s02 + g1[l]) * sixth;
        o2[l] = -(s02 - g1[l]) * sixth;
        o3[l] = (q + h) * sixth;
        o4[l] = (q - h) * sixth;
        o5[l] = g2[l];
    }
}

static void g_rows(int m, int n, const float *const *in, float *const *out)
{
    if (m == 2)
        g2(n, in[0], in[1], in[2], out[0], out[1], out[2], out[3]);
    else
        g4(n, in[0], in[1], in[2], out[0], out[1], out[2], out[3], out[4], out[5]);
}

/* Filters per block: the taps are gathered into lanes first, so that both
 * passes of G run as vector loops and each output row is a contiguous run. */
#define FILTER_BLOCK 64

void cnn_winograd_filters(int m, int n, const float *g, size_t g_stride, bool flip, float *u,
                          size_t xi_stride)
{
    const int alpha = m + 2;
    float taps[9][FILTER_BLOCK], t[6 * 3][FILTER_BLOCK];
    const float *in[3];
    float *out[6] = {NULL};
    for (int i0 = 0; i0 < n; i0 += FILTER_BLOCK) {
        const int nb = n - i0 < FILTER_BLOCK ? n - i0 : FILTER_BLOCK;
        for (int l = 0; l < nb; l++) {
            const float *src = g + (size_t)(i0 + l) * g_stride;
            for (int e = 0; e < 9; e++)
                taps[e][l] = src[flip ? 8 - e : e];
        }
        /* Down each filter column s: t[xi_y][s] = (G g)[xi_y][s]. */
        for (int col = 0; col < 3; col++) {
            for (int r = 0; r < 3; r++)
                in[r] = taps[r * 3 + col];
            for (int xy = 0; xy < alpha; xy++)
                out[xy] = t[xy * 3 + col];
            g_rows(m, nb, in, out);
        }
        /* Along each row xi_y: u[xi_y][xi_x] = (G g G^T)[xi_y][xi_x]. */
        for (int xy = 0; xy < alpha; xy++) {
            for (int col = 0; col < 3; col++)
                in[col] = t[xy * 3 + col];
            for (int xx = 0; xx < alpha; xx++)
                out[xx] = u + (size_t)(xy * alpha + xx) * xi_stride + i0;
            g_rows(m, nb, in, out);
        }
    }
}

/* ---- backward weights: F(3x3, m x m) with the same alpha ----------------
 * The forward identity y = A^T [(G g G^T) . (B^T d B)] A holds for every g
 * and d, and y is linear in g, so the gradient of sum dy . y with respect
 * to g is dW = G^T [(A dy A^T) . (B^T d B)] G: the input transform is the
 * forward one, A (alpha x m) takes an m x m tile of dy to the transform
 * domain and G^T (3 x alpha) brings the product back to 3 x 3.
 *
 *   F(2,3):  A = [1  0]      G^T = [1 1/2  1/2 0]
 *                [1  1]            [0 1/2 -1/2 0]
 *                [1 -1]            [0 1/2  1/2 1]
 *                [0 -1]
 *   F(4,3):  A = [1  0 0  0]  G^T = [1/4 -1/6 -1/6 1/24  1/24 0]
 *                [1  1 1  1]        [ 0  -1/6  1/6 1/12 -1/12 0]
 *                [1 -1 1 -1]        [ 0  -1/6 -1/6  1/6   1/6 1]
 *                [1  2 4  8]
 *                [1 -2 4 -8]
 *                [0  0 0  1] */

static void a2(int n, const float *restrict d0, const float *restrict d1, float *restrict o0,
               float *restrict o1, float *restrict o2, float *restrict o3)
{
    for (int l = 0; l < n; l++) {
        o0[l] = d0[l];
        o1[l] = d0[l] + d1[l];
        o2[l] = d0[l] - d1[l];
        o3[l] = -d1[l];
    }
}

static void a4(int n, const float *restrict d0, const float *restrict d1, const float *restrict d2,
               const float *restrict d3, float *restrict o0, float *restrict o1, float *restrict o2,
               float *restrict o3, float *restrict o4, float *restrict o5)
{
    for (int l = 0; l < n; l++) {
        float s02 = d0[l] + d2[l], s13 = d1[l] + d3[l];
        float e = d0[l] + 4.0f * d2[l], f = 2.0f * (d1[l] + 4.0f * d3[l]);
        o0[l] = d0[l];
        o1[l] = s02 + s13;
        o2[l] = s02 - s13;
        o3[l] = e + f;
        o4[l] = e - f;
        o5[l] = d3[l];
    }
}

static void a_rows(int m, int n, const float *const *in, float *const *out)
{
    if (m == 2)
        a2(n, in[0], in[1], out[0], out[1], out[2], out[3]);
    else
        a4(n, in[0], in[1], in[2], in[3], out[0], out[1], out[2], out[3], out[4], out[5]);
}

/* G^T over n lanes; F(4x4)'s fractions as in g4: exact scalings by powers of
 * two, then one multiplication by 1/6. */
static void gt2(int n, const float *restrict m0, const float *restrict m1, const float *restrict m2,
                const float *restrict m3, float *restrict r0, float *restrict r1,
                float *restrict r2)
{
    for (int l = 0; l < n; l++) {
        float h = 0.5f * (m1[l] + m2[l]);
        r0[l] = m0[l] + h;
        r1[l] = 0.5f * (m1[l] - m2[l]);
        r2[l] = h + m3[l];
    }
}

static void gt4(int n, const float *restrict m0, const float *restrict m1, const float *restrict m2,
                const float *restrict m3, const float *restrict m4, const float *restrict m5,
                float *restrict r0, float *restrict r1, float *restrict r2)
{
    const float sixth = 1.0f / 6.0f;
    for (int l = 0; l < n; l++) {
        float s12 = m1[l] + m2[l], d12 = m1[l] - m2[l];
        float s34 = m3[l] + m4[l], d34 = m3[l] - m4[l];
        r0[l] = 0.25f * m0[l] + (0.25f * s34 - s12) * sixth;
        r1[l] = (0.5f * d34 - d12) * sixth;
        r2[l] = (s34 - s12) * sixth + m5[l];
    }
}

static void gt_rows(int m, int n, const float *const *in, float *const *out)
{
    if (m == 2)
        gt2(n, in[0], in[1], in[2], in[3], out[0], out[1], out[2]);
    else
        gt4(n, in[0], in[1], in[2], in[3], in[4], in[5], out[0], out[1], out[2]);
}

size_t cnn_winograd_grad_scratch(int m, int tiles_x)
{
    /* d (m rows of dy in phases) and e (alpha rows after the column pass) */
    return (size_t)(2 * m + 2) * (size_t)m * (size_t)tiles_x;
}

void cnn_winograd_grad_band(int m, const float *dy, int h, int w, int row0, int tiles_x, float *v,
                            size_t xi_stride, float *scratch)
{
    const int alpha = m + 2;
    const size_t row_len = (size_t)m * tiles_x;
    float *d = scratch, *e = scratch + (size_t)m * row_len;

    for (int i = 0; i < m; i++) {
        int yy = row0 + i;
        if (yy < 0 || yy >= h)
            memset(d + i * row_len, 0, row_len * sizeof *d);
        else
            split_row(m, dy + (size_t)yy * w, w, 0, tiles_x, d + i * row_len);
    }

    /* Column pass: m rows of the band to alpha. */
    const float *in[6] = {NULL};
    float *out[6] = {NULL};
    for (int i = 0; i < m; i++)
        in[i] = d + i * row_len;
    for (int i = 0; i < alpha; i++)
        out[i] = e + i * row_len;
    a_rows(m, (int)row_len, in, out);

    /* Row pass within each tile: its m phases to alpha. */
    for (int xy = 0; xy < alpha; xy++) {
        for (int j = 0; j < m; j++)
            in[j] = e + xy * row_len + (size_t)j * tiles_x;
        for (int xx = 0; xx < alpha; xx++)
            out[xx] = v + (size_t)(xy * alpha + xx) * xi_stride;
        a_rows(m, tiles_x, in, out);
    }
}

void cnn_winograd_filter_grads(int m, int n, const float *mt, size_t xi_stride, float *dw)
{
    const int alpha = m + 2;
    float t[6 * 3][FILTER_BLOCK], o[9][FILTER_BLOCK];
    const float *in[6] = {NULL};
    float *out[3];
    for (int i0 = 0; i0 < n; i0 += FILTER_BLOCK) {
        const int nb = n - i0 < FILTER_BLOCK ? n - i0 : FILTER_BLOCK;
        /* Along each row xi_y: t[xi_y][s] = (M G)[xi_y][s]. */
        for (int xy = 0; xy < alpha; xy++) {
            for (int xx = 0; xx < alpha; xx++)
                in[xx] = mt + (size_t)(xy * alpha + xx) * xi_stride + i0;
            for (int col = 0; col < 3; col++)
                out[col] = t[xy * 3 + col];
            gt_rows(m, nb, in, out);
        }
        /* Down each column s: o[r][s] = (G^T M G)[r][s]. */
        for (int col = 0; col < 3; col++) {
            for (int xy = 0; xy < alpha; xy++)
                in[xy] = t[xy * 3 + col];
            for (int r = 0; r < 3; r++)
                out[r] = o[r * 3 + col];
            gt_rows(m, nb, in, out);
        }
        for (int l = 0; l < nb; l++)
            for (int e = 0; e < 9; e++)
                dw[(size_t)(i0 + l) * 9 + e] = o[e][l];
    }
}
