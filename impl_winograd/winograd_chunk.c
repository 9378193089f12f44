/* The input, output and dy transforms of one channel over a chunk's bands.
 *
 * Each 2-D transform is two passes of a 1-D one (its matrices are written
 * out in winograd_transforms.c): straight-line formulas over n lanes with
 * restrict pointers, so that the compiler emits plain vector code. The
 * tiles of up to GROUP_LANES / tiles_x consecutive bands of the channel sit
 * side by side in each lane array, so every pass runs over a group's tiles
 * at once; the group's tiles are also consecutive in t, so the last pass of
 * the input transform writes straight into V, and the first of the output
 * transform reads straight from M. (These passes ran over one band's tiles
 * at a time before, tiles_x lanes: on ResNet-18's 28x28, 14x14 and 7x7
 * layers 7, 4 and 2 with F(4x4), under half an AVX2 vector, all in the
 * loops' scalar remainders.) */
#include "winograd_transforms.h"

#include <string.h>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* ---- the 1-D kernels ---- */

static inline void bt2(int n, const float *restrict d0, const float *restrict d1,
                       const float *restrict d2, const float *restrict d3, float *restrict o0,
                       float *restrict o1, float *restrict o2, float *restrict o3)
{
    for (int l = 0; l < n; l++) {
        float a0 = d0[l], a1 = d1[l], a2 = d2[l], a3 = d3[l];
        o0[l] = a0 - a2;
        o1[l] = a1 + a2;
        o2[l] = a2 - a1;
        o3[l] = a1 - a3;
    }
}

static inline void bt4(int n, const float *restrict d0, const float *restrict d1,
                       const float *restrict d2, const float *restrict d3, const float *restrict d4,
                       const float *restrict d5, float *restrict o0, float *restrict o1,
                       float *restrict o2, float *restrict o3, float *restrict o4,
                       float *restrict o5)
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

static inline void at2(int n, const float *restrict m0, const float *restrict m1,
                       const float *restrict m2, const float *restrict m3, float *restrict y0,
                       float *restrict y1)
{
    for (int l = 0; l < n; l++) {
        y0[l] = m0[l] + m1[l] + m2[l];
        y1[l] = m1[l] - m2[l] - m3[l];
    }
}

static inline void at4(int n, const float *restrict m0, const float *restrict m1,
                       const float *restrict m2, const float *restrict m3, const float *restrict m4,
                       const float *restrict m5, float *restrict y0, float *restrict y1,
                       float *restrict y2, float *restrict y3)
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
static inline void bt_rows(int m, int n, const float *const *in, float *const *out)
{
    if (m == 2)
        bt2(n, in[0], in[1], in[2], in[3], out[0], out[1], out[2], out[3]);
    else
        bt4(n, in[0], in[1], in[2], in[3], in[4], in[5], out[0], out[1], out[2], out[3], out[4],
            out[5]);
}

static inline void at_rows(int m, int n, const float *const *in, float *const *out)
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
static inline int phase_len(int tiles_x)
{
    return tiles_x + 1;
}

/* The strided moves between image rows and phases, one loop per tile size
 * so that the compiler sees a fixed group of m interleaved elements and
 * vectorises it with shuffles. */
static inline void split2(int n, const float *restrict src, float *restrict d0, float *restrict d1)
{
    for (int t = 0; t < n; t++) {
        d0[t] = src[2 * t];
        d1[t] = src[2 * t + 1];
    }
}

static inline void split4(int n, const float *restrict src, float *restrict d0, float *restrict d1,
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

static inline void merge2(int n, const float *restrict o0, const float *restrict o1, float bias,
                          float lo, float *restrict dst)
{
    for (int t = 0; t < n; t++) {
        dst[2 * t] = epilogue(o0[t], bias, lo);
        dst[2 * t + 1] = epilogue(o1[t], bias, lo);
    }
}

static inline void merge4(int n, const float *restrict o0, const float *restrict o1,
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
static inline void split_row(int m, const float *row, int w, int col0, int len, float *d)
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

#ifdef __AVX512F__
/* AVX-512: a block of tiles of the row is at most 32 consecutive columns,
 * two masked loads (columns outside [0, w) read as zero and are never
 * touched), and each tap j is one two-source permute of them picking
 * columns c0 + tx*m + j, stored under a mask of the block's tiles. The
 * phase split and per-tap copies below cost a loop of tiles_x elements per
 * tap, scalar for the 2 to 7 tiles of a 7x7 to 28x28 map: most of the
 * input transform's time on GoogLeNet's and fashion_cnn's layers. */
static void gather_avx512(int m, int ntaps, const float *row, int w, int c0, int tiles_x,
                          float *dst, size_t lanes)
{
    const int per = (32 - ntaps) / m + 1; /* tiles whose taps fit 32 columns */
    const __m512i step =
        _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                           _mm512_set1_epi32(m));
    const __m512i zero = _mm512_setzero_si512(), width = _mm512_set1_epi32(w);
    for (int t0 = 0; t0 < tiles_x; t0 += per) {
        const int nt = tiles_x - t0 < per ? tiles_x - t0 : per;
        const int s = c0 + t0 * m, lo = s < 0 ? 0 : s, avail = w - lo;
        const __mmask16 l0 = (__mmask16)(avail >= 16 ? 0xFFFF : avail > 0 ? (1u << avail) - 1 : 0);
        const __mmask16 l1 = (__mmask16)(avail >= 32  ? 0xFFFF
                                         : avail > 16 ? (1u << (avail - 16)) - 1
                                                      : 0);
        const __m512 a = l0 ? _mm512_maskz_loadu_ps(l0, row + lo) : _mm512_setzero_ps();
        const __m512 b = l1 ? _mm512_maskz_loadu_ps(l1, row + lo + 16) : _mm512_setzero_ps();
        const __mmask16 keep = (__mmask16)((1u << nt) - 1);
        for (int j = 0; j < ntaps; j++) {
            const __m512i col = _mm512_add_epi32(step, _mm512_set1_epi32(s + j));
            const __mmask16 ok =
                keep & _mm512_cmpge_epi32_mask(col, zero) & _mm512_cmplt_epi32_mask(col, width);
            const __m512i idx = _mm512_sub_epi32(col, _mm512_set1_epi32(lo));
            _mm512_mask_storeu_ps(dst + (size_t)j * lanes + t0, keep,
                                  _mm512_maskz_permutex2var_ps(ok, a, idx, b));
        }
    }
}
#endif

void cnn_winograd_gather_row(int m, int ntaps, const float *row, int w, int c0, int tiles_x,
                             float *dst, size_t lanes, float *ph)
{
#ifdef __AVX512F__
    (void)ph;
    gather_avx512(m, ntaps, row, w, c0, tiles_x, dst, lanes);
#else
    /* tap j of tile tx is phase j % m of tile tx + j / m */
    const int len = ntaps > m ? phase_len(tiles_x) : tiles_x;
    split_row(m, row, w, c0, len, ph);
    for (int j = 0; j < ntaps; j++) {
        const float *src = ph + (size_t)(j % m) * len + j / m;
        float *d = dst + (size_t)j * lanes;
        for (int tx = 0; tx < tiles_x; tx++)
            d[tx] = src[tx];
    }
#endif
}

/* A (alpha x m) of the weight gradient's transform of dy. */
static inline void a2(int n, const float *restrict d0, const float *restrict d1, float *restrict o0,
                      float *restrict o1, float *restrict o2, float *restrict o3)
{
    for (int l = 0; l < n; l++) {
        o0[l] = d0[l];
        o1[l] = d0[l] + d1[l];
        o2[l] = d0[l] - d1[l];
        o3[l] = -d1[l];
    }
}

static inline void a4(int n, const float *restrict d0, const float *restrict d1,
                      const float *restrict d2, const float *restrict d3, float *restrict o0,
                      float *restrict o1, float *restrict o2, float *restrict o3,
                      float *restrict o4, float *restrict o5)
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

static inline void a_rows(int m, int n, const float *const *in, float *const *out)
{
    if (m == 2)
        a2(n, in[0], in[1], out[0], out[1], out[2], out[3]);
    else
        a4(n, in[0], in[1], in[2], in[3], out[0], out[1], out[2], out[3], out[4], out[5]);
}

/* At least this many lanes per group (whole bands; one band when a band
 * has more): a few vectors, and a group's lane arrays stay in L1. */
#define GROUP_LANES 128

static int group_bands(int tiles_x)
{
    return tiles_x >= GROUP_LANES ? 1 : GROUP_LANES / tiles_x;
}

#ifdef __AVX512F__
/* The output transform's inverse of the gather: one output row's m values
 * of each tile tx < tiles_x (o[j * lanes + tx]) interleaved to
 * dst[tx*m + j] through the epilogue, for the w columns that exist. Per
 * block of 32 columns: m masked loads, two (m = 2) or four (m = 4)
 * two-source permutes and two masked stores, where merge2 and merge4 ran
 * w / m iterations, scalar on narrow maps, and a scalar remainder. */
static void scatter_avx512(int m, const float *o, size_t lanes, int tiles_x, float bias, float lo,
                           float *dst, int w)
{
    /* lanes 0..7 (8..15) of a and b interleaved: a0 b0 a1 b1 ... */
    const __m512i pair_lo =
        _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i pair_hi =
        _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    /* pairs 0..7 (8..15) of two pair-interleaved vectors interleaved */
    const __m512i quad_lo =
        _mm512_set_epi32(23, 22, 7, 6, 21, 20, 5, 4, 19, 18, 3, 2, 17, 16, 1, 0);
    const __m512i quad_hi =
        _mm512_set_epi32(31, 30, 15, 14, 29, 28, 13, 12, 27, 26, 11, 10, 25, 24, 9, 8);
    const __m512 vb = _mm512_set1_ps(bias), vlo = _mm512_set1_ps(lo), zero = _mm512_setzero_ps();
    const int per = 32 / m;
    for (int t0 = 0; t0 < tiles_x; t0 += per) {
        const int nt = tiles_x - t0 < per ? tiles_x - t0 : per;
        const int cols = nt * m < w - t0 * m ? nt * m : w - t0 * m;
        const __mmask16 k = (__mmask16)((1u << nt) - 1);
        const float *ot = o + t0;
        __m512 v0, v1;
        if (m == 2) {
            const __m512 a = _mm512_maskz_loadu_ps(k, ot), b = _mm512_maskz_loadu_ps(k, ot + lanes);
            v0 = _mm512_permutex2var_ps(a, pair_lo, b);
            v1 = _mm512_permutex2var_ps(a, pair_hi, b);
        } else {
            const __m512 z01 = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(k, ot), pair_lo,
                                                      _mm512_maskz_loadu_ps(k, ot + lanes));
            const __m512 z23 =
                _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(k, ot + 2 * lanes), pair_lo,
                                       _mm512_maskz_loadu_ps(k, ot + 3 * lanes));
            v0 = _mm512_permutex2var_ps(z01, quad_lo, z23);
            v1 = _mm512_permutex2var_ps(z01, quad_hi, z23);
        }
        /* epilogue(): + bias, then zero below lo (NaN and -0.0 kept) */
        v0 = _mm512_add_ps(v0, vb);
        v1 = _mm512_add_ps(v1, vb);
        v0 = _mm512_mask_mov_ps(v0, _mm512_cmp_ps_mask(v0, vlo, _CMP_LT_OQ), zero);
        v1 = _mm512_mask_mov_ps(v1, _mm512_cmp_ps_mask(v1, vlo, _CMP_LT_OQ), zero);
        const int c0 = cols < 16 ? cols : 16, c1 = cols - c0;
        _mm512_mask_storeu_ps(dst + t0 * m, (__mmask16)(c0 == 16 ? 0xFFFF : (1u << c0) - 1), v0);
        if (c1 > 0)
            _mm512_mask_storeu_ps(dst + t0 * m + 16,
                                  (__mmask16)(c1 == 16 ? 0xFFFF : (1u << c1) - 1), v1);
    }
}
#endif

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
    const int alpha = m + 2, gb = group_bands(tiles_x);
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
                cnn_winograd_gather_row(m, alpha, plane + (size_t)yy * w, w, col0, tiles_x, dst,
                                        lanes, ph);
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
#ifndef __AVX512F__
    const int full = w / m, rest = w - full * m;
#endif

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
#ifdef __AVX512F__
                scatter_avx512(m, oi, lanes, tiles_x, bias, lo, dst, w);
#else
                if (m == 2)
                    merge2(full, oi, oi + lanes, bias, lo, dst);
                else
                    merge4(full, oi, oi + lanes, oi + 2 * lanes, oi + 3 * lanes, bias, lo, dst);
                for (int j = 0; j < rest; j++)
                    dst[full * m + j] = epilogue(oi[(size_t)j * lanes + full], bias, lo);
#endif
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
                cnn_winograd_gather_row(m, m, dy + (size_t)img * img_stride + (size_t)yy * w, w, 0,
                                        tiles_x, dst, lanes, ph);
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
