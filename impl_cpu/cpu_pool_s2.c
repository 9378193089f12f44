/* Max-pool backward for 3x3 windows at stride 2 on small planes
 * (GoogLeNet's maxpool3), separable, over whole planes split by the parity
 * of their padded rows and columns.
 *
 * A window's argmax by max_bwd_taps's rule (the first strict maximum in
 * row-major order, the last NaN) is the argmax over its three rows of each
 * row's own argmax over three columns: the first row holding the window's
 * maximum, at that row's first maximum; the last row holding a NaN, at its
 * last NaN; with none above -inf, the window's first real element. So each
 * input row's column argmaxes are found once (a row is shared by two
 * windows), and a window's takes two more compares across its rows.
 *
 * At stride 2, window (p, q) covers the padded rows 2p, 2p + 1, 2p + 2 and
 * columns likewise: in a plane split into four quarters by the parity of
 * the padded row and column (row and column halved, each quarter S = q + 1
 * wide), the window's cells sit at the same index u = p S + q or one on
 * (u + 1, u + S). Every step is then one loop over a whole quarter, a few
 * thousand floats, with no shuffles: the column argmaxes over each row
 * parity, the windows' argmax as a key 4 i + j (row i, column j of the
 * window), and dx's four quarters gathered from the keys and dy at u,
 * u - 1, u - S, u - S - 1, each element's windows added in the order of a
 * scatter over the outputs in row-major order (as in PyTorch), so sums
 * where windows share an argmax round alike (test_cpu_ops holds it bit for
 * bit). Only splitting x's rows and interleaving dx's run row by row.
 *
 * Planes up to about 40 x 40 (GoogLeNet's maxpool3); larger ones take
 * the same separable rule row by row (cpu_pool_s2_rows.c). Measured on a
 * 2-core Zen 4 VM against the row form before both (nine taps read with
 * shuffles, then a scalar scatter): see the README's session 15. */
#include "cpu_pool_s2.h"

#include "cpu_simd.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The most floats of a thread's buffer (cnn_cpu_pool_s2_floats), 32 KiB:
 * planes needing more take the row form (cpu_pool_s2_rows.c). On larger
 * planes the quarters' passes each stream a buffer past L1: 2 threads,
 * minimum of 300 calls, the row form was ahead on 8x64x112x112 (2.35
 * against 2.66 ms) and 8x192x56x56 (2.10 against 2.21), behind on
 * 8x480x28x28 (2.00 against 1.31). */
#define S2_MAX_FLOATS ((size_t)8192)

/* The buffer's parts for one shape; all of R = p + 1 quarter rows of S. */
typedef struct s2_layout {
    int s, rows; /* S, R */
    size_t quarter, guard;
} s2_layout;

static s2_layout s2_layout_of(const cnn_pool_desc *d)
{
    s2_layout l;
    l.s = d->q + 1, l.rows = d->p + 1;
    l.quarter = (size_t)l.s * (size_t)l.rows;
    l.guard = (size_t)l.s + 1; /* keys and dy one row and one column before u = 0 */
    return l;
}

size_t cnn_cpu_pool_s2_floats(const cnn_pool_desc *d)
{
    const s2_layout l = s2_layout_of(d);
    /* x's quarters (+1: the column argmax reads one past), the column
     * argmaxes and their columns, keys and dy (with guards), dx's quarters */
    return 4 * (l.quarter + 1) + 4 * l.quarter + 2 * (l.guard + l.quarter) + 4 * l.quarter;
}

bool cnn_cpu_pool_s2_form(const cnn_pool_desc *d)
{
    return d->mode == CNN_POOL_MAX && d->kh == 3 && d->kw == 3 && d->stride_h == 2 &&
           d->stride_w == 2 && d->pad_h <= 1 && d->pad_w <= 1;
}

bool cnn_cpu_pool_s2_quarters(const cnn_pool_desc *d)
{
    /* (a padded row holds 2 S columns and the padded plane 2 R rows: every
     * window's, ceil mode's last included) */
    return cnn_cpu_pool_s2_form(d) && (size_t)d->q + 1 <= S2_MAX_FLOATS &&
           (size_t)d->p + 1 <= S2_MAX_FLOATS && cnn_cpu_pool_s2_floats(d) <= S2_MAX_FLOATS;
}

typedef struct s2_buf {
    float *xe[2], *xo[2];  /* x's quarters: [row parity], even and odd columns */
    float *hm[2];          /* per row parity: each window's maximum along the row */
    int *hj[2];            /* ... and its column in the window, 0..2 */
    int *key;              /* per window, 4 i + j of its argmax (at guard + u) */
    uint32_t *g;           /* dy's bits, S wide (at guard + u), 0 past it */
    float *de[2], *do_[2]; /* dx's quarters: [row parity], even and odd columns */
} s2_buf;

static s2_buf s2_carve(float *buf, const s2_layout *l)
{
    s2_buf b;
    float *at = buf;
    for (int r = 0; r < 2; r++) {
        b.xe[r] = at, at += l->quarter + 1;
        b.xo[r] = at, at += l->quarter + 1;
    }
    for (int r = 0; r < 2; r++) {
        b.hm[r] = at, at += l->quarter;
        b.hj[r] = (int *)at, at += l->quarter;
    }
    b.key = (int *)at, at += l->guard + l->quarter;
    b.g = (uint32_t *)at, at += l->guard + l->quarter;
    for (int r = 0; r < 2; r++) {
        b.de[r] = at, at += l->quarter;
        b.do_[r] = at, at += l->quarter;
    }
    return b;
}

/* The parts no plane writes: x's padding and what lies past the input
 * (-inf), dy's guards and the column past each row (0), keys' guards. */
static void s2_frame(const s2_buf *b, const s2_layout *l)
{
    for (int r = 0; r < 2; r++)
        for (size_t u = 0; u <= l->quarter; u++)
            b->xe[r][u] = -INFINITY, b->xo[r][u] = -INFINITY;
    for (size_t u = 0; u < l->guard + l->quarter; u++)
        b->g[u] = 0, b->key[u] = 0;
}

/* x's real row r into its quarter row: padded column c' = c + pw, even
 * c' to xe[c' / 2], odd to xo[c' / 2]. */
static inline void split_row(const float *restrict xr, int w, int pw, float *restrict xe,
                             float *restrict xo)
{
    const float *restrict ev = xr - pw, *restrict od = xr + 1 - pw;
    const int e1 = (w - 1 + pw) / 2 + 1, o1 = w - 2 + pw < 0 ? 0 : (w - 2 + pw) / 2 + 1;
    for (int k = pw; k < e1; k++)
        xe[k] = ev[2 * k];
    for (int k = 0; k < o1; k++)
        xo[k] = od[2 * k];
}

/* Each window's row: the first strict maximum, the last NaN, else the
 * first real row (row 1 of the top windows when ph is 1); the key 4 i + j. */
static inline void window_keys(const s2_buf *restrict b, int s, size_t n, size_t top,
                               int *restrict key)
{
    const float *restrict e = b->hm[0], *restrict o = b->hm[1];
    const int *restrict je = b->hj[0], *restrict jo = b->hj[1];
    for (size_t u = 0; u < n; u++) {
        const float v0 = e[u], v1 = o[u], v2 = e[u + s];
        float m = -INFINITY;
        int k = u < top ? 4 + jo[u] : je[u];
        bool t = v0 > m || v0 != v0;
        m = t ? v0 : m, k = t ? je[u] : k;
        t = v1 > m || v1 != v1;
        m = t ? v1 : m, k = t ? 4 + jo[u] : k;
        t = v2 > m || v2 != v2;
        k = t ? 8 + je[u + s] : k;
        key[u] = k;
    }
}

/* dx's quarters: cell u of the even padded rows is in windows u - S - 1
 * (its row 2, column 2), u - S (2, 0), u - 1 (0, 2) and u (0, 0), added in
 * that order from 0, as a scatter over the outputs adds them; odd columns
 * and odd rows likewise. */
static inline void gather(const s2_buf *restrict b, int s, size_t n, size_t guard)
{
    const int *restrict k = b->key + guard;
    const uint32_t *restrict g = b->g + guard;
    float *restrict ee = b->de[0], *restrict eo = b->do_[0], *restrict oe = b->de[1],
                    *restrict oo = b->do_[1];
    for (ptrdiff_t u = 0; u < (ptrdiff_t)n; u++) {
        const ptrdiff_t a = u - s - 1, c = u - s, l = u - 1;
        ee[u] = (((0.0f + cnn_cpu_bits_if(g[a], k[a] == 10)) + cnn_cpu_bits_if(g[c], k[c] == 8)) +
                 cnn_cpu_bits_if(g[l], k[l] == 2)) +
                cnn_cpu_bits_if(g[u], k[u] == 0);
        eo[u] = (0.0f + cnn_cpu_bits_if(g[c], k[c] == 9)) + cnn_cpu_bits_if(g[u], k[u] == 1);
        oe[u] = (0.0f + cnn_cpu_bits_if(g[l], k[l] == 6)) + cnn_cpu_bits_if(g[u], k[u] == 4);
        oo[u] = 0.0f + cnn_cpu_bits_if(g[u], k[u] == 5);
    }
}

/* The cloned function is static, called through the exported one below:
 * Clang 14 emits a target_clones function's resolver only in a unit that
 * calls it (cpu_pool_plane.c's note; an extern clone called from cpu_pool.c
 * alone did not link in the fuzz build). */
static CNN_CPU_VEC void max_bwd_s2_quarters(const cnn_pool_desc *d, const float *restrict x,
                                            const float *restrict dy, float *restrict dx,
                                            int64_t planes, float *buf)
{
    const s2_layout l = s2_layout_of(d);
    const s2_buf b = s2_carve(buf, &l);
    const int w = d->w, h = d->h, pw = d->pad_w, ph = d->pad_h, s = l.s;
    const int64_t in = (int64_t)h * w, out = (int64_t)d->p * d->q;
    s2_frame(&b, &l);
    for (int64_t i = 0; i < planes; i++) {
        const float *restrict xp = x + i * in, *restrict gp = dy + i * out;
        /* the next plane's x and dx fetched a plane ahead (into L2: a
         * plane's passes over the quarters leave the memory idle) */
        const bool next = i + 1 < planes;
        for (int r = 0; r < h; r++) {
            const int pr = r + ph, at = pr / 2 * s;
            split_row(xp + (int64_t)r * w, w, pw, b.xe[pr % 2] + at, b.xo[pr % 2] + at);
            for (int c = 0; next && c < w; c += 16)
                __builtin_prefetch(xp + in + (int64_t)r * w + c, 0, 2);
        }
        for (int r = 0; r < 2; r++) {
            cnn_cpu_s2_col_argmax(b.xe[r], b.xo[r], l.quarter, b.hm[r], b.hj[r]);
            /* none above -inf: the window's first real column (window 0
             * starts in the padding when pw is 1) */
            for (int p = 0; pw && p < l.rows; p++)
                if (b.hm[r][(size_t)p * s] == -INFINITY)
                    b.hj[r][(size_t)p * s] = 1;
        }
        window_keys(&b, s, (size_t)d->p * s, ph ? (size_t)s : 0, b.key + l.guard);
        for (int p = 0; p < d->p; p++) {
            uint32_t *restrict gr = b.g + l.guard + (size_t)p * s;
            const float *restrict dyr = gp + (int64_t)p * d->q;
            for (int q = 0; q < d->q; q++)
                memcpy(&gr[q], &dyr[q], sizeof(uint32_t));
        }
        gather(&b, s, l.quarter, l.guard);
        float *restrict dp = dx + i * in;
        for (int r = 0; r < h; r++) {
            const int pr = r + ph, at = pr / 2 * s;
            cnn_cpu_s2_interleave(dp + (int64_t)r * w, b.de[pr % 2] + at, b.do_[pr % 2] + at, w,
                                  pw);
            for (int c = 0; next && c < w; c += 16)
                __builtin_prefetch(dp + in + (int64_t)r * w + c, 1, 2);
        }
    }
}

void cnn_cpu_max_bwd_s2_quarters(const cnn_pool_desc *d, const float *restrict x,
                                 const float *restrict dy, float *restrict dx, int64_t planes,
                                 float *buf)
{
    max_bwd_s2_quarters(d, x, dy, dx, planes, buf);
}
