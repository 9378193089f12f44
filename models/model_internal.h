/* The model object, shared by the files of the models library only. */
#ifndef CNN_MODELS_MODEL_INTERNAL_H
#define CNN_MODELS_MODEL_INTERNAL_H

#include "clock.h"
#include "dispatch.h"
#include "model.h"
#include "net.h"

/* The most backends a run lists, and the most contexts it holds: the list,
 * the overrides' backends and the fallbacks it creates on demand. */
#define CNN_MAX_LIST 8
#define CNN_MAX_CTX 16

/* Where the executor sends one layer's pass. */
typedef struct cnn_route {
    int ctx;       /* index into m->ctx, -1: pass not planned or unsupported */
    int requested; /* the context asked for first */
    int64_t calls;
    int fallback_index; /* into m->fallbacks once recorded, else -1 */
} cnn_route;

/* Offsets, in floats, into the activation block for one node. */
typedef struct cnn_node_mem {
    int64_t y, dy;
    int64_t save_mean, save_invstd; /* batch norm only */
    /* binds that share memory (layout.c): tensors born later in the
     * forward take some of y's memory, so it does not hold this node's
     * output after a forward (reused); tensors of the backward do, so it
     * does not after a backward (spent) */
    bool reused, spent;
} cnn_node_mem;

typedef struct cnn_fallback_rec {
    int layer; /* node id, or CNN_LAYER_SUM / CNN_LAYER_LOSS / CNN_LAYER_OPTIM */
    cnn_pass pass;
} cnn_fallback_rec;

/* A node's part in a fused pair (fuse.c). */
typedef struct cnn_fuse {
    int relu; /* conv or BN node: the ReLU node fused into it, -1 none */
    int into; /* ReLU node: the node it is fused into, -1 none */
    bool bwd; /* conv or BN node: the ReLU's backward is folded in too */
    /* the algorithm rows show for each fused pass ("im2col+sgemm+relu",
     * "fused into features.0"); empty where the pass is not fused */
    char algo[CNN_PASS_COUNT][96];
} cnn_fuse;

#define CNN_LAYER_SUM (-2)
#define CNN_LAYER_LOSS (-3)
#define CNN_LAYER_OPTIM (-4) /* the optimizer step (optim.c) */

struct cnn_model {
    const cnn_model_desc *desc;
    cnn_net net;
    cnn_op xent; /* the loss head on the last node */

    /* ---- set by bind ---- */
    bool bound;
    cnn_exec_opts opts;
    char *backends_str, *overrides_str; /* owned copies of the option strings */
    int nctx;
    cnn_ctx *ctx[CNN_MAX_CTX];
    int nlist; /* the --backends list, as context indices */
    int list[CNN_MAX_LIST];
    const cnn_backend **extra; /* owned copy of opts.extra_backends, or NULL */
    int noverride;
    struct {
        char *glob;
        int ctx;
    } * override;
    cnn_route (*route)[CNN_PASS_COUNT]; /* [nnodes][pass] */
    cnn_fuse *fuse;                     /* [nnodes] */
    cnn_route sum_route;                /* add_fwd for summing gradients */
    cnn_route loss_route[CNN_PASS_COUNT];

    float *params; /* block_floats: trainable, then buffers */
    float *grads;  /* grad_floats */
    float *acts;
    int64_t act_floats;
    int64_t act_unshared_floats; /* the block with one slot per tensor */
    cnn_node_mem *mem;           /* [nnodes] */
    int64_t x_off, prob_off, loss_off, labels_off, scratch_off, zeros_off;
    void *ws;
    size_t ws_size;
    int64_t *batches_tracked; /* [nbn], on the host */

    /* ---- run state ---- */
    uint64_t step;
    bool have_forward, have_loss, have_labels;
    /* a backward ran on a bind that shares memory since the last forward:
     * the spent outputs, and what backward reads, are overwritten */
    bool acts_spent;
    cnn_mode fwd_mode;
    bool *written;             /* [nnodes], backward: gradient slot holds a value */
    cnn_dropout_desc *dropout; /* [nnodes], the last forward's mask of each dropout node */

    cnn_layer_hook hook;
    void *hook_user;
    bool hook_sync;

    int nfallbacks, cap_fallbacks;
    cnn_fallback_rec *fallbacks;

    /* ---- the optimizer (optim.c), set by cnn_model_optimizer_init ---- */
    cnn_op optim;        /* kind CNN_OP_OPTIM; step: that of the last step run */
    float *optim_state;  /* cnn_optim_state_count floats on ctx[0]; NULL when none */
    int64_t optim_steps; /* steps taken */
    bool optim_ready;    /* optim and optim_route are set */
    cnn_route optim_route;
};

/* plan.c */
cnn_status model_plan(cnn_model *m);
/* The context for one pass of node `layer` (or CNN_LAYER_SUM/LOSS); records
 * the fallback on first use. Unsupported: CNN_ERR_UNSUPPORTED naming it. */
cnn_status model_route(cnn_model *m, int layer, cnn_pass pass, cnn_ctx **ctx);
const char *model_layer_name(const cnn_model *m, int layer);
/* The operation of node `layer` or of a pseudo-layer; NULL for the
 * gradient sum, whose adds have no descriptor of their own. */
const cnn_op *model_layer_op(const cnn_model *m, int layer);
/* Route the optimizer step `op` (CNN_LAYER_OPTIM) as a layer's pass is
 * routed; CNN_ERR_UNSUPPORTED, naming the backends tried, when none runs
 * it. On success m->optim is op. */
cnn_status model_plan_optimizer(cnn_model *m, const cnn_op *op);

/* fuse.c: which conv/BN + ReLU pairs run fused (m->fuse), raising *ws to
 * what their fused passes need. After the routes, before the layout. */
cnn_status model_plan_fusion(cnn_model *m, size_t *ws);
/* op with fuse_relu set (a conv or BN; other kinds unchanged). */
cnn_op model_fused_op(const cnn_op *op);

/* The ReLU node fused into node i's forward, or -1. */
static inline int model_fused_relu(const cnn_model *m, int i)
{
    return m->fuse ? m->fuse[i].relu : -1;
}

/* Node i is a ReLU whose forward runs inside another node. */
static inline bool model_relu_fused(const cnn_model *m, int i)
{
    return m->fuse && m->fuse[i].into >= 0;
}

/* layout.c: the activation block's offsets (m->mem, x_off, ...),
 * act_floats and act_unshared_floats. */
cnn_status model_layout(cnn_model *m);

/* model.c */
/* The context index for backend `be`, creating the context on first use. */
cnn_status model_ctx_for(cnn_model *m, const cnn_backend *be, int *out);
cnn_status model_layer_error(const cnn_model *m, int layer, cnn_pass pass, cnn_status st);
/* Around each layer's work: with a hook that asked for sync, the layer is
 * timed by the backend's timer on the run's first context (cnn_timer_start:
 * CUDA events on a GPU, the wall clock after a sync on the host; every
 * context of a run is on one device), else by the wall clock alone. After
 * the layer, st is its status: the hook is called only when it is CNN_OK,
 * and the status returned is st or the timer's failure. */
cnn_status model_before_layer(cnn_model *m, double *t0);
cnn_status model_after_layer(cnn_model *m, int layer, cnn_phase phase, cnn_status st, double t0);

static inline float *model_act(const cnn_model *m, int64_t off)
{
    return m->acts + off;
}

/* The output of node id (the input image for CNN_NET_INPUT). */
static inline float *model_y(const cnn_model *m, int id)
{
    return m->acts + (id == CNN_NET_INPUT ? m->x_off : m->mem[id].y);
}

static inline float *model_tensor_ptr(const cnn_model *m, int t)
{
    return t < 0 ? NULL : m->params + m->net.tensors[t].offset;
}

static inline float *model_grad_ptr(const cnn_model *m, int t)
{
    return t < 0 ? NULL : m->grads + m->net.tensors[t].offset;
}

/* init.c */
uint64_t cnn_mix64(uint64_t z);

/* registry.c: the builder of a catalogue entry. */
net_builder model_builder(const cnn_model_desc *d);

#endif
