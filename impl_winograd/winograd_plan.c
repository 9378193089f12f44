#include "winograd_plan.h"

#include <math.h>

#include <stdint.h>
#include <string.h>

#include <cblas.h>

#include "cpu_parallel.h"
#include "winograd_gemm.h"
#include "winograd_transforms.h"

/* A chunk's V and M together: about the L2 of one core, so that a thread's
 * transforms and GEMMs pass its tiles through its own cache. */
#define CHUNK_BYTES ((size_t)1 << 20)
/* Fewer tiles than this make GEMMs too narrow to run near peak (each
 * reads all of U[xi] for them); with many channels this wins over
 * CHUNK_BYTES. */
#define CHUNK_MIN_TILES 64

/* The weight gradient's chunks. Each chunk's GEMMs read its V and D once
 * and read and write all of U (alpha^2 K C floats), so per tile a chunk of
 * T tiles moves alpha^2 (C + K) floats of V and D and alpha^2 K C / T of U.
 * Small layers: V and D in cache (WGRAD_CHUNK_BYTES) is what counts; large
 * ones: T >= 3 K C / (C + K) keeps U's share below a third of the rest.
 * Measured on VGG-16's layers at batch 4, one thread: 64 -> 64 @ 224 runs
 * at 166 effective GFLOP/s with 112-tile chunks and 125 with 560 or more;
 * 256 -> 256 @ 56 at 181 with 98 tiles, 209 with 196, 233 with 784. */
#define WGRAD_CHUNK_BYTES ((size_t)2 << 20)
#define WGRAD_MIN_TILES 64

/* A one-chunk plan with at most FUSE_MAX_TILES tiles transforms its filters
 * a block at a time, inside the GEMM stage, instead of writing all of U
 * first (see fused_gemms): a block of FUSE_ROWS rows of U (or fewer, to
 * give every thread two) by as many channels as fit FUSE_BYTES with its
 * share of V and M. */
#define FUSE_MAX_TILES 64
#define FUSE_ROWS 64
#define FUSE_BYTES ((size_t)1 << 20)

static size_t align16(size_t floats)
{
    return (floats + 15) / 16 * 16;
}

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

/* The distance between two of the alpha^2 matrices of U, V or M: n floats
 * rounded up to an odd number of 64-byte lines. The transforms write (and
 * read) all alpha^2 of them at once, one stream each; a distance of a
 * multiple of 4 KiB puts all 36 streams of F(4x4) in one set of L1 (12
 * ways) and, at 1 MiB (U of a 512 x 512 layer), of L2 too. An odd number
 * of lines spreads them over 36 sets of each. */
static size_t xi_floats(size_t n)
{
    size_t lines = (n + 15) / 16;
    return (lines | 1) * 16;
}

/* U's part of the workspace: all of it, or each thread's block when fused. */
static void size_u(cnn_winograd_plan *p)
{
    const size_t a2 = (size_t)p->alpha * p->alpha;
    p->u_xi = p->fuse_rows ? xi_floats((size_t)p->fuse_rows * p->fuse_cols)
                           : xi_floats((size_t)p->cout * p->cin);
    p->u_floats = (p->fuse_rows ? (size_t)p->threads : 1) * a2 * p->u_xi;
}

void cnn_winograd_plan_set_fused(cnn_winograd_plan *p, int rows, int cols)
{
    const int pr = CNN_WINOGRAD_GEMM_ROWS;
    if (rows <= 0 || cols <= 0 || p->bands_per_chunk < p->bands) {
        p->fuse_rows = p->fuse_cols = 0;
    } else {
        rows = (rows + pr - 1) / pr * pr;
        p->fuse_rows = rows < p->cout ? rows : p->cout;
        p->fuse_cols = cols < p->cin ? cols : p->cin;
    }
    size_u(p);
}

void cnn_winograd_plan_set_chunk(cnn_winograd_plan *p, int bands, bool shared)
{
    p->bands_per_chunk = bands < 1 ? 1 : bands > p->bands ? p->bands : bands;
    p->shared = shared;
    p->fuse_rows = p->fuse_cols = 0;
    /* Whole column blocks of the GEMM kernel (winograd_gemm.h). */
    p->ldt = (int)round_up((size_t)p->bands_per_chunk * p->tiles_x, CNN_WINOGRAD_GEMM_COLS);

    const size_t a2 = (size_t)p->alpha * p->alpha;
    p->v_xi = xi_floats((size_t)p->cin * p->ldt);
    p->m_xi = xi_floats((size_t)p->cout * p->ldt);
    size_u(p);
    p->v_floats = a2 * p->v_xi;
    p->m_floats = a2 * p->m_xi;
    p->scratch_floats = align16(cnn_winograd_chunk_scratch(p->m, p->tiles_x));
}

/* Chunks of CHUNK_BYTES (at least CHUNK_MIN_TILES), one thread each, when
 * that gives every thread two or more (dynamic scheduling then evens out
 * the last ones); otherwise all tiles in one chunk that the threads share,
 * which is then smaller than 2 * threads of the private ones. */
/* Bands of a chunk: chunk_bytes of V and M (or V and D), at least
 * min_tiles tiles, at most all of them. */
static size_t chunk_bands(cnn_winograd_plan *p, size_t chunk_bytes, size_t min_tiles)
{
    p->alpha = p->m + 2;
    p->tiles_y = (p->hout + p->m - 1) / p->m;
    p->tiles_x = (p->wout + p->m - 1) / p->m;
    p->bands = p->n * p->tiles_y;

    const size_t tile_bytes = (size_t)p->alpha * p->alpha * (p->cin + p->cout) * sizeof(float);
    size_t tiles = chunk_bytes / tile_bytes;
    if (tiles < min_tiles)
        tiles = min_tiles;
    size_t bands = (tiles + p->tiles_x - 1) / p->tiles_x;
    return bands > (size_t)p->bands ? (size_t)p->bands : bands;
}

/* Fuse a one-chunk plan of at most FUSE_MAX_TILES tiles. Its blocks:
 * rows FUSE_ROWS, or fewer for two blocks per thread; cols the rest of
 * FUSE_BYTES after the rows' share of the tiles (M, or D for the weight
 * gradient) over what a channel adds (a column of the U block and a row of
 * V), in whole 16s. */
static void plan_fuse(cnn_winograd_plan *p)
{
    if (p->bands_per_chunk < p->bands || p->ldt > FUSE_MAX_TILES)
        return;
    const int pr = CNN_WINOGRAD_GEMM_ROWS, a2 = p->alpha * p->alpha;
    int rows = (p->cout + 2 * p->threads - 1) / (2 * p->threads);
    rows = rows > FUSE_ROWS ? FUSE_ROWS : (rows + pr - 1) / pr * pr;
    const size_t budget = FUSE_BYTES / (sizeof(float) * (size_t)a2);
    const size_t m_block = (size_t)rows * p->ldt;
    const size_t cols =
        budget > m_block ? (budget - m_block) / ((size_t)rows + p->ldt) / 16 * 16 : 0;
    if (cols >= 16)
        cnn_winograd_plan_set_fused(p, rows, (int)cols);
}

static void plan_finish(cnn_winograd_plan *p)
{
    size_t bands = chunk_bands(p, CHUNK_BYTES, CHUNK_MIN_TILES);
    size_t chunks = (p->bands + bands - 1) / bands;
    if (p->threads > 1 && chunks < 2 * (size_t)p->threads)
        cnn_winograd_plan_set_chunk(p, p->bands, true);
    else
        cnn_winograd_plan_set_chunk(p, (int)bands, false);
    plan_fuse(p);
}

void cnn_winograd_plan_fwd(cnn_winograd_plan *p, int m, int threads, const cnn_conv_desc *d)
{
    *p = (cnn_winograd_plan){
        .m = m,
        .n = d->n,
        .cin = d->c,
        .cout = d->k,
        .hin = d->h,
        .win = d->w,
        .hout = d->p,
        .wout = d->q,
        .row0 = -d->pad_h,
        .col0 = -d->pad_w,
        .flip = false,
        .relu = d->fuse_relu,
        .threads = threads > 0 ? threads : 1,
    };
    plan_finish(p);
}

/* dx[h][w] = sum_{k,r,s} dy[h + pad - r][w + pad - s] w[k][c][r][s]; with
 * r' = 2 - r that is a correlation of dy with the rotated filter, reading dy
 * from row h - (2 - pad) on: padding 2 - pad, negative when pad > 2 (the tile
 * then starts inside dy, and the zero fill past its edge does the rest). */
void cnn_winograd_plan_bwd_data(cnn_winograd_plan *p, int m, int threads, const cnn_conv_desc *d)
{
    *p = (cnn_winograd_plan){
        .m = m,
        .n = d->n,
        .cin = d->k,
        .cout = d->c,
        .hin = d->p,
        .win = d->q,
        .hout = d->h,
        .wout = d->w,
        .row0 = d->pad_h - 2,
        .col0 = d->pad_w - 2,
        .flip = true,
        .threads = threads > 0 ? threads : 1,
    };
    plan_finish(p);
}

/* The forward plan's tiles over x and dy, chunked for the weight
 * gradient's GEMMs, whose reduction runs over the chunk's tiles (see
 * WGRAD_CHUNK_BYTES), and always shared by the threads (each chunk adds
 * into the one accumulator U). */
void cnn_winograd_plan_bwd_weight(cnn_winograd_plan *p, int m, int threads, const cnn_conv_desc *d)
{
    cnn_winograd_plan_fwd(p, m, threads, d);
    size_t balance = 3 * (size_t)d->k * d->c / ((size_t)d->k + d->c);
    size_t min_tiles = balance > WGRAD_MIN_TILES ? balance : WGRAD_MIN_TILES;
    cnn_winograd_plan_set_chunk(p, (int)chunk_bands(p, WGRAD_CHUNK_BYTES, min_tiles), true);
    plan_fuse(p);
}

static size_t buffer_sets(const cnn_winograd_plan *p)
{
    return p->shared ? 1 : (size_t)p->threads;
}

size_t cnn_winograd_plan_bytes(const cnn_winograd_plan *p)
{
    size_t floats = p->u_floats + buffer_sets(p) * (p->v_floats + p->m_floats) +
                    (size_t)p->threads * p->scratch_floats;
    return floats * sizeof(float) + 64;
}

/* Rows k_lo .. k_hi - 1 and columns c_lo .. c_hi - 1 of U[xi] (cout x cin
 * rows and columns of the GEMM), written straight from w as a matrix of
 * their own in the kernel's panels (winograd_gemm.h), at u + xi * u_xi:
 * the forward pass's U[xi][k][c] = G w[k][c] G^T, the backward data's
 * U[xi][c][k] from the rotated w[k][c]. A panel's run of filters: its rows
 * inner (k forward, c backward), its columns outer. Either way w is read
 * in runs of whole filters (a panel's rows forward; backward, each column
 * k's filters of the panel's c's, 8 x 36 bytes with AVX-512, C * 36 bytes
 * apart). The first version of the backward pass wrote U[xi][c][k] row by
 * row, a row gathering its K filters w[0..K-1][c] one at a time C * 36
 * bytes apart, and its filter transform took half of the pass (perf, F(4x4),
 * ResNet-18's 512-channel 7x7 layer at batch 8: 27 ms against the forward's
 * 12-16 ms). */
static void filters_block(const cnn_winograd_plan *p, const float *w, int k_lo, int k_hi, int c_lo,
                          int c_hi, float *u, size_t u_xi)
{
    const int pr = CNN_WINOGRAD_GEMM_ROWS, cols = c_hi - c_lo;
    /* w's filter (row, col): forward w[row][col], backward w[col][row]. */
    const size_t row_step = p->flip ? 9 : (size_t)p->cin * 9;
    const size_t col_step = p->flip ? (size_t)p->cout * 9 : 9;
    for (int k0 = k_lo; k0 < k_hi; k0 += pr) {
        const int width = k_hi - k0 < pr ? k_hi - k0 : pr;
        cnn_winograd_filters(p->m, width * cols, w + k0 * row_step + c_lo * col_step, width,
                             row_step, col_step, p->flip, u + (size_t)(k0 - k_lo) * cols, u_xi);
    }
}

/* All of U, a panel per item. Called by every thread of the region; ends
 * with the loop's barrier. */
static void transform_filters(const cnn_winograd_plan *p, const float *w, float *u)
{
    const int pr = CNN_WINOGRAD_GEMM_ROWS;
#pragma omp for schedule(static)
    for (int k0 = 0; k0 < p->cout; k0 += pr)
        filters_block(p, w, k0, k0 + pr < p->cout ? k0 + pr : p->cout, 0, p->cin,
                      u + (size_t)k0 * p->cin, p->u_xi);
}

typedef struct chunk {
    int band0, nbands;
    float *v, *mt, *scratch; /* scratch: this thread's */
    float *ublock;           /* fused: this thread's block of U */
    int part, parts;         /* this thread's share of each stage */
} chunk;

/* Items [lo, hi) of n that are part `part` of `parts`. */
static void share(int n, int part, int parts, int *lo, int *hi)
{
    *lo = (int)((int64_t)n * part / parts);
    *hi = (int)((int64_t)n * (part + 1) / parts);
}

static void barrier_if_shared(const chunk *ch)
{
    if (ch->parts > 1) {
#pragma omp barrier
    }
}

/* The GEMM stage of a fused plan (fuse_rows > 0): item = a block of
 * fuse_rows rows of M; per block of fuse_cols channels, the filters' block
 * of U (all alpha^2 of it) into this thread's buffer, then M[xi]'s rows +=
 * that block of U[xi] . V[xi]'s rows of the block's channels. U never
 * exists whole: with few tiles a GEMM reads each element of U once (two
 * FMAs per tile), so writing U out and reading it back is the stage's
 * memory traffic (on ResNet-18's 512-channel layers 37.7 MB each way, four
 * times the weights), where a block is written and read in L2. */
static void fused_gemms(const cnn_winograd_plan *p, const chunk *ch, const float *w, int tiles)
{
    const int a2 = p->alpha * p->alpha, rows = p->fuse_rows, cols = p->fuse_cols;
    int lo, hi;
    share((p->cout + rows - 1) / rows, ch->part, ch->parts, &lo, &hi);
    for (int b = lo; b < hi; b++) {
        const int k_lo = b * rows, k_hi = k_lo + rows < p->cout ? k_lo + rows : p->cout;
        for (int c_lo = 0; c_lo < p->cin; c_lo += cols) {
            const int c_hi = c_lo + cols < p->cin ? c_lo + cols : p->cin;
            filters_block(p, w, k_lo, k_hi, c_lo, c_hi, ch->ublock, p->u_xi);
            for (int xi = 0; xi < a2; xi++)
                cnn_winograd_gemm(k_hi - k_lo, tiles, c_hi - c_lo, ch->ublock + (size_t)xi * p->u_xi,
                                  ch->v + (size_t)xi * p->v_xi + (size_t)c_lo * p->ldt,
                                  (size_t)p->ldt,
                                  ch->mt + (size_t)xi * p->m_xi + (size_t)k_lo * p->ldt, c_lo > 0);
        }
    }
}

/* u: all of U, or NULL when fused (the filters then come from w). */
static void run_chunk(const cnn_winograd_plan *p, const chunk *ch, const float *x, const float *w,
                      const float *u, const float *bias, float *y)
{
    const int a2 = p->alpha * p->alpha, tiles = ch->nbands * p->tiles_x;
    int lo, hi;

    /* Input transforms, item = channel: V[xi][c][tile] over the chunk. */
    const size_t in_plane = (size_t)p->hin * p->win, v_stride = p->v_xi;
    const size_t pad = round_up((size_t)tiles, CNN_WINOGRAD_GEMM_COLS) - (size_t)tiles;
    share(p->cin, ch->part, ch->parts, &lo, &hi);
    for (int c = lo; c < hi; c++) {
        float *vc = ch->v + (size_t)c * p->ldt;
        cnn_winograd_input_chunk(p->m, x + (size_t)c * in_plane, (size_t)p->cin * in_plane, p->hin,
                                 p->win, p->row0, p->col0, p->tiles_x, p->tiles_y, ch->band0,
                                 ch->nbands, vc, v_stride, ch->scratch);
        /* The columns the GEMM reads past the last tile: zeros, not
         * whatever the workspace held (a denormal or NaN there would only
         * cost time, in M's unread columns). */
        if (pad > 0)
            for (int xi = 0; xi < a2; xi++)
                memset(vc + xi * v_stride + tiles, 0, pad * sizeof(float));
    }
    barrier_if_shared(ch);

    if (p->fuse_rows) {
        fused_gemms(p, ch, w, tiles);
    } else {
        share(a2, ch->part, ch->parts, &lo, &hi);
        for (int xi = lo; xi < hi; xi++) {
            const float *uxi = u + (size_t)xi * p->u_xi, *vxi = ch->v + (size_t)xi * v_stride;
            float *mxi = ch->mt + (size_t)xi * p->m_xi;
            cnn_winograd_gemm(p->cout, tiles, p->cin, uxi, vxi, (size_t)p->ldt, mxi, false);
        }
    }
    barrier_if_shared(ch);

    /* Output transforms, item = output channel. */
    const size_t out_plane = (size_t)p->hout * p->wout, m_stride = p->m_xi;
    share(p->cout, ch->part, ch->parts, &lo, &hi);
    for (int k = lo; k < hi; k++)
        cnn_winograd_output_chunk(p->m, ch->mt + (size_t)k * p->ldt, m_stride, p->tiles_x,
                                  p->tiles_y, ch->band0, ch->nbands, bias ? bias[k] : 0.0f,
                                  p->relu ? 0.0f : -INFINITY, y + (size_t)k * out_plane,
                                  (size_t)p->cout * out_plane, p->hout, p->wout, ch->scratch);
    /* The next chunk reuses V and M. */
    barrier_if_shared(ch);
}

/* Forward and backward data run their GEMMs in winograd_gemm.c's kernel,
 * one call per thread; the weight gradient (cnn_winograd_run_bwd_weight)
 * still calls cblas_sgemm the same way. Why one parallel region with
 * single-threaded GEMM calls, not OpenMP transforms around sgemm calls that
 * OpenBLAS threads itself (the first version here): with the
 * pthreads build of OpenBLAS, its threads and OpenMP's are two pools that
 * spin while idle, so each hand-over between transforms and GEMMs left one
 * pool spinning on the cores the other needed. On the 2-core machine this
 * was written on, that made F(4x4) 2x to 10x slower on VGG-16's large
 * layers (notes in the commit message). Here the threads never hand over:
 * each runs its own GEMMs. Nothing is set for that: the OpenMP build of
 * OpenBLAS (the one the build prefers) runs a GEMM on one thread when it is
 * called inside an active parallel region (its num_cpu_avail() checks
 * omp_in_parallel(); OpenBLAS 0.3.21 has no thread-local count to set, its
 * thread-count setter is process-wide, and the "_local" setter of later
 * releases writes a process-wide value too). With a
 * pthreads OpenBLAS running more than one thread the backend plans a team
 * of one (cnn_cpu_gemm_team), so its GEMMs are OpenBLAS's threaded ones:
 * on 2 cores, VGG-16's convolutions at batch 1 take 195 ms forward that
 * way, against 128 ms with the OpenMP build or with OPENBLAS_NUM_THREADS=1,
 * and 250-280 ms with a team of two each calling the threaded GEMM. */
void cnn_winograd_run(const cnn_winograd_plan *p, const float *x, const float *w, const float *bias,
                      float *y, void *ws)
{
    float *u = (float *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
    float *sets = u + p->u_floats;
    float *scratch = sets + buffer_sets(p) * (p->v_floats + p->m_floats);
    const int chunks = (p->bands + p->bands_per_chunk - 1) / p->bands_per_chunk;

#pragma omp parallel num_threads(p->threads)
    {
        const int tid = cnn_cpu_thread_id(), nth = cnn_cpu_team_size();
        chunk ch = {.scratch = scratch + (size_t)tid * p->scratch_floats,
                    .ublock = u + (size_t)tid * p->alpha * p->alpha * p->u_xi};
        if (!p->fuse_rows)
            transform_filters(p, w, u);
        if (p->shared) {
            ch.v = sets;
            ch.mt = sets + p->v_floats;
            ch.part = tid;
            ch.parts = nth;
            for (int c = 0; c < chunks; c++) {
                ch.band0 = c * p->bands_per_chunk;
                ch.nbands = p->bands - ch.band0 < p->bands_per_chunk ? p->bands - ch.band0
                                                                     : p->bands_per_chunk;
                run_chunk(p, &ch, x, w, p->fuse_rows ? NULL : u, bias, y);
            }
        } else {
            ch.v = sets + (size_t)tid * (p->v_floats + p->m_floats);
            ch.mt = ch.v + p->v_floats;
            ch.part = 0;
            ch.parts = 1;
#pragma omp for schedule(dynamic, 1)
            for (int c = 0; c < chunks; c++) {
                ch.band0 = c * p->bands_per_chunk;
                ch.nbands = p->bands - ch.band0 < p->bands_per_chunk ? p->bands - ch.band0
                                                                     : p->bands_per_chunk;
                run_chunk(p, &ch, x, w, p->fuse_rows ? NULL : u, bias, y);
            }
        }
    }
}

/* The weight gradient of a fused plan (one chunk, V and D of every tile
 * transformed): item = a block of rows k x columns c of U; all alpha^2 of
 * the block's U[xi] = D[xi]'s rows . V[xi]'s rows^T into this thread's
 * buffer, then G^T U G of its filters straight to dw. Items run row block
 * by row block, so that a thread's consecutive items share D's rows. As in
 * fused_gemms, U never exists whole: unfused, the GEMMs write all of it
 * (alpha^2 K C floats, 37.7 MB on ResNet-18's 512-channel layers) for
 * G^T U G to read back, where the 32 tiles of those layers at batch 8 give
 * each element 32 FMAs. */
static void fused_wgrad(const cnn_winograd_plan *p, int tiles, const float *v, const float *dt,
                        float *ublock, float *dw)
{
    const int a2 = p->alpha * p->alpha, rows = p->fuse_rows, cols = p->fuse_cols;
    const int row_blocks = (p->cout + rows - 1) / rows, col_blocks = (p->cin + cols - 1) / cols;
    int lo, hi;
    share(row_blocks * col_blocks, cnn_cpu_thread_id(), cnn_cpu_team_size(), &lo, &hi);
    for (int b = lo; b < hi; b++) {
        const int k_lo = b / col_blocks * rows, c_lo = b % col_blocks * cols;
        const int nk = p->cout - k_lo < rows ? p->cout - k_lo : rows;
        const int nc = p->cin - c_lo < cols ? p->cin - c_lo : cols;
        for (int xi = 0; xi < a2; xi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nk, nc, tiles, 1.0f,
                        dt + (size_t)xi * p->m_xi + (size_t)k_lo * p->ldt, p->ldt,
                        v + (size_t)xi * p->v_xi + (size_t)c_lo * p->ldt, p->ldt, 0.0f,
                        ublock + (size_t)xi * p->u_xi, nc);
        for (int r = 0; r < nk; r++)
            cnn_winograd_filter_grads(p->m, nc, ublock + (size_t)r * nc, p->u_xi,
                                      dw + ((size_t)(k_lo + r) * p->cin + c_lo) * 9);
    }
}

/* Backward weights: per chunk, the input transforms V[xi][c][t] of x and
 * D[xi][k][t] of dy (items: channel and band), then U[xi] (K x C) +=
 * D[xi] . V[xi]^T (items: xi and a block of rows of U), the first chunk
 * writing U; after the last, G^T U G per filter (items: blocks of (k, c)
 * pairs). A fused plan's one chunk does the last two a block of U at a
 * time (fused_wgrad). The threads share every stage, with a barrier
 * between stages. */
void cnn_winograd_run_bwd_weight(const cnn_winograd_plan *p, const float *x, const float *dy,
                                 float *dw, void *ws)
{
    float *u = (float *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
    float *v = u + p->u_floats, *dt = v + p->v_floats;
    float *scratch = dt + p->m_floats;
    const int a2 = p->alpha * p->alpha, cin = p->cin, cout = p->cout;
    const int chunks = (p->bands + p->bands_per_chunk - 1) / p->bands_per_chunk;
    const size_t in_plane = (size_t)p->hin * p->win, out_plane = (size_t)p->hout * p->wout;
    const size_t v_stride = p->v_xi, d_stride = p->m_xi;

#pragma omp parallel num_threads(p->threads)
    {
        const int tid = cnn_cpu_thread_id(), nth = cnn_cpu_team_size();
        float *scr = scratch + (size_t)tid * p->scratch_floats;
        /* Rows of U per GEMM item: enough items to give every thread two. */
        const int kparts = (2 * nth + a2 - 1) / a2 < cout ? (2 * nth + a2 - 1) / a2 : cout;
        int lo, hi;
        for (int c = 0; c < chunks; c++) {
            const int band0 = c * p->bands_per_chunk;
            const int nbands =
                p->bands - band0 < p->bands_per_chunk ? p->bands - band0 : p->bands_per_chunk;
            /* Items: channels of x, then of dy, each over the chunk. */
            share(cin + cout, tid, nth, &lo, &hi);
            for (int ch = lo; ch < hi; ch++) {
                if (ch < cin)
                    cnn_winograd_input_chunk(p->m, x + (size_t)ch * in_plane, (size_t)cin * in_plane,
                                             p->hin, p->win, p->row0, p->col0, p->tiles_x,
                                             p->tiles_y, band0, nbands, v + (size_t)ch * p->ldt,
                                             v_stride, scr);
                else
                    cnn_winograd_grad_chunk(p->m, dy + (size_t)(ch - cin) * out_plane,
                                            (size_t)cout * out_plane, p->hout, p->wout,
                                            p->tiles_x, p->tiles_y, band0, nbands,
                                            dt + (size_t)(ch - cin) * p->ldt, d_stride, scr);
            }
#pragma omp barrier
            if (p->fuse_rows) { /* the one chunk */
                fused_wgrad(p, nbands * p->tiles_x, v, dt, u + (size_t)tid * a2 * p->u_xi, dw);
                continue;
            }
            share(a2 * kparts, tid, nth, &lo, &hi);
            for (int i = lo; i < hi; i++) {
                int xi = i / kparts, k0, k1;
                share(cout, i % kparts, kparts, &k0, &k1);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, k1 - k0, cin,
                            nbands * p->tiles_x, 1.0f, dt + xi * d_stride + (size_t)k0 * p->ldt,
                            p->ldt, v + xi * v_stride, p->ldt, c ? 1.0f : 0.0f,
                            u + (size_t)xi * p->u_xi + (size_t)k0 * cin, cin);
            }
#pragma omp barrier
        }
        if (!p->fuse_rows) {
            share(cout * cin, tid, nth, &lo, &hi);
            cnn_winograd_filter_grads(p->m, hi - lo, u + lo, p->u_xi, dw + (size_t)lo * 9);
        }
    }
}
