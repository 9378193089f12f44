/* Max pooling with stride 1 on small planes (GoogLeNet's 3x3 branch pools on
 * 28x28, 14x14 and 7x7): the plane form.
 *
 * The row form (cpu_pool.c) vectorises over the outputs of a row, and a row
 * of 7 or 14 outputs is less than one AVX2 vector: on those planes it ran
 * 3-10x slower than oneDNN. Here the plane is first copied into a buffer
 * padded with -inf, of width W' = w + 2 pad_w; output (p, q) then reads
 * buffer elements t + i W' + j, t = p W' + q, so one loop over t covers
 * every output row at once (the columns q >= out_w of each row are computed
 * and dropped), all of it in L1: for 3x3 windows a 3-column then a 3-row
 * maximum (and, backward, an argmax tap per output, then a 9-tap gather
 * into dx), for other windows a loop per tap.
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
/* The separable loops run over whole vectors of this many floats (no
 * scalar remainder: on 7x7 planes, 63 outputs, it took a quarter of the
 * pass), reading and writing up to this much past their ends: every
 * buffer has it as slack, set once. */
#define SLACK 16

static inline int whole_vectors(int n)
{
    return (n + SLACK - 1) / SLACK * SLACK;
}

bool cnn_cpu_pool_plane_form(const cnn_pool_desc *d)
{
    const int wp = d->w + 2 * d->pad_w, hp = d->h + 2 * d->pad_h;
    return d->mode == CNN_POOL_MAX && d->stride_h == 1 && d->stride_w == 1 &&
           d->p == hp - d->kh + 1 && d->q == wp - d->kw + 1 && (long)hp * wp + d->kw <= PLANE_BUF;
}

/* The -inf around a padded plane and in its slack (the interior is each
 * plane's copy). */
static void pad_frame(float *restrict buf)
{
    for (int i = 0; i < PLANE_BUF + SLACK; i++)
        buf[i] = -INFINITY;
}

/* n floats from src to dst, in runs of 8 (the last run overlapping the one
 * before it) where n >= 8: the row loops below were memcpy calls, a fifth
 * of the forward's time on 14x14 planes (perf); 4 and 4 where n is 4 to 7. */
static inline void copy_run(float *restrict dst, const float *restrict src, int n)
{
    if (n < 8) {
        if (n < 4) {
            for (int c = 0; c < n; c++)
                dst[c] = src[c];
            return;
        }
        for (int e = 0; e < 4; e++)
            dst[e] = src[e];
        for (int e = 0; e < 4; e++)
            dst[n - 4 + e] = src[n - 4 + e];
        return;
    }
    for (int c = 0;; c += 8) {
        if (c + 8 > n)
            c = n - 8;
        for (int e = 0; e < 8; e++)
            dst[c + e] = src[c + e];
        if (c + 8 == n)
            return;
    }
}

/* x's plane into the interior of buf: rows pad_h.., columns pad_w... */
static inline void copy_in(const cnn_pool_desc *d, const float *restrict x, float *restrict buf)
{
    const int wp = d->w + 2 * d->pad_w, w = d->w;
    for (int r = 0; r < d->h; r++)
        copy_run(buf + (r + d->pad_h) * wp + d->pad_w, x + (long)r * w, w);
}

/* The 3x3 windows (GoogLeNet's) are separable, done as a maximum over 3
 * columns for every buffer row, then over 3 of those rows: 4 comparisons
 * an output instead of 8, each pass one loop with its taps in registers
 * (the generic loops below keep the running maximum in memory, a store
 * per tap: 8 stores an output). The result is the same value: the
 * running maximum keeps the first of equal elements and the last NaN, and
 * so does a row-wise then column-wise maximum taken in the same order. */
static inline float max3(float a, float b, float c)
{
    return cnn_cpu_max_nan(cnn_cpu_max_nan(a, b), c);
}

static inline bool separable(const cnn_pool_desc *d)
{
    return d->kh == 3 && d->kw == 3;
}

/* The cloned loops are static, called through the exported functions at
 * the end: Clang 14 emits a target_clones function's resolver only in a
 * unit that calls it (an extern clone called from cpu_pool.c alone did not
 * link). */
static CNN_CPU_VEC_WIDE void max_fwd_planes(const cnn_pool_desc *d, const float *restrict x,
                                            float *restrict y, int64_t planes)
{
    float buf[PLANE_BUF + SLACK], z[PLANE_BUF + SLACK];
    const int wp = d->w + 2 * d->pad_w, nt = d->p * wp, q = d->q;
    const int64_t in = (int64_t)d->h * d->w, out = (int64_t)d->p * q;
    pad_frame(buf);
    if (separable(d)) {
        float hm[PLANE_BUF + 3 * SLACK];
        const int nh = whole_vectors(nt + 2 * wp), nz = whole_vectors(nt);
        for (int i = 0; i < PLANE_BUF + 3 * SLACK; i++)
            hm[i] = -INFINITY;
        for (int64_t pl = 0; pl < planes; pl++) {
            copy_in(d, x + pl * in, buf);
            for (int t = 0; t < nh; t++)
                hm[t] = max3(buf[t], buf[t + 1], buf[t + 2]);
            for (int t = 0; t < nz; t++)
                z[t] = max3(hm[t], hm[t + wp], hm[t + 2 * wp]);
            for (int p = 0; p < d->p; p++)
                copy_run(y + pl * out + p * q, z + p * wp, q);
        }
        return;
    }
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
        for (int p = 0; p < d->p; p++)
            copy_run(y + pl * out + p * q, z + p * wp, q);
    }
}

/* Max backward on 3x3 windows. Each output's argmax as its tap k = 3 i + j
 * (row-wise maxima with their column, then the first of the three rows
 * whose maximum is greater, or NaN: the same element as the running
 * argmax over the taps in row-major order); then each dx element gathers
 * over the 9 outputs whose window holds it, tap k of output u - off(k)
 * being element u, in the order of those outputs (the scalar scatter
 * this replaces added them in that order: the same sums, bit for bit).
 * dy and the taps live at offset M in buffers whose margin, and whose
 * columns past q, hold no output (tap -1, dy 0). The select is a bit mask
 * on dy's bits: GCC vectorised `tap == k ? g : 0.0f` only in the AVX-512
 * clone (masked loads), and the mask is faster there too (Zen 4, 1 thread,
 * 32 planes of 28x28: 0.047-0.052 -> 0.042-0.046 ms; the AVX2 clone with
 * the mask, 0.040, was not tried on a Xeon, so the wide clone stays). */
static inline __attribute__((always_inline)) void
max_bwd_planes3(const cnn_pool_desc *d, const float *restrict x, const float *restrict dy,
                float *restrict dx, int64_t planes, float *restrict buf)
{
    enum { ROWS = PLANE_BUF + 3 * SLACK, TAPS = 2 * PLANE_BUF + 2 * SLACK };
    float hm[ROWS], acc[PLANE_BUF + SLACK], g[TAPS];
    int hj[ROWS], tap[TAPS], first[PLANE_BUF + SLACK];
    const int wp = d->w + 2 * d->pad_w, nt = d->p * wp, q = d->q;
    const int M = 2 * wp + 2, u0 = d->pad_h * wp;
    const int nh = whole_vectors(nt + 2 * wp), nz = whole_vectors(nt),
              nu = whole_vectors(d->h * wp);
    const int64_t in = (int64_t)d->h * d->w, out = (int64_t)d->p * q;
    for (int t = 0; t < ROWS; t++) {
        hm[t] = -INFINITY;
        hj[t] = 0;
    }
    for (int t = 0; t < TAPS; t++) {
        tap[t] = -1;
        g[t] = 0.0f;
    }
    /* a window with nothing above -inf: its first real element's tap */
    for (int t = 0; t < PLANE_BUF + SLACK; t++)
        first[t] = 0;
    for (int p = 0; p < d->p; p++)
        for (int c = 0; c < wp; c++)
            first[p * wp + c] =
                ((p > d->pad_h ? p : d->pad_h) - p) * 3 + (c > d->pad_w ? c : d->pad_w) - c;
    for (int64_t pl = 0; pl < planes; pl++) {
        copy_in(d, x + pl * in, buf);
        for (int t = 0; t < nh; t++) {
            float m = buf[t];
            int j = 0;
            for (int e = 1; e < 3; e++) {
                const float v = buf[t + e];
                const bool take = v > m || v != v;
                m = take ? v : m;
                j = take ? e : j;
            }
            hm[t] = m;
            hj[t] = j;
        }
        int *restrict tp = tap + M;
        for (int t = 0; t < nz; t++) {
            float m = hm[t];
            int k = hj[t];
            for (int i = 1; i < 3; i++) {
                const float v = hm[t + i * wp];
                const bool take = v > m || v != v;
                m = take ? v : m;
                k = take ? 3 * i + hj[t + i * wp] : k;
            }
            tp[t] = m == -INFINITY ? first[t] : k;
        }
        for (int p = 0; p < d->p; p++)
            copy_run(g + M + p * wp, dy + pl * out + p * q, q);
        const int *restrict tu = tap + M + u0;
        const float *restrict gu = g + M + u0;
        for (int u = 0; u < nu; u++) {
            float a = 0.0f;
            for (int k = 8; k >= 0; k--) {
                const int off = (k / 3) * wp + k % 3;
                uint32_t b;
                memcpy(&b, &gu[u - off], sizeof b);
                a += cnn_cpu_bits_if(b, tu[u - off] == k);
            }
            acc[u] = a;
        }
        for (int r = 0; r < d->h; r++)
            copy_run(dx + pl * in + (long)r * d->w, acc + r * wp + d->pad_w, d->w);
    }
}

static CNN_CPU_VEC_WIDE void max_bwd_planes(const cnn_pool_desc *d, const float *restrict x,
                                            const float *restrict dy, float *restrict dx,
                                            int64_t planes)
{
    float buf[PLANE_BUF + SLACK], m[PLANE_BUF], acc[PLANE_BUF];
    int arg[PLANE_BUF], first[PLANE_BUF];
    const int wp = d->w + 2 * d->pad_w, hp = d->h + 2 * d->pad_h, nt = d->p * wp, q = d->q;
    const int64_t in = (int64_t)d->h * d->w, out = (int64_t)d->p * q;
    pad_frame(buf);
    if (separable(d)) {
        max_bwd_planes3(d, x, dy, dx, planes, buf);
        return;
    }
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
        for (int r = 0; r < d->h; r++)
            copy_run(dx + pl * in + (long)r * d->w, acc + (r + d->pad_h) * wp + d->pad_w, d->w);
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
