/* Adaptive average pooling: output cell i averages input rows
 * floor(i*h/p) .. ceil((i+1)*h/p)-1 (and likewise for columns). */
#include "cpu_ops.h"
#include "cpu_parallel.h"
#include "cpu_simd.h"

#include <stdlib.h>
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
static inline float run_sum(const float *restrict r, int64_t n)
{
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++)
        acc += r[i];
    return acc;
}

/* The global pooling of the models' 7x7 maps as a constant-length run
 * (unrolled, no remainder loop: a third of the time of the general one). */
static float cell_sum(const float *restrict x, int w, int h0, int h1, int w0, int w1)
{
    float acc = 0.0f;
    if (w0 == 0 && w1 == w) {
        const float *restrict r = x + (int64_t)h0 * w;
        const int64_t n = (int64_t)(h1 - h0) * w;
        return n == 49 ? run_sum(r, 49) : run_sum(r, n);
    }
    for (int ih = h0; ih < h1; ih++) {
        const float *restrict r = x + (int64_t)ih * w;
#pragma omp simd reduction(+ : acc)
        for (int iw = w0; iw < w1; iw++)
            acc += r[iw];
    }
    return acc;
}

/* The cells' bounds along both axes, computed once per call: two 64-bit
 * divisions per cell and plane were most of the time of a global pooling
 * (ResNet-18's 8x512x7x7: 4096 planes of 49 floats). Outputs of up to
 * CELLS_MAX cells in all along both axes (the models have 1, 6 and 7 a
 * side) keep them on the stack, larger ones on the heap. */
#define CELLS_MAX 64
typedef struct cells {
    int *h0, *h1, *w0, *w1;
    int local[4 * CELLS_MAX];
    int *heap;
} cells;

static cnn_status cells_init(const cnn_adapool_desc *d, cells *c)
{
    const size_t n = 2 * ((size_t)d->p + (size_t)d->q);
    const bool big = n > 4 * CELLS_MAX;
    c->heap = big ? malloc(sizeof(int) * n) : NULL;
    int *at = big ? c->heap : c->local;
    if (!at)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY,
                        "adaptive_avgpool2d: no memory for the bounds of %dx%d cells", d->p, d->q);
    c->h0 = at, c->h1 = at + d->p, c->w0 = at + 2 * d->p, c->w1 = at + 2 * d->p + d->q;
    for (int p = 0; p < d->p; p++)
        c->h0[p] = cell_start(p, d->h, d->p), c->h1[p] = cell_end(p, d->h, d->p);
    for (int q = 0; q < d->q; q++)
        c->w0[q] = cell_start(q, d->w, d->q), c->w1[q] = cell_end(q, d->w, d->q);
    return CNN_OK;
}

static CNN_CPU_VEC void adapool_fwd_plane(const cnn_adapool_desc *d, const cells *c,
                                          const float *restrict x, float *restrict y)
{
    for (int p = 0; p < d->p; p++) {
        const int h0 = c->h0[p], h1 = c->h1[p];
        for (int q = 0; q < d->q; q++) {
            const int w0 = c->w0[q], w1 = c->w1[q];
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

static CNN_CPU_VEC void adapool_bwd_plane(const cnn_adapool_desc *d, const cells *c,
                                          const float *restrict dy, float *restrict dx)
{
    const bool tiled = d->h % d->p == 0 && d->w % d->q == 0;
    if (!tiled)
        memset(dx, 0, sizeof(float) * (size_t)d->h * (size_t)d->w);
    for (int p = 0; p < d->p; p++) {
        const int h0 = c->h0[p], h1 = c->h1[p];
        for (int q = 0; q < d->q; q++) {
            const int w0 = c->w0[q], w1 = c->w1[q];
            const float g = dy[(int64_t)p * d->q + q] / (float)((h1 - h0) * (w1 - w0));
            cell_spread(dx, d->w, h0, h1, w0, w1, g, tiled);
        }
    }
}

/* An output the size of the input (VGG-16's 7x7 and AlexNet's 6x6 at
 * 224x224): every cell is one element, forward and backward are copies,
 * as 0 + v (a cell's sum starts at +0, so -0.0 comes out +0.0 as before). */
static bool identity(const cnn_adapool_desc *d)
{
    return d->p == d->h && d->q == d->w;
}

static void copy_cells(const float *restrict src, float *restrict dst, int64_t n, int nt)
{
#pragma omp parallel for simd num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++)
        dst[i] = 0.0f + src[i];
}

/* Forward (src x, dst y) or backward (src dy, dst dx). */
static cnn_status adapool_run(cnn_ctx *ctx, const cnn_adapool_desc *d, bool backward,
                              const float *src, float *dst)
{
    const int64_t planes = (int64_t)d->n * d->c, in = (int64_t)d->h * d->w,
                  out = (int64_t)d->p * d->q;
    const int nt = cnn_cpu_team(ctx, planes * (in + out));
    if (identity(d)) {
        copy_cells(src, dst, planes * in, nt);
        return CNN_OK;
    }
    cells c;
    const cnn_status st = cells_init(d, &c);
    if (st != CNN_OK)
        return st;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < planes; i++) {
        if (backward)
            adapool_bwd_plane(d, &c, src + i * out, dst + i * in);
        else
            adapool_fwd_plane(d, &c, src + i * in, dst + i * out);
    }
    free(c.heap);
    return CNN_OK;
}

cnn_status cnn_cpu_adapool_fwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *x, float *y,
                               CNN_WS)
{
    (void)ws, (void)ws_size;
    return adapool_run(ctx, d, false, x, y);
}

cnn_status cnn_cpu_adapool_bwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *dy, float *dx,
                               CNN_WS)
{
    (void)ws, (void)ws_size;
    return adapool_run(ctx, d, true, dy, dx);
}
