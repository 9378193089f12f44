/* The reference backend's entries, shared between its files and its table.
 *
 * Every routine here is a direct loop over the definition in kernels/ops.h:
 * float32 in and out, every sum accumulated in double and rounded to float
 * once. They are parallelised with OpenMP over independent outputs only:
 * each output element is written by exactly one thread, which sums its terms
 * in a fixed order, and reductions (dw, db, dgamma, running statistics, the
 * loss) are split over the outputs of the reduction, never with atomics. So
 * the results are bitwise identical for any number of threads, which is what
 * lets every other backend be judged against them. */
#ifndef CNN_NAIVE_H
#define CNN_NAIVE_H

#include "backend.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Threads for a parallel loop: the context's choice, else the runtime's. */
static inline int cnn_naive_threads(const cnn_ctx *ctx)
{
#ifdef _OPENMP
    return ctx->opts.threads > 0 ? ctx->opts.threads : omp_get_max_threads();
#else
    (void)ctx;
    return 1;
#endif
}

/* This thread's number in the enclosing parallel region (0 outside one),
 * to pick its own scratch block. */
static inline int cnn_naive_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Element (i0,i1,i2,i3) of a dense tensor with dimensions [.][d1][d2][d3]. */
static inline int64_t at4(int64_t i0, int64_t i1, int64_t i2, int64_t i3, int64_t d1, int64_t d2,
                          int64_t d3)
{
    return ((i0 * d1 + i1) * d2 + i2) * d3 + i3;
}

/* The reference needs no workspace; entries that take one ignore it. */
#define CNN_NAIVE_NO_WS ((void)ws, (void)ws_size)

cnn_status cnn_naive_conv_fwd(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x, const float *w,
                              const float *b, float *y, CNN_WS);
cnn_status cnn_naive_conv_bwd_data(cnn_ctx *ctx, const cnn_conv_desc *d, const float *dy,
                                   const float *w, float *dx, CNN_WS);
cnn_status cnn_naive_conv_bwd_filter(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x,
                                     const float *dy, float *dw, CNN_WS);
cnn_status cnn_naive_conv_bwd_bias(cnn_ctx *ctx, const cnn_conv_desc *d, const float *dy, float *db,
                                   CNN_WS);

cnn_status cnn_naive_pool_fwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, float *y,
                              CNN_WS);
cnn_status cnn_naive_pool_bwd(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, const float *y,
                              const float *dy, float *dx, CNN_WS);
cnn_status cnn_naive_adapool_fwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *x, float *y,
                                 CNN_WS);
cnn_status cnn_naive_adapool_bwd(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *dy,
                                 float *dx, CNN_WS);

cnn_status cnn_naive_bn_fwd_train(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x,
                                  const float *gamma, const float *beta, float *y,
                                  float *running_mean, float *running_var, float *save_mean,
                                  float *save_invstd, CNN_WS);
cnn_status cnn_naive_bn_fwd_infer(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x,
                                  const float *gamma, const float *beta, const float *running_mean,
                                  const float *running_var, float *y, CNN_WS);
cnn_status cnn_naive_bn_bwd(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x, const float *dy,
                            const float *gamma, const float *save_mean, const float *save_invstd,
                            float *dx, float *dgamma, float *dbeta, CNN_WS);

cnn_status cnn_naive_linear_fwd(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                const float *w, const float *b, float *y, CNN_WS);
cnn_status cnn_naive_linear_bwd_data(cnn_ctx *ctx, const cnn_linear_desc *d, const float *dy,
                                     const float *w, float *dx, CNN_WS);
cnn_status cnn_naive_linear_bwd_weight(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                       const float *dy, float *dw, float *db, CNN_WS);

cnn_status cnn_naive_act_fwd(cnn_ctx *ctx, const cnn_act_desc *d, const float *x, float *y);
cnn_status cnn_naive_act_bwd(cnn_ctx *ctx, const cnn_act_desc *d, const float *y, const float *dy,
                             float *dx);
cnn_status cnn_naive_dropout_fwd(cnn_ctx *ctx, const cnn_dropout_desc *d, const float *x, float *y);
cnn_status cnn_naive_dropout_bwd(cnn_ctx *ctx, const cnn_dropout_desc *d, const float *dy,
                                 float *dx);
cnn_status cnn_naive_add_fwd(cnn_ctx *ctx, const cnn_add_desc *d, const float *a, const float *b,
                             float *y);

cnn_status cnn_naive_xent_fwd(cnn_ctx *ctx, const cnn_xent_desc *d, const float *logits,
                              const int32_t *labels, float *prob, float *loss);
cnn_status cnn_naive_xent_bwd(cnn_ctx *ctx, const cnn_xent_desc *d, const float *prob,
                              const int32_t *labels, float *dlogits);

cnn_status cnn_naive_concat_fwd(cnn_ctx *ctx, const cnn_concat_desc *d, const float *const *xs,
                                float *y);
cnn_status cnn_naive_concat_bwd(cnn_ctx *ctx, const cnn_concat_desc *d, const float *dy,
                                float *const *dxs);

#endif
