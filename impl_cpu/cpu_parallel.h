/* Thread counts for the OpenMP loops of the CPU backends.
 *
 * The context's `threads` option wins; 0 leaves the choice to the OpenMP
 * runtime (OMP_NUM_THREADS or the core count). Loops smaller than
 * CNN_CPU_PAR_MIN elements stay on the calling thread: waking a team costs a
 * few microseconds, more than such a loop takes. (Loops interleaved with
 * GEMMs follow a different rule: cnn_cpu_gemm_team.)
 *
 * None of this changes a process-wide setting: a context's count only
 * sizes its own teams (num_threads clauses). OpenBLAS, called outside a
 * team, runs on the process's count, set once at start-up
 * (cnn_set_process_threads in registry.h). */
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

/* The calling thread's number in its team, and the team's size (0 and 1
 * outside a team or without OpenMP). */
static inline int cnn_cpu_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static inline int cnn_cpu_team_size(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* The calling thread's contiguous share [*lo, *hi) of n items. */
static inline void cnn_cpu_share(int64_t n, int64_t *lo, int64_t *hi)
{
    const int64_t me = cnn_cpu_thread_id(), team = cnn_cpu_team_size();
    *lo = n * me / team;
    *hi = n * (me + 1) / team;
}

/* The team size for a loop touching `work` elements. */
static inline int cnn_cpu_team(const cnn_ctx *ctx, int64_t work)
{
    return work < CNN_CPU_PAR_MIN ? 1 : cnn_cpu_threads(ctx);
}

/* Threads for an OpenMP team that works between or around sgemm calls: the
 * loops between the GEMMs of one im2col convolution (lowering, col2im,
 * staging), or Winograd's team whose members each run their own GEMMs.
 * With a pthreads OpenBLAS running more than one thread this is 1: such
 * loops alternate with GEMMs every fraction of a millisecond, and each
 * side's idle workers are still spinning when the other side starts
 * (OpenBLAS's for up to ~2^28 cycles, libgomp's for its spin count), so
 * both fight for the cores. On this project's 2-core machine a two-thread
 * lowering made VGG-16's conv1_2 3x slower overall than lowering on the
 * calling thread alone. An OpenMP OpenBLAS shares the runtime's threads,
 * runs single-threaded when called inside an active team (its
 * num_cpu_avail() checks omp_in_parallel()), and gets the context's count.
 * Loops that run once per call (bias reductions, the CPU ops) use
 * cnn_cpu_team instead. */
int cnn_cpu_gemm_team(const cnn_ctx *ctx);

#endif
