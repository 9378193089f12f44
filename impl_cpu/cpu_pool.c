/* Max and average pooling, PyTorch semantics (see ops.h). One OpenMP task
 * per (image, channel) plane, so backward scatters never race.
 *
 * The loops the compiler vectorises run over the outputs q of a row, whose
 * windows read input columns q*stride_w + j - pad_w. Two forms:
 *  - the row form, for rows that fit ROW_BUF with their padding: a window's
 *    input rows are first combined (forward) or copied (max backward) into
 *    row buffers padded with the identity (-inf, 0), so that one loop over
 *    q reads every window column without bounds; for the kernels of the
 *    models (2x2 and 3x3, strides 1 and 2) kernel and stride are
 *    compile-time constants (BY_SHAPE below): the window loop unrolls, the
 *    running maximum and argmax stay in registers, and the strided loads
 *    become shuffles of contiguous vectors;
 *    average backward spreads dy over a padded row, then adds it to the
 *    window's rows; whole 2x2 stride-2 windows take one loop over each row
 *    pair (packed when short) for both modes and passes;
 *  - separable forms for max backward over 3x3 windows at stride 2
 *    (ResNet-18's and GoogLeNet's pools): small planes split into quarters
 *    by the parity of padded rows and columns, larger ones row by row, each
 *    row split into even and odd columns (cpu_pool_s2*.c);
 *  - the plane form, for stride-1 max pooling on small planes (rows shorter
 *    than a vector or two): loops over the whole padded plane, separable
 *    for 3x3 windows (cpu_pool_plane.c);
 *  - the tap form, for any other shape: one loop over q per window element,
 *    clipped to the input.
 * Before these, one tap loop per window element with a run-time stride
 * (element-by-element vector inserts) kept max pooling at a quarter of
 * memory speed, its backward at a tenth. */
#include "cpu_ops.h"
#include "cpu_parallel.h"
#include "cpu_pool_plane.h"
#include "cpu_pool_s2.h"
#include "cpu_simd.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Floats of one row buffer on the stack (4 KiB, L1-resident). */
#define ROW_BUF 1024
/* The most window rows the row form of max backward buffers. */
#define ROWS_MAX 3
/* Max backward computes a row's argmaxes in whole blocks of this many
 * outputs (its buffers are padded for it), a multiple of the vector
 * length, so that no scalar remainder loop runs. */
#define BLOCK 16

/* A window along one axis: [lo, hi) clipped to the input, and `span`, its
 * extent clipped only to the right padding, which is the average's divisor
 * (count_include_pad, minus what a ceil-mode window adds past the padding). */
typedef struct pool_span {
    int lo, hi, span;
} pool_span;

static pool_span window_at(int o, int k, int stride, int pad, int in)
{
    int start = o * stride - pad;
    int end = start + k < in + pad ? start + k : in + pad;
    pool_span s = {start < 0 ? 0 : start, end < in ? end : in, end - start};
    return s;
}

/* Average pooling's divisor for output column q. */
static inline int width_span(const cnn_pool_desc *d, int q)
{
    const int s = q * d->stride_w - d->pad_w, lim = d->w + d->pad_w;
    return (s + d->kw < lim ? s + d->kw : lim) - s;
}

/* ---- the row form ---- */

/* q rounded up to whole BLOCKs. */
static int blocks_of(int q)
{
    return (q + BLOCK - 1) / BLOCK * BLOCK;
}

/* Padded columns a row buffer needs: the input and its left padding, and
 * every window of the row's blocks (a ceil-mode window may end past the
 * padding). */
static int padded_width(const cnn_pool_desc *d)
{
    const int windows = (blocks_of(d->q) - 1) * d->stride_w + d->kw;
    return d->pad_w + d->w > windows ? d->pad_w + d->w : windows;
}

static bool row_form(const cnn_pool_desc *d, bool backward)
{
    return padded_width(d) <= ROW_BUF && (!backward || d->kh <= ROWS_MAX);
}

/* The padding columns of a row buffer set to v (the interior, columns
 * [pad_w, pad_w + w), is rewritten for each row). */
static void pad_row(const cnn_pool_desc *d, float *buf, float v)
{
    for (int i = 0; i < d->pad_w; i++)
        buf[i] = v;
    for (int i = d->pad_w + d->w; i < padded_width(d); i++)
        buf[i] = v;
}

/* Forward over one padded row v: y[q] = the window's combination. KW and SW
 * are constants in the by_shape() calls. */
static inline void fwd_windows(bool max, const float *restrict v, float *restrict yr, int nq,
                               int KW, int SW)
{
    if (max)
        for (int q = 0; q < nq; q++) {
            float a = v[q * SW];
            for (int j = 1; j < KW; j++)
                a = cnn_cpu_max_nan(a, v[q * SW + j]);
            yr[q] = a;
        }
    else
        for (int q = 0; q < nq; q++) {
            float a = v[q * SW];
            for (int j = 1; j < KW; j++)
                a += v[q * SW + j];
            yr[q] = a;
        }
}

/* Max backward over KH padded rows (those past the window's real rows all
 * -inf): each output's argmax by max_bwd_taps's rule, as an offset
 * off[i] + padded column into the window's rows; starting from the
 * window's first real element, the index where none is greater than -inf,
 * so that the scatter needs no test. */
static inline void argmax_windows(const float *const *rows, const int *off, int pw,
                                  int *restrict arg, int nq, int KH, int KW, int SW)
{
    for (int q = 0; q < nq; q++) {
        float m = -INFINITY;
        int a = off[0] + (q * SW > pw ? q * SW : pw);
        for (int i = 0; i < KH; i++)
            for (int j = 0; j < KW; j++) {
                const float v = rows[i][q * SW + j];
                const bool take = v > m || v != v;
                m = take ? v : m;
                a = take ? off[i] + q * SW + j : a;
            }
        arg[q] = a;
    }
}

/* The shapes of the models as constants, any other at run time. */
#define BY_SHAPE(d, CALL)                                                                          \
    do {                                                                                           \
        const int kh_ = (d)->kh, kw_ = (d)->kw, sw_ = (d)->stride_w;                               \
        if (kh_ == 3 && kw_ == 3 && sw_ == 2)                                                      \
            CALL(3, 3, 2);                                                                         \
        else if (kh_ == 2 && kw_ == 2 && sw_ == 2)                                                 \
            CALL(2, 2, 2);                                                                         \
        else if (kh_ == 3 && kw_ == 3 && sw_ == 1)                                                 \
            CALL(3, 3, 1);                                                                         \
        else                                                                                       \
            CALL(kh_, kw_, sw_);                                                                   \
    } while (0)

/* v (padded) = the window rows [sh.lo, sh.hi) of x combined column by column. */
static void combine_rows(bool max, const float *restrict x, int w, pool_span sh, float *restrict v)
{
    const float *restrict r0 = x + (int64_t)sh.lo * w;
    for (int c = 0; c < w; c++)
        v[c] = r0[c];
    for (int ih = sh.lo + 1; ih < sh.hi; ih++) {
        const float *restrict xr = x + (int64_t)ih * w;
        if (max)
            for (int c = 0; c < w; c++)
                v[c] = cnn_cpu_max_nan(v[c], xr[c]);
        else
            for (int c = 0; c < w; c++)
                v[c] += xr[c];
    }
}

static void fwd_rows(const cnn_pool_desc *d, const float *restrict x, float *restrict y)
{
    const bool max = d->mode == CNN_POOL_MAX;
    float v[ROW_BUF];
    pad_row(d, v, max ? -INFINITY : 0.0f);
    for (int p = 0; p < d->p; p++) {
        const pool_span sh = window_at(p, d->kh, d->stride_h, d->pad_h, d->h);
        float *restrict yr = y + (int64_t)p * d->q;
        combine_rows(max, x, d->w, sh, v + d->pad_w);
#define FWD(KH, KW, SW) fwd_windows(max, v, yr, d->q, KW, SW)
        BY_SHAPE(d, FWD);
#undef FWD
        if (!max)
            for (int q = 0; q < d->q; q++)
                yr[q] /= (float)(sh.span * width_span(d, q));
    }
}

/* dx row r: the accumulated row src (padded), or zeros where no window
 * covered r. */
static void store_row(float *restrict r, const float *restrict src, int w)
{
    if (src)
        memcpy(r, src, sizeof(float) * (size_t)w);
    else
        memset(r, 0, sizeof(float) * (size_t)w);
}

/* Max backward, row form: each output row's argmaxes scatter dy into
 * accumulator rows on the stack that stand for the window's input rows; a
 * dx row is stored once, whole, when no later window covers it, so dx is
 * neither zeroed first nor read back (it was: a memset of the plane, then
 * a scatter into it, a fifth of the pass). Input row r's copy and its
 * accumulator live in slot r % ROWS_MAX of two rings, so a row shared by
 * consecutive windows is neither copied again nor moved (they were: in
 * perf, memmove had half as many samples as the pass's own loops). */
static void max_bwd_rows(const cnn_pool_desc *d, const float *restrict x, const float *restrict dy,
                         float *restrict dx)
{
    float buf[ROWS_MAX][ROW_BUF], none[ROW_BUF], acc[ROWS_MAX][ROW_BUF];
    int arg[ROW_BUF], held[ROWS_MAX], off[ROWS_MAX];
    const float *rows[ROWS_MAX];
    const int w = d->w, pw = d->pad_w, width = padded_width(d), nq = blocks_of(d->q);
    for (int i = 0; i < ROWS_MAX; i++) {
        pad_row(d, buf[i], -INFINITY);
        held[i] = -1;
    }
    for (int i = 0; i < width; i++)
        none[i] = -INFINITY;
    int done = 0, lo = 0, hi = 0; /* dx rows [0, done) stored; rows [lo, hi) accumulate */
#define ACC_ROW(r) ((r) >= lo && (r) < hi ? acc[(r) % ROWS_MAX] + pw : NULL)
    for (int p = 0; p < d->p; p++) {
        const pool_span sh = window_at(p, d->kh, d->stride_h, d->pad_h, d->h);
        for (; done < sh.lo; done++)
            store_row(dx + (int64_t)done * w, ACC_ROW(done), w);
        for (int r = sh.lo; r < sh.hi; r++)
            if (r < lo || r >= hi)
                memset(acc[r % ROWS_MAX], 0, sizeof(float) * (size_t)width);
        lo = sh.lo, hi = sh.hi;
        for (int i = 0; i < d->kh; i++) {
            rows[i] = none;
            const int r = sh.lo + i, slot = r % ROWS_MAX;
            off[i] = slot * ROW_BUF; /* (rows past the window: never an argmax) */
            if (r < sh.hi) {
                if (held[slot] != r) {
                    memcpy(buf[slot] + pw, x + (int64_t)r * w, sizeof(float) * (size_t)w);
                    held[slot] = r;
                }
                rows[i] = buf[slot];
            }
        }
        const float *restrict gr = dy + (int64_t)p * d->q;
        for (int ih = sh.hi; ih < sh.hi + d->stride_h && ih < d->h; ih++)
            for (int c = 0; c < w; c += 16)
                __builtin_prefetch(x + (int64_t)ih * w + c);
#define ARGMAX(KH, KW, SW) argmax_windows(rows, off, pw, arg, nq, KH, KW, SW)
        BY_SHAPE(d, ARGMAX);
#undef ARGMAX
        float *restrict a0 = acc[0];
        for (int q = 0; q < d->q; q++)
            a0[arg[q]] += gr[q];
    }
    for (; done < d->h; done++)
        store_row(dx + (int64_t)done * w, ACC_ROW(done), w);
#undef ACC_ROW
}

/* ---- 2x2 windows at stride 2, no padding, every window whole ----
 * (LeNet-5's, the Fashion-MNIST CNN's, VGG-16's pools.) The windows do
 * not overlap, so each pass is one vector loop over a row pair's windows:
 * forward combines the four inputs of a window; backward writes each dx
 * element once, dy (over 4 for the average) where it belongs and 0
 * elsewhere, computed, not scattered. The max-pool backward's row form
 * spent its time around the scatter on small planes (16x16 at batch 128:
 * 0.81 ms, oneDNN 0.21). Results are bitwise those of the row form: the
 * same operations in the same order. */
static bool disjoint_2x2(const cnn_pool_desc *d)
{
    return d->kh == 2 && d->kw == 2 && d->stride_h == 2 && d->stride_w == 2 && d->pad_h == 0 &&
           d->pad_w == 0 && d->p == d->h / 2 && d->q == d->w / 2;
}

typedef enum pass_2x2 { MAX_FWD, AVG_FWD, MAX_BWD, AVG_BWD } pass_2x2;

/* n windows: top rows t, bottom rows b, columns 2i and 2i + 1; forward
 * writes y[i], backward reads g[i] and writes dt and db. One function per
 * pass: with the four loops in one switch GCC 12 vectorised none of them. */
static void max_fwd_2x2(int n, const float *restrict t, const float *restrict b, float *restrict y)
{
    for (int i = 0; i < n; i++)
        y[i] = cnn_cpu_max_nan(cnn_cpu_max_nan(t[2 * i], b[2 * i]),
                               cnn_cpu_max_nan(t[2 * i + 1], b[2 * i + 1]));
}

static void avg_fwd_2x2(int n, const float *restrict t, const float *restrict b, float *restrict y)
{
    for (int i = 0; i < n; i++)
        y[i] = ((t[2 * i] + b[2 * i]) + (t[2 * i + 1] + b[2 * i + 1])) / 4.0f;
}

static void avg_bwd_2x2(int n, const float *restrict g, float *restrict dt, float *restrict db)
{
    for (int i = 0; i < n; i++) {
        const float gi = g[i] / 4.0f;
        dt[2 * i] = dt[2 * i + 1] = db[2 * i] = db[2 * i + 1] = gi;
    }
}

/* The argmax by max_bwd_taps's rule (a later element replaces the maximum
 * when greater or NaN; none greater than -inf leaves the first), as a
 * float code 0..3: with an int, GCC 12 does not vectorise the loop (the int
 * compares' masks do not fit the float selects of the stores). */
static void max_bwd_2x2(int n, const float *restrict t, const float *restrict b,
                        const float *restrict g, float *restrict dt, float *restrict db)
{
    for (int i = 0; i < n; i++) {
        float m = -INFINITY, a = 0.0f;
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < 2; j++) {
                const float v = (r ? b : t)[2 * i + j];
                const bool take = v > m || v != v;
                m = take ? v : m;
                a = take ? (float)(2 * r + j) : a;
            }
        const float gi = g[i];
        dt[2 * i] = a == 0.0f ? gi : 0.0f;
        dt[2 * i + 1] = a == 1.0f ? gi : 0.0f;
        db[2 * i] = a == 2.0f ? gi : 0.0f;
        db[2 * i + 1] = a == 3.0f ? gi : 0.0f;
    }
}

static inline void run_2x2(pass_2x2 k, int n, const float *t, const float *b, const float *g,
                           float *y, float *dt, float *db)
{
    switch (k) {
    case MAX_FWD: max_fwd_2x2(n, t, b, y); break;
    case AVG_FWD: avg_fwd_2x2(n, t, b, y); break;
    case AVG_BWD: avg_bwd_2x2(n, g, dt, db); break;
    case MAX_BWD: max_bwd_2x2(n, t, b, g, dt, db); break;
    }
}

/* Short rows whose windows are not whole AVX2 vectors (LeNet-5's 10x10
 * and 28x28, VGG-16's 28x28 and 14x14: 5, 14 and 7 windows a row) are
 * packed first, the row pairs' first 2q columns back to back, so that one
 * run covers many rows: run row by row, their windows went to the loop's
 * scalar remainder, whose branches on random data cost 0.80 ms on VGG-16's
 * 14x14 max backward against the row form's 0.36 (packed: 0.15). Rows of
 * whole vectors (the Fashion-MNIST CNN's 16 and 8 windows) run in place:
 * packing them was slower. */
#define PAIRS_BUF 512

/* Forward: out is y; backward: out is dx, g is dy. x is read by the max
 * passes only (the average backward may have none). */
static inline __attribute__((always_inline)) void pool_2x2(pass_2x2 k, const cnn_pool_desc *d,
                                                           const float *restrict x,
                                                           const float *restrict g,
                                                           float *restrict out)
{
    const int w = d->w, nq = d->q, span = 2 * nq;
    const bool bwd = k == MAX_BWD || k == AVG_BWD, reads_x = k != AVG_BWD;
    if (nq % 8 == 0 || span * 2 > PAIRS_BUF) {
        /* (each case its own loop with its own pointers: computed under
         * conditions, they cost the loops their vectorisation) */
        for (int p = 0; p < d->p; p++) {
            const int64_t in = (int64_t)2 * p * w, o = (int64_t)p * nq;
            switch (k) {
            case MAX_FWD: max_fwd_2x2(nq, x + in, x + in + w, out + o); break;
            case AVG_FWD: avg_fwd_2x2(nq, x + in, x + in + w, out + o); break;
            case AVG_BWD: avg_bwd_2x2(nq, g + o, out + in, out + in + w); break;
            case MAX_BWD: max_bwd_2x2(nq, x + in, x + in + w, g + o, out + in, out + in + w); break;
            }
            if (bwd && w % 2) /* the last column, in no window */
                out[in + w - 1] = out[in + 2 * w - 1] = 0.0f;
        }
    } else {
        float t[PAIRS_BUF], b[PAIRS_BUF], dt[PAIRS_BUF], db[PAIRS_BUF];
        const int rows = PAIRS_BUF / span;
        for (int p0 = 0; p0 < d->p; p0 += rows) {
            const int nr = d->p - p0 < rows ? d->p - p0 : rows;
            for (int r = 0; r < nr && reads_x; r++) {
                const float *src = x + (int64_t)2 * (p0 + r) * w;
                for (int c = 0; c < span; c++) {
                    t[r * span + c] = src[c];
                    b[r * span + c] = src[w + c];
                }
            }
            run_2x2(k, nr * nq, t, b, bwd ? g + (int64_t)p0 * nq : NULL,
                    bwd ? NULL : out + (int64_t)p0 * nq, dt, db);
            for (int r = 0; r < nr && bwd; r++) {
                float *dst = out + (int64_t)2 * (p0 + r) * w;
                for (int c = 0; c < span; c++) {
                    dst[c] = dt[r * span + c];
                    dst[w + c] = db[r * span + c];
                }
                if (w % 2)
                    dst[w - 1] = dst[2 * w - 1] = 0.0f;
            }
        }
    }
    if (bwd && d->h % 2) /* the last row */
        memset(out + (int64_t)(d->h - 1) * w, 0, sizeof(float) * (size_t)w);
}

/* Average backward: dy over each window's divisor, spread over its columns
 * (the transpose of forward's window loop, a tap at a time) into a padded
 * row, which is then added to each of the window's rows. */
static void avg_bwd_rows(const cnn_pool_desc *d, const float *restrict dy, float *restrict dx)
{
    float g[ROW_BUF], h[ROW_BUF];
    const int sw = d->stride_w;
    for (int p = 0; p < d->p; p++) {
        const pool_span sh = window_at(p, d->kh, d->stride_h, d->pad_h, d->h);
        for (int q = 0; q < d->q; q++)
            g[q] = dy[(int64_t)p * d->q + q] / (float)(sh.span * width_span(d, q));
        for (int c = 0; c < padded_width(d); c++)
            h[c] = 0.0f;
        for (int j = 0; j < d->kw; j++)
            for (int q = 0; q < d->q; q++)
                h[q * sw + j] += g[q];
        for (int ih = sh.lo; ih < sh.hi; ih++) {
            float *restrict dxr = dx + (int64_t)ih * d->w;
            for (int c = 0; c < d->w; c++)
                dxr[c] += h[c + d->pad_w];
        }
    }
}

/* Average backward when windows do not overlap (stride >= kernel on both
 * axes: LeNet-5's 2x2/2, any global pool): every dx element gets at most
 * one window's share, so each dx row is written once, whole (the window's
 * spread row, or zeros where no window covers it), instead of a memset of
 * the plane and an add per window row. */
static void avg_bwd_disjoint(const cnn_pool_desc *d, const float *restrict dy, float *restrict dx)
{
    float g[ROW_BUF], h[ROW_BUF];
    const int sw = d->stride_w, w = d->w, width = padded_width(d);
    for (int c = 0; c < width; c++)
        h[c] = 0.0f; /* the columns no window covers stay 0 */
    int next = 0;    /* dx rows [0, next) written */
    for (int p = 0; p < d->p; p++) {
        const pool_span sh = window_at(p, d->kh, d->stride_h, d->pad_h, d->h);
        for (int q = 0; q < d->q; q++)
            g[q] = dy[(int64_t)p * d->q + q] / (float)(sh.span * width_span(d, q));
        for (int j = 0; j < d->kw; j++)
            for (int q = 0; q < d->q; q++)
                h[q * sw + j] = g[q];
        for (; next < sh.lo; next++)
            memset(dx + (int64_t)next * w, 0, sizeof(float) * (size_t)w);
        for (; next < sh.hi; next++)
            memcpy(dx + (int64_t)next * w, h + d->pad_w, sizeof(float) * (size_t)w);
    }
    for (; next < d->h; next++)
        memset(dx + (int64_t)next * w, 0, sizeof(float) * (size_t)w);
}

/* ---- the tap form ---- */

/* Outputs q in [q0, q1) whose window column j lies in the input:
 * q*stride_w + j - pad_w in [0, w). */
typedef struct q_range {
    int lo, hi;
} q_range;

static q_range tap_range(const cnn_pool_desc *d, int j, int q0, int q1)
{
    const int off = j - d->pad_w, sw = d->stride_w;
    q_range g = {off >= 0 ? 0 : (-off + sw - 1) / sw,
                 d->w - 1 - off < 0 ? 0 : (d->w - 1 - off) / sw + 1};
    g.lo = g.lo > q0 ? g.lo : q0;
    g.hi = g.hi < q1 ? g.hi : q1;
    g.lo = g.lo < g.hi ? g.lo : g.hi;
    return g;
}

static void fwd_taps(const cnn_pool_desc *d, const float *restrict x, float *restrict y)
{
    const bool max = d->mode == CNN_POOL_MAX;
    const int sw = d->stride_w;
    for (int p = 0; p < d->p; p++) {
        const pool_span sh = window_at(p, d->kh, d->stride_h, d->pad_h, d->h);
        float *restrict yr = y + (int64_t)p * d->q;
        for (int q = 0; q < d->q; q++)
            yr[q] = max ? -INFINITY : 0.0f;
        for (int ih = sh.lo; ih < sh.hi; ih++)
            for (int j = 0; j < d->kw; j++) {
                const float *restrict xr = x + (int64_t)ih * d->w + j - d->pad_w;
                const q_range g = tap_range(d, j, 0, d->q);
                if (max)
                    for (int q = g.lo; q < g.hi; q++)
                        yr[q] = cnn_cpu_max_nan(yr[q], xr[q * sw]);
                else
                    for (int q = g.lo; q < g.hi; q++)
                        yr[q] += xr[q * sw];
            }
        if (!max)
            for (int q = 0; q < d->q; q++)
                yr[q] /= (float)(sh.span * width_span(d, q));
    }
}

/* The argmax by PyTorch's rule: a later element replaces the maximum only
 * when strictly greater, so ties keep the first in row-major window order; a
 * NaN always replaces it, so the gradient goes to a window's last NaN. It
 * is kept as an offset from the start of the window's first input row, -1
 * for none greater than -inf yet (then the window's first real element, as
 * in PyTorch): a 32-bit lane beside the float maximum (cnn_cpu_pool_bwd
 * checks that kh rows of input fit such an offset). Chunks of ROW_BUF
 * outputs keep the scratch on the stack. */
static void max_bwd_taps(const cnn_pool_desc *d, const float *restrict x, const float *restrict dy,
                         float *restrict dx)
{
    const int sw = d->stride_w;
    float m[ROW_BUF];
    int arg[ROW_BUF];
    for (int p = 0; p < d->p; p++) {
        const pool_span sh = window_at(p, d->kh, d->stride_h, d->pad_h, d->h);
        for (int q0 = 0; q0 < d->q; q0 += ROW_BUF) {
            const int q1 = d->q - q0 < ROW_BUF ? d->q : q0 + ROW_BUF;
            for (int i = 0; i < q1 - q0; i++)
                m[i] = -INFINITY, arg[i] = -1;
            for (int ih = sh.lo; ih < sh.hi; ih++)
                for (int j = 0; j < d->kw; j++) {
                    const int off = j - d->pad_w, at = (ih - sh.lo) * d->w + off;
                    const float *restrict xr = x + (int64_t)ih * d->w + off;
                    const q_range g = tap_range(d, j, q0, q1);
                    for (int q = g.lo; q < g.hi; q++) {
                        const float v = xr[q * sw];
                        const bool take = v > m[q - q0] || v != v;
                        m[q - q0] = take ? v : m[q - q0];
                        arg[q - q0] = take ? at + q * sw : arg[q - q0];
                    }
                }
            float *restrict row0 = dx + (int64_t)sh.lo * d->w;
            for (int q = q0; q < q1; q++) {
                const int start = q * sw - d->pad_w, a = arg[q - q0];
                row0[a >= 0 ? a : start > 0 ? start : 0] += dy[(int64_t)p * d->q + q];
            }
        }
    }
}

/* Average: dy over each window's divisor, added to each element of the
 * window, a tap at a time. */
static void avg_bwd_taps(const cnn_pool_desc *d, const float *restrict dy, float *restrict dx)
{
    const int sw = d->stride_w;
    float g[ROW_BUF];
    for (int p = 0; p < d->p; p++) {
        const pool_span sh = window_at(p, d->kh, d->stride_h, d->pad_h, d->h);
        for (int q0 = 0; q0 < d->q; q0 += ROW_BUF) {
            const int q1 = d->q - q0 < ROW_BUF ? d->q : q0 + ROW_BUF;
            for (int q = q0; q < q1; q++)
                g[q - q0] = dy[(int64_t)p * d->q + q] / (float)(sh.span * width_span(d, q));
            for (int ih = sh.lo; ih < sh.hi; ih++)
                for (int j = 0; j < d->kw; j++) {
                    float *restrict dxr = dx + (int64_t)ih * d->w + j - d->pad_w;
                    const q_range r = tap_range(d, j, q0, q1);
                    for (int q = r.lo; q < r.hi; q++)
                        dxr[q * sw] += g[q - q0];
                }
        }
    }
}

/* ---- entries ---- */

static CNN_CPU_VEC void pool_fwd_plane(const cnn_pool_desc *d, const float *restrict x,
                                       float *restrict y)
{
    /* Forward: rows up to 64 wide only. On VGG-16's 224- and 112-wide
     * planes the row form ran at memory speed (1.4-1.6 ms on features.4)
     * and the row pairs' loop slower (2.0 ms). */
    const bool pairs = disjoint_2x2(d) && d->w <= 64;
    if (pairs && d->mode == CNN_POOL_MAX)
        pool_2x2(MAX_FWD, d, x, NULL, y);
    else if (pairs)
        pool_2x2(AVG_FWD, d, x, NULL, y);
    else if (row_form(d, false))
        fwd_rows(d, x, y);
    else
        fwd_taps(d, x, y);
}

static CNN_CPU_VEC void pool_bwd_plane(const cnn_pool_desc *d, const float *restrict x,
                                       const float *restrict dy, float *restrict dx)
{
    if (disjoint_2x2(d)) {
        if (d->mode == CNN_POOL_MAX)
            pool_2x2(MAX_BWD, d, x, dy, dx);
        else
            pool_2x2(AVG_BWD, d, x, dy, dx);
        return;
    }
    if (cnn_cpu_pool_s2_form(d) && cnn_cpu_pool_s2_rows_fit(d)) {
        cnn_cpu_max_bwd_s2_rows(d, x, dy, dx);
        return;
    }
    if (d->mode == CNN_POOL_MAX && row_form(d, true)) {
        max_bwd_rows(d, x, dy, dx);
        return;
    }
    if (d->mode == CNN_POOL_AVG && row_form(d, false) && d->stride_h >= d->kh &&
        d->stride_w >= d->kw) {
        avg_bwd_disjoint(d, dy, dx);
        return;
    }
    memset(dx, 0, sizeof(float) * (size_t)d->h * (size_t)d->w);
    if (d->mode == CNN_POOL_AVG && row_form(d, false))
        avg_bwd_rows(d, dy, dx);
    else if (d->mode == CNN_POOL_AVG)
        avg_bwd_taps(d, dy, dx);
    else
        max_bwd_taps(d, x, dy, dx);
}

cnn_status cnn_cpu_pool_fwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, float *y, CNN_WS)
{
    (void)ws, (void)ws_size;
    const int64_t planes = (int64_t)d->n * d->c, in = (int64_t)d->h * d->w,
                  out = (int64_t)d->p * d->q;
    const int nt = cnn_cpu_team(ctx, planes * (in + out));
    if (cnn_cpu_pool_plane_form(d)) {
#pragma omp parallel num_threads(nt)
        {
            int64_t lo, hi;
            cnn_cpu_share(planes, &lo, &hi);
            cnn_cpu_max_fwd_planes(d, x + lo * in, y + lo * out, hi - lo);
        }
        return CNN_OK;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < planes; i++)
        pool_fwd_plane(d, x + i * in, y + i * out);
    return CNN_OK;
}

size_t cnn_cpu_pool_bwd_ws(const cnn_ctx *ctx, const cnn_pool_desc *d)
{
    if (!cnn_cpu_pool_s2_quarters(d))
        return 0;
    const int64_t work = (int64_t)d->n * d->c * ((int64_t)d->h * d->w + (int64_t)d->p * d->q);
    return sizeof(float) * cnn_cpu_pool_s2_floats(d) * (size_t)cnn_cpu_team(ctx, work);
}

/* Average pooling ignores x and y; max pooling finds each window's argmax
 * again in x (the workspace does not outlive a call, so forward cannot
 * leave the indices for backward). */
cnn_status cnn_cpu_pool_bwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, const float *y,
                            const float *dy, float *dx, CNN_WS)
{
    (void)y;
    if (d->mode == CNN_POOL_MAX && !x)
        return cnn_fail(CNN_ERR_INVALID_ARG, "maxpool2d backward needs the forward input x");
    if (d->mode == CNN_POOL_MAX && (int64_t)d->kh * d->w > INT_MAX)
        return cnn_fail(CNN_ERR_UNSUPPORTED,
                        "maxpool2d backward: %d kernel rows of width %d exceed 32-bit offsets",
                        d->kh, d->w);
    const int64_t planes = (int64_t)d->n * d->c, in = (int64_t)d->h * d->w,
                  out = (int64_t)d->p * d->q;
    const int nt = cnn_cpu_team(ctx, planes * (in + out));
    if (cnn_cpu_pool_s2_quarters(d)) {
        /* nt is the team cnn_cpu_pool_bwd_ws sized the workspace for */
        const size_t per = cnn_cpu_pool_s2_floats(d), need = sizeof(float) * per * (size_t)nt;
        float *own = ws && ws_size >= need ? NULL : malloc(need);
        float *buf = own ? own : ws;
        if (!buf)
            return cnn_fail(CNN_ERR_OUT_OF_MEMORY,
                            "maxpool2d backward: no memory for %d buffers of %zu floats", nt, per);
#pragma omp parallel num_threads(nt)
        {
            int64_t lo, hi;
            cnn_cpu_share(planes, &lo, &hi);
            cnn_cpu_max_bwd_s2_quarters(d, x + lo * in, dy + lo * out, dx + lo * in, hi - lo,
                                        buf + per * (size_t)cnn_cpu_thread_id());
        }
        free(own);
        return CNN_OK;
    }
    if (cnn_cpu_pool_plane_form(d)) {
#pragma omp parallel num_threads(nt)
        {
            int64_t lo, hi;
            cnn_cpu_share(planes, &lo, &hi);
            cnn_cpu_max_bwd_planes(d, x + lo * in, dy + lo * out, dx + lo * in, hi - lo);
        }
        return CNN_OK;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < planes; i++)
        pool_bwd_plane(d, x ? x + i * in : NULL, dy + i * out, dx + i * in);
    return CNN_OK;
}
