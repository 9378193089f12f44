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

/* Every entry of the table (backend_ops.h): cnn_naive_conv_fwd, ... */
CNN_BACKEND_OPS(CNN_ENTRY_DECL, cnn_naive)

#endif
