/* The batch-lane linear loops (cpu_linear_lanes.c says when and why), one
 * body for two ISAs: cpu_linear_lanes_avx512.c includes it with LANES 16
 * and cpu_linear_lanes_avx2.c with LANES 8, each file compiled for its ISA
 * with FMA contraction (impl_cpu/CMakeLists.txt). The register tiles are
 * sized for each ISA's register file (32 zmm, 16 ymm); both sum every
 * output in the same order with fused multiply-adds, so the two round
 * alike.
 *
 * Every loop below is a register tile of accumulators fed by one vector
 * load and one broadcast scalar per multiply-add column:
 *   forward      y[b][o]  = sum_i w[o][i] xT[i][b]  b in lanes (xT: x
 *                           transposed by the caller into panels of 16)
 *   data grad    dx[b][i] = sum_o dy[b][o] w[o][i]  i in lanes, w's rows
 *                           copied in groups into an L1 panel
 *   weight grad  dw[o][i] = sum_b dy[b][o] x[b][i]  i in lanes
 * The forward's and the weight gradient's tiles at the edges clamp their
 * row pointers to the last valid row and store only the valid rows: the
 * same code everywhere, a little wasted work on the last tile. Column tails
 * (in not a multiple of a strip) are scalar, in the same order of
 * summation. */
#include "cpu_linear_lanes.h"
#include "cpu_parallel.h"

#include <string.h>

#if LANES == 16
#define SUFFIX(name) name##_avx512
#define FWD_R 12 /* rows of w per forward tile */
#define FWD_C 1  /* vectors of 16 batch lanes per tile */
#define BW_R 8   /* rows of dw per weight-gradient tile */
#elif LANES == 8
#define SUFFIX(name) name##_avx2
#define FWD_R 6
#define FWD_C 2
#define BW_R 4
#else
#error "LANES must be 16 or 8"
#endif
/* Two vectors of columns per weight-gradient tile. */
#define VEC 2
#define STRIP (VEC * LANES)

typedef float vf __attribute__((vector_size(LANES * sizeof(float))));

#define LDV(dst, src) memcpy(&(dst), (src), sizeof(vf))
#define STV(dst, v)                                                                                \
    do {                                                                                           \
        const vf stv_v_ = (v);                                                                     \
        memcpy((dst), &stv_v_, sizeof(vf));                                                        \
    } while (0)

#if CNN_CPU_LINEAR_LANES_PANEL != FWD_C * LANES
#error "the forward's panel must be the transposed x's"
#endif

static inline int clamp_row(int r, int last)
{
    return r < last ? r : last;
}

void SUFFIX(cnn_cpu_linear_fwd_lanes_share)(const cnn_linear_desc *d, const float *xt,
                                            const float *w, const float *b, float *y)
{
    const int out = d->out, in = d->in, n = d->n;
    const int panels = (n + CNN_CPU_LINEAR_LANES_PANEL - 1) / CNN_CPU_LINEAR_LANES_PANEL;
    int64_t lo, hi;
    cnn_cpu_share((out + FWD_R - 1) / FWD_R, &lo, &hi);
    for (int64_t blk = lo; blk < hi; blk++) {
        const int o0 = (int)blk * FWD_R;
        const float *wr[FWD_R];
        for (int r = 0; r < FWD_R; r++)
            wr[r] = w + (size_t)clamp_row(o0 + r, out - 1) * in;
        for (int p = 0; p < panels; p++) {
            const float *xp = xt + (size_t)p * in * CNN_CPU_LINEAR_LANES_PANEL;
            vf acc[FWD_R][FWD_C];
            for (int r = 0; r < FWD_R; r++)
                for (int c = 0; c < FWD_C; c++)
                    acc[r][c] = (vf){0};
            for (int i = 0; i < in; i++) {
                vf xv[FWD_C];
                for (int c = 0; c < FWD_C; c++)
                    LDV(xv[c], xp + (size_t)i * CNN_CPU_LINEAR_LANES_PANEL + c * LANES);
                for (int r = 0; r < FWD_R; r++) {
                    const float s = wr[r][i];
                    for (int c = 0; c < FWD_C; c++)
                        acc[r][c] += s * xv[c];
                }
            }
            const int b0 = p * CNN_CPU_LINEAR_LANES_PANEL;
            for (int r = 0; r < FWD_R && o0 + r < out; r++) {
                const float bias = b ? b[o0 + r] : 0.0f;
                for (int c = 0; c < FWD_C; c++)
                    for (int l = 0; l < LANES; l++) {
                        const int bi = b0 + c * LANES + l;
                        if (bi < n)
                            y[(size_t)bi * out + o0 + r] = acc[r][c][l] + bias;
                    }
            }
        }
    }
}

/* The data gradient reduces over w's rows. A register tile walking o read
 * w down its columns, a stride of a whole row, which the hardware
 * prefetchers do not follow (34-49 GFLOP/s on AlexNet's classifier), and
 * 1 KiB pieces of each row read in place were no better (6.6 GB/s): rows a
 * multiple of 4 KiB apart (9216 and 4096 floats are) all fall in the same
 * L1 sets. Here each thread owns a contiguous range of columns (half of
 * every row on two threads); BD_ROWS rows of w at a time are copied, CHUNK
 * columns at a time, into a contiguous panel on the stack that stays in L1
 * while every batch row uses it: per dx vector (from L2) one load, BD_ROWS
 * fused multiply-adds with dy's values in registers, one store, BD_VECS
 * vectors side by side. Rows left over after the last whole group run one
 * at a time, so every dx element sums over o in order, whatever the team. */
#if LANES == 16
#define BD_ROWS 16
#define BD_VECS 8
#else
#define BD_ROWS 8
#define BD_VECS 4
#endif
#define CHUNK 256

static inline __attribute__((always_inline)) void
bwd_data_rows(int rows, const float *g, const float *w, int in, float *dxb, int cols)
{
    /* rows == BD_ROWS (constant where inlined) or 1 */
    float gs[BD_ROWS];
    for (int r = 0; r < rows; r++)
        gs[r] = g[r];
    int i = 0;
    /* BD_VECS vectors of dx at a time: independent chains of fused
     * multiply-adds (one vector alone waited on each FMA's latency). */
    for (; i + BD_VECS * LANES <= cols; i += BD_VECS * LANES) {
        vf acc[BD_VECS], wv;
        for (int v = 0; v < BD_VECS; v++)
            LDV(acc[v], dxb + i + v * LANES);
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < BD_VECS; v++) {
                LDV(wv, w + (size_t)r * in + i + v * LANES);
                acc[v] += gs[r] * wv;
            }
        for (int v = 0; v < BD_VECS; v++)
            STV(dxb + i + v * LANES, acc[v]);
    }
    for (; i + LANES <= cols; i += LANES) {
        vf acc, wv;
        LDV(acc, dxb + i);
        for (int r = 0; r < rows; r++) {
            LDV(wv, w + (size_t)r * in + i);
            acc += gs[r] * wv;
        }
        STV(dxb + i, acc);
    }
    for (; i < cols; i++) {
        float acc = dxb[i];
        for (int r = 0; r < rows; r++)
            acc += gs[r] * w[(size_t)r * in + i];
        dxb[i] = acc;
    }
}

void SUFFIX(cnn_cpu_linear_bwd_data_lanes_share)(const cnn_linear_desc *d, const float *dy,
                                                 const float *w, float *dx)
{
    const int out = d->out, in = d->in, n = d->n;
    /* Whole vectors of columns per thread; the last takes the tail. */
    int64_t lo, hi;
    cnn_cpu_share(in / LANES, &lo, &hi);
    const int c0 = (int)lo * LANES;
    const int c1 = cnn_cpu_thread_id() == cnn_cpu_team_size() - 1 ? in : (int)hi * LANES;
    if (c1 <= c0)
        return;
    for (int bi = 0; bi < n; bi++)
        memset(dx + (size_t)bi * in + c0, 0, (size_t)(c1 - c0) * sizeof *dx);
    _Alignas(64) float panel[BD_ROWS * CHUNK];
    int o0 = 0;
    for (; o0 + BD_ROWS <= out; o0 += BD_ROWS)
        for (int i0 = c0; i0 < c1; i0 += CHUNK) {
            const int cols = c1 - i0 < CHUNK ? c1 - i0 : CHUNK;
            /* The rows' chunks copied side by side first: rows a multiple
             * of 4 KiB apart all fall in the same L1 sets, more rows than
             * it has ways (6.6 GB/s when read in place). */
            for (int r = 0; r < BD_ROWS; r++)
                memcpy(panel + r * CHUNK, w + (size_t)(o0 + r) * in + i0,
                       (size_t)cols * sizeof *panel);
            for (int bi = 0; bi < n; bi++)
                bwd_data_rows(BD_ROWS, dy + (size_t)bi * out + o0, panel, CHUNK,
                              dx + (size_t)bi * in + i0, cols);
        }
    for (; o0 < out; o0++)
        for (int bi = 0; bi < n; bi++)
            bwd_data_rows(1, dy + (size_t)bi * out + o0, w + (size_t)o0 * in + c0, in,
                          dx + (size_t)bi * in + c0, c1 - c0);
}

void SUFFIX(cnn_cpu_linear_bwd_weight_lanes_share)(const cnn_linear_desc *d, const float *x,
                                                   const float *dy, float *dw)
{
    const int out = d->out, in = d->in, n = d->n;
    const int strips = in / STRIP;
    int64_t lo, hi;
    cnn_cpu_share((out + BW_R - 1) / BW_R, &lo, &hi);
    for (int64_t blk = lo; blk < hi; blk++) {
        const int o0 = (int)blk * BW_R;
        int oc[BW_R];
        for (int r = 0; r < BW_R; r++)
            oc[r] = clamp_row(o0 + r, out - 1);
        for (int s = 0; s < strips; s++) {
            const int i = s * STRIP;
            vf acc[BW_R][VEC];
            for (int r = 0; r < BW_R; r++)
                for (int v = 0; v < VEC; v++)
                    acc[r][v] = (vf){0};
            for (int bi = 0; bi < n; bi++) {
                const float *xb = x + (size_t)bi * in + i;
                const float *g = dy + (size_t)bi * out;
                vf xv[VEC];
                for (int v = 0; v < VEC; v++)
                    LDV(xv[v], xb + v * LANES);
                for (int r = 0; r < BW_R; r++) {
                    const float gs = g[oc[r]];
                    for (int v = 0; v < VEC; v++)
                        acc[r][v] += gs * xv[v];
                }
            }
            for (int r = 0; r < BW_R && o0 + r < out; r++)
                for (int v = 0; v < VEC; v++)
                    STV(dw + (size_t)(o0 + r) * in + i + v * LANES, acc[r][v]);
        }
        for (int r = 0; r < BW_R && o0 + r < out; r++)
            for (int i = strips * STRIP; i < in; i++) {
                float acc = 0.0f;
                for (int bi = 0; bi < n; bi++)
                    acc += dy[(size_t)bi * out + o0 + r] * x[(size_t)bi * in + i];
                dw[(size_t)(o0 + r) * in + i] = acc;
            }
    }
}
