/* Convolution as its definition: cross-correlation with zero padding,
 *   y[n][k][p][q] = b[k] + sum_{c,r,s} x[n][c][p*sh - ph + r][q*sw - pw + s] * w[k][c][r][s],
 * and its three gradients. Each output element is summed by one thread
 * only, which adds every term that feeds it, so that no two threads ever add
 * into the same element.
 *
 * Loop order. Each output element is one double sum whose terms are added in
 * the order of the definition (fwd: bias, then c, r, s; bwd_data: k, r, s;
 * bwd_filter: n, p, q), skipping the taps that fall in the padding, and
 * rounded to float once: the same sums, bit for bit, as the plain loop nest
 * around each element. Only where the loops sit makes it fast:
 *  - fwd and bwd_data keep rows of double sums (a row of y for FWD_KB
 *    filters, a row of dx for DATA_CB input channels) and, for each term
 *    index (c, r, s) or (k, r, s) in order, add that term into whole rows at
 *    once. The innermost loop runs over a row's independent sums along
 *    contiguous x / dy, over the q range whose tap lands inside the input
 *    (tap_ranges, computed once per call), so it has no branches and
 *    vectorises without reordering any sum (its iterations touch different
 *    sums, which is all that `omp simd` asserts: it saves the compiler's
 *    run-time overlap checks between the rows).
 *  - bwd_filter's sums run along the rows of dy and x, a dot product that
 *    would not vectorise without reordering. It carries FILTER_KB of them
 *    (one (c, r, s), FILTER_KB filters) side by side instead: the block's
 *    rows of dy at one (n, p) are copied filter-fastest, once for FILTER_CB
 *    input channels, so the innermost loop, over the filters, is contiguous
 *    and vectorises, and each sum still takes its terms in order n, p, q.
 * Each kernel is called with a literal stride 1 when the stride is 1, so the
 * compiler makes a copy of it with contiguous rows (strided ones run the
 * general copy). Threads split the outputs only (blocks of y planes, of dx
 * planes, of dw filters x input channels), each with its own scratch, so
 * the results are the same for any thread count. */
#include "naive.h"

#include <stdbool.h>
#include <stdlib.h>

/* Filters whose rows of y fwd_block carries together, input channels whose
 * rows of dx bwd_data_block carries together (both write their four rows
 * out), and the filters x input channels whose dw sums bwd_filter_block
 * carries together. */
#define FWD_KB 4
#define DATA_CB 4
#define FILTER_KB 16
#define FILTER_CB 4
_Static_assert(FWD_KB == 4 && DATA_CB == 4, "fwd_block and bwd_data_block name four rows");

/* For each tap t < taps of an axis of n_out outputs over an input of n_in,
 * the outputs o in [lo[t], hi[t]) whose tap lands inside the input:
 * 0 <= o*stride - pad + t < n_in. Empty (lo = hi) when none. */
static void tap_ranges(int n_out, int n_in, int stride, int pad, int taps, int *lo, int *hi)
{
    for (int t = 0; t < taps; t++) {
        const int first = pad - t, last = n_in - 1 + pad - t; /* bounds on o * stride */
        int l = first > 0 ? (first + stride - 1) / stride : 0;
        int h = last < 0 ? 0 : last / stride + 1;
        if (h > n_out)
            h = n_out;
        lo[t] = l < h ? l : h;
        hi[t] = h;
    }
}

/* One allocation: `*per` double accumulators for each of `threads` threads,
 * then `ints` ints of index tables (*tab). *per is first rounded up to whole
 * 64-byte cache lines, and the blocks start on one, so that no two threads
 * write to the same line (sharing one costs more than all the arithmetic
 * on a small layer). NULL, with the reason recorded, when there is no
 * memory. */
static double *scratch_alloc(int threads, int64_t *per, int64_t ints, int **tab, const char *what)
{
    *per = (*per + 7) / 8 * 8;
    const size_t nd = (size_t)threads * (size_t)*per,
                 bytes = sizeof(double) * nd + sizeof(int) * (size_t)ints;
    double *buf = aligned_alloc(64, (bytes / 64 + 1) * 64);
    if (!buf)
        cnn_fail(CNN_ERR_OUT_OF_MEMORY, "conv2d %s: no memory for %d x %lld accumulators", what,
                 threads, (long long)*per);
    else
        *tab = (int *)(buf + nd);
    return buf;
}

/* Member i0 + j of a block of channels or filters, clamped to the last of
 * n: a block past the end repeats it, and those results are dropped, so the
 * kernels have one shape. */
static int block_member(int i0, int j, int n)
{
    return i0 + j < n ? i0 + j : n - 1;
}

/* y[n][k0 .. k0 + FWD_KB - 1] (yn: y[n]) from x[n] (xn, C x H x W), for the
 * filters below K. acc holds FWD_KB rows of Q sums; the q range of tap s is
 * [qlo[s], qhi[s]). */
static void fwd_block(const cnn_conv_desc *d, const float *xn, const float *w, const float *b,
                      int k0, float *yn, double *acc, const int *qlo, const int *qhi, int sw)
{
    const int nq = d->q;
    const int64_t w_k = (int64_t)d->c * d->r * d->s;
    double *a0 = acc, *a1 = acc + nq, *a2 = acc + 2 * nq, *a3 = acc + 3 * nq;
    const float *wk[FWD_KB];
    for (int j = 0; j < FWD_KB; j++)
        wk[j] = w + block_member(k0, j, d->k) * w_k;
    for (int p = 0; p < d->p; p++) {
        for (int j = 0; j < FWD_KB; j++) {
            const double bias = d->has_bias ? b[block_member(k0, j, d->k)] : 0.0;
            for (int q = 0; q < nq; q++)
                acc[j * nq + q] = bias;
        }
        for (int c = 0; c < d->c; c++) {
            for (int r = 0; r < d->r; r++) {
                const int ih = p * d->stride_h - d->pad_h + r;
                if (ih < 0 || ih >= d->h)
                    continue; /* zero padding contributes nothing */
                const float *xrow = xn + ((int64_t)c * d->h + ih) * d->w;
                const int64_t crs = ((int64_t)c * d->r + r) * d->s;
                for (int s = 0; s < d->s; s++) {
                    const double w0 = wk[0][crs + s], w1 = wk[1][crs + s], w2 = wk[2][crs + s],
                                 w3 = wk[3][crs + s];
                    const int off = s - d->pad_w;
#pragma omp simd
                    for (int q = qlo[s]; q < qhi[s]; q++) {
                        const double xv = xrow[q * sw + off];
                        a0[q] += xv * w0;
                        a1[q] += xv * w1;
                        a2[q] += xv * w2;
                        a3[q] += xv * w3;
                    }
                }
            }
        }
        for (int j = 0; j < FWD_KB && k0 + j < d->k; j++)
            for (int q = 0; q < nq; q++)
                yn[((int64_t)(k0 + j) * d->p + p) * nq + q] = (float)acc[j * nq + q];
    }
}

cnn_status cnn_naive_conv_fwd(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x, const float *w,
                              const float *b, float *y, CNN_WS)
{
    CNN_NAIVE_NO_WS;
    if (d->has_bias && !b)
        return cnn_fail(CNN_ERR_INVALID_ARG, "conv2d: has_bias is set but the bias is NULL");
    const int threads = cnn_naive_threads(ctx), blocks = (d->k + FWD_KB - 1) / FWD_KB;
    int64_t per = (int64_t)FWD_KB * d->q;
    int *qlo;
    double *scratch = scratch_alloc(threads, &per, 2 * d->s, &qlo, "forward");
    if (!scratch)
        return CNN_ERR_OUT_OF_MEMORY;
    int *qhi = qlo + d->s;
    tap_ranges(d->q, d->w, d->stride_w, d->pad_w, d->s, qlo, qhi);
    const int64_t x_n = (int64_t)d->c * d->h * d->w, y_n = (int64_t)d->k * d->p * d->q;
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int n = 0; n < d->n; n++) {
        for (int kb = 0; kb < blocks; kb++) {
            const float *xn = x + n * x_n;
            float *yn = y + n * y_n;
            double *acc = scratch + cnn_naive_thread_id() * per;
            /* a literal 1: the unit-stride copy (see the top) */
            if (d->stride_w == 1)
                fwd_block(d, xn, w, b, kb * FWD_KB, yn, acc, qlo, qhi, 1);
            else
                fwd_block(d, xn, w, b, kb * FWD_KB, yn, acc, qlo, qhi, d->stride_w);
        }
    }
    free(scratch);
    /* the reference of the fused form: the plain convolution, then the ReLU */
    if (d->fuse_relu) {
        const int64_t count = (int64_t)d->n * y_n;
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t i = 0; i < count; i++)
            y[i] = cnn_relu(y[i]);
    }
    return CNN_OK;
}

/* dx[n][c0 .. c0 + DATA_CB - 1] (dxn: dx[n]) from dy[n] (dyn, K x P x Q), for
 * the channels below C. dx[c][ih][iw] = sum over (k, r, s) of
 * dy[k][p][q] * w[k][c][r][s] for the output positions whose window put
 * weight (r, s) on (ih, iw): p*sh - ph + r = ih, i.e. p = (ih + ph - r) / sh
 * when that divides exactly (prow[ih * R + r], -1 when not), and likewise
 * one q per s when it exists, q in [qlo[s], qhi[s]). acc holds DATA_CB rows
 * of W sums. */
static void bwd_data_block(const cnn_conv_desc *d, const float *dyn, const float *w, int c0,
                           float *dxn, double *acc, const int *qlo, const int *qhi, const int *prow,
                           int sw)
{
    const int nw = d->w;
    double *a0 = acc, *a1 = acc + nw, *a2 = acc + 2 * nw, *a3 = acc + 3 * nw;
    int64_t wc[DATA_CB]; /* offset of w[0][c][0][0] */
    for (int j = 0; j < DATA_CB; j++)
        wc[j] = (int64_t)block_member(c0, j, d->c) * d->r * d->s;
    const int64_t w_k = (int64_t)d->c * d->r * d->s;
    for (int ih = 0; ih < d->h; ih++) {
        for (int i = 0; i < DATA_CB * nw; i++)
            acc[i] = 0.0;
        for (int k = 0; k < d->k; k++) {
            for (int r = 0; r < d->r; r++) {
                const int p = prow[ih * d->r + r];
                if (p < 0)
                    continue;
                const float *dyrow = dyn + ((int64_t)k * d->p + p) * d->q;
                const float *wkr = w + k * w_k + (int64_t)r * d->s;
                for (int s = 0; s < d->s; s++) {
                    const double w0 = wkr[wc[0] + s], w1 = wkr[wc[1] + s], w2 = wkr[wc[2] + s],
                                 w3 = wkr[wc[3] + s];
                    const int off = s - d->pad_w;
#pragma omp simd
                    for (int q = qlo[s]; q < qhi[s]; q++) {
                        const double g = dyrow[q];
                        const int iw = q * sw + off;
                        a0[iw] += g * w0;
                        a1[iw] += g * w1;
                        a2[iw] += g * w2;
                        a3[iw] += g * w3;
                    }
                }
            }
        }
        for (int j = 0; j < DATA_CB && c0 + j < d->c; j++)
            for (int iw = 0; iw < nw; iw++)
                dxn[((int64_t)(c0 + j) * d->h + ih) * nw + iw] = (float)acc[j * nw + iw];
    }
}

cnn_status cnn_naive_conv_bwd_data(cnn_ctx *ctx, const cnn_conv_desc *d, const float *dy,
                                   const float *w, float *dx, CNN_WS)
{
    CNN_NAIVE_NO_WS;
    const int threads = cnn_naive_threads(ctx), blocks = (d->c + DATA_CB - 1) / DATA_CB;
    int64_t per = (int64_t)DATA_CB * d->w;
    int *qlo;
    double *scratch =
        scratch_alloc(threads, &per, 2 * d->s + (int64_t)d->h * d->r, &qlo, "backward data");
    if (!scratch)
        return CNN_ERR_OUT_OF_MEMORY;
    int *qhi = qlo + d->s, *prow = qhi + d->s;
    tap_ranges(d->q, d->w, d->stride_w, d->pad_w, d->s, qlo, qhi);
    for (int ih = 0; ih < d->h; ih++) {
        for (int r = 0; r < d->r; r++) {
            const int ps = ih + d->pad_h - r; /* p * stride_h */
            const bool hit = ps >= 0 && ps % d->stride_h == 0 && ps / d->stride_h < d->p;
            prow[ih * d->r + r] = hit ? ps / d->stride_h : -1;
        }
    }
    const int64_t dy_n = (int64_t)d->k * d->p * d->q, dx_n = (int64_t)d->c * d->h * d->w;
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int n = 0; n < d->n; n++) {
        for (int cb = 0; cb < blocks; cb++) {
            const float *dyn = dy + n * dy_n;
            float *dxn = dx + n * dx_n;
            double *acc = scratch + cnn_naive_thread_id() * per;
            if (d->stride_w == 1)
                bwd_data_block(d, dyn, w, cb * DATA_CB, dxn, acc, qlo, qhi, prow, 1);
            else
                bwd_data_block(d, dyn, w, cb * DATA_CB, dxn, acc, qlo, qhi, prow, d->stride_w);
        }
    }
    free(scratch);
    return CNN_OK;
}

/* dw[k][c][r][s] = sum_{n,p,q} dy[n][k][p][q] * x[n][c][p*sh - ph + r][q*sw - pw + s], for
 * filters k0 .. k0 + FILTER_KB - 1 and input channels c0 .. c0 + FILTER_CB - 1
 * (those below K and C). acc holds their FILTER_CB x R x S x FILTER_KB sums,
 * g the block's rows of dy at one (n, p) as Q x FILTER_KB doubles; the q
 * range of tap s is [qlo[s], qhi[s]). */
static void bwd_filter_block(const cnn_conv_desc *d, const float *x, const float *dy, int k0,
                             int c0, float *dw, double *acc, double *g, const int *qlo,
                             const int *qhi, int sw)
{
    const int rs = d->r * d->s;
    const int64_t pq = (int64_t)d->p * d->q;
    for (int i = 0; i < FILTER_CB * rs * FILTER_KB; i++)
        acc[i] = 0.0;
    for (int n = 0; n < d->n; n++) {
        for (int p = 0; p < d->p; p++) {
            for (int j = 0; j < FILTER_KB; j++) {
                const float *dyrow =
                    dy + ((int64_t)n * d->k + block_member(k0, j, d->k)) * pq + (int64_t)p * d->q;
                for (int q = 0; q < d->q; q++)
                    g[q * FILTER_KB + j] = dyrow[q];
            }
            for (int ci = 0; ci < FILTER_CB && c0 + ci < d->c; ci++) {
                const float *xc = x + ((int64_t)n * d->c + c0 + ci) * d->h * d->w;
                double *accc = acc + ci * rs * FILTER_KB;
                for (int r = 0; r < d->r; r++) {
                    const int ih = p * d->stride_h - d->pad_h + r;
                    if (ih < 0 || ih >= d->h)
                        continue;
                    const float *xrow = xc + (int64_t)ih * d->w;
                    for (int s = 0; s < d->s; s++) {
                        const int off = s - d->pad_w;
                        double a[FILTER_KB];
                        for (int j = 0; j < FILTER_KB; j++)
                            a[j] = accc[(r * d->s + s) * FILTER_KB + j];
                        for (int q = qlo[s]; q < qhi[s]; q++) {
                            const double xv = xrow[q * sw + off];
                            for (int j = 0; j < FILTER_KB; j++)
                                a[j] += g[q * FILTER_KB + j] * xv;
                        }
                        for (int j = 0; j < FILTER_KB; j++)
                            accc[(r * d->s + s) * FILTER_KB + j] = a[j];
                    }
                }
            }
        }
    }
    for (int ci = 0; ci < FILTER_CB && c0 + ci < d->c; ci++)
        for (int j = 0; j < FILTER_KB && k0 + j < d->k; j++)
            for (int i = 0; i < rs; i++)
                dw[((int64_t)(k0 + j) * d->c + c0 + ci) * rs + i] =
                    (float)acc[(ci * rs + i) * FILTER_KB + j];
}

cnn_status cnn_naive_conv_bwd_filter(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x,
                                     const float *dy, float *dw, CNN_WS)
{
    CNN_NAIVE_NO_WS;
    const int threads = cnn_naive_threads(ctx), kblocks = (d->k + FILTER_KB - 1) / FILTER_KB,
              cblocks = (d->c + FILTER_CB - 1) / FILTER_CB;
    const int64_t per_acc = (int64_t)FILTER_CB * d->r * d->s * FILTER_KB;
    int64_t per = per_acc + (int64_t)d->q * FILTER_KB;
    int *qlo;
    double *scratch = scratch_alloc(threads, &per, 2 * (int64_t)d->s, &qlo, "backward filter");
    if (!scratch)
        return CNN_ERR_OUT_OF_MEMORY;
    int *qhi = qlo + d->s;
    tap_ranges(d->q, d->w, d->stride_w, d->pad_w, d->s, qlo, qhi);
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int kb = 0; kb < kblocks; kb++) {
        for (int cb = 0; cb < cblocks; cb++) {
            double *acc = scratch + cnn_naive_thread_id() * per, *g = acc + per_acc;
            const int k0 = kb * FILTER_KB, c0 = cb * FILTER_CB;
            if (d->stride_w == 1)
                bwd_filter_block(d, x, dy, k0, c0, dw, acc, g, qlo, qhi, 1);
            else
                bwd_filter_block(d, x, dy, k0, c0, dw, acc, g, qlo, qhi, d->stride_w);
        }
    }
    free(scratch);
    return CNN_OK;
}

/* db[k] = sum_{n,p,q} dy[n][k][p][q]. */
/* With fuse_relu the fused ReLU's backward first: dz = dy * (y > 0), stored,
 * and db = sum dz (ops.h). */
cnn_status cnn_naive_conv_bwd_bias(cnn_ctx *ctx, const cnn_conv_desc *d, const float *y,
                                   const float *dy, float *db, float *dz, CNN_WS)
{
    CNN_NAIVE_NO_WS;
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int k = 0; k < d->k; k++) {
        double acc = 0.0;
        for (int n = 0; n < d->n; n++)
            for (int p = 0; p < d->p; p++)
                for (int q = 0; q < d->q; q++) {
                    int64_t i = at4(n, k, p, q, d->k, d->p, d->q);
                    float g = dy[i];
                    if (d->fuse_relu)
                        g = dz[i] = cnn_relu_grad(y[i], dy[i]);
                    acc += g;
                }
        db[k] = (float)acc;
    }
    return CNN_OK;
}
