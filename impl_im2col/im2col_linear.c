/* Linear layers, weight [out][in] as PyTorch stores it:
 *   y  = x . w^T + b      sgemm(N, T)
 *   dx = dy . w           sgemm(N, N)
 *   dw = dy^T . x         sgemm(T, N)
 *   db = column sums of dy, in double.
 * At most CNN_CPU_LINEAR_SMALL_N rows, the shared CPU ops' weight-streaming
 * loops instead (cpu_linear.c says why), and up to CNN_CPU_LINEAR_LANES_N
 * rows their batch-lane loops where the CPU has them (cpu_linear_lanes.c). */
#include "im2col_impl.h"
#include "cpu_ops.h"
#include "cpu_parallel.h"

#include <cblas.h>

cnn_status cnn_im2col_linear_fwd(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                 const float *w, const float *b, float *y, CNN_WS)
{
    (void)ws_size; /* checked by dispatch against the workspace size */
    if (d->has_bias && !b)
        return cnn_fail(CNN_ERR_INVALID_ARG, "linear: has_bias is set but the bias is NULL");
    if (d->n <= CNN_CPU_LINEAR_SMALL_N) {
        cnn_cpu_linear_fwd_small(ctx, d, x, w, d->has_bias ? b : NULL, y);
        return CNN_OK;
    }
    if (cnn_cpu_linear_lanes_apply(d)) {
        cnn_cpu_linear_fwd_lanes(ctx, d, x, w, d->has_bias ? b : NULL, y, ws);
        return CNN_OK;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->n, d->out, d->in, 1.0f, x, d->in, w,
                d->in, 0.0f, y, d->out);
    if (!d->has_bias)
        return CNN_OK;
    const int nt = cnn_cpu_team(ctx, (int64_t)d->n * d->out);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int i = 0; i < d->n; i++) {
        float *restrict row = y + (int64_t)i * d->out;
#pragma omp simd
        for (int j = 0; j < d->out; j++)
            row[j] += b[j];
    }
    return CNN_OK;
}

cnn_status cnn_im2col_linear_bwd_data(cnn_ctx *ctx, const cnn_linear_desc *d, const float *dy,
                                      const float *w, float *dx, CNN_WS)
{
    (void)ws, (void)ws_size;
    if (d->n <= CNN_CPU_LINEAR_SMALL_N) {
        cnn_cpu_linear_bwd_data_small(ctx, d, dy, w, dx);
        return CNN_OK;
    }
    if (cnn_cpu_linear_lanes_apply(d)) {
        cnn_cpu_linear_bwd_data_lanes(ctx, d, dy, w, dx);
        return CNN_OK;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->n, d->in, d->out, 1.0f, dy, d->out, w,
                d->in, 0.0f, dx, d->in);
    return CNN_OK;
}

cnn_status cnn_im2col_linear_bwd_weight(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                        const float *dy, float *dw, float *db, CNN_WS)
{
    (void)ws, (void)ws_size;
    if (d->n <= CNN_CPU_LINEAR_SMALL_N)
        cnn_cpu_linear_bwd_weight_small(ctx, d, x, dy, dw);
    else if (cnn_cpu_linear_lanes_apply(d))
        cnn_cpu_linear_bwd_weight_lanes(ctx, d, x, dy, dw);
    else
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d->out, d->in, d->n, 1.0f, dy, d->out,
                    x, d->in, 0.0f, dw, d->in);
    if (!db)
        return CNN_OK;
    const int nt = cnn_cpu_team(ctx, (int64_t)d->n * d->out);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int j = 0; j < d->out; j++) {
        double acc = 0.0;
        for (int i = 0; i < d->n; i++)
            acc += dy[(int64_t)i * d->out + j];
        db[j] = (float)acc;
    }
    return CNN_OK;
}
