/* Linear layers at small batches, where the weight is the only large
 * operand and every pass is a stream over it (cpu_ops.h). Why not
 * cblas_sgemm there: it packs the weight before multiplying it by a few
 * rows, and on VGG-16's classifier.0 (25088 -> 4096, 411 MB of weights) at
 * batch 4 OpenBLAS 0.3.21 moved the weight at 5.8 GB/s forward, 3.3 GB/s
 * for the data gradient and 5.7 GB/s for the weight gradient on a VM whose
 * triad ran at 20 GB/s: 71 + 123 + 72 ms of the train step's 1.8 s. Here
 * each pass reads (or writes) the weight once, in rows, with the batch's
 * rows of x, dy or dx in registers or in L2.
 *
 * The loops are plain C over 8-float GCC/Clang vectors, compiled for
 * AVX-512, AVX2 and the baseline (CNN_CPU_VEC_WIDE), no contraction, the
 * sums in float in a fixed order (a thread's share never changes a
 * result's order of summation). */
#include "cpu_ops.h"
#include "cpu_parallel.h"
#include "cpu_simd.h"

#include <string.h>

typedef float v8 __attribute__((vector_size(32)));

/* Loads, stores and the horizontal sum of 8-float vectors as macros, not
 * functions: a function taking or returning one has an ABI that depends on
 * the ISA, and each clone of CNN_CPU_VEC_WIDE is compiled for another. As
 * inline functions they broke two builds of .ci/run: in the Debug sanitizer
 * build (-O0, nothing inlined) the AVX-512 clone called the baseline copy
 * of the load and the two disagreed on how the vector comes back (a SEGV),
 * and Clang rejects such calls outright ("AVX vector return ... changes the
 * ABI", the fuzz build). */
#define LD8(dst, src) memcpy(&(dst), (src), sizeof(v8))
#define ST8(dst, v)                                                                                \
    do {                                                                                           \
        const v8 st8_v_ = (v);                                                                     \
        memcpy((dst), &st8_v_, sizeof(v8));                                                        \
    } while (0)
#define HSUM8(v) ((((v)[0] + (v)[4]) + ((v)[1] + (v)[5])) + (((v)[2] + (v)[6]) + ((v)[3] + (v)[7])))

/* Rows of w streamed together in the forward and data-gradient loops: four
 * streams, each reused for every batch row in registers. */
#define ROWS 4
/* Batch rows per register block: ROWS x BATCH accumulators. */
#define BATCH 4

/* y[b][o0 + r] = w[o0 + r] . x[b] for r < rows, b < nb (constants where
 * inlined): one pass over the rows, x's rows from cache. */
static inline __attribute__((always_inline)) void dot_block(int rows, int nb, int in,
                                                            const float *w, const float *x,
                                                            float *y, int out)
{
    v8 acc[ROWS][BATCH];
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < nb; b++)
            acc[r][b] = (v8){0};
    int i = 0;
    for (; i + 8 <= in; i += 8) {
        v8 wv[ROWS];
        for (int r = 0; r < rows; r++)
            LD8(wv[r], w + (size_t)r * in + i);
        for (int b = 0; b < nb; b++) {
            v8 xv;
            LD8(xv, x + (size_t)b * in + i);
            for (int r = 0; r < rows; r++)
                acc[r][b] += wv[r] * xv;
        }
    }
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < nb; b++) {
            float s = HSUM8(acc[r][b]);
            for (int j = i; j < in; j++)
                s += w[(size_t)r * in + j] * x[(size_t)b * in + j];
            y[(size_t)b * out + r] = s;
        }
}

static inline __attribute__((always_inline)) void dot_rows(int rows, int nb, int in, const float *w,
                                                           const float *x, float *y, int out)
{
#define DOT_CASE(R, B)                                                                             \
    case (R) * 8 + (B): dot_block(R, B, in, w, x, y, out); break;
#define DOT_ROW(R) DOT_CASE(R, 1) DOT_CASE(R, 2) DOT_CASE(R, 3) DOT_CASE(R, 4)
    switch (rows * 8 + nb) {
        DOT_ROW(1)
        DOT_ROW(2)
        DOT_ROW(3)
        DOT_ROW(4)
    default: break;
    }
#undef DOT_ROW
#undef DOT_CASE
}

CNN_CPU_VEC_WIDE
static void fwd_share(const cnn_linear_desc *d, const float *x, const float *w, const float *b,
                      float *y)
{
    int64_t lo, hi;
    cnn_cpu_share((d->out + ROWS - 1) / ROWS, &lo, &hi);
    for (int64_t blk = lo; blk < hi; blk++) {
        const int o0 = (int)blk * ROWS, rows = d->out - o0 < ROWS ? d->out - o0 : ROWS;
        for (int b0 = 0; b0 < d->n; b0 += BATCH)
            dot_rows(rows, d->n - b0 < BATCH ? d->n - b0 : BATCH, d->in, w + (size_t)o0 * d->in,
                     x + (size_t)b0 * d->in, y + (size_t)b0 * d->out + o0, d->out);
        if (b)
            for (int bi = 0; bi < d->n; bi++)
                for (int r = 0; r < rows; r++)
                    y[(size_t)bi * d->out + o0 + r] += b[o0 + r];
    }
}

void cnn_cpu_linear_fwd_small(const cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                              const float *w, const float *b, float *y)
{
#pragma omp parallel num_threads(cnn_cpu_team(ctx, (int64_t)d->out * d->in))
    fwd_share(d, x, w, b, y);
}

/* dx[b][i0 .. i1) = sum_o dy[b][o] w[o][i0 .. i1), ROWS rows of w at a
 * time: each dx vector is loaded and stored once per ROWS rows, the four
 * rows' segments streamed side by side. The thread's columns of dx stay in
 * its cache (n x (i1 - i0) floats). */
CNN_CPU_VEC_WIDE
static void bwd_data_share(const cnn_linear_desc *d, const float *dy, const float *w, float *dx)
{
    int64_t lo, hi;
    /* Whole vectors of columns per thread; the last thread takes the tail
     * (all of it when there is no whole vector). */
    const int64_t vecs = d->in / 8;
    cnn_cpu_share(vecs, &lo, &hi);
    const int i0 = (int)lo * 8;
    const int i1 = cnn_cpu_thread_id() == cnn_cpu_team_size() - 1 ? d->in : (int)hi * 8;
    if (i1 <= i0)
        return;
    for (int bi = 0; bi < d->n; bi++)
        memset(dx + (size_t)bi * d->in + i0, 0, (size_t)(i1 - i0) * sizeof *dx);
    for (int o0 = 0; o0 < d->out; o0 += ROWS) {
        const int rows = d->out - o0 < ROWS ? d->out - o0 : ROWS;
        const float *wr[ROWS];
        for (int r = 0; r < ROWS; r++)
            wr[r] = w + (size_t)(o0 + (r < rows ? r : 0)) * d->in;
        for (int bi = 0; bi < d->n; bi++) {
            float g[ROWS];
            for (int r = 0; r < ROWS; r++)
                g[r] = r < rows ? dy[(size_t)bi * d->out + o0 + r] : 0.0f;
            float *dxb = dx + (size_t)bi * d->in;
            int i = i0;
            for (; i + 8 <= i1; i += 8) {
                v8 s, wv;
                LD8(s, dxb + i);
                for (int r = 0; r < ROWS; r++) {
                    LD8(wv, wr[r] + i);
                    s += g[r] * wv;
                }
                ST8(dxb + i, s);
            }
            for (; i < i1; i++) {
                float s = dxb[i];
                for (int r = 0; r < ROWS; r++)
                    s += g[r] * wr[r][i];
                dxb[i] = s;
            }
        }
    }
}

void cnn_cpu_linear_bwd_data_small(const cnn_ctx *ctx, const cnn_linear_desc *d, const float *dy,
                                   const float *w, float *dx)
{
#pragma omp parallel num_threads(cnn_cpu_team(ctx, (int64_t)d->out * d->in))
    bwd_data_share(d, dy, w, dx);
}

/* dw[o][:] = sum_b dy[b][o] x[b][:], WROWS rows of dw per pass over x's
 * rows (from cache), so each vector of x is loaded once for all of them:
 * one row at a time re-read the batch's x from L2 for every row of dw (1.6
 * GB of loads on classifier.0) and ran at 6.1 GB/s of dw. Plain stores:
 * SSE's streaming stores, which would save each line's read before its
 * write, ran 0.9-1.1 GB/s here (the VM of the measurements above). */
#define WROWS 8

CNN_CPU_VEC_WIDE
static void bwd_weight_share(const cnn_linear_desc *d, const float *x, const float *dy, float *dw)
{
    int64_t lo, hi;
    cnn_cpu_share((d->out + WROWS - 1) / WROWS, &lo, &hi);
    for (int64_t blk = lo; blk < hi; blk++) {
        const int o0 = (int)blk * WROWS, rows = d->out - o0 < WROWS ? d->out - o0 : WROWS;
        float g[CNN_CPU_LINEAR_SMALL_N][WROWS];
        for (int bi = 0; bi < d->n; bi++)
            for (int q = 0; q < WROWS; q++)
                g[bi][q] = q < rows ? dy[(size_t)bi * d->out + o0 + q] : 0.0f;
        int j = 0;
        for (; j + 16 <= d->in; j += 16) {
            v8 acc[WROWS][2];
            for (int q = 0; q < WROWS; q++)
                acc[q][0] = acc[q][1] = (v8){0};
            for (int bi = 0; bi < d->n; bi++) {
                v8 x0, x1;
                LD8(x0, x + (size_t)bi * d->in + j);
                LD8(x1, x + (size_t)bi * d->in + j + 8);
                for (int q = 0; q < WROWS; q++) {
                    acc[q][0] += g[bi][q] * x0;
                    acc[q][1] += g[bi][q] * x1;
                }
            }
            for (int q = 0; q < rows; q++) {
                ST8(dw + (size_t)(o0 + q) * d->in + j, acc[q][0]);
                ST8(dw + (size_t)(o0 + q) * d->in + j + 8, acc[q][1]);
            }
        }
        for (; j < d->in; j++)
            for (int q = 0; q < rows; q++) {
                float s = 0.0f;
                for (int bi = 0; bi < d->n; bi++)
                    s += g[bi][q] * x[(size_t)bi * d->in + j];
                dw[(size_t)(o0 + q) * d->in + j] = s;
            }
    }
}

void cnn_cpu_linear_bwd_weight_small(const cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                     const float *dy, float *dw)
{
#pragma omp parallel num_threads(cnn_cpu_team(ctx, (int64_t)d->out * d->in))
    bwd_weight_share(d, x, dy, dw);
}
