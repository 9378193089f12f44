/* Max-pool backward for 3x3 windows at stride 2 on planes too large for
 * the quarter form (cpu_pool_s2.c): ResNet-18's stem pool, GoogLeNet's
 * maxpool1 and 2; separable, row by row. A window's argmax by max_bwd_taps's
 * rule (the first strict maximum in row-major order, the last NaN) is the
 * argmax over its three rows of each row's own argmax over three columns:
 * the first row holding the window's maximum, at that row's first maximum;
 * the last row holding a NaN, at its last NaN; with none above -inf, the
 * window's first real element. So each input row's column argmaxes are
 * found once (a row is shared by two windows), and a window's takes two
 * more compares across its rows.
 *
 * Stride 2 splits each padded row into its even and odd columns: window q
 * covers the even column q, the odd column q and the even column q + 1,
 * so every loop below runs over contiguous arrays indexed by q, with no
 * shuffles: x's row is split once when it is read; the gradient is kept
 * split too, in accumulators per window row, and interleaved when the dx
 * row is stored; the scatter is a select per lane. A dx element gets its
 * windows' gradients in the order of a scatter over the outputs in
 * row-major order (as in the row form and in PyTorch), so sums where
 * windows share an argmax round alike (test_cpu_ops holds it bit for bit).
 *
 * Against the row form before it (nine taps read with shuffles, then a
 * scalar scatter), on a 2-core Zen 4 VM, minimum of 55 calls, the two
 * alternated: ResNet-18's 8x64x112x112, 2 threads, 3.1-4.6 -> 2.4-2.5 ms;
 * GoogLeNet's maxpool3 (8x480x28x28, ceil) 2.7-3.6 -> 2.1 ms; 8 planes
 * of 112x112 in L2, 1 thread, 0.083-0.107 -> 0.061-0.068 ms. On rows this
 * short most of the time is the loops' own overhead: each row runs a dozen
 * loops of 2 to 8 vectors. */
#include "cpu_pool_s2.h"

#include "cpu_simd.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Outputs per row at most (q rounded up to a whole vector block). */
#define S2_Q 256
#define S2_BLOCK 16
/* Ring slots: three window rows, and a scratch slot standing for the rows
 * of a window past the input (their maxima -inf: never the argmax). */
#define S2_SLOTS 4
#define S2_NONE 3

typedef struct s2_rows {
    float hm[S2_SLOTS][S2_Q]; /* per slot: each window's maximum along the row */
    int hj[S2_SLOTS][S2_Q];   /* ... and its column in the window, 0..2 */
    /* gradient accumulators of the padded columns, even and odd */
    float ae[S2_SLOTS][S2_Q + S2_BLOCK], ao[S2_SLOTS][S2_Q];
    /* row_split's gradients for the even columns, for fold_even: each
     * window's first column, and its third (one column on) */
    uint32_t first[S2_SLOTS][S2_Q + S2_BLOCK], third[S2_SLOTS][S2_Q + S2_BLOCK]; /* (bits) */
    int held[S2_SLOTS]; /* input row in each slot, -1: none */
    int lo, hi;         /* rows [lo, hi) accumulate */
    bool pending;       /* their fold_even is due */
} s2_rows;

static int s2_blocks(int q)
{
    return (q + S2_BLOCK - 1) / S2_BLOCK * S2_BLOCK;
}

bool cnn_cpu_pool_s2_rows_fit(const cnn_pool_desc *d)
{
    return s2_blocks(d->q) <= S2_Q && d->w <= 2 * S2_Q;
}

/* Input row xr split into even and odd padded columns (padding and the
 * columns past the row: -inf), then each window's maximum and column. */
static inline void row_argmax(const float *restrict xr, int w, int pw, int nq, float *restrict hm,
                              int *restrict hj)
{
    float xe[S2_Q + 1], xo[S2_Q];
    /* even padded column 2k is real column 2k - pw, odd 2k + 1 is 2k + 1 - pw
     * (pw <= 1): the k of real columns, as far as the windows reach */
    const int k0e = pw, e1 = (w - 1 + pw) / 2 + 1, o1 = w - 2 + pw < 0 ? 0 : (w - 2 + pw) / 2 + 1;
    const int k1e = e1 < nq + 1 ? e1 : nq + 1, k1o = o1 < nq ? o1 : nq;
    const float *restrict ev = xr - pw, *restrict od = xr + 1 - pw;
    for (int k = 0; k < k0e; k++)
        xe[k] = -INFINITY;
    for (int k = k0e; k < k1e; k++)
        xe[k] = ev[2 * k];
    for (int k = k1e; k <= nq; k++)
        xe[k] = -INFINITY;
    for (int k = 0; k < k1o; k++)
        xo[k] = od[2 * k];
    for (int k = k1o; k < nq; k++)
        xo[k] = -INFINITY;
    cnn_cpu_s2_col_argmax(xe, xo, (size_t)nq, hm, hj);
    /* none above -inf: the window's first real column (window 0 starts in
     * the padding when pw is 1) */
    if (pw && hm[0] == -INFINITY)
        hj[0] = pw;
}

/* Output row p over the slots of its window rows a, b, c (S2_NONE for a
 * row past the input): each window's row, the first strict maximum, the
 * last NaN, else the first; then each row's share of the gradient g, split
 * by column: the odd padded column k takes window k's middle column at
 * once; the even column k takes window k - 1's third column, then window
 * k's first, which wait in `third` (shifted by one) and `first` for
 * fold_even. That addition is made after the next output row's inputs are
 * read: made at once, its aligned loads of the shifted stores, still in
 * the store buffer, missed store forwarding (the costliest loop in perf). */
static inline void window_split(s2_rows *restrict s, const int *slot, const uint32_t *restrict g,
                                int nq)
{
    int isel[S2_Q];
    const float *restrict m0 = s->hm[slot[0]], *restrict m1 = s->hm[slot[1]],
                          *restrict m2 = s->hm[slot[2]];
    for (int q = 0; q < nq; q++) {
        const float v1 = m1[q], v2 = m2[q];
        float m = m0[q];
        int i = 0;
        bool t = v1 > m || v1 != v1;
        m = t ? v1 : m, i = t ? 4 : i;
        t = v2 > m || v2 != v2;
        isel[q] = t ? 8 : i;
    }
    /* row r's share of column j: the window's argmax is (r, j) */
    for (int r = 0; r < 3; r++) {
        const int *restrict h = s->hj[slot[r]];
        float *restrict ao = s->ao[slot[r]];
        uint32_t *restrict first = s->first[slot[r]], *restrict third = s->third[slot[r]] + 1;
        for (int q = 0; q < nq; q++) {
            const int k = isel[q] + h[q] - 4 * r;
            const uint32_t gb = g[q];
            first[q] = gb & -(uint32_t)(k == 0);
            ao[q] += cnn_cpu_bits_if(gb, k == 1);
            third[q] = gb & -(uint32_t)(k == 2);
        }
    }
}

/* The even columns' pending gradients added, for rows [lo, hi): padded
 * column k takes window k - 1's third column, then window k's first (the
 * order of a scatter over the outputs). first[nq..] and third[0] and
 * third[nq + 1..] stay 0. */
static inline void fold_pending(s2_rows *restrict s, int nq)
{
    for (int r = s->lo; r < s->hi && s->pending; r++) {
        float *restrict ae = s->ae[r % 3];
        const uint32_t *restrict first = s->first[r % 3], *restrict third = s->third[r % 3];
        for (int k = 0; k < nq + 1; k++)
            ae[k] = (ae[k] + cnn_cpu_bits_float(third[k])) + cnn_cpu_bits_float(first[k]);
    }
    s->pending = false;
}

/* Rows [done, to) of dx stored: from their accumulators, or zeros where no
 * window covered them. */
static inline int store_rows(const s2_rows *restrict s, float *restrict dx, int done, int to, int w,
                             int pw)
{
    for (; done < to; done++) {
        float *restrict dr = dx + (int64_t)done * w;
        if (done >= s->lo && done < s->hi)
            cnn_cpu_s2_interleave(dr, s->ae[done % 3], s->ao[done % 3], w, pw);
        else
            memset(dr, 0, sizeof(float) * (size_t)w);
    }
    return done;
}

/* The cloned function is static, called through the exported one below:
 * Clang 14 emits a target_clones function's resolver only in a unit that
 * calls it (cpu_pool_plane.c's note; an extern clone called from cpu_pool.c
 * alone did not link in the fuzz build). */
static CNN_CPU_VEC void max_bwd_s2_rows(const cnn_pool_desc *d, const float *restrict x,
                                        const float *restrict dy, float *restrict dx)
{
    s2_rows s;
    uint32_t g[S2_Q]; /* dy's row, as bits */
    const int w = d->w, pw = d->pad_w, ph = d->pad_h, nq = s2_blocks(d->q);
    for (int i = 0; i < S2_SLOTS; i++) {
        s.held[i] = -1;
        for (int k = 0; k < nq + S2_BLOCK; k++)
            s.first[i][k] = 0, s.third[i][k] = 0;
    }
    for (int q = 0; q < nq; q++)
        s.hm[S2_NONE][q] = -INFINITY, s.hj[S2_NONE][q] = 0, s.ao[S2_NONE][q] = 0.0f;
    for (int q = d->q; q < nq; q++) /* dy's row, padded with zeros to whole blocks */
        g[q] = 0;
    s.lo = s.hi = 0, s.pending = false;
    int done = 0; /* dx rows [0, done) stored */
    for (int p = 0; p < d->p; p++) {
        const int top = 2 * p - ph, r0 = top > 0 ? top : 0,
                  r1 = top + 3 < d->h ? top + 3 : d->h; /* real window rows [r0, r1) */
        for (int r = r1; r < r1 + 2 && r < d->h; r++)   /* the next window's new rows */
            for (int c = 0; c < w; c += 16)
                __builtin_prefetch(x + (int64_t)r * w + c);
        int slot[3] = {S2_NONE, S2_NONE, S2_NONE};
        for (int r = r0; r < r1; r++) {
            slot[r - r0] = r % 3;
            if (s.held[r % 3] != r) {
                row_argmax(x + (int64_t)r * w, w, pw, nq, s.hm[r % 3], s.hj[r % 3]);
                s.held[r % 3] = r;
            }
        }
        fold_pending(&s, nq);
        done = store_rows(&s, dx, done, r0, w, pw);
        for (int r = r0; r < r1; r++)
            if (r < s.lo || r >= s.hi) {
                float *restrict ae = s.ae[r % 3], *restrict ao = s.ao[r % 3];
                for (int k = 0; k < nq + 1; k++)
                    ae[k] = 0.0f;
                for (int k = 0; k < nq; k++)
                    ao[k] = 0.0f;
            }
        s.lo = r0, s.hi = r1;
        memcpy(g, dy + (int64_t)p * d->q, sizeof(float) * (size_t)d->q);
        window_split(&s, slot, g, nq);
        s.pending = true;
    }
    fold_pending(&s, nq);
    store_rows(&s, dx, done, d->h, w, pw);
}

void cnn_cpu_max_bwd_s2_rows(const cnn_pool_desc *d, const float *restrict x,
                             const float *restrict dy, float *restrict dx)
{
    max_bwd_s2_rows(d, x, dy, dx);
}
