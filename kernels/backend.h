/* The backend table: what every impl_* provides.
 *
 * A backend is one const table of function pointers, filled with designated
 * initialisers. A NULL entry means "not implemented": callers report it as
 * unsupported (SKIPPED in verify), never as a failure. State (BLAS scratch,
 * oneDNN engine and stream, cuDNN handle) lives in the context object that
 * the caller creates with cnn_ctx_create() and passes to every call.
 *
 * Conventions for every entry:
 *  - the descriptor has been validated by cnn_op_init();
 *  - pointers are in the backend's memory (host, or device for a CUDA
 *    backend); outputs are overwritten, never accumulated into;
 *  - the caller owns the workspace: it asks workspace_size() for the same
 *    op and pass, allocates at least that much (in backend memory) and passes
 *    it with its size; a backend never allocates in a compute call;
 *  - the entries are called through the checked wrappers in dispatch.h,
 *    which is where NULL entries and short workspaces are turned into errors.
 */
#ifndef CNN_BACKEND_H
#define CNN_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend_ops.h"
#include "ops.h"
#include "status.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnn_backend cnn_backend;

typedef struct cnn_ctx_opts {
    /* CPU threads of this context's own OpenMP teams; 0 = the runtime's
     * count. Never applied process-wide: libraries that only have a
     * process-wide count (OpenBLAS outside a team, oneDNN) run on the
     * process's, set once at start-up (cnn_set_process_threads). */
    int threads;
    int device;  /* CUDA device ordinal */
} cnn_ctx_opts;

typedef struct cnn_ctx {
    const cnn_backend *backend;
    void *impl; /* the backend's own state */
    cnn_ctx_opts opts;
    /* cnn_timer_start's state on backends without timer entries */
    double timer_t0;
    bool timing;
} cnn_ctx;

#define CNN_WS void *ws, size_t ws_size

/* How an algorithm's float32 rounding error grows: what verify computes its
 * tolerance from (harness/verify_tolerance.c holds the formulas), so that
 * no caller has to recognise algorithms by name. The zero value is the
 * common case. */
typedef enum cnn_error_kind {
    /* Each output is a float32 sum of L terms (direct loops, GEMMs,
     * reductions): relative error of order u * sqrt(L), u = 2^-24. */
    CNN_ERROR_FLOAT_SUM = 0,
    /* Winograd F(m x m, r x r): the transforms round before the float32 sum
     * over C channels; relative L2 error within s * u * (a + b * sqrt(C)),
     * with a, b and s measured by the backend. */
    CNN_ERROR_WINOGRAD,
    /* Later: FFT convolution, TF32 or bf16 arithmetic, each with its own
     * constants here. */
} cnn_error_kind;

typedef struct cnn_error_class {
    cnn_error_kind kind;
    int m, r;       /* WINOGRAD: output tile m x m, filter r x r */
    double a, b, s; /* WINOGRAD: the constants of the bound */
} cnn_error_class;

/* What a backend reports for one op and pass: the algorithm that runs it,
 * for result rows (e.g. "winograd F(4x4,3x3)" or "im2col (delegated)"),
 * and its error class. */
typedef struct cnn_algo {
    const char *name; /* NULL: the backend's name */
    cnn_error_class error;
} cnn_algo;

/* How far one implemented entry of a backend reaches, for `cnnbench
 * backends` (the coverage entry below). The zero value: every valid
 * descriptor, nothing to note. */
typedef struct cnn_coverage {
    /* supports() declines shapes that layers have ("3x3 stride 1 only"):
     * a run sends those to a fallback. False when it takes every shape, or
     * declines only sizes past a library's int range (said in the note). */
    bool partial;
    /* What it declines, or how it runs the pass ("via im2col (delegated)");
     * NULL: nothing to say. */
    const char *note;
} cnn_coverage;

/* ---- the operation entries, generated from backend_ops.h ----------------
 * For each row X(ARG, ENTRY, KIND, DESC, PASS, WS, PARAMS, ARGS) there is a
 * function type cnn_ENTRY_fn,
 *   cnn_status (cnn_ctx *ctx, const cnn_DESC_desc *d, PARAMS [, CNN_WS]),
 * and a field `cnn_ENTRY_fn *ENTRY` of cnn_backend. A backend declares its
 * implementations with CNN_ENTRY_DECL and fills its table with
 * CNN_ENTRY_INIT, for one kind or for all:
 *   CNN_OPS_CONV(CNN_ENTRY_DECL, cnn_mine)   declares cnn_mine_conv_fwd, ...
 *   CNN_BACKEND_OPS(CNN_ENTRY_DECL, cnn_mine) declares every entry
 *   CNN_OPS_CONV(CNN_ENTRY_INIT, cnn_mine)   .conv_fwd = cnn_mine_conv_fwd, ...
 *
 * Adding an entry (a new pass of a kind, say):
 *  1. one row in backend_ops.h, in its kind's group (a new kind also needs
 *     its descriptor in ops.h, a CNN_OPS_<KIND> group and its place in
 *     CNN_BACKEND_OPS); the table field, the checked call cnn_ENTRY() and
 *     the answers of cnn_backend_implements() and cnn_op_has_pass() follow;
 *  2. its implementation in the backends that have it: a definition with
 *     the row's parameters, which their CNN_ENTRY_DECL and CNN_ENTRY_INIT
 *     lines for that kind already declare and put in the table (a backend
 *     that names entries one by one adds a line to each). Backends without
 *     it need nothing: the entry is NULL, reported as unsupported. */
#define CNN_UNPAREN(...) __VA_ARGS__
#define CNN_WS_PARAMS_HAS_WS , CNN_WS
#define CNN_WS_PARAMS_NO_WS
#define CNN_WS_ARGS_HAS_WS , ws, ws_size
#define CNN_WS_ARGS_NO_WS
#define CNN_WS_SIZE_HAS_WS ws_size
#define CNN_WS_SIZE_NO_WS 0
/* An entry's full parameter list, and its arguments in a call. */
#define CNN_ENTRY_PARAMS(DESC, WS, PARAMS)                                                         \
    (cnn_ctx * ctx, const cnn_##DESC##_desc *d, CNN_UNPAREN PARAMS CNN_WS_PARAMS_##WS)
#define CNN_ENTRY_ARGS(WS, ARGS) (ctx, d, CNN_UNPAREN ARGS CNN_WS_ARGS_##WS)

#define CNN_ENTRY_TYPE(ARG, ENTRY, KIND, DESC, PASS, WS, PARAMS, ARGS)                             \
    typedef cnn_status cnn_##ENTRY##_fn CNN_ENTRY_PARAMS(DESC, WS, PARAMS);
CNN_BACKEND_OPS(CNN_ENTRY_TYPE, )

#define CNN_ENTRY_FIELD(ARG, ENTRY, ...) cnn_##ENTRY##_fn *ENTRY;
#define CNN_ENTRY_DECL(PREFIX, ENTRY, ...) cnn_##ENTRY##_fn PREFIX##_##ENTRY;
#define CNN_ENTRY_INIT(PREFIX, ENTRY, ...) .ENTRY = PREFIX##_##ENTRY,

struct cnn_backend {
    const char *name;  /* registry key, e.g. "im2col" */
    const char *about; /* one line for `cnnbench backends` */
    cnn_device device;
    /* Registry name of the backend that should run what this one declines
     * ("im2col" for Winograd): a run tries it after its own backend list,
     * before the default fallbacks (registry.h, cnn_backend_order). NULL:
     * none named. */
    const char *fallback;

    /* ---- life cycle and queries (all optional) ---- */
    /* Usable on this machine? If not, write why ("no CUDA device"). */
    bool (*available)(char *why, size_t why_size);
    cnn_status (*init)(cnn_ctx *ctx); /* set ctx->impl */
    void (*fini)(cnn_ctx *ctx);
    /* Cheap and side-effect free; only consulted when the entry is non-NULL.
     * NULL: every valid descriptor is supported. */
    bool (*supports)(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass);
    /* What supports() declines, per kind and pass, in words (asked only for
     * implemented entries): written beside supports() and checked against it
     * by test_backends. NULL: every entry takes every valid descriptor. */
    cnn_coverage (*coverage)(cnn_op_kind kind, cnn_pass pass);
    /* NULL: no workspace. */
    size_t (*workspace_size)(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass);
    /* The algorithm that runs this op and pass, with its error class. NULL:
     * the backend's name, a plain float32 sum. */
    cnn_algo (*algorithm)(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass);
    /* Time the last compute call on ctx spent outside the operation proper,
     * which a benchmark may want to show apart (oneDNN: the reorders between
     * plain NCHW and its blocked layouts): *what names it ("reorders"),
     * *seconds is its wall time. NULL: the backend has none to report. */
    bool (*side_time)(cnn_ctx *ctx, const char **what, double *seconds);

    /* ---- memory, for device backends only (NULL on host backends) ---- */
    cnn_status (*mem_alloc)(cnn_ctx *ctx, size_t bytes, void **out);
    void (*mem_free)(cnn_ctx *ctx, void *p);
    cnn_status (*mem_upload)(cnn_ctx *ctx, void *dst, const void *host_src, size_t bytes);
    cnn_status (*mem_download)(cnn_ctx *ctx, void *host_dst, const void *src, size_t bytes);
    cnn_status (*mem_zero)(cnn_ctx *ctx, void *p, size_t bytes);
    cnn_status (*sync)(cnn_ctx *ctx); /* wait for queued work */
    /* Device memory in use on the context's device (by every process and
     * library, as cudaMemGetInfo counts it) and its size, in bytes. */
    cnn_status (*device_memory)(cnn_ctx *ctx, size_t *used, size_t *total);
    /* Bytes of the device's last-level cache (a GPU's L2), for --cold. */
    size_t (*cache_bytes)(cnn_ctx *ctx);

    /* ---- timing, for device backends (NULL on host backends) ----
     * timer_start records a start mark on the context's queue (CUDA: an
     * event on its stream) and returns at once; timer_stop records a stop
     * mark, waits for it and returns the device time between the two, so
     * that the time is the work's and not its launches'. One timer per
     * context at a time. Host backends are timed by the wall clock after a
     * sync (cnn_timer_start below does that). */
    cnn_status (*timer_start)(cnn_ctx *ctx);
    cnn_status (*timer_stop)(cnn_ctx *ctx, double *seconds);

    /* ---- the operations: one entry per pass, listed in backend_ops.h ---- */
    CNN_BACKEND_OPS(CNN_ENTRY_FIELD, )
};

/* Create a context for backend `be` (calls be->init). opts may be NULL. */
cnn_status cnn_ctx_create(const cnn_backend *be, const cnn_ctx_opts *opts, cnn_ctx **out);
void cnn_ctx_destroy(cnn_ctx *ctx);

/* Is the backend usable here? why gets the reason when not. */
bool cnn_backend_available(const cnn_backend *be, char *why, size_t why_size);

/* Does the backend implement this pass of this op (entry present and
 * supports() agrees)? The op must have been initialised. */
bool cnn_supports(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass);
/* True when the backend has an entry for the pass at all, whatever the shape. */
bool cnn_backend_implements(const cnn_backend *be, cnn_op_kind kind, cnn_pass pass);
size_t cnn_workspace_size(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass);
/* The coverage entry's answer; the zero value when the backend has none or
 * does not implement the pass. */
cnn_coverage cnn_backend_coverage(const cnn_backend *be, cnn_op_kind kind, cnn_pass pass);
/* The backend's algorithm for op and pass (name never NULL), and just its
 * name. */
cnn_algo cnn_algorithm_info(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass);
const char *cnn_algorithm(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass);
/* The side time of the last compute call (the side_time entry); false, with
 * *what = NULL and *seconds = 0, when the backend reports none. */
bool cnn_side_time(cnn_ctx *ctx, const char **what, double *seconds);

/* Memory in the backend's address space: plain 64-byte aligned host memory
 * for host backends. */
cnn_status cnn_mem_alloc(cnn_ctx *ctx, size_t bytes, void **out);
void cnn_mem_free(cnn_ctx *ctx, void *p);
cnn_status cnn_mem_upload(cnn_ctx *ctx, void *dst, const void *host_src, size_t bytes);
cnn_status cnn_mem_download(cnn_ctx *ctx, void *host_dst, const void *src, size_t bytes);
cnn_status cnn_mem_zero(cnn_ctx *ctx, void *p, size_t bytes);
cnn_status cnn_sync(cnn_ctx *ctx);

/* Time the work queued on ctx between the two calls: on a device backend
 * with timer entries, its marks (CUDA events); elsewhere a sync, then the
 * wall clock, then a sync and the wall clock again. One timer per context
 * at a time: a second start before the stop, or a stop without a start, is
 * CNN_ERR_INVALID_ARG. The stop always waits for the work. */
cnn_status cnn_timer_start(cnn_ctx *ctx);
cnn_status cnn_timer_stop(cnn_ctx *ctx, double *seconds);
/* The device memory entry's answer; CNN_ERR_UNSUPPORTED on host backends. */
cnn_status cnn_device_memory(cnn_ctx *ctx, size_t *used, size_t *total);
/* Host memory that can still be had without swapping: MemAvailable of
 * /proc/meminfo, in bytes; 0 when unknown. Checked against a memory plan
 * before allocating it, so that too big a size fails with both numbers. */
double cnn_host_memory_available(void);
/* The cache_bytes entry's answer; 0 when the backend has none. */
size_t cnn_device_cache_bytes(cnn_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
