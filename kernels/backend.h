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

#include "ops.h"
#include "status.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnn_backend cnn_backend;

typedef struct cnn_ctx_opts {
    int threads; /* CPU threads; 0 = leave the runtime's choice */
    int device;  /* CUDA device ordinal */
} cnn_ctx_opts;

typedef struct cnn_ctx {
    const cnn_backend *backend;
    void *impl; /* the backend's own state */
    cnn_ctx_opts opts;
} cnn_ctx;

#define CNN_WS void *ws, size_t ws_size

struct cnn_backend {
    const char *name;  /* registry key, e.g. "im2col" */
    const char *about; /* one line for `cnnbench backends` */
    cnn_device device;

    /* ---- life cycle and queries (all optional) ---- */
    /* Usable on this machine? If not, write why ("no CUDA device"). */
    bool (*available)(char *why, size_t why_size);
    cnn_status (*init)(cnn_ctx *ctx); /* set ctx->impl */
    void (*fini)(cnn_ctx *ctx);
    /* Cheap and side-effect free; only consulted when the entry is non-NULL.
     * NULL: every valid descriptor is supported. */
    bool (*supports)(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass);
    /* NULL: no workspace. */
    size_t (*workspace_size)(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass);
    /* The algorithm that runs this op and pass, for result rows, e.g.
     * "winograd F(4x4,3x3)" or "im2col (delegated)". NULL: the backend name. */
    const char *(*algorithm)(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass);

    /* ---- memory, for device backends only (NULL on host backends) ---- */
    cnn_status (*mem_alloc)(cnn_ctx *ctx, size_t bytes, void **out);
    void (*mem_free)(cnn_ctx *ctx, void *p);
    cnn_status (*mem_upload)(cnn_ctx *ctx, void *dst, const void *host_src, size_t bytes);
    cnn_status (*mem_download)(cnn_ctx *ctx, void *host_dst, const void *src, size_t bytes);
    cnn_status (*mem_zero)(cnn_ctx *ctx, void *p, size_t bytes);
    cnn_status (*sync)(cnn_ctx *ctx); /* wait for queued work */

    /* ---- convolution: x [n][c][h][w], w [k][c][r][s], b [k], y [n][k][p][q] ---- */
    cnn_status (*conv_fwd)(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x, const float *w,
                           const float *b, float *y, CNN_WS);
    cnn_status (*conv_bwd_data)(cnn_ctx *ctx, const cnn_conv_desc *d, const float *dy,
                                const float *w, float *dx, CNN_WS);
    cnn_status (*conv_bwd_filter)(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x,
                                  const float *dy, float *dw, CNN_WS);
    cnn_status (*conv_bwd_bias)(cnn_ctx *ctx, const cnn_conv_desc *d, const float *dy, float *db,
                                CNN_WS);

    /* ---- pooling ---- */
    cnn_status (*pool_fwd)(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, float *y, CNN_WS);
    cnn_status (*pool_bwd)(cnn_ctx *ctx, const cnn_pool_desc *d, const float *x, const float *y,
                           const float *dy, float *dx, CNN_WS);
    cnn_status (*adapool_fwd)(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *x, float *y,
                              CNN_WS);
    cnn_status (*adapool_bwd)(cnn_ctx *ctx, const cnn_adapool_desc *d, const float *dy, float *dx,
                              CNN_WS);

    /* ---- batch norm: gamma, beta, running_*, save_* are [c] ----
     * running_mean/var are read and updated in place by fwd_train. */
    cnn_status (*bn_fwd_train)(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x,
                               const float *gamma, const float *beta, float *y, float *running_mean,
                               float *running_var, float *save_mean, float *save_invstd, CNN_WS);
    cnn_status (*bn_fwd_infer)(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x,
                               const float *gamma, const float *beta, const float *running_mean,
                               const float *running_var, float *y, CNN_WS);
    cnn_status (*bn_bwd)(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x, const float *dy,
                         const float *gamma, const float *save_mean, const float *save_invstd,
                         float *dx, float *dgamma, float *dbeta, CNN_WS);

    /* ---- linear: x [n][in], w [out][in], b [out], y [n][out] ---- */
    cnn_status (*linear_fwd)(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x, const float *w,
                             const float *b, float *y, CNN_WS);
    cnn_status (*linear_bwd_data)(cnn_ctx *ctx, const cnn_linear_desc *d, const float *dy,
                                  const float *w, float *dx, CNN_WS);
    /* db may be NULL (no bias). */
    cnn_status (*linear_bwd_weight)(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                    const float *dy, float *dw, float *db, CNN_WS);

    /* ---- element-wise ---- */
    cnn_status (*act_fwd)(cnn_ctx *ctx, const cnn_act_desc *d, const float *x, float *y);
    cnn_status (*act_bwd)(cnn_ctx *ctx, const cnn_act_desc *d, const float *y, const float *dy,
                          float *dx);
    cnn_status (*dropout_fwd)(cnn_ctx *ctx, const cnn_dropout_desc *d, const float *x, float *y);
    cnn_status (*dropout_bwd)(cnn_ctx *ctx, const cnn_dropout_desc *d, const float *dy, float *dx);
    cnn_status (*add_fwd)(cnn_ctx *ctx, const cnn_add_desc *d, const float *a, const float *b,
                          float *y);

    /* ---- loss: labels int32 [n]; prob [n][classes]; loss [1] ---- */
    cnn_status (*xent_fwd)(cnn_ctx *ctx, const cnn_xent_desc *d, const float *logits,
                           const int32_t *labels, float *prob, float *loss);
    cnn_status (*xent_bwd)(cnn_ctx *ctx, const cnn_xent_desc *d, const float *prob,
                           const int32_t *labels, float *dlogits);

    /* ---- channel concat: xs[i] is [n][c[i]][h][w] ---- */
    cnn_status (*concat_fwd)(cnn_ctx *ctx, const cnn_concat_desc *d, const float *const *xs,
                             float *y);
    cnn_status (*concat_bwd)(cnn_ctx *ctx, const cnn_concat_desc *d, const float *dy,
                             float *const *dxs);
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
const char *cnn_algorithm(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass);

/* Memory in the backend's address space: plain 64-byte aligned host memory
 * for host backends. */
cnn_status cnn_mem_alloc(cnn_ctx *ctx, size_t bytes, void **out);
void cnn_mem_free(cnn_ctx *ctx, void *p);
cnn_status cnn_mem_upload(cnn_ctx *ctx, void *dst, const void *host_src, size_t bytes);
cnn_status cnn_mem_download(cnn_ctx *ctx, void *host_dst, const void *src, size_t bytes);
cnn_status cnn_mem_zero(cnn_ctx *ctx, void *p, size_t bytes);
cnn_status cnn_sync(cnn_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
