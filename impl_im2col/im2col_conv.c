/* Convolution passes as GEMMs over lowered input, following the plan from
 * im2col_plan.c (stride-1 forward on wide maps goes to im2col_taps.c).
 * With CRS = C*R*S and a column block of width N (a row tile of one image,
 * or a batch of whole images):
 *   forward      y[K][N]     = w[K][CRS]   . col[CRS][N]
 *   bwd data     col[CRS][N] = w^T[CRS][K] . dy[K][N],  then col2im
 *   bwd filter   dw[K][CRS] += dy[K][N]    . col^T[N][CRS]
 * A batch of at least as many images as the GEMM team has threads runs on
 * a team over images (cnn_im2col_team, run_pass below): each member does
 * its share of the batch as the caller would, with single-threaded GEMMs
 * (an OpenMP OpenBLAS called inside a team runs on one thread) and loops.
 * Otherwise the caller runs it alone: the GEMMs threaded inside OpenBLAS,
 * the lowering and staging loops between them OpenMP, sized by
 * cnn_cpu_gemm_team() (often one thread: cpu_parallel.h says why). */
#include "im2col_impl.h"
#include "cpu_parallel.h"

#include <cblas.h>
#include <string.h>

typedef struct conv_run {
    cnn_im2col_plan pl;
    float *col, *stage;
    int threads;
    int crs;
    int64_t pq, chw, kpq;
} conv_run;

/* One caller's (or one team member's) run of a plan on d's images. */
static void conv_begin(const cnn_conv_desc *d, const cnn_im2col_plan *pl, float *ws, int threads,
                       conv_run *run)
{
    run->pl = *pl;
    run->col = ws;
    run->stage = cnn_im2col_stage(&run->pl, run->col);
    run->threads = threads;
    run->crs = d->c * d->r * d->s;
    run->pq = (int64_t)d->p * d->q;
    run->chw = (int64_t)d->c * d->h * d->w;
    run->kpq = (int64_t)d->k * run->pq;
}

/* The staging buffer holds [K][images][P*Q]; NCHW holds [images][K][P*Q]. */
static void stage_to_nchw(const cnn_conv_desc *d, const float *restrict stage, int images,
                          const float *restrict bias, float *restrict y, int threads)
{
    const int k = d->k;
    const int64_t pq = (int64_t)d->p * d->q;
    const int nt = (int64_t)images * k * pq < CNN_CPU_PAR_MIN ? 1 : threads;
#pragma omp parallel for collapse(2) num_threads(nt) schedule(static)
    for (int i = 0; i < images; i++)
        for (int kk = 0; kk < k; kk++)
            cnn_im2col_epilogue(d, bias, kk, stage + ((int64_t)kk * images + i) * pq,
                                y + ((int64_t)i * k + kk) * pq, pq);
}

/* A staged tile [K][width] out to y's rows (row stride P*Q). */
static void stage_out(const cnn_conv_desc *d, const float *restrict stage, int64_t width,
                      const float *restrict bias, float *restrict y, int threads)
{
    const int64_t pq = (int64_t)d->p * d->q;
    const int nt = (int64_t)d->k * width < CNN_CPU_PAR_MIN ? 1 : threads;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int kk = 0; kk < d->k; kk++)
        cnn_im2col_epilogue(d, bias, kk, stage + kk * width, y + kk * pq, width);
}

static void nchw_to_stage(const float *restrict y, int images, int k, int64_t pq,
                          float *restrict stage, int threads)
{
    const int nt = (int64_t)images * k * pq < CNN_CPU_PAR_MIN ? 1 : threads;
#pragma omp parallel for collapse(2) num_threads(nt) schedule(static)
    for (int i = 0; i < images; i++)
        for (int kk = 0; kk < k; kk++)
            memcpy(stage + ((int64_t)kk * images + i) * pq, y + ((int64_t)i * k + kk) * pq,
                   sizeof(float) * (size_t)pq);
}

/* The epilogue in place on a block of `width` pixels at y, row stride ld. */
static void epilogue_in_place(const cnn_conv_desc *d, float *y, int64_t width, int64_t ld,
                              const float *bias, int threads)
{
    if (!cnn_im2col_has_epilogue(d, bias))
        return;
    const int nt = (int64_t)d->k * width < CNN_CPU_PAR_MIN ? 1 : threads;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int kk = 0; kk < d->k; kk++)
        cnn_im2col_epilogue(d, bias, kk, y + kk * ld, y + kk * ld, width);
}

static void fwd_part(const cnn_conv_desc *d, const cnn_im2col_plan *pl, const float *x,
                     const float *w, const float *bias, float *y, float *ws, int threads)
{
    conv_run run;
    conv_begin(d, pl, ws, threads, &run);
    if (run.pl.path == CNN_IM2COL_TAPS) {
        cnn_im2col_taps_fwd(d, &run.pl, x, w, false, bias, y, run.col, run.threads);
        return;
    }
    if (run.pl.path == CNN_IM2COL_BATCH) {
        for (int n0 = 0; n0 < d->n; n0 += run.pl.images) {
            const int nb = d->n - n0 < run.pl.images ? d->n - n0 : run.pl.images;
            const int width = (int)(nb * run.pq);
            cnn_im2col_lower(d, x + n0 * run.chw, nb, 0, d->p, run.col, run.threads);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->k, width, run.crs, 1.0f, w,
                        run.crs, run.col, width, 0.0f, run.stage, width);
            stage_to_nchw(d, run.stage, nb, bias, y + n0 * run.kpq, run.threads);
        }
        return;
    }
    for (int n = 0; n < d->n; n++) {
        const float *xn = x + n * run.chw;
        float *yn = y + n * run.kpq;
        for (int p0 = 0; p0 < d->p; p0 += run.pl.rows) {
            const int rows = d->p - p0 < run.pl.rows ? d->p - p0 : run.pl.rows;
            const int width = rows * d->q;
            const float *cols = xn;
            if (run.pl.path != CNN_IM2COL_DIRECT) {
                cnn_im2col_lower(d, xn, 1, p0, rows, run.col, run.threads);
                cols = run.col;
            }
            float *yt = yn + (int64_t)p0 * d->q;
            if (run.pl.stage_floats) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->k, width, run.crs, 1.0f,
                            w, run.crs, cols, width, 0.0f, run.stage, width);
                stage_out(d, run.stage, width, bias, yt, run.threads);
                continue;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->k, width, run.crs, 1.0f, w,
                        run.crs, cols, width, 0.0f, yt, (int)run.pq);
            epilogue_in_place(d, yt, width, run.pq, bias, run.threads);
        }
    }
}

static void bwd_data_part(const cnn_conv_desc *d, const cnn_im2col_plan *pl, const float *dy,
                          const float *w, const float *unused, float *dx, float *ws, int threads)
{
    (void)unused;
    conv_run run;
    conv_begin(d, pl, ws, threads, &run);
    cnn_conv_desc adj;
    if (run.pl.path == CNN_IM2COL_TAPS && cnn_im2col_adjoint(d, &adj)) {
        cnn_im2col_taps_fwd(&adj, &run.pl, dy, w, true, NULL, dx, run.col, run.threads);
        return;
    }
    if (run.pl.path == CNN_IM2COL_BATCH) {
        for (int n0 = 0; n0 < d->n; n0 += run.pl.images) {
            const int nb = d->n - n0 < run.pl.images ? d->n - n0 : run.pl.images;
            const int width = (int)(nb * run.pq);
            nchw_to_stage(dy + n0 * run.kpq, nb, d->k, run.pq, run.stage, run.threads);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, run.crs, width, d->k, 1.0f, w,
                        run.crs, run.stage, width, 0.0f, run.col, width);
            cnn_im2col_raise(d, run.col, nb, 0, d->p, dx + n0 * run.chw, run.threads);
        }
        return;
    }
    for (int n = 0; n < d->n; n++) {
        const float *dyn = dy + n * run.kpq;
        float *dxn = dx + n * run.chw;
        if (run.pl.path == CNN_IM2COL_DIRECT) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d->c, (int)run.pq, d->k, 1.0f, w,
                        d->c, dyn, (int)run.pq, 0.0f, dxn, (int)run.pq);
            continue;
        }
        for (int p0 = 0; p0 < d->p; p0 += run.pl.rows) {
            const int rows = d->p - p0 < run.pl.rows ? d->p - p0 : run.pl.rows;
            const int width = rows * d->q;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, run.crs, width, d->k, 1.0f, w,
                        run.crs, dyn + (int64_t)p0 * d->q, (int)run.pq, 0.0f, run.col, width);
            cnn_im2col_raise(d, run.col, 1, p0, rows, dxn, run.threads);
        }
    }
}

/* dw accumulates over the part's images inside sgemm (beta = 1 after the
 * first GEMM), so it is never staged per image. */
static void bwd_filter_part(const cnn_conv_desc *d, const cnn_im2col_plan *pl, const float *x,
                            const float *dy, const float *unused, float *dw, float *ws, int threads)
{
    (void)unused;
    conv_run run;
    conv_begin(d, pl, ws, threads, &run);
    float beta = 0.0f;
    if (run.pl.path == CNN_IM2COL_BATCH) {
        for (int n0 = 0; n0 < d->n; n0 += run.pl.images, beta = 1.0f) {
            const int nb = d->n - n0 < run.pl.images ? d->n - n0 : run.pl.images;
            const int width = (int)(nb * run.pq);
            cnn_im2col_lower(d, x + n0 * run.chw, nb, 0, d->p, run.col, run.threads);
            nchw_to_stage(dy + n0 * run.kpq, nb, d->k, run.pq, run.stage, run.threads);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->k, run.crs, width, 1.0f,
                        run.stage, width, run.col, width, beta, dw, run.crs);
        }
        return;
    }
    for (int n = 0; n < d->n; n++) {
        const float *xn = x + n * run.chw, *dyn = dy + n * run.kpq;
        for (int p0 = 0; p0 < d->p; p0 += run.pl.rows, beta = 1.0f) {
            const int rows = d->p - p0 < run.pl.rows ? d->p - p0 : run.pl.rows;
            const int width = rows * d->q;
            const float *cols = xn;
            if (run.pl.path != CNN_IM2COL_DIRECT) {
                cnn_im2col_lower(d, xn, 1, p0, rows, run.col, run.threads);
                cols = run.col;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->k, run.crs, width, 1.0f,
                        dyn + (int64_t)p0 * d->q, (int)run.pq, cols, width, beta, dw, run.crs);
        }
    }
}

typedef void (*part_fn)(const cnn_conv_desc *d, const cnn_im2col_plan *pl, const float *in,
                        const float *in2, const float *bias, float *out, float *ws, int threads);

/* The weight gradient's extra members' copies of dw, added into dw. */
static void sum_partials(float *restrict dw, const float *restrict partials, size_t n, int copies,
                         size_t stride, int threads)
{
    const int nt = (int64_t)n * copies < CNN_CPU_PAR_MIN ? 1 : threads;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float acc = dw[i];
        for (int t = 0; t < copies; t++)
            acc += partials[t * stride + i];
        dw[i] = acc;
    }
}

/* A pass on its plan: by the caller, or by a team over images
 * (cnn_im2col_team). Per image, `in` advances by in_step floats and `out`
 * by out_step; the weight gradient (out_step 0) gives each member but the
 * first a dw of its own. */
static cnn_status run_pass(cnn_ctx *ctx, const cnn_conv_desc *d, cnn_pass pass, part_fn part,
                           const float *in, int64_t in_step, const float *in2, int64_t in2_step,
                           const float *bias, float *out, int64_t out_step, void *ws,
                           size_t ws_size)
{
    const cnn_im2col_state *st = ctx->impl;
    const int threads = cnn_cpu_gemm_team(ctx);
    const cnn_im2col_team tm = cnn_im2col_plan_team(d, pass, st->ws_cap, threads);
    if (ws_size < tm.bytes || (tm.bytes && !ws))
        return cnn_fail(CNN_ERR_INVALID_ARG, "im2col conv %s: workspace of %zu bytes, needs %zu",
                        cnn_pass_str(pass), ws_size, tm.bytes);
    if (tm.members == 1) {
        part(d, &tm.first, in, in2, bias, out, ws, threads);
        return CNN_OK;
    }
    const size_t cap = cnn_im2col_member_cap(&tm, st->ws_cap);
    char *slices = ws;
    float *partials = (float *)(slices + tm.slice_bytes * (size_t)tm.members);
#pragma omp parallel num_threads(tm.members)
    for (int t = cnn_cpu_thread_id(); t < tm.members; t += cnn_cpu_team_size()) {
        cnn_conv_desc sub;
        const int first = cnn_im2col_member(d, t, tm.members, &sub);
        const cnn_im2col_plan pl = cnn_im2col_plan_conv(&sub, pass, cap);
        float *o = out_step ? out + first * out_step
                   : t == 0 ? out
                            : partials + (size_t)(t - 1) * tm.partial_floats;
        part(&sub, &pl, in + first * in_step, in2 + first * in2_step, bias, o,
             (float *)(slices + tm.slice_bytes * (size_t)t), 1);
    }
    if (pass == CNN_BWD_WEIGHT)
        sum_partials(out, partials, (size_t)d->k * d->c * d->r * d->s, tm.members - 1,
                     tm.partial_floats, threads);
    return CNN_OK;
}

cnn_status cnn_im2col_conv_fwd(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x, const float *w,
                               const float *b, float *y, CNN_WS)
{
    if (d->has_bias && !b)
        return cnn_fail(CNN_ERR_INVALID_ARG, "conv2d: has_bias is set but the bias is NULL");
    const int64_t chw = (int64_t)d->c * d->h * d->w, kpq = (int64_t)d->k * d->p * d->q;
    return run_pass(ctx, d, CNN_FWD, fwd_part, x, chw, w, 0, d->has_bias ? b : NULL, y, kpq, ws,
                    ws_size);
}

cnn_status cnn_im2col_conv_bwd_data(cnn_ctx *ctx, const cnn_conv_desc *d, const float *dy,
                                    const float *w, float *dx, CNN_WS)
{
    const int64_t chw = (int64_t)d->c * d->h * d->w, kpq = (int64_t)d->k * d->p * d->q;
    return run_pass(ctx, d, CNN_BWD_DATA, bwd_data_part, dy, kpq, w, 0, NULL, dx, chw, ws, ws_size);
}

cnn_status cnn_im2col_conv_bwd_filter(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x,
                                      const float *dy, float *dw, CNN_WS)
{
    const int64_t chw = (int64_t)d->c * d->h * d->w, kpq = (int64_t)d->k * d->p * d->q;
    return run_pass(ctx, d, CNN_BWD_WEIGHT, bwd_filter_part, x, chw, dy, kpq, NULL, dw, 0, ws,
                    ws_size);
}

/* Per-channel sums in double: a VGG layer at batch 4 sums 200,000 terms. */
/* With fuse_relu, the same pass first masks dy by the fused output,
 * dz = dy * (y > 0), stores dz and sums it (kernels/ops.h). */
cnn_status cnn_im2col_conv_bwd_bias(cnn_ctx *ctx, const cnn_conv_desc *d, const float *y,
                                    const float *dy, float *db, float *dz, CNN_WS)
{
    (void)ws, (void)ws_size;
    const int64_t pq = (int64_t)d->p * d->q;
    const int nt = cnn_cpu_team(ctx, (int64_t)d->n * d->k * pq);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int k = 0; k < d->k; k++) {
        double acc = 0.0;
        for (int n = 0; n < d->n; n++) {
            const int64_t at = ((int64_t)n * d->k + k) * pq;
            const float *row = dy + at;
            if (d->fuse_relu) {
                /* the mask in a float loop, then the row (now in cache) summed
                 * like any other: one loop mixing the float select and store
                 * with the double sum did not vectorise. dy is read whatever
                 * the mask (cnn_relu_grad takes values): written as
                 * y > 0 ? dy[j] : 0 the load was conditional, and gcc left a
                 * branch per element that mispredicted on half of them
                 * (fashion_cnn's conv_layer1.0 backward: 8.2 ms fused against
                 * 3.9 ms for the same work unfused) */
                const float *restrict yr = y + at, *restrict dr = row;
                float *restrict out = dz + at;
#pragma omp simd
                for (int64_t j = 0; j < pq; j++)
                    out[j] = cnn_relu_grad(yr[j], dr[j]);
                row = out;
            }
#pragma omp simd reduction(+ : acc)
            for (int64_t j = 0; j < pq; j++)
                acc += row[j];
        }
        db[k] = (float)acc;
    }
    return CNN_OK;
}
