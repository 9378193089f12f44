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

/* Sum of a cell's rows [h0, h1), columns [w0, w1): as one contiguous run
 * when the cell spans whole rows (global pooling), else row by row; vector
 * sums either way (a running float sum was bound by its add latency). */
static float cell_sum(const float *restrict x, int w, int h0, int h1, int w0, int w1)
{
    float acc = 0.0f;
    if (w0 == 0 && w1 == w) {
        const float *restrict r = x + (int64_t)h0 * w;
        const int64_t n = (int64_t)(h1 - h0) * w;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < n; i++)
            acc += r[i];
        return acc;
    }
    for (int ih = h0; ih < h1; ih++) {
        const float *restrict r = x + (int64_t)ih * w;
#pragma omp simd reduction(+ : acc)
        for (int iw = w0; iw < w1; iw++)
            acc += r[iw];
    }
    return acc;
}

static void adapool_fwd_plane(const cnn_adapool_desc *d, const float *restrict x, float *restrict y)
{
    for (int p = 0; p < d->p; p++) {
        int h0 = cell_start(p, d->h, d->p), h1 = cell_end(p, d->h, d->p);
        for (int q = 0; q < d->q; q++) {
            int w0 = cell_start(q, d->w, d->q), w1 = cell_end(q, d->w, d->q);
            y[(int64_t)p * d->q + q] =
                cell_sum(x, d->w, h0, h1, w0, w1) / (float)((h1 - h0) * (w1 - w0));
        }
    }
}

/* g added to a cell's elements, or stored where cells do not overlap
 * (then every element is in one cell, and dx needs no zeroing first). */
static void cell_spread(float *restrict dx, int w, int h0, int h1, int w0, int w1, float g,
                        bool store)
{
    const bool rows = w0 == 0 && w1 == w; /* whole rows: one contiguous run */
    const int64_t run = rows ? (int64_t)(h1 - h0) * w : w1 - w0;
    for (int ih = h0; ih < (rows ? h0 + 1 : h1); ih++) {
        float *restrict r = dx + (int64_t)ih * w + w0;
        if (store)
            for (int64_t i = 0; i < run; i++)
                r[i] = g;
        else
            for (int64_t i = 0; i < run; i++)
                r[i] += g;
    }
}

static void adapool_bwd_plane(const cnn_adapool_desc *d, const float *restrict dy,
                              float *restrict dx)
{
    const bool tiled = d->h % d->p == 0 && d->w % d->q == 0;
    if (!tiled)
        memset(dx, 0, sizeof(float) * (size_t)d->h * (size_t)d->w);
    for (int p = 0; p < d->p; p++) {
        int h0 = cell_start(p, d->h, d->p), h1 = cell_end(p, d->h, d->p);
        for (int q = 0; q < d->q; q++) {
            int w0 = cell_start(q, d->w, d->q), w1 = cell_end(q, d->w, d->q);
            const float g = dy[(int64_t)p * d->q + q] / (float)((h1 - h0) * (w1 - w0));
            cell_spread(dx, d->w, h0, h1, w0, w1, g, tiled);
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
