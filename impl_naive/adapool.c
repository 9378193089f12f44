/* Adaptive average pooling: output cell i along an axis of size `in` split
 * into `out` cells averages input indices [floor(i*in/out), ceil((i+1)*in/out)).
 * When out does not divide in, neighbouring cells overlap by one element. */
#include "naive.h"

static int cell_start(int i, int in, int out)
{
    return (int)(((int64_t)i * in) / out);
}

static int cell_end(int i, int in, int out)
{
    return (int)(((int64_t)(i + 1) * in + out - 1) / out);
}

cnn_status cnn_naive_adapool_fwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *x, float *y,
                                 CNN_WS)
{
    CNN_NAIVE_NO_WS;
#pragma omp parallel for collapse(2) schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int n = 0; n < d->n; n++) {
        for (int c = 0; c < d->c; c++) {
            const float *xp = x + at4(n, c, 0, 0, d->c, d->h, d->w);
            for (int p = 0; p < d->p; p++) {
                int h0 = cell_start(p, d->h, d->p), h1 = cell_end(p, d->h, d->p);
                for (int q = 0; q < d->q; q++) {
                    int w0 = cell_start(q, d->w, d->q), w1 = cell_end(q, d->w, d->q);
                    double sum = 0.0;
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++)
                            sum += xp[(int64_t)ih * d->w + iw];
                    y[at4(n, c, p, q, d->c, d->p, d->q)] =
                        (float)(sum / ((double)(h1 - h0) * (w1 - w0)));
                }
            }
        }
    }
    return CNN_OK;
}

/* dx[ih][iw] = sum over the cells (p, q) containing it of dy[p][q] / cell size. */
cnn_status cnn_naive_adapool_bwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *dy,
                                 float *dx, CNN_WS)
{
    CNN_NAIVE_NO_WS;
#pragma omp parallel for collapse(2) schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int n = 0; n < d->n; n++) {
        for (int c = 0; c < d->c; c++) {
            const float *dyp = dy + at4(n, c, 0, 0, d->c, d->p, d->q);
            for (int ih = 0; ih < d->h; ih++) {
                for (int iw = 0; iw < d->w; iw++) {
                    double acc = 0.0;
                    for (int p = 0; p < d->p; p++) {
                        int h0 = cell_start(p, d->h, d->p), h1 = cell_end(p, d->h, d->p);
                        if (ih < h0 || ih >= h1)
                            continue;
                        for (int q = 0; q < d->q; q++) {
                            int w0 = cell_start(q, d->w, d->q), w1 = cell_end(q, d->w, d->q);
                            if (iw < w0 || iw >= w1)
                                continue;
                            acc += dyp[(int64_t)p * d->q + q] / ((double)(h1 - h0) * (w1 - w0));
                        }
                    }
                    dx[at4(n, c, ih, iw, d->c, d->h, d->w)] = (float)acc;
                }
            }
        }
    }
    return CNN_OK;
}
