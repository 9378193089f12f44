/* im2col and its adjoint col2im. Each column row (c, r, s) is a strided
 * view of input plane c, so both loops run over rows of Q outputs: the part
 * of the row that falls inside the input is a contiguous copy (stride 1) or
 * a strided gather, the rest is padding. */
#include "im2col_impl.h"
#include "cpu_parallel.h"

#include <string.h>

/* Output columns q whose input column q*stride - pad + s lies in [0, in):
 * [lo, hi), possibly empty. */
typedef struct q_range {
    int lo, hi;
} q_range;

static q_range inside(int s, int stride, int pad, int in, int out)
{
    q_range g = {0, 0};
    int first = s - pad; /* input column of q = 0 */
    g.lo = first >= 0 ? 0 : (-first + stride - 1) / stride;
    int last = in - 1 - first; /* q*stride <= last */
    g.hi = last < 0 ? 0 : last / stride + 1;
    if (g.hi > out)
        g.hi = out;
    if (g.lo > g.hi)
        g.lo = g.hi;
    return g;
}

static void lower_row(const float *restrict plane, const cnn_conv_desc *d, int r, int s, int p0,
                      int rows, q_range g, float *restrict dst)
{
    const int q = d->q, sw = d->stride_w, off = s - d->pad_w;
    for (int pp = 0; pp < rows; pp++, dst += q) {
        const int ih = (p0 + pp) * d->stride_h - d->pad_h + r;
        if (ih < 0 || ih >= d->h) {
            memset(dst, 0, sizeof(float) * (size_t)q);
            continue;
        }
        const float *restrict src = plane + (int64_t)ih * d->w;
        memset(dst, 0, sizeof(float) * (size_t)g.lo);
        if (sw != 1)
            for (int j = g.lo; j < g.hi; j++)
                dst[j] = src[(int64_t)j * sw + off];
        else if (g.hi > g.lo)
            memcpy(dst + g.lo, src + (g.lo + off), sizeof(float) * (size_t)(g.hi - g.lo));
        memset(dst + g.hi, 0, sizeof(float) * (size_t)(q - g.hi));
    }
}

/* Strided lowering through phases. A zero-padded input row pr (W + 2pw
 * floats) split into its sw column phases, phase f holding pr[f + m*sw],
 * turns every column row (c, r, s) of an output row into one contiguous
 * copy: its q-th entry pr[q*sw + s] is phase s % sw at m = q + s / sw, and
 * the padding is already in place. Each input row is split once per tile
 * and serves every (kernel row, output row, tap) that reads it; the copies
 * run at memcpy speed where the gather runs element by element. Rows wider
 * than PHASE_MAX_ROW go through lower_row()'s gather instead. */
#define PHASE_MAX_ROW 4096

static void split_phases(const float *restrict src, const cnn_conv_desc *d, int len,
                         float *restrict ph)
{
    const int sw = d->stride_w, pw = d->pad_w;
    for (int f = 0; f < sw; f++, ph += len) {
        /* m with 0 <= f + m*sw - pw < W: [lo, hi) */
        const int lo = pw > f ? (pw - f + sw - 1) / sw : 0;
        const int last = d->w - 1 + pw - f;
        int hi = last < 0 ? 0 : last / sw + 1;
        hi = hi > len ? len : hi < lo ? lo : hi;
        const float *restrict in = src + f - pw;
        for (int m = 0; m < lo; m++)
            ph[m] = 0.0f;
        for (int m = lo; m < hi; m++)
            ph[m] = in[(int64_t)m * sw];
        for (int m = hi; m < len; m++)
            ph[m] = 0.0f;
    }
}

/* Column rows (c, 0 .. R-1, 0 .. S-1) of output rows p0 .. p0 + rows - 1
 * of one channel, at dst (row stride ld). Each input row the tile reads is
 * split once and copied to every (r, output row) that uses it: R / stride
 * output rows, S taps each. */
static void lower_phased(const float *restrict plane, const cnn_conv_desc *d, int p0, int rows,
                         int64_t ld, float *restrict dst)
{
    const int sw = d->stride_w, sh = d->stride_h, q = d->q;
    const int len = (d->w + 2 * d->pad_w + sw - 1) / sw;
    float ph[PHASE_MAX_ROW + 64];
    for (int r = 0; r < d->r; r++)
        for (int pp = 0; pp < rows; pp++) {
            const int ih = (p0 + pp) * sh - d->pad_h + r;
            if (ih >= 0 && ih < d->h)
                continue;
            for (int s = 0; s < d->s; s++)
                memset(dst + ((int64_t)r * d->s + s) * ld + (int64_t)pp * q, 0,
                       sizeof(float) * (size_t)q);
        }
    const int first = p0 * sh - d->pad_h, last = (p0 + rows - 1) * sh - d->pad_h + d->r;
    for (int ih = first < 0 ? 0 : first; ih < last && ih < d->h; ih++) {
        bool split = false;
        for (int r = 0; r < d->r; r++) {
            const int t = ih + d->pad_h - r; /* = (p0 + pp) * sh */
            if (t < p0 * sh || t % sh || t / sh - p0 >= rows)
                continue;
            if (!split)
                split_phases(plane + (int64_t)ih * d->w, d, len, ph);
            split = true;
            float *restrict out = dst + (int64_t)r * d->s * ld + (int64_t)(t / sh - p0) * q;
            for (int s = 0; s < d->s; s++)
                memcpy(out + s * ld, ph + s % sw * len + s / sw, sizeof(float) * (size_t)q);
        }
    }
}

static bool use_phases(const cnn_conv_desc *d)
{
    return d->stride_w > 1 && d->s > 1 &&
           (int64_t)d->w + 2 * d->pad_w + d->stride_w <= PHASE_MAX_ROW;
}

void cnn_im2col_lower(const cnn_conv_desc *d, const float *x, int images, int p0, int rows,
                      float *col, int threads)
{
    const int rs = d->r * d->s, crs = d->c * rs;
    const int64_t hw = (int64_t)d->h * d->w, span = (int64_t)rows * d->q,
                  ld = (int64_t)images * span;
    const int nt = (int64_t)crs * ld < CNN_CPU_PAR_MIN ? 1 : threads;
    if (use_phases(d)) {
#pragma omp parallel for collapse(2) num_threads(nt) schedule(static)
        for (int i = 0; i < images; i++)
            for (int c = 0; c < d->c; c++)
                lower_phased(x + ((int64_t)i * d->c + c) * hw, d, p0, rows, ld,
                             col + (int64_t)c * rs * ld + i * span);
        return;
    }
#pragma omp parallel for collapse(2) num_threads(nt) schedule(static)
    for (int i = 0; i < images; i++)
        for (int row = 0; row < crs; row++) {
            const int c = row / rs, r = row % rs / d->s, s = row % d->s;
            q_range g = inside(s, d->stride_w, d->pad_w, d->w, d->q);
            lower_row(x + ((int64_t)i * d->c + c) * hw, d, r, s, p0, rows, g,
                      col + row * ld + i * span);
        }
}

static void raise_row(const float *restrict src, const cnn_conv_desc *d, int r, int s, int p0,
                      int rows, q_range g, float *restrict plane)
{
    const int sw = d->stride_w, off = s - d->pad_w;
    for (int pp = 0; pp < rows; pp++, src += d->q) {
        const int ih = (p0 + pp) * d->stride_h - d->pad_h + r;
        if (ih < 0 || ih >= d->h)
            continue;
        float *restrict dst = plane + (int64_t)ih * d->w;
        if (sw == 1)
            for (int j = g.lo; j < g.hi; j++)
                dst[j + off] += src[j];
        else
            for (int j = g.lo; j < g.hi; j++)
                dst[(int64_t)j * sw + off] += src[j];
    }
}

/* One task per (image, channel): every column row of channel c lands in
 * plane c only, so tasks never write the same element. */
void cnn_im2col_raise(const cnn_conv_desc *d, const float *col, int images, int p0, int rows,
                      float *dx, int threads)
{
    const int rs = d->r * d->s;
    const int64_t hw = (int64_t)d->h * d->w, span = (int64_t)rows * d->q,
                  ld = (int64_t)images * span;
    const int nt = (int64_t)d->c * rs * ld < CNN_CPU_PAR_MIN ? 1 : threads;
#pragma omp parallel for collapse(2) num_threads(nt) schedule(static)
    for (int i = 0; i < images; i++)
        for (int c = 0; c < d->c; c++) {
            float *plane = dx + ((int64_t)i * d->c + c) * hw;
            if (p0 == 0)
                memset(plane, 0, sizeof(float) * (size_t)hw);
            for (int k = 0; k < rs; k++) {
                const int r = k / d->s, s = k % d->s;
                q_range g = inside(s, d->stride_w, d->pad_w, d->w, d->q);
                raise_row(col + ((int64_t)c * rs + k) * ld + i * span, d, r, s, p0, rows, g, plane);
            }
        }
}
