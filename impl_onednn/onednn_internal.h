/* Shared between the oneDNN backend's files; not part of any interface.
 *
 * Every call goes through a cached "entry": the primitives oneDNN built for
 * one (operation descriptor, pass), plus the memory objects that wrap the
 * caller's plain NCHW arrays ("user" slots) and, where oneDNN chose another
 * layout, a buffer in the caller's workspace with the reorder that fills it
 * or drains it. A call binds pointers to the cached memory objects and runs:
 * input reorders, the primitives in order, output reorders.
 *
 * Workspace layout (base aligned up to 64 bytes; every region 64-aligned):
 *   [ scratchpad | reorder and internal buffers | extra ]
 * The scratchpad region is shared by every primitive and reorder of the
 * entry, since they run one after another. "extra" is for the operation's
 * own use (batch-norm statistics). A context serves one thread at a time:
 * each call rebinds the cached memory objects. Operations whose interface has no
 * workspace (activations, add, concat) use plain layouts and oneDNN's own
 * scratchpad (dnnl_scratchpad_mode_library). */
#ifndef CNN_ONEDNN_INTERNAL_H
#define CNN_ONEDNN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>

#include "backend.h"

/* Every oneDNN call is checked: the reason names the call, file:line and
 * oneDNN's status, and the function returns CNN_ERR_BACKEND. Builders may
 * return early: whatever they created is owned by the entry and freed with
 * it. */
#define DNNL_CHECK(call)                                                                           \
    do {                                                                                           \
        dnnl_status_t dnnl_st_ = (call);                                                           \
        if (dnnl_st_ != dnnl_success)                                                              \
            return cnn_onednn_fail(dnnl_st_, #call, __FILE__, __LINE__);                           \
    } while (0)

cnn_status cnn_onednn_fail(dnnl_status_t s, const char *call, const char *file, int line);

/* Pass a failed cnn_status up. */
#define TRY(call)                                                                                  \
    do {                                                                                           \
        cnn_status try_st_ = (call);                                                               \
        if (try_st_ != CNN_OK)                                                                     \
            return try_st_;                                                                        \
    } while (0)

/* Every region of the workspace starts on a cache line. */
#define CNN_ONEDNN_ALIGN 64
static inline size_t cnn_onednn_align(size_t n)
{
    return (n + CNN_ONEDNN_ALIGN - 1) / CNN_ONEDNN_ALIGN * CNN_ONEDNN_ALIGN;
}

#define CNN_ONEDNN_KEY_LEN 16
#define CNN_ONEDNN_MAX_STEPS CNN_MAX_CONCAT
#define CNN_ONEDNN_MAX_SLOTS (2 * CNN_MAX_CONCAT + 2)
#define CNN_ONEDNN_MAX_ARGS (CNN_MAX_CONCAT + 4)

typedef struct cnn_onednn_slot {
    int arg;                  /* the DNNL_ARG_* it was first bound to, for names */
    bool output;              /* written by the primitives, drained to the user */
    dnnl_memory_t user;       /* over the caller's pointer; NULL for internal slots */
    dnnl_memory_t inner;      /* in the workspace; NULL when the user layout is used */
    dnnl_primitive_t reorder; /* user -> inner (input) or inner -> user (output) */
    dnnl_memory_t reorder_scratch;
    size_t offset; /* of inner within the buffer region */
} cnn_onednn_slot;

typedef struct cnn_onednn_step {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_memory_t scratch; /* NULL when it needs none */
    int nargs;
    int arg[CNN_ONEDNN_MAX_ARGS];
    int slot[CNN_ONEDNN_MAX_ARGS];
} cnn_onednn_step;

typedef struct cnn_onednn_entry {
    int64_t key[CNN_ONEDNN_KEY_LEN];
    struct cnn_onednn_entry *next;
    dnnl_primitive_attr_t attr; /* scratchpad mode, shared by every primitive */
    bool user_scratchpad;
    dnnl_primitive_desc_t hint; /* the forward a backward primitive was made for */
    int nsteps, nslots, nuser;
    int main_step;    /* the one whose implementation algorithm() reports */
    const char *note; /* appended to it, e.g. "forward recomputed" */
    cnn_onednn_step steps[CNN_ONEDNN_MAX_STEPS];
    cnn_onednn_slot slots[CNN_ONEDNN_MAX_SLOTS];
    int user_slot[CNN_ONEDNN_MAX_SLOTS]; /* slot of the i-th user pointer */
    size_t scratch_bytes, buffer_bytes, extra_bytes;
    size_t workspace_bytes; /* what workspace_size() reports */
    const char *algorithm;  /* interned in the state */
} cnn_onednn_entry;

#define CNN_ONEDNN_MAX_NAMES 128

typedef struct cnn_onednn_state {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    cnn_onednn_entry *entries; /* most recently used first */
    int nentries;
    double reorder_seconds; /* of the last entry run: the side_time entry */
    char *names[CNN_ONEDNN_MAX_NAMES];
    int nnames;
} cnn_onednn_state;

/* ---- the cache (onednn_cache.c) ---- */

/* The entry for op and pass, built on first use. */
cnn_status cnn_onednn_get(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass, cnn_onednn_entry **out);
void cnn_onednn_cache_clear(cnn_onednn_state *st);
/* Get the entry and run it on ptrs (see cnn_onednn_run). */
cnn_status cnn_onednn_call(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass, void *const *ptrs,
                           void *ws, size_t ws_size);

/* ---- threads (onednn_exec.c) ----
 * This libdnnl runs on the OpenMP runtime: a primitive uses
 * omp_get_max_threads() threads, the process's count (set once at start-up,
 * cnn_set_process_threads), and is shaped for that count when it is
 * created, so the count is part of the cache key. oneDNN's C API has no
 * per-primitive count for this runtime, and the backend never changes the
 * process's: ctx->opts.threads does not apply to it. */
int cnn_onednn_threads(void);

/* ---- building an entry (onednn_build.c) ---- */

/* The forward primitive descriptor that later backward steps are created for. */
cnn_status cnn_onednn_set_hint(cnn_onednn_state *st, cnn_onednn_entry *e, const void *op_desc);
/* A step from an operation descriptor; a backward one names the forward
 * primitive descriptor it belongs to (e->hint or an earlier step's). */
cnn_status cnn_onednn_add_op(cnn_onednn_state *st, cnn_onednn_entry *e, const void *op_desc,
                             const_dnnl_primitive_desc_t hint, int *step);
/* A step from a primitive descriptor made elsewhere (concat, reorder);
 * the entry owns pd from here on, also on failure. */
cnn_status cnn_onednn_add_pd(cnn_onednn_state *st, cnn_onednn_entry *e, dnnl_primitive_desc_t pd,
                             int *step);
/* Bind argument `arg` of `step` to the next caller pointer, whose layout is
 * user_md; a reorder is added when the primitive wants another layout. */
cnn_status cnn_onednn_user(cnn_onednn_state *st, cnn_onednn_entry *e, int step, int arg,
                           const dnnl_memory_desc_t *user_md, bool output);
/* Bind `arg` of `step` to a buffer of the workspace in the primitive's
 * layout (a max-pool workspace, a recomputed forward output). */
cnn_status cnn_onednn_internal(cnn_onednn_state *st, cnn_onednn_entry *e, int step, int arg,
                               int *slot);
/* Bind `arg` of `step` to an existing slot. */
cnn_status cnn_onednn_bind(cnn_onednn_entry *e, int step, int arg, int slot);
/* Called once the steps are complete: sizes the workspace, names the algorithm. */
cnn_status cnn_onednn_finish(cnn_onednn_state *st, cnn_onednn_entry *e);
void cnn_onednn_entry_free(cnn_onednn_entry *e);

/* Whether the caller's workspace is large enough for the entry. */
cnn_status cnn_onednn_check_ws(const cnn_onednn_entry *e, const void *ws, size_t ws_size);
/* The extra region of the workspace (64-byte aligned); check it first. */
void *cnn_onednn_extra(const cnn_onednn_entry *e, void *ws);

/* Run the entry on the caller's pointers (in the order of cnn_onednn_user
 * calls). Inputs are not written, although oneDNN takes them as void *. */
cnn_status cnn_onednn_run(cnn_ctx *ctx, cnn_onednn_entry *e, void *const *ptrs, void *ws,
                          size_t ws_size);

/* Plain f32 descriptor with the given format tag (dnnl_format_tag_any too). */
cnn_status cnn_onednn_md(dnnl_memory_desc_t *md, int ndims, const dnnl_dim_t *dims,
                         dnnl_format_tag_t tag);
cnn_status cnn_onednn_md4(dnnl_memory_desc_t *md, int64_t a, int64_t b, int64_t c, int64_t d,
                          dnnl_format_tag_t tag);
cnn_status cnn_onednn_md1(dnnl_memory_desc_t *md, int64_t a);
/* The channel-blocked activation layout of oneDNN's JIT kernels on this CPU
 * (nChw16c with AVX-512, else nChw8c): pooling and batch norm run on it,
 * their NCHW operands reordered, since on plain NCHW oneDNN 2.6 has only
 * reference kernels for them (simple_nchw, ncsp_bnorm). */
dnnl_format_tag_t cnn_onednn_blocked_tag(void);

/* oneDNN's right (bottom) padding: what makes the last of `out` windows end
 * exactly where it ends. Negative when the input's last rows are never
 * read (floor mode); larger than `pad` when a ceil-mode window overhangs. */
static inline int64_t cnn_onednn_pad_right(int64_t in, int64_t out, int k, int stride, int pad)
{
    return (out - 1) * stride + k - in - pad;
}

/* ---- builders, one per operation kind (each in its op's file) ---- */
cnn_status cnn_onednn_conv_build(cnn_onednn_state *st, cnn_onednn_entry *e, const cnn_conv_desc *d,
                                 cnn_pass pass);
cnn_status cnn_onednn_pool_build(cnn_onednn_state *st, cnn_onednn_entry *e, const cnn_pool_desc *d,
                                 cnn_pass pass);
cnn_status cnn_onednn_adapool_build(cnn_onednn_state *st, cnn_onednn_entry *e,
                                    const cnn_adapool_desc *d, cnn_pass pass);
cnn_status cnn_onednn_bn_build(cnn_onednn_state *st, cnn_onednn_entry *e, const cnn_bn_desc *d,
                               cnn_pass pass);
cnn_status cnn_onednn_linear_build(cnn_onednn_state *st, cnn_onednn_entry *e,
                                   const cnn_linear_desc *d, cnn_pass pass);
cnn_status cnn_onednn_act_build(cnn_onednn_state *st, cnn_onednn_entry *e, const cnn_act_desc *d,
                                cnn_pass pass);
cnn_status cnn_onednn_add_build(cnn_onednn_state *st, cnn_onednn_entry *e, const cnn_add_desc *d);
cnn_status cnn_onednn_concat_build(cnn_onednn_state *st, cnn_onednn_entry *e,
                                   const cnn_concat_desc *d, cnn_pass pass);

/* ---- what the backend table points at ---- */
bool cnn_onednn_pool_supported(const cnn_pool_desc *d);
bool cnn_onednn_adapool_supported(const cnn_adapool_desc *d);

/* Every kind but dropout and softmax cross-entropy, which are not oneDNN
 * operations: cnn_onednn_conv_fwd, ... cnn_onednn_concat_bwd. */
#define CNN_ONEDNN_OPS(X, ARG)                                                                     \
    CNN_OPS_CONV(X, ARG)                                                                           \
    CNN_OPS_POOL(X, ARG)                                                                           \
    CNN_OPS_ADAPOOL(X, ARG)                                                                        \
    CNN_OPS_BN(X, ARG)                                                                             \
    CNN_OPS_LINEAR(X, ARG)                                                                         \
    CNN_OPS_ACT(X, ARG)                                                                            \
    CNN_OPS_ADD(X, ARG)                                                                            \
    CNN_OPS_CONCAT(X, ARG)
CNN_ONEDNN_OPS(CNN_ENTRY_DECL, cnn_onednn)

#endif
