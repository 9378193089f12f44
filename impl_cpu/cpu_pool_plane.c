/* Max pooling with stride 1 on small planes (GoogLeNet's 3x3 branch pools on
 * 28x28, 14x14 and 7x7): the plane form.
 *
 * The row form (cpu_pool.c) vectorises over the outputs of a row, and a row
 * of 7 or 14 outputs is less than one AVX2 vector: on those planes it ran
 * 3-10x slower than oneDNN. Here the plane is first copied into a buffer
 * padded with -inf, of width W' = w + 2 pad_w; output (p, q) then reads
 * buffer elements t + i W' + j, t = p W' + q, so one loop over t covers
 * every output row at once (the columns q >= out_w of each row are computed
 * and dropped), a loop per window tap, all of it in L1.
 *
 * Same results as the other forms: the maximum by cnn_cpu_max_nan (a NaN
 * wins), the backward's argmax by PyTorch's rule (taps in row-major window order, a
 * later one replaces the maximum only when strictly greater or NaN; a window
 * with nothing above -inf gives its gradient to its first real element). */
#include "cpu_pool_plane.h"

#include <math.h>

#include "cpu_simd.h"

/* Floats of a padded plane, with the slack the last row's windows read. */
#define PLANE_BUF 1024

bool cnn_cpu_pool_plane_form(const cnn_pool_desc *d)
{
    const int wp = d->w + 2 * d->pad_w, hp = d->h + 2 * d->pad_h;
    return d->mode == CNN_POOL_MAX && d->stride_h == 1 && d->stride_w == 1 &&
           d->p == hp - d->kh + 1 && d->q == wp - d->kw + 1 && (long)hp * wp + d->kw <= PLANE_BUF;
}

/* The -inf around a padded plane and in its slack (the interior is each
 * plane's copy). */
static void pad_frame(const cnn_pool_desc *d, float *restrict buf)
{
    const int wp = d->w + 2 * d->pad_w, hp = d->h + 2 * d->pad_h;
    for (int i = 0; i < hp * wp + d->kw; i++)
        buf[i] = -INFINITY;
}

/* x's plane into the interior of buf: rows pad_h.., columns pad_w... */
static inline void copy_in(const cnn_pool_desc *d, const float *restrict x, float *restrict buf)
{
    const int wp = d->w + 2 * d->pad_w, w = d->w;
    for (int r = 0; r < d->h; r++) {
        float *restrict b = buf + (r + d->pad_h) * wp + d->pad_w;
        const float *restrict xr = x + (long)r * w;
        for (int c = 0; c < w; c++)
            b[c] = xr[c];
    }
}

/* The cloned loops are static, called through the exported functions at
 * the end: Clang 14 emits a target_clones function's resolver only in a
 * unit that calls it (an extern clone called from cpu_pool.c alone did not
 * link). */
static CNN_CPU_VEC void max_fwd_planes(const cnn_pool_desc *d, const float *restrict x,
                                       float *restrict y, int64_t planes)
{
    float buf[PLANE_BUF], z[PLANE_BUF];
    const int wp = d->w + 2 * d->pad_w, nt = d->p * wp, q = d->q;
    const int64_t in = (int64_t)d->h * d->w, out = (int64_t)d->p * q;
    pad_frame(d, buf);
    for (int64_t pl = 0; pl < planes; pl++) {
        copy_in(d, x + pl * in, buf);
        for (int t = 0; t < nt; t++)
            z[t] = buf[t];
        for (int i = 0; i < d->kh; i++)
            for (int j = i == 0; j < d->kw; j++) {
                const float *restrict s = buf + i * wp + j;
                for (int t = 0; t < nt; t++)
                    z[t] = cnn_cpu_max_nan(z[t], s[t]);
            }
        float *restrict yp = y + pl * out;
        for (int p = 0; p < d->p; p++)
            for (int c = 0; c < q; c++)
                yp[p * q + c] = z[p * wp + c];
    }
}

static CNN_CPU_VEC void max_bwd_planes(const cnn_pool_desc *d, const float *restrict x,
                                       const float *restrict dy, float *restrict dx, int64_t planes)
{
    float buf[PLANE_BUF], m[PLANE_BUF], acc[PLANE_BUF];
    int arg[PLANE_BUF], first[PLANE_BUF];
    const int wp = d->w + 2 * d->pad_w, hp = d->h + 2 * d->pad_h, nt = d->p * wp, q = d->q;
    const int64_t in = (int64_t)d->h * d->w, out = (int64_t)d->p * q;
    pad_frame(d, buf);
    /* the first real element of window t: row max(p, pad_h), column
     * max(q, pad_w), in buffer coordinates */
    for (int p = 0; p < d->p; p++)
        for (int c = 0; c < wp; c++)
            first[p * wp + c] = (p > d->pad_h ? p : d->pad_h) * wp + (c > d->pad_w ? c : d->pad_w);
    for (int64_t pl = 0; pl < planes; pl++) {
        copy_in(d, x + pl * in, buf);
        for (int t = 0; t < nt; t++) {
            m[t] = -INFINITY;
            arg[t] = first[t];
        }
        for (int i = 0; i < d->kh; i++)
            for (int j = 0; j < d->kw; j++) {
                const int off = i * wp + j;
                const float *restrict s = buf + off;
                for (int t = 0; t < nt; t++) {
                    const float v = s[t];
                    const bool take = v > m[t] || v != v;
                    m[t] = take ? v : m[t];
                    arg[t] = take ? t + off : arg[t];
                }
            }
        for (int i = 0; i < hp * wp; i++)
            acc[i] = 0.0f;
        const float *restrict g = dy + pl * out;
        for (int p = 0; p < d->p; p++)
            for (int c = 0; c < q; c++)
                acc[arg[p * wp + c]] += g[p * q + c];
        float *restrict dxp = dx + pl * in;
        for (int r = 0; r < d->h; r++)
            for (int c = 0; c < d->w; c++)
                dxp[(long)r * d->w + c] = acc[(r + d->pad_h) * wp + d->pad_w + c];
    }
}

void cnn_cpu_max_fwd_planes(const cnn_pool_desc *d, const float *restrict x, float *restrict y,
                            int64_t planes)
{
    max_fwd_planes(d, x, y, planes);
}

void cnn_cpu_max_bwd_planes(const cnn_pool_desc *d, const float *restrict x,
                            const float *restrict dy, float *restrict dx, int64_t planes)
{
    max_bwd_planes(d, x, dy, dx, planes);
}
