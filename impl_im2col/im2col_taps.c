/* Stride-1 forward with one GEMM per kernel tap instead of a lowering.
 *
 * Pad `rows + R - 1` input rows of every channel into X [C][rows+R-1][Wp]
 * (Wp = W + 2*pw). Output pixel (p, q) of the tile, numbered p*Wp + q, then
 * needs tap (r, s) at X[c][p + r][q + s] = X[c] + r*Wp + s + (p*Wp + q):
 * for each tap the inputs of all pixels form one matrix of C rows (leading
 * dimension the padded plane) starting r*Wp + s floats in, so
 *   Y[K][rows*Wp] = sum over taps of w_rs[K][C] . (X + r*Wp + s)[C][rows*Wp]
 * with no copies. The S - 1 pixels q >= Q of each row read across the row
 * end; they are computed and dropped when Y is copied out (with the bias).
 * The weights are regrouped per tap once per call: w_rs[k][c] = w[k][c][r][s]. */
#include "cpu_parallel.h"
#include "im2col_impl.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

static void regroup_weights(const cnn_conv_desc *d, const float *restrict w, float *restrict wt)
{
    const int64_t taps = (int64_t)d->r * d->s, kc = (int64_t)d->k * d->c;
    for (int64_t t = 0; t < taps; t++)
        for (int64_t i = 0; i < kc; i++)
            wt[t * kc + i] = w[i * taps + t];
}

/* Padded input rows p0 - ph .. p0 - ph + rows + R - 2 of every channel,
 * then the S - 1 floats of slack, zeroed so the dropped pixels stay finite. */
static void pad_rows(const cnn_conv_desc *d, const float *x, int p0, int rows, float *xt,
                     int threads)
{
    const int hr = rows + d->r - 1, wp = d->w + 2 * d->pad_w, pw = d->pad_w;
    const int64_t plane = (int64_t)hr * wp, hw = (int64_t)d->h * d->w;
    const int nt = (int64_t)d->c * plane < CNN_CPU_PAR_MIN ? 1 : threads;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int c = 0; c < d->c; c++)
        for (int i = 0; i < hr; i++) {
            float *restrict dst = xt + c * plane + (int64_t)i * wp;
            const int ih = p0 - d->pad_h + i;
            if (ih < 0 || ih >= d->h) {
                memset(dst, 0, sizeof(float) * (size_t)wp);
                continue;
            }
            memset(dst, 0, sizeof(float) * (size_t)pw);
            memcpy(dst + pw, x + c * hw + (int64_t)ih * d->w, sizeof(float) * (size_t)d->w);
            memset(dst + pw + d->w, 0, sizeof(float) * (size_t)pw);
        }
    memset(xt + d->c * plane, 0, sizeof(float) * (size_t)(d->s - 1));
}

/* y rows p0 .. p0 + rows - 1 from the staged Y, dropping the extra pixels. */
static void copy_out(const cnn_conv_desc *d, const float *yt, int p0, int rows, const float *bias,
                     float *y, int threads)
{
    const int wp = d->w + 2 * d->pad_w;
    const int64_t pq = (int64_t)d->p * d->q, width = (int64_t)rows * wp;
    const int nt = (int64_t)d->k * width < CNN_CPU_PAR_MIN ? 1 : threads;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int k = 0; k < d->k; k++) {
        const float b = bias ? bias[k] : 0.0f, lo = d->fuse_relu ? 0.0f : -INFINITY;
        for (int pp = 0; pp < rows; pp++) {
            const float *restrict src = yt + k * width + (int64_t)pp * wp;
            float *restrict dst = y + k * pq + (int64_t)(p0 + pp) * d->q;
#pragma omp simd
            for (int q = 0; q < d->q; q++) { /* the bias, then the fused ReLU (lo 0) or none */
                const float v = src[q] + b;
                dst[q] = v < lo ? 0.0f : v;
            }
        }
    }
}

void cnn_im2col_taps_fwd(const cnn_conv_desc *d, const cnn_im2col_plan *pl, const float *x,
                         const float *w, const float *bias, float *y, float *ws, int threads)
{
    float *xt = ws, *yt = cnn_im2col_stage(pl, ws), *wt = cnn_im2col_weights(pl, ws);
    const int wp = d->w + 2 * d->pad_w;
    const int64_t chw = (int64_t)d->c * d->h * d->w, kpq = (int64_t)d->k * d->p * d->q;
    regroup_weights(d, w, wt);
    for (int n = 0; n < d->n; n++)
        for (int p0 = 0; p0 < d->p; p0 += pl->rows) {
            const int rows = d->p - p0 < pl->rows ? d->p - p0 : pl->rows;
            const int width = rows * wp, ldx = (rows + d->r - 1) * wp;
            pad_rows(d, x + n * chw, p0, rows, xt, threads);
            for (int r = 0; r < d->r; r++)
                for (int s = 0; s < d->s; s++) {
                    const float *wrs = wt + ((int64_t)r * d->s + s) * d->k * d->c;
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->k, width, d->c, 1.0f,
                                wrs, d->c, xt + r * wp + s, ldx, r || s ? 1.0f : 0.0f, yt, width);
                }
            copy_out(d, yt, p0, rows, bias, y + n * kpq, threads);
        }
}
