#include "winograd_transforms.h"

/* The matrices of the transforms. The input, output and dy transforms
 * apply them over lanes of tiles (winograd_chunk.c); this file holds the
 * filter transform and its inverse for the weight gradient. Each 1-D
 * kernel is a straight-line formula over n lanes with restrict pointers, so
 * that the compiler emits plain vector code; writing out the sparse
 * matrices also avoids multiplying by their zeros.
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

void cnn_winograd_filters(int m, int n, const float *g, int inner, size_t inner_stride,
                          size_t outer_stride, bool flip, float *u, size_t xi_stride)
{
    const int alpha = m + 2;
    float taps[9][FILTER_BLOCK], t[6 * 3][FILTER_BLOCK];
    const float *in[3];
    float *out[6] = {NULL};
    for (int i0 = 0; i0 < n; i0 += FILTER_BLOCK) {
        const int nb = n - i0 < FILTER_BLOCK ? n - i0 : FILTER_BLOCK;
        for (int l = 0; l < nb; l++) {
            const int i = i0 + l;
            const float *src =
                g + (size_t)(i / inner) * outer_stride + (size_t)(i % inner) * inner_stride;
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
