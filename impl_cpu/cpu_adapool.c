/* Adaptive average pooling: output cell i averages input rows
 * floor(i*h/p) .. ceil((i+1)*h/p)-1 (and likewise for columns). */
#include "cpu_ops.h"
#include "cpu_parallel.h"

#include <string.h>

static int cell_start(int i, int in, int out)
{
    return (int)(((int64_t)i * in) / out);
}

static int cell_end(int i, int in, int out)
{
    return (int)(((int64_t)(i + 1) * in + out - 1) / out);
}

static void adapool_fwd_plane(const cnn_adapool_desc *d, const float *restrict x, float *restrict y)
{
    for (int p = 0; p < d->p; p++) {
        int h0 = cell_start(p, d->h, d->p), h1 = cell_end(p, d->h, d->p);
        for (int q = 0; q < d->q; q++) {
            int w0 = cell_start(q, d->w, d->q), w1 = cell_end(q, d->w, d->q);
            float acc = 0.0f;
            for (int ih = h0; ih < h1; ih++)
                for (int iw = w0; iw < w1; iw++)
                    acc += x[(int64_t)ih * d->w + iw];
            y[(int64_t)p * d->q + q] = acc / (float)((h1 - h0) * (w1 - w0));
        }
    }
}

static void adapool_bwd_plane(const cnn_adapool_desc *d, const float *restrict dy,
                              float *restrict dx)
{
    memset(dx, 0, sizeof(float) * (size_t)d->h * (size_t)d->w);
    for (int p = 0; p < d->p; p++) {
        int h0 = cell_start(p, d->h, d->p), h1 = cell_end(p, d->h, d->p);
        for (int q = 0; q < d->q; q++) {
            int w0 = cell_start(q, d->w, d->q), w1 = cell_end(q, d->w, d->q);
            float g = dy[(int64_t)p * d->q + q] / (float)((h1 - h0) * (w1 - w0));
            for (int ih = h0; ih < h1; ih++)
                for (int iw = w0; iw < w1; iw++)
                    dx[(int64_t)ih * d->w + iw] += g;
        }
    }
}

cnn_status cnn_cpu_adapool_fwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *x, float *y,
                               CNN_WS)
{
    (void)ws, (void)ws_size;
    const int64_t planes = (int64_t)d->n * d->c, in = (int64_t)d->h * d->w,
                  out = (int64_t)d->p * d->q;
    const int nt = cnn_cpu_team(ctx, planes * (in + out));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < planes; i++)
        adapool_fwd_plane(d, x + i * in, y + i * out);
    return CNN_OK;
}

cnn_status cnn_cpu_adapool_bwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *dy, float *dx,
                               CNN_WS)
{
    (void)ws, (void)ws_size;
    const int64_t planes = (int64_t)d->n * d->c, in = (int64_t)d->h * d->w,
                  out = (int64_t)d->p * d->q;
    const int nt = cnn_cpu_team(ctx, planes * (in + out));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < planes; i++)
        adapool_bwd_plane(d, dy + i * out, dx + i * in);
    return CNN_OK;
}
