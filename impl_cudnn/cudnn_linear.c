/* Linear layers through cuBLAS sgemm (true float32: the handle's math mode
 * is CUBLAS_DEFAULT_MATH, see cudnn_backend.c).
 *
 * cuBLAS is column-major; our matrices are row-major. A row-major r x c
 * matrix in memory is, read column-major, its c x r transpose with leading
 * dimension c. So each product below is written for the transposes:
 *
 *   fwd       y[n][out] = x[n][in] . w[out][in]^T
 *             column-major: Y^T (out x n) = W (out x in) . X^T (in x n);
 *             w's memory read column-major is W^T (in x out, ld in), so
 *             op(A) = T; x's memory is X^T (in x n, ld in), op(B) = N:
 *             sgemm(T, N, m=out, n=n, k=in, A=w lda=in, B=x ldb=in, C=y ldc=out)
 *
 *   bwd_data  dx[n][in] = dy[n][out] . w[out][in]
 *             column-major: dX^T (in x n) = W^T (in x out) . dY^T (out x n);
 *             both are exactly what the memory holds, so N, N:
 *             sgemm(N, N, m=in, n=n, k=out, A=w lda=in, B=dy ldb=out, C=dx ldc=in)
 *
 *   bwd_w     dw[out][in] = dy[n][out]^T . x[n][in]
 *             column-major: dW^T (in x out) = X^T (in x n) . dY (n x out);
 *             x's memory is X^T (N); dy's memory is dY^T (out x n, ld out),
 *             so op(B) = T:
 *             sgemm(N, T, m=in, n=out, k=n, A=x lda=in, B=dy ldb=out, C=dw ldc=in)
 *
 * beta = 0 in every call, so cuBLAS does not read C (a NaN there is simply
 * overwritten). The bias is added, and its gradient summed, by kernels in
 * kernels_eltwise.cu. */
#include "cudnn_impl.h"

static const float one = 1.0f, zero = 0.0f;

cnn_status cudnn_linear_fwd(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x, const float *w,
                            const float *b, float *y, CNN_WS)
{
    (void)ws;
    (void)ws_size;
    if (d->has_bias && !b)
        return cnn_fail(CNN_ERR_INVALID_ARG, "linear: has_bias is set but the bias is NULL");
    cudnn_state *st = cudnn_st(ctx);
    CUBLAS_CHECK(cublasSgemm(st->cublas, CUBLAS_OP_T, CUBLAS_OP_N, d->out, d->n, d->in, &one, w,
                             d->in, x, d->in, &zero, y, d->out));
    if (d->has_bias)
        return cudnn_launch_add_row_bias(st->stream, y, b, d->n, d->out);
    return CNN_OK;
}

cnn_status cudnn_linear_bwd_data(cnn_ctx *ctx, const cnn_linear_desc *d, const float *dy,
                                 const float *w, float *dx, CNN_WS)
{
    (void)ws;
    (void)ws_size;
    cudnn_state *st = cudnn_st(ctx);
    CUBLAS_CHECK(cublasSgemm(st->cublas, CUBLAS_OP_N, CUBLAS_OP_N, d->in, d->n, d->out, &one, w,
                             d->in, dy, d->out, &zero, dx, d->in));
    return CNN_OK;
}

cnn_status cudnn_linear_bwd_weight(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                   const float *dy, float *dw, float *db, CNN_WS)
{
    (void)ws;
    (void)ws_size;
    cudnn_state *st = cudnn_st(ctx);
    CUBLAS_CHECK(cublasSgemm(st->cublas, CUBLAS_OP_N, CUBLAS_OP_T, d->in, d->out, d->n, &one, x,
                             d->in, dy, d->out, &zero, dw, d->in));
    if (db)
        return cudnn_launch_column_sum(st->stream, dy, db, d->n, d->out);
    return CNN_OK;
}
