/* The 1-D kernels of the Winograd transforms, shared by the band
 * functions (winograd_transforms.c) and the chunk ones (winograd_chunk.c):
 * straight-line formulas over n lanes with restrict pointers, so that the
 * compiler emits plain vector code, and the strided moves between image
 * rows and phases. Matrices: winograd_transforms.c. */
#ifndef CNN_WINOGRAD_ROWS_H
#define CNN_WINOGRAD_ROWS_H

#include <stddef.h>
#include <string.h>

static inline void bt2(int n, const float *restrict d0, const float *restrict d1, const float *restrict d2,
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

static inline void bt4(int n, const float *restrict d0, const float *restrict d1, const float *restrict d2,
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

static inline void at2(int n, const float *restrict m0, const float *restrict m1, const float *restrict m2,
                const float *restrict m3, float *restrict y0, float *restrict y1)
{
    for (int l = 0; l < n; l++) {
        y0[l] = m0[l] + m1[l] + m2[l];
        y1[l] = m1[l] - m2[l] - m3[l];
    }
}

static inline void at4(int n, const float *restrict m0, const float *restrict m1, const float *restrict m2,
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

static inline void merge2(int n, const float *restrict o0, const float *restrict o1, float bias, float lo,
                   float *restrict dst)
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

static inline void a4(int n, const float *restrict d0, const float *restrict d1, const float *restrict d2,
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

static inline void a_rows(int m, int n, const float *const *in, float *const *out)
{
    if (m == 2)
        a2(n, in[0], in[1], out[0], out[1], out[2], out[3]);
    else
        a4(n, in[0], in[1], in[2], in[3], out[0], out[1], out[2], out[3], out[4], out[5]);
}

#endif
