/* Thread counts for the OpenMP loops of the CPU backends.
 *
 * The context's `threads` option wins; 0 leaves the choice to the OpenMP
 * runtime (OMP_NUM_THREADS or the core count). Loops smaller than
 * CNN_CPU_PAR_MIN elements stay on the calling thread: waking a team costs a
 * few microseconds, more than such a loop takes. (Loops interleaved with
 * GEMMs inside one convolution follow a different rule: see
 * cnn_im2col_tile_threads.) */
#ifndef CNN_CPU_PARALLEL_H
#define CNN_CPU_PARALLEL_H

#include "backend.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define CNN_CPU_PAR_MIN ((int64_t)1 << 15)

static inline int cnn_cpu_threads(const cnn_ctx *ctx)
{
#ifdef _OPENMP
    return ctx->opts.threads > 0 ? ctx->opts.threads : omp_get_max_threads();
#else
    (void)ctx;
    return 1;
#endif
}

/* The team size for a loop touching `work` elements. */
static inline int cnn_cpu_team(const cnn_ctx *ctx, int64_t work)
{
    return work < CNN_CPU_PAR_MIN ? 1 : cnn_cpu_threads(ctx);
}

#endif
