#include "winograd_gemm.h"

#include <stdbool.h>
#include <string.h>

/* Why not cblas_sgemm: a chunk makes alpha^2 GEMMs (36 for F(4x4)), each
 * with the chunk's tiles as N, and OpenBLAS packs both operands on every
 * call. On ResNet-18 at batch 8 the 7x7 layers have 32 tiles in all, so
 * every call copies all of U[xi] (512 x 512, 1 MiB) to multiply it by 32
 * columns, and F(4x4,3x3) ran its GEMMs at 17% of the FMA peak there
 * (6.9 ms for 0.6 GFLOP of products). Here U is read in place, already in
 * the panels a register block wants (the filter transform writes them:
 * winograd_gemm.h), and V is rows of consecutive tiles. The loops are plain
 * C over GCC/Clang vector types of the width the library is compiled for
 * (-march=native: CMakeLists.txt), so the one source is the AVX-512, AVX2
 * or SSE kernel. */

#define MR CNN_WINOGRAD_GEMM_ROWS
#if defined(__AVX512F__)
#define VL 16
#elif defined(__AVX__)
#define VL 8
#else
#define VL 4
#endif
/* A block is MR rows of U by two vectors of tiles: 2 MR accumulators, two
 * loads of V and MR broadcasts of U per channel (16 of AVX-512's 32
 * registers; 12 of AVX2's 16). */
#define NR (2 * VL)
_Static_assert(CNN_WINOGRAD_GEMM_COLS % NR == 0, "the column padding must cover a block");

typedef float vfloat __attribute__((vector_size(VL * sizeof(float))));

static inline vfloat load(const float *p)
{
    vfloat v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store(float *p, vfloat v)
{
    memcpy(p, &v, sizeof v);
}

/* rows (a constant where inlined) rows of M, columns t0 .. t0 + NR - 1,
 * from a panel of U w rows wide (element (r, j) at u[j * w + r]); added to
 * M's own when acc. */
static inline __attribute__((always_inline)) void block(int rows, int c, const float *u, size_t w,
                                                        const float *v, size_t ldt, float *mt,
                                                        bool acc)
{
    vfloat acc0[MR], acc1[MR];
    for (int r = 0; r < rows; r++) {
        acc0[r] = acc ? load(mt + (size_t)r * ldt) : (vfloat){0};
        acc1[r] = acc ? load(mt + (size_t)r * ldt + VL) : (vfloat){0};
    }
    for (int j = 0; j < c; j++) {
        const vfloat b0 = load(v + (size_t)j * ldt), b1 = load(v + (size_t)j * ldt + VL);
        for (int r = 0; r < rows; r++) {
            /* x - 0 is x for every x (x + 0 is not, for -0), so this is a
             * plain broadcast */
            const vfloat a = u[(size_t)j * w + (size_t)r] - (vfloat){0};
            acc0[r] += a * b0;
            acc1[r] += a * b1;
        }
    }
    for (int r = 0; r < rows; r++) {
        store(mt + (size_t)r * ldt, acc0[r]);
        store(mt + (size_t)r * ldt + VL, acc1[r]);
    }
}

/* rows rows of M, columns t0 .. t0 + VL - 1: the last block of columns
 * when no more than VL tiles are left (a full block there would compute
 * up to NR - 1 columns of padding: 26 of 96 on ResNet-18's 56x56 layers,
 * whose chunks have 70 tiles). */
static inline __attribute__((always_inline)) void half_block(int rows, int c, const float *u,
                                                             size_t w, const float *v,
                                                             size_t ldt, float *mt, bool acc_in)
{
    vfloat acc[MR];
    for (int r = 0; r < rows; r++)
        acc[r] = acc_in ? load(mt + (size_t)r * ldt) : (vfloat){0};
    for (int j = 0; j < c; j++) {
        const vfloat b = load(v + (size_t)j * ldt);
        for (int r = 0; r < rows; r++)
            acc[r] += (u[(size_t)j * w + (size_t)r] - (vfloat){0}) * b;
    }
    for (int r = 0; r < rows; r++)
        store(mt + (size_t)r * ldt, acc[r]);
}

/* The last panel, fewer than MR rows: one copy per count. */
static void tail_block(int rows, int c, const float *u, const float *v, size_t ldt, float *mt,
                       bool acc)
{
    switch (rows) {
#if MR > 7
    case 7: block(7, c, u, 7, v, ldt, mt, acc); break;
    case 6: block(6, c, u, 6, v, ldt, mt, acc); break;
#endif
#if MR > 5
    case 5: block(5, c, u, 5, v, ldt, mt, acc); break;
    case 4: block(4, c, u, 4, v, ldt, mt, acc); break;
#endif
    case 3: block(3, c, u, 3, v, ldt, mt, acc); break;
    case 2: block(2, c, u, 2, v, ldt, mt, acc); break;
    default: block(1, c, u, 1, v, ldt, mt, acc); break;
    }
}

void cnn_winograd_gemm(int k, int t, int c, const float *u, const float *v, size_t ldt, float *mt,
                       bool acc)
{
    for (int t0 = 0; t0 < t; t0 += NR) {
        /* Panel k0: rows k0 .. k0 + w - 1 at u + k0 * c, row r's element j
         * at j * w + r, so the MR broadcasts of a step are one run. */
        if (t - t0 <= VL) {
            for (int k0 = 0; k0 < k; k0 += MR) {
                const float *uk = u + (size_t)k0 * c;
                float *mk = mt + (size_t)k0 * ldt + t0;
                const int w = k - k0 < MR ? k - k0 : MR;
                if (w == MR)
                    half_block(MR, c, uk, MR, v + t0, ldt, mk, acc);
                else
                    for (int r = 0; r < w; r++)
                        half_block(1, c, uk + r, (size_t)w, v + t0, ldt, mk + (size_t)r * ldt,
                                   acc);
            }
            break;
        }
        int k0 = 0;
        for (; k0 + MR <= k; k0 += MR)
            block(MR, c, u + (size_t)k0 * c, MR, v + t0, ldt, mt + (size_t)k0 * ldt + t0, acc);
        if (k0 < k)
            tail_block(k - k0, c, u + (size_t)k0 * c, v + t0, ldt, mt + (size_t)k0 * ldt + t0, acc);
    }
}
