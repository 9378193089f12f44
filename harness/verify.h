/* cnnbench verify: every backend x operation x pass against the naive
 * (double-accumulating) reference.
 *
 * A case holds the host tensors of one operation: inputs drawn from a seeded
 * RNG, and for each pass the reference outputs. Passes that consume what a
 * forward pass produced (pool and activation backward take y, batch-norm
 * backward takes the saved statistics, the loss backward takes the
 * probabilities) get the reference forward's values, so each pass is judged
 * on its own. */
#ifndef CNN_VERIFY_H
#define CNN_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

/* Every tensor an operation can have, by role. Concat's inputs and their
 * gradients take CAT..CAT+7 and DCAT..DCAT+7. */
typedef enum vt {
    VT_X,
    VT_W,
    VT_B,
    VT_Y,
    VT_DY,
    VT_DX,
    VT_DW,
    VT_DB,
    VT_GAMMA,
    VT_BETA,
    VT_RMEAN,
    VT_RVAR,
    VT_SMEAN,
    VT_SINVSTD,
    VT_DGAMMA,
    VT_DBETA,
    VT_PROB,
    VT_LOSS,
    VT_LABELS,
    VT_PARAM, /* the optimizer step: parameters and state updated in place */
    VT_GRAD,
    VT_STATE,
    VT_CAT,
    VT_DCAT = VT_CAT + CNN_MAX_CONCAT,
    VT_COUNT = VT_DCAT + CNN_MAX_CONCAT
} vt;

const char *vt_name(vt t); /* "y", "dx", "running_mean", "dx2", ... */

/* The model layer a shape came from, "MODEL/LAYER" ("" for none). */
#define VERIFY_LAYER_LEN 96
typedef char verify_layer[VERIFY_LAYER_LEN];

typedef struct vcase {
    cnn_op op;
    char shape[256];                      /* cnn_op_str */
    const char *layer;                    /* the model layer it came from, or NULL */
    int64_t numel[VT_COUNT];              /* 0: the op has no such tensor */
    void *host[VT_COUNT];                 /* inputs of every pass */
    float *ref[CNN_PASS_COUNT][VT_COUNT]; /* reference outputs of each pass */
} vcase;

/* Allocate and fill the inputs of `op` (initialised) from `seed`. */
cnn_status vcase_init(vcase *c, const cnn_op *op, uint64_t seed);
void vcase_free(vcase *c);

/* The tensors a pass writes (at most 5); returns how many. */
int vcase_outputs(const vcase *c, cnn_pass pass, vt out[5]);
/* Whether output t is read and updated in place (batch norm's running
 * statistics, the optimizer's parameters and state), so that a run keeps
 * its input values there instead of poisoning it with NaN. */
bool vcase_in_place(vt t);

/* Run one pass on ctx (host or device): upload inputs, poison outputs with
 * NaN, call through dispatch, download outputs into out[t] (host arrays of
 * numel[t] floats, caller-owned). */
cnn_status vcase_run(const vcase *c, cnn_ctx *ctx, cnn_pass pass, float *const out[VT_COUNT]);

/* Allocate every tensor of the case in ctx's memory and upload the inputs
 * (outputs get the inputs' storage too, uninitialised); free with
 * vcase_device_free. For benchmarks, which call the same pass many times. */
cnn_status vcase_upload(const vcase *c, cnn_ctx *ctx, void *dev[VT_COUNT]);
void vcase_device_free(cnn_ctx *ctx, void *dev[VT_COUNT]);
/* One call of `pass` through dispatch on tensors already in ctx's memory. */
cnn_status vcase_call(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass, void *const dev[VT_COUNT],
                      void *ws, size_t ws_size);

/* Run the reference (naive) on every pass the op has and keep its outputs
 * in c->ref; the forward outputs that backward passes consume (y, saved
 * statistics, probabilities) become inputs in c->host. */
cnn_status vcase_reference(vcase *c, cnn_ctx *naive);
/* Only the reference forward, and only for an op whose backward passes
 * read the forward's outputs (pooling, batch norm, activations,
 * cross-entropy; never conv or linear, whose naive forward is slow): those
 * outputs become inputs in c->host, as vcase_reference makes them, and
 * the forward's in c->ref. For a benchmark that times a backward pass
 * without its forward. */
cnn_status vcase_forward_inputs(vcase *c, cnn_ctx *naive);

/* Tolerance on the relative L2 error of output `tensor` of this op and
 * pass, for an algorithm of error class err (cnn_algorithm_info(); NULL: a
 * plain float32 sum); the reasons are in verify_tolerance.c. */
double verify_tolerance(const cnn_error_class *err, const cnn_op *op, cnn_pass pass, vt tensor);

/* The shape sweeps. `which` is a comma-separated list of "edge", "models",
 * "quick", "all" and model names (that model's distinct layers). Returns a
 * malloc'd array of initialised ops, each distinct shape once (count in
 * *n). */
cnn_status verify_shapes(const char *which, cnn_op **ops, int *n);
/* The same, with the first model layer that has each shape in (*layers)[i]
 * ("" for an edge case), malloc'd like *ops. */
cnn_status verify_shapes_named(const char *which, cnn_op **ops, verify_layer **layers, int *n);
/* Validate a --shapes list; returns -1 when valid, else the usage exit code. */
struct cli_cmd;
int verify_shapes_check(const struct cli_cmd *cmd, const char *list);

#endif
