/* Thread counts for the OpenMP loops of the CPU backends.
 *
 * The context's `threads` option wins; 0 leaves the choice to the OpenMP
 * runtime (OMP_NUM_THREADS or the core count). Two exceptions keep loops on
 * the calling thread:
 *  - loops smaller than CNN_CPU_PAR_MIN elements: waking a team costs a few
 *    microseconds, more than such a loop takes;
 *  - a pthreads OpenBLAS running more than one thread (cnn_cpu_blas_spins):
 *    after each GEMM its workers spin on the other cores for a while (by
 *    default ~2^28 cycles, a tenth of a second) waiting for the next one, so
 *    an OpenMP team started then fights them for the cores. On this
 *    project's 2-core machine that made the lowering of VGG-16's conv1_2 3x
 *    to 20x slower than the calling thread alone, which copies at memory
 *    speed. An OpenMP OpenBLAS shares the runtime's team instead. */
#ifndef CNN_CPU_PARALLEL_H
#define CNN_CPU_PARALLEL_H

#include <stdbool.h>

#include "backend.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define CNN_CPU_PAR_MIN ((int64_t)1 << 15)

/* Whether OpenBLAS keeps its own spinning worker threads (cpu_parallel.c). */
bool cnn_cpu_blas_spins(void);

static inline int cnn_cpu_threads(const cnn_ctx *ctx)
{
#ifdef _OPENMP
    int nt = ctx->opts.threads > 0 ? ctx->opts.threads : omp_get_max_threads();
    return nt > 1 && cnn_cpu_blas_spins() ? 1 : nt;
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
