/* Convolution as its definition: cross-correlation with zero padding,
 *   y[n][k][p][q] = b[k] + sum_{c,r,s} x[n][c][p*sh - ph + r][q*sw - pw + s] * w[k][c][r][s],
 * and its three gradients. Each gradient is written as a gather (one output
 * element sums every term that feeds it) rather than a scatter, so that no
 * two threads ever add into the same element. */
#include "naive.h"

cnn_status cnn_naive_conv_fwd(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x, const float *w,
                              const float *b, float *y, CNN_WS)
{
    CNN_NAIVE_NO_WS;
    if (d->has_bias && !b)
        return cnn_fail(CNN_ERR_INVALID_ARG, "conv2d: has_bias is set but the bias is NULL");
#pragma omp parallel for collapse(2) schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int n = 0; n < d->n; n++) {
        for (int k = 0; k < d->k; k++) {
            for (int p = 0; p < d->p; p++) {
                for (int q = 0; q < d->q; q++) {
                    double acc = d->has_bias ? b[k] : 0.0;
                    for (int c = 0; c < d->c; c++) {
                        for (int r = 0; r < d->r; r++) {
                            int ih = p * d->stride_h - d->pad_h + r;
                            if (ih < 0 || ih >= d->h)
                                continue; /* zero padding contributes nothing */
                            for (int s = 0; s < d->s; s++) {
                                int iw = q * d->stride_w - d->pad_w + s;
                                if (iw < 0 || iw >= d->w)
                                    continue;
                                acc += (double)x[at4(n, c, ih, iw, d->c, d->h, d->w)] *
                                       (double)w[at4(k, c, r, s, d->c, d->r, d->s)];
                            }
                        }
                    }
                    y[at4(n, k, p, q, d->k, d->p, d->q)] = (float)acc;
                }
            }
        }
    }
    return CNN_OK;
}

/* dx[n][c][ih][iw] = sum over (k, r, s) of dy[n][k][p][q] * w[k][c][r][s] for
 * the output positions whose window put weight (r, s) on (ih, iw):
 * p*sh - ph + r = ih, i.e. p = (ih + ph - r) / sh when that divides exactly. */
cnn_status cnn_naive_conv_bwd_data(cnn_ctx *ctx, const cnn_conv_desc *d, const float *dy,
                                   const float *w, float *dx, CNN_WS)
{
    CNN_NAIVE_NO_WS;
#pragma omp parallel for collapse(2) schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int n = 0; n < d->n; n++) {
        for (int c = 0; c < d->c; c++) {
            for (int ih = 0; ih < d->h; ih++) {
                for (int iw = 0; iw < d->w; iw++) {
                    double acc = 0.0;
                    for (int k = 0; k < d->k; k++) {
                        for (int r = 0; r < d->r; r++) {
                            int ps = ih + d->pad_h - r; /* p * stride_h */
                            if (ps < 0 || ps % d->stride_h != 0 || ps / d->stride_h >= d->p)
                                continue;
                            int p = ps / d->stride_h;
                            for (int s = 0; s < d->s; s++) {
                                int qs = iw + d->pad_w - s; /* q * stride_w */
                                if (qs < 0 || qs % d->stride_w != 0 || qs / d->stride_w >= d->q)
                                    continue;
                                int q = qs / d->stride_w;
                                acc += (double)dy[at4(n, k, p, q, d->k, d->p, d->q)] *
                                       (double)w[at4(k, c, r, s, d->c, d->r, d->s)];
                            }
                        }
                    }
                    dx[at4(n, c, ih, iw, d->c, d->h, d->w)] = (float)acc;
                }
            }
        }
    }
    return CNN_OK;
}

/* dw[k][c][r][s] = sum_{n,p,q} dy[n][k][p][q] * x[n][c][p*sh - ph + r][q*sw - pw + s]. */
cnn_status cnn_naive_conv_bwd_filter(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x,
                                     const float *dy, float *dw, CNN_WS)
{
    CNN_NAIVE_NO_WS;
#pragma omp parallel for collapse(2) schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int k = 0; k < d->k; k++) {
        for (int c = 0; c < d->c; c++) {
            for (int r = 0; r < d->r; r++) {
                for (int s = 0; s < d->s; s++) {
                    double acc = 0.0;
                    for (int n = 0; n < d->n; n++) {
                        for (int p = 0; p < d->p; p++) {
                            int ih = p * d->stride_h - d->pad_h + r;
                            if (ih < 0 || ih >= d->h)
                                continue;
                            for (int q = 0; q < d->q; q++) {
                                int iw = q * d->stride_w - d->pad_w + s;
                                if (iw < 0 || iw >= d->w)
                                    continue;
                                acc += (double)dy[at4(n, k, p, q, d->k, d->p, d->q)] *
                                       (double)x[at4(n, c, ih, iw, d->c, d->h, d->w)];
                            }
                        }
                    }
                    dw[at4(k, c, r, s, d->c, d->r, d->s)] = (float)acc;
                }
            }
        }
    }
    return CNN_OK;
}

/* db[k] = sum_{n,p,q} dy[n][k][p][q]. */
cnn_status cnn_naive_conv_bwd_bias(cnn_ctx *ctx, const cnn_conv_desc *d, const float *dy, float *db,
                                   CNN_WS)
{
    CNN_NAIVE_NO_WS;
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int k = 0; k < d->k; k++) {
        double acc = 0.0;
        for (int n = 0; n < d->n; n++)
            for (int p = 0; p < d->p; p++)
                for (int q = 0; q < d->q; q++)
                    acc += dy[at4(n, k, p, q, d->k, d->p, d->q)];
        db[k] = (float)acc;
    }
    return CNN_OK;
}
