/* Threads are set once per process (cnn_set_process_threads) and no backend
 * changes them: contexts with different thread counts in one process, a
 * Winograd one with 1 thread beside an im2col one with 2 (and oneDNN with 1
 * where it is built), are created and used in turn, and after every step
 * OpenMP's and OpenBLAS's counts are still the process's, 3 (a count
 * neither context asks for). Neither context changes what the other
 * computes: the same call gives the same bits before and after the other
 * ran. And a context's own count still sizes its own team: Winograd's
 * workspace (per-thread scratch) is larger at 3 threads than at 1. */
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "dispatch.h"
#include "registry.h"
#include "test_util.h"

#define PROCESS_THREADS 3

static int omp_count(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int omp_want; /* what cnn_set_process_threads() said OpenMP uses */

static void expect_process(const char *after)
{
    TU_CHECK(omp_count() == omp_want, "after %s: OpenMP's count is %d, not the process's %d", after,
             omp_count(), omp_want);
    TU_CHECK(openblas_get_num_threads() == PROCESS_THREADS,
             "after %s: OpenBLAS's count is %d, not the process's %d", after,
             openblas_get_num_threads(), PROCESS_THREADS);
}

static cnn_op conv_op(void)
{
    /* n, c, h, w, k, r, s, strides, paddings, bias: a 3x3 layer for Winograd */
    tu_conv_case cc = {2, 16, 28, 28, 16, 3, 3, 1, 1, 1, 1, true};
    cnn_op op = tu_conv_op(&cc);
    TU_EXPECT_OK(cnn_op_init(&op));
    return op;
}

static cnn_ctx *create(const char *name, int threads)
{
    const cnn_backend *be = cnn_backend_find(name);
    cnn_ctx_opts opts = {.threads = threads};
    cnn_ctx *ctx = NULL;
    TU_CHECK(be != NULL, "backend %s is not in this build", name);
    if (be)
        TU_EXPECT_OK(cnn_ctx_create(be, &opts, &ctx));
    char what[64];
    snprintf(what, sizeof what, "creating a %s context (%d threads)", name, threads);
    expect_process(what);
    return ctx;
}

/* One forward call; the output (malloc'd) is NaN where it is not written. */
static float *forward(cnn_ctx *ctx, const cnn_op *op, const tu_conv_io *io)
{
    size_t ws_size;
    void *ws = tu_ws_for(ctx, op, CNN_FWD, &ws_size);
    float *y = tu_nan_buf(tu_conv_out_size(&op->conv, CNN_FWD));
    TU_EXPECT_OK(tu_conv_pass(ctx, &op->conv, io, CNN_FWD, y, ws, ws_size));
    free(ws);
    char what[96];
    snprintf(what, sizeof what, "a forward call on %s", ctx->backend->name);
    expect_process(what);
    return y;
}

static void expect_same(const char *what, const float *a, const float *b, int64_t n)
{
    TU_CHECK(memcmp(a, b, (size_t)n * sizeof *a) == 0, "%s: the second call gave other bits", what);
}

int main(void)
{
    omp_want = cnn_set_process_threads(PROCESS_THREADS);
#ifdef _OPENMP
    TU_CHECK(omp_want == PROCESS_THREADS, "cnn_set_process_threads(%d) left OpenMP at %d",
             PROCESS_THREADS, omp_want);
#endif
    expect_process("cnn_set_process_threads");

    uint64_t rng = 7;
    const cnn_op op = conv_op();
    const int64_t ny = tu_conv_out_size(&op.conv, CNN_FWD);
    float *x = tu_rand_buf(tu_conv_out_size(&op.conv, CNN_BWD_DATA), &rng, -1, 1);
    float *w = tu_rand_buf(tu_conv_out_size(&op.conv, CNN_BWD_WEIGHT), &rng, -0.2f, 0.2f);
    float *b = tu_rand_buf(op.conv.k, &rng, -1, 1);
    const tu_conv_io io = {x, w, b, NULL};

    cnn_ctx *im2col = create("im2col", 2);
    cnn_ctx *wino1 = create("winograd", 1);
    if (!im2col || !wino1)
        return tu_finish("test_threads");

    float *y1 = forward(im2col, &op, &io);
    float *z1 = forward(wino1, &op, &io);
    /* Both computed something: the same convolution, within Winograd's error. */
    TU_CHECK(tu_norm2(y1, ny) > 0.0 && tu_rel_l2(z1, y1, ny) < 1e-4,
             "im2col and winograd disagree: rel L2 %g", tu_rel_l2(z1, y1, ny));

    const size_t ws1 = cnn_workspace_size(wino1, &op, CNN_FWD);
    cnn_ctx *wino3 = create("winograd", 3);
    if (wino3) {
        float *z3 = forward(wino3, &op, &io);
        TU_CHECK(tu_rel_l2(z3, y1, ny) < 1e-4, "winograd at 3 threads: rel L2 %g",
                 tu_rel_l2(z3, y1, ny));
        /* A pthreads OpenBLAS with more than one thread gets a team of one
         * whatever the context asks (cpu_parallel.h). */
        if (openblas_get_parallel() != OPENBLAS_THREAD)
            TU_CHECK(cnn_workspace_size(wino3, &op, CNN_FWD) > ws1,
                     "winograd's team ignores the context's count: %zu bytes at 3 threads, %zu "
                     "at 1",
                     cnn_workspace_size(wino3, &op, CNN_FWD), ws1);
        free(z3);
        cnn_ctx_destroy(wino3);
        expect_process("destroying a winograd context");
    }
    TU_CHECK(cnn_workspace_size(wino1, &op, CNN_FWD) == ws1,
             "another winograd context changed this one's plan");

#ifdef CNN_HAVE_ONEDNN
    cnn_ctx *dnn1 = create("onednn", 1);
    if (dnn1) {
        (void)cnn_algorithm(dnn1, &op, CNN_FWD); /* builds the primitive */
        expect_process("building a onednn primitive");
        float *d1 = forward(dnn1, &op, &io);
        TU_CHECK(tu_rel_l2(d1, y1, ny) < 1e-5, "onednn: rel L2 %g", tu_rel_l2(d1, y1, ny));
        free(d1);
        cnn_ctx_destroy(dnn1);
    }
#endif

    /* Each context computes what it computed before the others ran. */
    float *y2 = forward(im2col, &op, &io);
    float *z2 = forward(wino1, &op, &io);
    expect_same("im2col (2 threads) after winograd and onednn", y1, y2, ny);
    expect_same("winograd (1 thread) after im2col and onednn", z1, z2, ny);

    free(y1), free(y2), free(z1), free(z2);
    cnn_ctx_destroy(wino1);
    cnn_ctx_destroy(im2col);
    expect_process("destroying the contexts");
    free(x), free(w), free(b);
    return tu_finish("test_threads");
}
