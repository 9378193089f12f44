/* Whole networks, forward and backward, on any backend.
 *
 * Life cycle:
 *   cnn_model_create("resnet18", &opts, &m)      describe (cheap, no tensors)
 *   cnn_model_bind(m, &exec)                      pick backends per layer, allocate
 *   cnn_model_init_params(m, seed) or cnn_model_load_weights(m, dir)
 *   loop: cnn_model_set_input, cnn_model_forward, [cnn_model_set_labels,
 *         cnn_model_loss, cnn_model_backward], read logits / loss / gradients
 *
 * A step (forward, cnn_model_loss(m, NULL), backward) only queues work on
 * the device: none of them reads anything back or waits for it, so a step
 * can be timed by the device's own clock. Reading results (logits, the
 * loss, gradients) is what waits.
 *   cnn_model_destroy(m)
 *
 * Memory: parameters (trainable first, then batch-norm running statistics),
 * gradients, and activations (outputs, their gradients, saved batch-norm
 * statistics, the loss head) are each one allocation made with
 * cnn_mem_alloc on the executing device, plus one workspace sized as the
 * largest cnn_workspace_size over every layer and pass the run may execute.
 * A bind reuses activation memory between layers, and on a training bind
 * between activations and their gradients (see keep_activations below).
 *
 * Backends: a run names an ordered list ("winograd,im2col"); each layer and
 * pass runs on the first of them that supports it, else on the first
 * fallback that does: the backend a listed one names as its fallback
 * (winograd: im2col), then the device's default fallbacks (host: onednn,
 * im2col), then naive (host runs only), the last resort; the order is
 * cnn_backend_order() in registry.h. Overrides put one backend first for the
 * layers whose name matches a glob ("layer4.*=onednn"). A plan names the
 * backend of single (layer, pass) pairs ("conv1 bwd_weight on onednn", as
 * cnnbench bench --backends auto finds them): a planned pass tries its
 * backend first, before any override and the list. Every layer and pass
 * that runs on a backend other than the one asked for is recorded as a
 * fallback, available below.
 *
 * Every function returns a cnn_status and leaves the reason in
 * cnn_last_error(). */
#ifndef CNN_MODELS_MODEL_H
#define CNN_MODELS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "backend.h"
#include "ops.h"
#include "status.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnn_model cnn_model;

/* ---- the catalogue ---------------------------------------------------- */

typedef struct cnn_model_desc {
    const char *name;  /* "resnet18" */
    const char *about; /* one line */
    int c, h, w;       /* usual input */
    int classes;       /* default classes */
} cnn_model_desc;

int cnn_model_count(void);
const cnn_model_desc *cnn_model_at(int i);
const cnn_model_desc *cnn_model_find(const char *name); /* NULL if unknown */
char *cnn_model_names(char *buf, size_t n);             /* "fashion_cnn, lenet5, ..." */

/* ---- describing ------------------------------------------------------- */

typedef struct cnn_model_opts {
    int batch;   /* 0 = 1 */
    int classes; /* 0 = the model's default */
    int c, h, w; /* input size; 0 = the model's usual one */
} cnn_model_opts;

/* Unknown name: CNN_ERR_INVALID_ARG listing the valid ones. An input the
 * model cannot take: CNN_ERR_INVALID_ARG naming the layer and both shapes. */
cnn_status cnn_model_create(const char *name, const cnn_model_opts *opts, cnn_model **out);
void cnn_model_destroy(cnn_model *m);

const char *cnn_model_name(const cnn_model *m);
cnn_shape cnn_model_input_shape(const cnn_model *m);  /* [n][c][h][w] */
cnn_shape cnn_model_output_shape(const cnn_model *m); /* [n][classes] */
int64_t cnn_model_param_count(const cnn_model *m);    /* trainable values, as torch counts */
/* Forward FLOPs of the whole net (inference passes, cnn_op_flops). */
double cnn_model_flops(const cnn_model *m);

typedef struct cnn_layer_info {
    const char *name; /* "layer1.0.conv1" */
    const cnn_op *op; /* completed descriptor */
    cnn_shape y;      /* output shape */
    int64_t params;   /* trainable values owned by the layer */
    double flops;     /* inference forward */
    int nin;
    const int *in; /* input layer ids; -1 is the network input */
} cnn_layer_info;

int cnn_model_layer_count(const cnn_model *m);
cnn_status cnn_model_layer(const cnn_model *m, int i, cnn_layer_info *out);

/* state_dict entries (float ones; num_batches_tracked is separate). */
typedef struct cnn_tensor_info {
    const char *key;
    cnn_shape shape;
    bool trainable; /* false for running_mean / running_var */
    int layer;
} cnn_tensor_info;

int cnn_model_tensor_count(const cnn_model *m);
cnn_status cnn_model_tensor(const cnn_model *m, int i, cnn_tensor_info *out);
int cnn_model_find_tensor(const cnn_model *m, const char *key); /* -1 if none */

/* ---- binding to backends ---------------------------------------------- */

/* One entry of a plan: pass `pass` of the layer called `layer`
 * (cnn_layer_info.name) runs on the backend called `backend`. */
typedef struct cnn_plan_entry {
    const char *layer;
    cnn_pass pass;
    const char *backend;
} cnn_plan_entry;

typedef struct cnn_exec_opts {
    const char *backends;  /* "naive" or an ordered list "winograd,im2col" */
    const char *overrides; /* NULL or "GLOB=BACKEND[,GLOB=BACKEND...]", first match wins */
    /* NULL, or nplan entries, read by bind only (they need not outlive it).
     * A planned (layer, pass) runs on its backend first (a context is made
     * for it as for a fallback); where that backend does not support the
     * pass, the usual order follows (the list, the fallbacks) and the choice
     * is recorded as a fallback from the planned backend. Layers and passes
     * the plan leaves out follow the overrides and the list. An entry for a
     * pass the layer has but the run does not execute (a backward pass of a
     * forward-only bind, the data gradient of a layer that reads only the
     * image) is accepted and has no effect. */
    const cnn_plan_entry *plan;
    int nplan;
    int threads;           /* 0 = runtime default */
    int device;            /* CUDA ordinal */
    uint64_t seed;         /* dropout masks: one per (layer, step) from this */
    bool forward_only;     /* no gradient memory; backward is an error */
    /* Binds share activation memory between tensors that are never alive
     * at once (a slot is free once its last reader has run; on a training
     * bind the readers include backward, and gradients share too), so
     * after a forward, and again after a backward, only the outputs that
     * survive can be read: the logits always, a reused layer's output is an
     * error; and a backward needs a forward of its own. Set this to give
     * every tensor its own slot, read any output (but the pre-ReLU output
     * of a fused pair, no_fuse below) and run backward again. */
    bool keep_activations;
    /* Run every conv/BN + ReLU pair as two layers (the --no-fuse flag).
     * By default a convolution or batch norm whose output only a ReLU
     * reads runs with that ReLU in its own pass where its backend takes it
     * (kernels/ops.h, "Fused ReLU"; cnn_model_layer_fused says which), and
     * its own, pre-ReLU output is not kept (cnn_model_get_output refuses
     * it), in training binds too. A forward-only bind with keep_activations
     * does not fuse. */
    bool no_fuse;
    /* NULL, or a NULL-terminated list of backend tables found by name before
     * the registry's (tests, backends built outside this tree) */
    const cnn_backend *const *extra_backends;
} cnn_exec_opts;

/* Unknown backend name: CNN_ERR_INVALID_ARG listing the valid ones. Host and
 * CUDA backends in one run: CNN_ERR_UNSUPPORTED. At most 8 backends listed.
 * A bad plan entry is CNN_ERR_INVALID_ARG "model M: plan entry I (LAYER
 * PASS on BACKEND): REASON", REASON as cnn_model_plan_check gives it, or
 * that the entry's backend runs on another device than the list's. */
cnn_status cnn_model_bind(cnn_model *m, const cnn_exec_opts *opts);

/* Check a plan against a model, bound or not, without binding: every entry
 * names a layer of the model, a pass that layer's op has, a backend known
 * (extra first, as cnn_backend_resolve) and usable here; all its backends
 * share one device and no (layer, pass) comes twice. The first bad entry's
 * index goes to *bad (-1 if none) and its reason, without the entry, to
 * cnn_last_error(): "model lenet5 has no layer 'conv9'", "layer relu1
 * (relu) has no pass bwd_weight", "unknown backend 'x'; valid backends:
 * ...", "backend cudnn is not usable here: WHY", "backend cudnn runs on
 * cuda, conv1 fwd's naive on host; all backends of one run must share a
 * device", "layer conv1 pass fwd is planned twice"; all
 * CNN_ERR_INVALID_ARG. */
cnn_status cnn_model_plan_check(const cnn_model *m, const cnn_plan_entry *plan, int nplan,
                                const cnn_backend *const *extra, int *bad);

/* Does the executor run pass `pass` of layer `layer` in a training step
 * (forward in train mode, backward) or an eval forward (batch norm's
 * fwd_infer)? False for the passes it skips: a layer that reads only the
 * image computes no data gradient, a convolution without bias no bias
 * gradient; on a model bound forward-only, every backward pass. Works
 * before bind. */
bool cnn_model_layer_runs(const cnn_model *m, int layer, cnn_pass pass);

/* Bytes of the four allocations a bound model holds on its device, and
 * what the activations (with, on a training bind, the activation gradients)
 * would take with one slot per tensor: more than `activations` on a bind
 * that shares memory, equal with keep_activations. */
typedef struct cnn_model_mem {
    size_t params, grads, activations, workspace;
    size_t activations_unshared;
} cnn_model_mem;
cnn_status cnn_model_memory(const cnn_model *m, cnn_model_mem *out);

/* Every backend context the run uses (the first is where memory lives). */
int cnn_model_ctx_count(const cnn_model *m);
cnn_ctx *cnn_model_ctx(const cnn_model *m, int i);

/* The backend chosen for one layer's pass, and its algorithm; NULL if the
 * pass does not apply or no backend supports it. */
const char *cnn_model_layer_backend(const cnn_model *m, int layer, cnn_pass pass,
                                    const char **algorithm);
/* For a fused pass (see no_fuse above): the other layer of the pair (the
 * ReLU for a conv or BN, the conv or BN for the ReLU), else -1. A fused
 * layer's algorithm ends in "+relu"; the ReLU's reads "fused into LAYER",
 * and its pass runs nothing. Backward: the conv's bwd_bias or the BN's
 * bwd_data, and the ReLU's bwd_data, where the mask is folded in. */
int cnn_model_layer_fused(const cnn_model *m, int layer, cnn_pass pass);
/* How many times that pass has run since bind. */
int64_t cnn_model_layer_calls(const cnn_model *m, int layer, cnn_pass pass);

typedef struct cnn_fallback {
    const char *layer; /* layer name, or "(gradient sum)" / "(loss)" */
    cnn_pass pass;
    const char *requested; /* the backend asked for first */
    const char *used;
    const char *algorithm; /* cnn_algorithm() of the used backend */
    int64_t calls;
} cnn_fallback;

/* Fallbacks that have actually run so far, in the order first seen. */
int cnn_model_fallback_count(const cnn_model *m);
cnn_status cnn_model_fallback(const cnn_model *m, int i, cnn_fallback *out);
/* One line per fallback, or nothing when there were none. */
void cnn_model_print_fallbacks(const cnn_model *m, FILE *out);

/* ---- parameters ------------------------------------------------------- */

/* Kaiming normal (fan_out, ReLU gain) conv weights, zero conv biases,
 * PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)) linear weights and biases,
 * batch norm 1/0, running statistics 0/1. Each tensor draws from its own
 * stream derived from (seed, key), so one tensor's values do not depend on
 * the others. */
cnn_status cnn_model_init_params(cnn_model *m, uint64_t seed);

/* DIR/KEY.npy for every float state_dict entry (float32, exact shape) plus
 * optional DIR/KEY.num_batches_tracked.npy (int64 scalar). A missing key, a
 * file that is no key of this model, or a wrong shape is an error naming the
 * key and both shapes; it is found before any value is changed. */
cnn_status cnn_model_load_weights(cnn_model *m, const char *dir);
/* The same layout, num_batches_tracked included; creates DIR if needed. */
cnn_status cnn_model_save_weights(cnn_model *m, const char *dir);

cnn_status cnn_model_get_tensor(cnn_model *m, const char *key, float *host, int64_t count);
cnn_status cnn_model_set_tensor(cnn_model *m, const char *key, const float *host, int64_t count);
/* The gradient of the last backward for a trainable key. */
cnn_status cnn_model_get_grad(cnn_model *m, const char *key, float *host, int64_t count);
/* num_batches_tracked of the batch-norm layer that owns `key`'s prefix
 * ("layer1.0.bn1"); -1 if there is none. */
int64_t cnn_model_batches_tracked(const cnn_model *m, const char *bn_layer);

/* Device pointers to the trainable block and its gradient block (the same
 * layout, `count` floats including alignment gaps, which stay zero), for
 * optimizers. */
cnn_status cnn_model_param_block(cnn_model *m, float **params, float **grads, int64_t *count);

/* ---- the optimizer (optim.c) ------------------------------------------- */

/* Training: after cnn_model_backward, cnn_model_optimizer_step (PyTorch's
 * optimizer.step()), once cnn_model_optimizer_init has set the optimizer.
 * Its state is one more allocation on the model's device.
 *
 * Set the optimizer that cnn_model_optimizer_step runs on the parameter
 * block: d's mode and hyperparameters (kernels/ops.h, cnn_optim_desc;
 * count and step are the model's, whatever d holds there). Validated as
 * cnn_optim_init does, errors naming the field. Allocates the state in one
 * cnn_mem_alloc on the model's device, zeroed (SGD with momentum: a buffer
 * laid out as the parameter block; Adam: exp_avg, then exp_avg_sq, each so;
 * plain SGD: none), and routes the step like a layer's pass: the first
 * backend of the run that implements it, else the fallbacks (oneDNN has no
 * optimizer: its runs step on im2col), recorded as the fallback
 * "(optimizer)". A second call replaces the optimizer and its state and
 * starts again from step 0. The model must be bound with gradients. */
cnn_status cnn_model_optimizer_init(cnn_model *m, const cnn_optim_desc *d);
/* One step on the gradients of the last backward (PyTorch's
 * optimizer.step()): parameters and state updated in place, the step count
 * advanced. The last forward's outputs are stale after it. */
cnn_status cnn_model_optimizer_step(cnn_model *m);
/* For checkpoints: a device pointer (memory of cnn_model_ctx(m, 0)) to the
 * state, its size in floats (NULL and 0 for plain SGD) and the steps taken.
 * The state is torch.optim's per-tensor state laid out as the parameter
 * block (cnn_model_param_block), the step is state['step']. Restoring: the
 * same optimizer init'ed, the state uploaded there (cnn_mem_upload), then
 * cnn_model_optimizer_set_step. */
cnn_status cnn_model_optimizer_state(cnn_model *m, float **state, int64_t *count, int64_t *step);
/* Steps taken so far, >= 0: the next step is number step + 1 (Adam's bias
 * corrections; at step 1 the state's contents are ignored). */
cnn_status cnn_model_optimizer_set_step(cnn_model *m, int64_t step);

/* ---- running ---------------------------------------------------------- */

typedef enum cnn_mode { CNN_MODE_EVAL = 0, CNN_MODE_TRAIN, CNN_MODE_COUNT } cnn_mode;
const char *cnn_mode_str(cnn_mode m); /* "eval", "train" */

/* count must be the input's numel. */
cnn_status cnn_model_set_input(cnn_model *m, const float *host, int64_t count);
/* n labels in [0, classes). */
cnn_status cnn_model_set_labels(cnn_model *m, const int32_t *host, int64_t n);

/* Eval: dropout off, batch norm with running statistics. Train: batch
 * statistics (running ones updated, num_batches_tracked incremented) and
 * dropout masks from (seed, layer, step); the step then advances by one. */
cnn_status cnn_model_forward(cnn_model *m, cnn_mode mode);
/* Mean cross-entropy of the last forward's logits against the labels,
 * computed on the device. loss NULL: nothing is read back, so the call only
 * queues work and never waits for the device (a timed step stays free of
 * host syncs); otherwise the value is read back as cnn_model_get_loss does. */
cnn_status cnn_model_loss(cnn_model *m, float *loss);
/* The loss of the last cnn_model_loss, read back to the host (a wait for
 * the device). CNN_ERR_INVALID_ARG naming the model when no loss has been
 * computed since the last forward (or since the input, labels or weights
 * changed). */
cnn_status cnn_model_get_loss(cnn_model *m, float *loss);
/* Gradients of the mean loss for every trainable tensor, in the mode of the
 * last forward (eval mode: frozen batch-norm statistics). Needs
 * cnn_model_loss first. Gradients are overwritten, not accumulated. A
 * second backward on one forward is CNN_ERR_INVALID_ARG naming the model
 * unless the bind has keep_activations (the first reused what it read). */
cnn_status cnn_model_backward(cnn_model *m);

cnn_status cnn_model_get_logits(cnn_model *m, float *host, int64_t count);
/* The output of any layer after a forward; without keep_activations,
 * CNN_ERR_INVALID_ARG naming the layer when its memory was reused by later
 * layers (or, after a backward, by backward's tensors). */
cnn_status cnn_model_get_output(cnn_model *m, int layer, float *host, int64_t count);

uint64_t cnn_model_step(const cnn_model *m);
void cnn_model_set_step(cnn_model *m, uint64_t step);
/* The dropout seed of layer `layer` at `step` under run seed `seed`: two
 * rounds of the splitmix64 finaliser, mix(mix(seed + (layer+1)*golden) + step). */
uint64_t cnn_dropout_seed(uint64_t seed, int layer, uint64_t step);

/* ---- observing -------------------------------------------------------- */

typedef enum cnn_phase { CNN_PHASE_FORWARD = 0, CNN_PHASE_BACKWARD, CNN_PHASE_COUNT } cnn_phase;

/* Called after each layer's forward or backward with the wall time it took.
 * With sync set, the executor waits for the device before reading the
 * clock, so the time is the layer's own (and the run is slower). */
typedef void (*cnn_layer_hook)(void *user, const cnn_model *m, int layer, cnn_phase phase,
                               double seconds);
void cnn_model_set_hook(cnn_model *m, cnn_layer_hook hook, void *user, bool sync);

/* A hook that prints one line per layer to the FILE* passed as user. */
void cnn_model_progress_hook(void *user, const cnn_model *m, int layer, cnn_phase phase,
                             double seconds);

#ifdef __cplusplus
}
#endif
#endif
