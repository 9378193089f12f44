/* Max-pool backward for 3x3 windows at stride 2, separable (a window's
 * argmax is the argmax over its rows of each row's own): on small planes
 * split into quarters by the parity of their padded rows and columns
 * (cpu_pool_s2.c), each thread with its range of planes and a buffer; on
 * larger ones row by row, each row split into even and odd columns
 * (cpu_pool_s2_rows.c), a plane at a time. cpu_pool.c picks. */
#ifndef CNN_CPU_POOL_S2_H
#define CNN_CPU_POOL_S2_H

#include <stdbool.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops.h"

/* Max pooling, 3x3 windows, stride 2, padding 0 or 1. */
bool cnn_cpu_pool_s2_form(const cnn_pool_desc *d);

/* Such a plane small enough for the quarters; their buffer's floats. */
bool cnn_cpu_pool_s2_quarters(const cnn_pool_desc *d);
size_t cnn_cpu_pool_s2_floats(const cnn_pool_desc *d);
/* `planes` consecutive planes: dx (h x w each) written whole, from dy
 * (p x q each) and x; buf holds cnn_cpu_pool_s2_floats(d) floats. */
void cnn_cpu_max_bwd_s2_quarters(const cnn_pool_desc *d, const float *restrict x,
                                 const float *restrict dy, float *restrict dx, int64_t planes,
                                 float *buf);

/* Such a plane's rows within the row form's stack buffers; one plane. */
bool cnn_cpu_pool_s2_rows_fit(const cnn_pool_desc *d);
void cnn_cpu_max_bwd_s2_rows(const cnn_pool_desc *d, const float *restrict x,
                             const float *restrict dy, float *restrict dx);

/* Along n cells of a row split into even columns xe (n + 1 read) and odd
 * xo: window u's maximum over xe[u], xo[u], xe[u + 1] by PyTorch's rule
 * (the first strict maximum, the last NaN; -inf alone: -inf), and its
 * column in the window, 0..2 (0 for -inf alone). */
static inline void cnn_cpu_s2_col_argmax(const float *restrict xe, const float *restrict xo,
                                         size_t n, float *restrict hm, int *restrict hj)
{
    for (size_t u = 0; u < n; u++) {
        float m = -INFINITY;
        int j = 0;
        const float v0 = xe[u], v1 = xo[u], v2 = xe[u + 1];
        bool t = v0 > m || v0 != v0;
        m = t ? v0 : m;
        t = v1 > m || v1 != v1;
        m = t ? v1 : m, j = t ? 1 : j;
        t = v2 > m || v2 != v2;
        m = t ? v2 : m, j = t ? 2 : j;
        hm[u] = m, hj[u] = j;
    }
}

/* dx's real row dr (w wide) from the even (e) and odd (o) padded columns
 * of its gradient: padded column c + pw of real column c. */
static inline void cnn_cpu_s2_interleave(float *restrict dr, const float *restrict e,
                                         const float *restrict o, int w, int pw)
{
    const float *restrict a = pw ? o : e, *restrict b = pw ? e + 1 : o;
    const int pairs = w / 2;
    for (int k = 0; k < pairs; k++) {
        dr[2 * k] = a[k];
        dr[2 * k + 1] = b[k];
    }
    if (w % 2)
        dr[w - 1] = a[pairs];
}

#endif
