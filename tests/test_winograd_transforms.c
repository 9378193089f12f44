/* Unit tests of the Winograd transforms (impl_winograd/winograd_transforms.h) and of
 * their composition into a convolution (impl_winograd/winograd_plan.h), below the
 * backend table:
 *  - each transform of a single tile against B^T d B, G g G^T, A^T M A
 *    computed in double from the matrices written out here, independently of
 *    the straight-line formulas in winograd_transforms.c;
 *  - a band of several tiles against the same transform tile by tile, and
 *    a batch of strided, rotated filters against one filter at a time;
 *  - F(2x2,3x3) on integer-valued inputs and filters: every intermediate is
 *    a small multiple of 1/4, so float32 is exact and the result must equal
 *    an integer direct convolution bit for bit, forward and backward data;
 *  - F(4x4,3x3) against a double-precision direct convolution, element by
 *    element, relative to the largest sum of |terms| of any output;
 *  - shapes whose output is not a multiple of the tile, smaller than one
 *    tile, and paddings 0..3 (backward data with padding 3 reads dy with
 *    negative padding), on 1 to 3 threads, with chunks that end inside an
 *    image or straddle two, run privately or shared by the threads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "winograd_plan.h"
#include "ops.h"
#include "test_util.h"
#include "winograd_transforms.h"

#define EPS32 5.9604644775390625e-08 /* 2^-24 */

static const double BT2[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double AT2[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};

static const double BT4[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                 {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
static const double G4[6][3] = {{1.0 / 4, 0, 0},
                                {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                {0, 0, 1}};
static const double AT4[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

static double bt(int m, int i, int j)
{
    return m == 2 ? BT2[i][j] : BT4[i][j];
}
static double gm(int m, int i, int j)
{
    return m == 2 ? G2[i][j] : G4[i][j];
}
static double at(int m, int i, int j)
{
    return m == 2 ? AT2[i][j] : AT4[i][j];
}

/* out = L X R^T for L (a x b), X (b x b), R (a x b), all row-major; also
 * the same product of absolute values, the scale of the rounding error. */
static void sandwich(int m, double (*mat)(int, int, int), int a, int b, const double *x,
                     double *out, double *abs_out)
{
    for (int i = 0; i < a; i++)
        for (int j = 0; j < a; j++) {
            double s = 0, sa = 0;
            for (int p = 0; p < b; p++)
                for (int q = 0; q < b; q++) {
                    double t = mat(m, i, p) * x[p * b + q] * mat(m, j, q);
                    s += t;
                    sa += fabs(t);
                }
            out[i * a + j] = s;
            abs_out[i * a + j] = sa;
        }
}

/* A^T and G transposed, for the weight gradient's transforms A dy A^T and
 * G^T M G. */
static double a_mat(int m, int i, int j)
{
    return at(m, j, i);
}
static double gt_mat(int m, int i, int j)
{
    return gm(m, j, i);
}

/* One band of tiles (one image, one tile row starting at row0) through the
 * chunk transforms; their own scratch, sized by them (the callers' scratch
 * arguments are unused). */
static float *chunk_scratch(int m, int tiles_x)
{
    static float buf[1 << 15];
    if (cnn_winograd_chunk_scratch(m, tiles_x) > sizeof buf / sizeof buf[0]) {
        fprintf(stderr, "test_winograd_transforms: chunk scratch too small\n");
        exit(1);
    }
    return buf;
}

static void input_band(int m, const float *x, int h, int w, int row0, int col0, int tiles_x,
                       float *v, size_t xi_stride, float *unused)
{
    (void)unused;
    cnn_winograd_input_chunk(m, x, 0, h, w, row0, col0, tiles_x, 1, 0, 1, v, xi_stride,
                             chunk_scratch(m, tiles_x));
}

static void output_band(int m, const float *mt, size_t xi_stride, int tiles_x, float bias, float lo,
                        float *y, int h, int w, int row0, float *unused)
{
    (void)unused;
    if (row0 != 0) {
        fprintf(stderr, "test_winograd_transforms: output_band takes row0 0\n");
        exit(1);
    }
    cnn_winograd_output_chunk(m, mt, xi_stride, tiles_x, 1, 0, 1, bias, lo, y, 0, h, w,
                              chunk_scratch(m, tiles_x));
}

static void grad_band(int m, const float *dy, int h, int w, int row0, int tiles_x, float *v,
                      size_t xi_stride, float *unused)
{
    (void)unused;
    if (row0 != 0) {
        fprintf(stderr, "test_winograd_transforms: grad_band takes row0 0\n");
        exit(1);
    }
    cnn_winograd_grad_chunk(m, dy, 0, h, w, tiles_x, 1, 0, 1, v, xi_stride,
                            chunk_scratch(m, tiles_x));
}

/* A transformed value is within k eps of the exact one, relative to the sum
 * of |terms|: each of the few adds and multiplies along the way rounds once
 * (k = 8 covers the longest chain, five operations in a pass, two passes). */
static void check_close(const char *what, int m, const float *got, size_t stride, const double *ref,
                        const double *abs_ref, int count)
{
    for (int i = 0; i < count; i++) {
        double err = fabs(got[i * stride] - ref[i]);
        TU_CHECK(err <= 8 * EPS32 * abs_ref[i], "F(%d) %s element %d: %.9g vs %.9g", m, what, i,
                 got[i * stride], ref[i]);
    }
}

static void test_single_tiles(int m, uint64_t *rng)
{
    const int alpha = m + 2;
    float d[36], g[9], mt[36], v[36], u[36], y[16];
    double dd[36], ref[36], aref[36];
    float scratch[256];

    tu_fill(d, alpha * alpha, rng, -1, 1);
    for (int i = 0; i < alpha * alpha; i++)
        dd[i] = d[i];
    input_band(m, d, alpha, alpha, 0, 0, 1, v, 1, scratch);
    sandwich(m, bt, alpha, alpha, dd, ref, aref);
    check_close("input transform", m, v, 1, ref, aref, alpha * alpha);

    tu_fill(g, 9, rng, -1, 1);
    for (int i = 0; i < 9; i++)
        dd[i] = g[i];
    cnn_winograd_filters(m, 1, g, 1, 0, 9, false, u, 1);
    sandwich(m, gm, alpha, 3, dd, ref, aref);
    check_close("filter transform", m, u, 1, ref, aref, alpha * alpha);

    tu_fill(mt, alpha * alpha, rng, -1, 1);
    for (int i = 0; i < alpha * alpha; i++)
        dd[i] = mt[i];
    const float bias = 0.25f;
    output_band(m, mt, 1, 1, bias, -INFINITY, y, m, m, 0, scratch);
    sandwich(m, at, m, alpha, dd, ref, aref);
    for (int i = 0; i < m * m; i++) {
        ref[i] += bias;
        aref[i] += bias;
    }
    check_close("output transform", m, y, 1, ref, aref, m * m);
}

/* The weight gradient's two transforms of one tile: A dy A^T (alpha x alpha
 * from m x m) and G^T M G (3 x 3 from alpha x alpha). */
static void test_grad_tiles(int m, uint64_t *rng)
{
    const int alpha = m + 2;
    float g[16], v[36], mt[36], dw[9];
    double dd[36], ref[36], aref[36];
    float scratch[256];

    tu_fill(g, m * m, rng, -1, 1);
    for (int i = 0; i < m * m; i++)
        dd[i] = g[i];
    grad_band(m, g, m, m, 0, 1, v, 1, scratch);
    sandwich(m, a_mat, alpha, m, dd, ref, aref);
    check_close("dy transform", m, v, 1, ref, aref, alpha * alpha);

    tu_fill(mt, alpha * alpha, rng, -1, 1);
    for (int i = 0; i < alpha * alpha; i++)
        dd[i] = mt[i];
    cnn_winograd_filter_grads(m, 1, mt, 1, dw);
    sandwich(m, gt_mat, 3, alpha, dd, ref, aref);
    check_close("filter-gradient transform", m, dw, 1, ref, aref, 9);
}

/* A band of dy tiles on a plane whose width is not a multiple of m, its
 * last row past the plane: each tile must equal the transform of its own
 * zero-filled patch. And many pairs at once, strided (more than one block
 * of the implementation), against one pair at a time. */
static void test_grad_band(int m, uint64_t *rng)
{
    enum { TILES = 3, N = 70, XI_STRIDE = 75 };
    const int alpha = m + 2, h = m - 1, w = TILES * m - 1;
    float dy[4 * 12], v[36 * TILES], patch[16], one[36], scratch[1024];
    tu_fill(dy, h * w, rng, -1, 1);
    grad_band(m, dy, h, w, 0, TILES, v, TILES, scratch);
    for (int t = 0; t < TILES; t++) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) {
                int col = t * m + j;
                patch[i * m + j] = i < h && col < w ? dy[i * w + col] : 0.0f;
            }
        grad_band(m, patch, m, m, 0, 1, one, 1, scratch);
        for (int xi = 0; xi < alpha * alpha; xi++)
            TU_CHECK(v[xi * TILES + t] == one[xi], "F(%d) dy band tile %d element %d: %g vs %g", m,
                     t, xi, v[xi * TILES + t], one[xi]);
    }

    static float mt[36 * XI_STRIDE], dw[N * 9];
    float dw1[9];
    tu_fill(mt, 36 * XI_STRIDE, rng, -1, 1);
    cnn_winograd_filter_grads(m, N, mt, XI_STRIDE, dw);
    for (int i = 0; i < N; i++) {
        for (int xi = 0; xi < alpha * alpha; xi++)
            one[xi] = mt[xi * XI_STRIDE + i];
        cnn_winograd_filter_grads(m, 1, one, 1, dw1);
        for (int e = 0; e < 9; e++)
            TU_CHECK(dw[i * 9 + e] == dw1[e], "F(%d) filter gradient %d element %d: %g vs %g", m, i,
                     e, dw[i * 9 + e], dw1[e]);
    }
}

/* Three tiles side by side, on a plane whose width is not a multiple of m
 * and with one column of padding on the left: every tile of the band must
 * equal the single-tile transform of its own zero-padded patch. */
static void test_band(int m, uint64_t *rng)
{
    const int alpha = m + 2, tiles = 3, h = alpha, w = tiles * m - 1;
    float x[6 * 12], v[36 * 3], patch[36], one[36], scratch[1024];
    tu_fill(x, h * w, rng, -1, 1);
    input_band(m, x, h, w, 0, -1, tiles, v, tiles, scratch);
    for (int t = 0; t < tiles; t++) {
        for (int i = 0; i < alpha; i++)
            for (int j = 0; j < alpha; j++) {
                int col = t * m + j - 1;
                patch[i * alpha + j] = col >= 0 && col < w ? x[i * w + col] : 0.0f;
            }
        input_band(m, patch, alpha, alpha, 0, 0, 1, one, 1, scratch);
        for (int xi = 0; xi < alpha * alpha; xi++)
            TU_CHECK(v[xi * tiles + t] == one[xi], "F(%d) band tile %d element %d: %g vs %g", m, t,
                     xi, v[xi * tiles + t], one[xi]);
    }

    /* The output side: tile t of a band of M values must land in columns
     * t*m .. t*m + m - 1, clipped to w, and rows past h must stay untouched. */
    float mt[36 * 3], y[5 * 12], ys[16];
    tu_fill(mt, alpha * alpha * tiles, rng, -1, 1);
    for (int i = 0; i < 5 * 12; i++)
        y[i] = NAN;
    const int oh = m - 1; /* the band's last row lies outside the plane */
    output_band(m, mt, tiles, tiles, 0.0f, -INFINITY, y, oh, w, 0, scratch);
    for (int t = 0; t < tiles; t++) {
        for (int xi = 0; xi < alpha * alpha; xi++)
            one[xi] = mt[xi * tiles + t];
        output_band(m, one, 1, 1, 0.0f, -INFINITY, ys, m, m, 0, scratch);
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < m && t * m + j < w; j++)
                TU_CHECK(y[i * w + t * m + j] == ys[i * m + j],
                         "F(%d) output band tile %d (%d,%d): %g vs %g", m, t, i, j,
                         y[i * w + t * m + j], ys[i * m + j]);
    }
    for (int i = oh * w; i < 5 * 12; i++)
        TU_CHECK(isnan(y[i]), "F(%d) output band wrote past the plane at %d", m, i);
}

/* Many filters at once (more than one block of the implementation), read
 * with two strides (inner runs of 3 filters STRIDE apart, the runs OUTER
 * apart, as a GEMM panel of 3 rows is read) and, for backward data,
 * rotated: each must equal the transform of its own taps, rotated by hand,
 * bit for bit. */
static void test_filter_batch(int m, uint64_t *rng)
{
    enum { N = 70, INNER = 3, STRIDE = 11, OUTER = 40, XI_STRIDE = 75 };
    enum { G_FLOATS = (N / INNER) * OUTER + (INNER - 1) * STRIDE + 9 };
    const int alpha = m + 2;
    float g[G_FLOATS], u[36 * XI_STRIDE], taps[9], one[36];
    tu_fill(g, G_FLOATS, rng, -1, 1);
    for (int flip = 0; flip <= 1; flip++) {
        cnn_winograd_filters(m, N, g, INNER, STRIDE, OUTER, flip, u, XI_STRIDE);
        for (int i = 0; i < N; i++) {
            const float *src = g + i / INNER * OUTER + i % INNER * STRIDE;
            for (int e = 0; e < 9; e++)
                taps[e] = src[flip ? 8 - e : e];
            cnn_winograd_filters(m, 1, taps, 1, 0, 9, false, one, 1);
            for (int xi = 0; xi < alpha * alpha; xi++)
                TU_CHECK(u[xi * XI_STRIDE + i] == one[xi], "F(%d) filter %d%s element %d: %g vs %g",
                         m, i, flip ? " rotated" : "", xi, u[xi * XI_STRIDE + i], one[xi]);
        }
    }
}

/* y = conv(x, w) + b directly, in double, with the sum of |terms| per output. */
static void direct_fwd(const cnn_conv_desc *d, const float *x, const float *w, const float *b,
                       double *y, double *mag)
{
    for (int n = 0; n < d->n; n++)
        for (int k = 0; k < d->k; k++)
            for (int p = 0; p < d->p; p++)
                for (int q = 0; q < d->q; q++) {
                    double s = b ? b[k] : 0.0, sa = b ? fabs(b[k]) : 0.0;
                    for (int c = 0; c < d->c; c++)
                        for (int r = 0; r < 3; r++)
                            for (int t = 0; t < 3; t++) {
                                int hh = p - d->pad_h + r, ww = q - d->pad_w + t;
                                if (hh < 0 || hh >= d->h || ww < 0 || ww >= d->w)
                                    continue;
                                double term = (double)x[((n * d->c + c) * d->h + hh) * d->w + ww] *
                                              w[((k * d->c + c) * 3 + r) * 3 + t];
                                s += term;
                                sa += fabs(term);
                            }
                    size_t o = ((size_t)(n * d->k + k) * d->p + p) * d->q + q;
                    y[o] = s;
                    mag[o] = sa;
                }
}

/* dx = the adjoint of conv with respect to x, directly, in double. */
static void direct_bwd_data(const cnn_conv_desc *d, const float *dy, const float *w, double *dx,
                            double *mag)
{
    size_t nx = (size_t)d->n * d->c * d->h * d->w;
    memset(dx, 0, nx * sizeof *dx);
    memset(mag, 0, nx * sizeof *mag);
    for (int n = 0; n < d->n; n++)
        for (int k = 0; k < d->k; k++)
            for (int p = 0; p < d->p; p++)
                for (int q = 0; q < d->q; q++)
                    for (int c = 0; c < d->c; c++)
                        for (int r = 0; r < 3; r++)
                            for (int t = 0; t < 3; t++) {
                                int hh = p - d->pad_h + r, ww = q - d->pad_w + t;
                                if (hh < 0 || hh >= d->h || ww < 0 || ww >= d->w)
                                    continue;
                                double term = (double)dy[((n * d->k + k) * d->p + p) * d->q + q] *
                                              w[((k * d->c + c) * 3 + r) * 3 + t];
                                size_t o = ((size_t)(n * d->c + c) * d->h + hh) * d->w + ww;
                                dx[o] += term;
                                mag[o] += fabs(term);
                            }
}

/* dw = the adjoint of conv with respect to w, directly, in double. */
static void direct_bwd_weight(const cnn_conv_desc *d, const float *x, const float *dy, double *dw,
                              double *mag)
{
    for (int k = 0; k < d->k; k++)
        for (int c = 0; c < d->c; c++)
            for (int r = 0; r < 3; r++)
                for (int t = 0; t < 3; t++) {
                    double s = 0, sa = 0;
                    for (int n = 0; n < d->n; n++)
                        for (int p = 0; p < d->p; p++)
                            for (int q = 0; q < d->q; q++) {
                                int hh = p - d->pad_h + r, ww = q - d->pad_w + t;
                                if (hh < 0 || hh >= d->h || ww < 0 || ww >= d->w)
                                    continue;
                                double term = (double)dy[((n * d->k + k) * d->p + p) * d->q + q] *
                                              x[((n * d->c + c) * d->h + hh) * d->w + ww];
                                s += term;
                                sa += fabs(term);
                            }
                    size_t o = ((size_t)(k * d->c + c) * 3 + r) * 3 + t;
                    dw[o] = s;
                    mag[o] = sa;
                }
}

static void fill_int(float *x, size_t n, uint64_t *rng, int lo, int hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (int)(tu_next(rng) % (uint64_t)(hi - lo + 1)));
}

/* Run one pass of the planned convolution; compare with the direct one.
 * exact: bitwise equality (integer data, F(2x2)); otherwise per element
 * |err| <= tol * sum|terms|. */
/* A schedule to force: chunk 0 keeps the plan's own; fuse_rows > 0 then
 * fuses the filter transform with blocks of fuse_rows x fuse_cols of U,
 * -1 forces it off. */
typedef struct schedule {
    int chunk;
    bool shared;
    int fuse_rows, fuse_cols;
} schedule;

/* The plan's own; chunks of one and two bands, so that chunks end inside an
 * image, straddle two, and leave a short last chunk; each run by one thread
 * (private) or by all (shared); one chunk of every band (1 << 20, clamped),
 * its filters transformed whole first or a block at a time, the blocks
 * one GEMM panel of rows (1, rounded up) or three (17, rounded up; 19 and
 * 13 rows give a short last block, 13 a short last panel) by 3 or 5
 * channels (a short last block, and more than one block to add up). */
static const schedule schedules[] = {
    {0, false, 0, 0}, {1, false, 0, 0},       {2, false, 0, 0},      {1, true, 0, 0},
    {2, true, 0, 0},  {1 << 20, true, -1, 0}, {1 << 20, true, 1, 3}, {1 << 20, false, 17, 5},
};
#define NSCHEDULES (int)(sizeof schedules / sizeof schedules[0])

typedef enum which { FWD, BWD_DATA, BWD_WEIGHT } which;
static const char *const which_name[] = {"fwd", "bwd_data", "bwd_weight"};

/* The worst |err| / largest sum|terms| of the F(4x4) runs, per pass. */
static double worst4[3];

/* Run one pass of the planned convolution on operands a and b (x and w, dy
 * and w, x and dy); compare with the direct one. */
static void check_conv(int m, const cnn_conv_desc *d, which pass, bool integer, double tol,
                       int threads, schedule sched, uint64_t *rng)
{
    size_t nx = (size_t)d->n * d->c * d->h * d->w, ny = (size_t)d->n * d->k * d->p * d->q;
    size_t nw = (size_t)d->k * d->c * 9;
    size_t na = pass == BWD_DATA ? ny : nx, nb = pass == BWD_WEIGHT ? ny : nw;
    size_t nout = pass == FWD ? ny : pass == BWD_DATA ? nx : nw;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
    float *bias = malloc((size_t)d->k * sizeof *bias), *out = malloc(nout * sizeof *out);
    double *ref = malloc(nout * sizeof *ref), *mag = malloc(nout * sizeof *mag);
    if (integer) {
        fill_int(a, na, rng, -4, 4);
        fill_int(b, nb, rng, -3, 3);
        fill_int(bias, (size_t)d->k, rng, -8, 8);
    } else {
        tu_fill(a, (int64_t)na, rng, -1, 1);
        tu_fill(b, (int64_t)nb, rng, -1, 1);
        tu_fill(bias, d->k, rng, -1, 1);
    }
    for (size_t i = 0; i < nout; i++)
        out[i] = NAN;

    cnn_winograd_plan p;
    if (pass == BWD_DATA)
        cnn_winograd_plan_bwd_data(&p, m, threads, d);
    else if (pass == BWD_WEIGHT)
        cnn_winograd_plan_bwd_weight(&p, m, threads, d);
    else
        cnn_winograd_plan_fwd(&p, m, threads, d);
    if (sched.chunk)
        cnn_winograd_plan_set_chunk(&p, sched.chunk, pass == BWD_WEIGHT || sched.shared);
    if (sched.fuse_rows)
        cnn_winograd_plan_set_fused(&p, sched.fuse_rows, sched.fuse_cols);
    void *ws = malloc(cnn_winograd_plan_bytes(&p));
    if (pass == BWD_WEIGHT)
        cnn_winograd_run_bwd_weight(&p, a, b, out, ws);
    else
        cnn_winograd_run(&p, a, b, pass == FWD ? bias : NULL, out, ws);
    if (pass == BWD_DATA)
        direct_bwd_data(d, a, b, ref, mag);
    else if (pass == BWD_WEIGHT)
        direct_bwd_weight(d, a, b, ref, mag);
    else
        direct_fwd(d, a, b, bias, ref, mag);

    char desc[128];
    cnn_op op = {.kind = CNN_OP_CONV, .conv = *d};
    cnn_op_str(&op, desc, sizeof desc);
    /* A Winograd output mixes every input of its tile, so its rounding
     * error scales with the tile's inputs, not with its own terms (an output
     * at the edge of dx may have a single term): judge every element against
     * the largest sum of |terms| of the output. */
    double scale = 0.0;
    for (size_t i = 0; i < nout; i++)
        scale = mag[i] > scale ? mag[i] : scale;
    int bad = 0;
    for (size_t i = 0; i < nout && bad < 3; i++) {
        double err = fabs(out[i] - ref[i]);
        bool ok = integer ? out[i] == (float)ref[i] : err <= tol * scale;
        if (!integer && scale > 0 && err / scale > worst4[pass])
            worst4[pass] = err / scale;
        if (!ok)
            bad++;
        TU_CHECK(ok, "F(%d) %s %s, %d threads, chunk %d%s, fused %dx%d, element %zu: %.9g vs %.9g",
                 m, which_name[pass], desc, threads, p.bands_per_chunk, p.shared ? " shared" : "",
                 p.fuse_rows, p.fuse_cols, i, out[i], ref[i]);
    }
    free(a);
    free(b);
    free(bias);
    free(out);
    free(ref);
    free(mag);
    free(ws);
}

typedef struct shape {
    int n, c, h, w, k, pad_h, pad_w;
} shape;

/* Outputs not a multiple of either tile, smaller than a tile, single rows
 * and columns, paddings 0..3 (pad 3 gives bwd_data negative padding), one
 * channel in or out, and a batch whose bands straddle images; the last two
 * give the GEMM kernel (winograd_gemm.c) whole register blocks of rows and
 * of tiles and a remainder of each (19 and 13 rows, up to 242 tiles). */
static const shape shapes[] = {
    {1, 1, 3, 3, 1, 0, 0},    {1, 2, 4, 4, 1, 0, 0}, {2, 3, 5, 7, 2, 1, 1},
    {1, 1, 1, 1, 3, 1, 1},    {1, 2, 1, 6, 2, 1, 1}, {2, 4, 9, 6, 3, 2, 2},
    {1, 3, 7, 5, 2, 3, 3},    {1, 2, 6, 9, 1, 0, 2}, {1, 2, 8, 8, 3, 3, 1},
    {3, 5, 11, 13, 4, 1, 0},  {2, 1, 2, 2, 2, 2, 3}, {1, 17, 6, 10, 19, 1, 1},
    {2, 9, 18, 22, 13, 1, 1},
};

/* The row gather both transforms start from, against its definition bit
 * for bit: taps j < ntaps of tiles tx < tiles_x at columns c0 + tx*m + j,
 * zero outside [0, w), on rows of 1 to 70 columns with the first tile
 * starting left of the row (padding), at it, or inside it (a padding above
 * 2 in the backward data pass), tiles running past its end, and one to 20
 * tiles (the AVX-512 build's blocks of 7 and 8 tiles, their remainders).
 * The row sits inside a buffer of sentinels, and every lane of dst past
 * tiles_x must keep its sentinel. */
static void test_gather_row(uint64_t *rng)
{
    enum { PAD = 40, MAXW = 70, MAXT = 20, LANES = MAXT + 3 };
    float buf[PAD + MAXW + PAD], dst[6 * LANES], ph[4 * (MAXT + 1)];
    const float sentinel = -12345.0f;
    int bad = 0, cases = 0;
    for (int m = 2; m <= 4; m += 2)
        for (int ntaps = m; ntaps <= m + 2; ntaps += 2)
            for (int w = 1; w <= MAXW; w += (w < 20 ? 1 : 7))
                for (int c0 = -3; c0 <= 2; c0++)
                    for (int tiles = 1; tiles <= MAXT; tiles++) {
                        for (int i = 0; i < PAD + MAXW + PAD; i++)
                            buf[i] = sentinel;
                        const float *row = buf + PAD;
                        for (int i = 0; i < w; i++)
                            buf[PAD + i] = tu_uniform(rng, -1.0f, 1.0f);
                        for (int i = 0; i < 6 * LANES; i++)
                            dst[i] = sentinel;
                        cnn_winograd_gather_row(m, ntaps, row, w, c0, tiles, dst, LANES, ph);
                        cases++;
                        for (int j = 0; j < 6; j++)
                            for (int tx = 0; tx < LANES; tx++) {
                                const int c = c0 + tx * m + j;
                                float want = sentinel;
                                if (j < ntaps && tx < tiles)
                                    want = c >= 0 && c < w ? row[c] : 0.0f;
                                const float got = dst[j * LANES + tx];
                                if (memcmp(&got, &want, sizeof got) && bad++ < 5)
                                    TU_CHECK(false,
                                             "gather m %d taps %d w %d c0 %d tiles %d: tap %d "
                                             "tile %d is %g, want %g",
                                             m, ntaps, w, c0, tiles, j, tx, got, want);
                            }
                    }
    TU_CHECK(bad == 0, "gather: %d wrong lanes over %d cases", bad, cases);
}

int main(void)
{
    uint64_t rng = 42;
    test_gather_row(&rng);
    for (int m = 2; m <= 4; m += 2) {
        for (int rep = 0; rep < 20; rep++)
            test_single_tiles(m, &rng);
        test_band(m, &rng);
        test_filter_batch(m, &rng);
        for (int rep = 0; rep < 20; rep++)
            test_grad_tiles(m, &rng);
        test_grad_band(m, &rng);
    }

    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        cnn_conv_desc d = {.n = s->n,
                           .c = s->c,
                           .h = s->h,
                           .w = s->w,
                           .k = s->k,
                           .r = 3,
                           .s = 3,
                           .stride_h = 1,
                           .stride_w = 1,
                           .pad_h = s->pad_h,
                           .pad_w = s->pad_w,
                           .has_bias = true};
        if (cnn_conv_init(&d) != CNN_OK) {
            TU_CHECK(false, "shape %zu: %s", i, cnn_last_error());
            continue;
        }
        for (which pass = FWD; pass <= BWD_WEIGHT; pass++) {
            for (int threads = 1; threads <= 3; threads++)
                for (int i = 0; i < NSCHEDULES; i++)
                    check_conv(2, &d, pass, true, 0.0, threads, schedules[i], &rng);
            /* F(4x4): the transforms' coefficients reach 8 (A^T) and 5
             * (B^T) and the filter's fractions 1/6, 1/12, 1/24 are inexact;
             * the worst error measured on these shapes and schedules is
             * 2.5e-6 forward, 2.2e-6 backward data and 1.8e-6 backward
             * weights (printed below) of the largest sum|terms|. 3.2e-5
             * leaves a 12x margin and
             * still catches a wrong or missing tap, which costs a whole
             * term: with at most 5 x 9 terms, about 1/45 of that scale. */
            for (int i = 0; i < NSCHEDULES; i++)
                check_conv(4, &d, pass, false, 3.2e-5, 2, schedules[i], &rng);
        }
    }
    printf("F(4x4) worst |err| / max sum|terms|: fwd %.3g, bwd_data %.3g, bwd_weight %.3g\n",
           worst4[FWD], worst4[BWD_DATA], worst4[BWD_WEIGHT]);
    return tu_finish("test_winograd_transforms");
}
