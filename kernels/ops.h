/* Operation descriptors: what to compute, independent of how.
 *
 * Every layout is dense NCHW float32 as PyTorch stores it. Each descriptor is
 * filled by the caller and completed by its cnn_*_init(), which validates it
 * (returning CNN_ERR_INVALID_ARG with a reason that names the bad field and
 * its value) and computes the output size. Backends may assume an initialised
 * descriptor is valid. Semantics are exactly those of torch.nn.functional.
 *
 * Output-size and FLOP formulas live here and in ops.c only. */
#ifndef CNN_OPS_H
#define CNN_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of windows along one axis of size `in`:
 *   floor mode: floor((in + 2*pad - k) / stride) + 1
 *   ceil mode (PyTorch pooling): ceil((in + 2*pad - k) / stride) + 1, minus
 *   one if the last window would start beyond the input plus left padding.
 * Returns a value < 1 when no window fits. */
int64_t cnn_window_count(int64_t in, int k, int stride, int pad, bool ceil_mode);

/* conv2d: y[n][k][p][q] = b[k] + sum_{c,r,s} x[n][c][p*sh - ph + r][q*sw - pw + s] * w[k][c][r][s]
 * (cross-correlation, zero padding). Weight [k][c][r][s], bias [k]. */
typedef struct cnn_conv_desc {
    int n, c, h, w; /* input */
    int k, r, s;    /* filters: count, height, width */
    int stride_h, stride_w, pad_h, pad_w;
    bool has_bias;
    int p, q; /* output height, width (set by init) */
    /* y = relu(conv(x) + b), the ReLU applied in the output epilogue (see
     * "Fused ReLU" below). false: the convolution alone. */
    bool fuse_relu;
} cnn_conv_desc;
cnn_status cnn_conv_init(cnn_conv_desc *d);

/* max / average pooling over kh x kw windows. Max ignores padding (PyTorch
 * pads with -inf); average counts padding in the divisor (count_include_pad),
 * except the part of a ceil-mode window that lies beyond the right padding,
 * as PyTorch does. Ties in max pooling go to the first maximum in row-major
 * window order, which is where the backward pass sends the gradient. */
typedef enum cnn_pool_mode { CNN_POOL_MAX = 0, CNN_POOL_AVG, CNN_POOL_MODE_COUNT } cnn_pool_mode;
typedef struct cnn_pool_desc {
    cnn_pool_mode mode;
    int n, c, h, w;
    int kh, kw, stride_h, stride_w, pad_h, pad_w;
    bool ceil_mode;
    int p, q; /* output (set by init) */
} cnn_pool_desc;
cnn_status cnn_pool_init(cnn_pool_desc *d);

/* Adaptive average pooling to p x q: output cell i averages input rows
 * floor(i*h/p) .. ceil((i+1)*h/p)-1, likewise for columns. Global average
 * pooling is p = q = 1. */
typedef struct cnn_adapool_desc {
    int n, c, h, w;
    int p, q;
} cnn_adapool_desc;
cnn_status cnn_adapool_init(cnn_adapool_desc *d);

/* Batch norm over (n, h, w) per channel.
 * Training: y = gamma * (x - mean) / sqrt(var_biased + eps) + beta, and
 *   running_mean = (1-momentum)*running_mean + momentum*mean,
 *   running_var  = (1-momentum)*running_var  + momentum*var_unbiased.
 *   save_mean[c] and save_invstd[c] = 1/sqrt(var_biased + eps) are kept for
 *   the backward pass.
 * Inference: the same with running statistics.
 * Backward (training form): the gradient through the batch statistics, which
 * a backend may recompute from x or take from save_mean / save_invstd. */
typedef struct cnn_bn_desc {
    int n, c, h, w;
    double eps;      /* PyTorch default 1e-5 */
    double momentum; /* PyTorch default 0.1 */
    /* Backward of the inference form (PyTorch's eval mode): the statistics
     * are constants, bn_bwd is given running_mean and running_var in place
     * of save_mean and save_invstd, and with invstd = 1/sqrt(running_var +
     * eps), dx = dy * gamma * invstd, dgamma = sum dy * (x - mean) * invstd,
     * dbeta = sum dy. Only bn_bwd reads it. */
    bool global_stats;
    /* y = relu(batch norm of x), in the same pass (see "Fused ReLU" below) */
    bool fuse_relu;
} cnn_bn_desc;
cnn_status cnn_bn_init(cnn_bn_desc *d);

/* Fused ReLU (fuse_relu on cnn_conv_desc and cnn_bn_desc).
 *
 * Forward: y = relu(op(x)), written once; the pre-ReLU value is never
 * stored. Backward of the pair: the caller holds the fused output y and its
 * gradient dy, and the ReLU's backward, dz = dy * (y > 0) (the gradient of
 * op's own output, as for a separate ReLU), is folded into the first pass
 * that reads dy:
 *   conv: conv_bwd_bias(y, dy, db, dz) writes dz and db[k] = sum dz over
 *     (n, p, q) in one pass; the caller then runs bwd_data and bwd_weight
 *     on dz with fuse_relu cleared (those passes have no fused form:
 *     cnn_op_has_pass is false for them with fuse_relu set). Without fuse_relu,
 *     conv_bwd_bias reads only dy: y and dz are not touched (may be NULL).
 *   bn: bn_bwd(x, y, dy, ...) takes dz = dy * (y > 0) in place of dy in its
 *     reductions and in dx (impl_cpu masks in its first reduction and keeps
 *     dz in dx for the second pass); x is still BN's own input (the
 *     pre-ReLU value is not needed). Without fuse_relu y is not read.
 * A backend that has no fused form of a pass declines the descriptor
 * (supports() false, so its call is CNN_ERR_UNSUPPORTED); a caller then
 * runs the op and a separate ReLU. The models executor fuses a conv or BN
 * with the ReLU that is its output's only reader (models/fuse.c). */
/* The ReLU and its gradient as torch computes them (NaN and -0.0 pass). */
static inline float cnn_relu(float v)
{
    return v < 0.0f ? 0.0f : v;
}
static inline float cnn_relu_grad(float y, float dy)
{
    return y > 0.0f ? dy : 0.0f;
}

/* linear: y[n][out] = b[out] + sum_i x[n][i] * w[out][i] (weight [out][in]). */
typedef struct cnn_linear_desc {
    int n, in, out;
    bool has_bias;
} cnn_linear_desc;
cnn_status cnn_linear_init(cnn_linear_desc *d);

/* Element-wise activation. Backward uses the output y:
 * relu: dx = dy * (y > 0); sigmoid: dx = dy * y * (1 - y). */
typedef enum cnn_act_mode { CNN_ACT_RELU = 0, CNN_ACT_SIGMOID, CNN_ACT_MODE_COUNT } cnn_act_mode;
typedef struct cnn_act_desc {
    cnn_act_mode mode;
    int64_t count;
} cnn_act_desc;
cnn_status cnn_act_init(cnn_act_desc *d);

/* Inverted dropout: y[i] = x[i] * keep(i) / (1 - p), where keep(i) is drawn
 * from the counter-based RNG (kernels/philox.h) at (seed, i), so every
 * backend draws the same mask and backward needs no stored mask. p = 1 gives
 * zeros. The caller changes seed between steps. */
typedef struct cnn_dropout_desc {
    int64_t count;
    double p;
    uint64_t seed;
} cnn_dropout_desc;
cnn_status cnn_dropout_init(cnn_dropout_desc *d);

/* Softmax + cross-entropy, mean over the batch: logits [n][classes], labels
 * int32 [n] in [0, classes). Forward writes prob [n][classes] (softmax, kept
 * for backward) and loss[0] = -mean_n log prob[n][label[n]]. Backward writes
 * dlogits = (prob - onehot(label)) / n, the gradient of the mean loss. */
typedef struct cnn_xent_desc {
    int n, classes;
} cnn_xent_desc;
cnn_status cnn_xent_init(cnn_xent_desc *d);

/* Concatenation along channels of inputs [n][c_i][h][w], i < count. */
#define CNN_MAX_CONCAT 8
typedef struct cnn_concat_desc {
    int n, h, w;
    int count;
    int c[CNN_MAX_CONCAT];
    int c_out; /* sum of c[] (set by init) */
} cnn_concat_desc;
cnn_status cnn_concat_init(cnn_concat_desc *d);

/* Element-wise y = a + b (the residual connection). Backward is the identity
 * into both inputs, done by the caller. */
typedef struct cnn_add_desc {
    int64_t count;
} cnn_add_desc;
cnn_status cnn_add_init(cnn_add_desc *d);

/* One optimizer step on a flat block of `count` float parameters, in place:
 * param[i] is updated from grad[i] and the optimizer's state, which is
 * updated too. torch.optim's rules exactly (its single-tensor code, torch
 * 1.13), with `step` the 1-based number of this step (torch's state['step']
 * after its increment):
 *
 *   SGD (dampening 0, no Nesterov):
 *     d = g + weight_decay * p
 *     momentum 0:  p -= lr * d                           (no state)
 *     otherwise:   buf = step == 1 ? d : momentum * buf + d
 *                  p -= lr * buf                         (state: buf [count])
 *   Adam (L2 weight decay, no AMSGrad):
 *     d = g + weight_decay * p
 *     m = beta1 * m + (1 - beta1) * d
 *     v = beta2 * v + (1 - beta2) * d * d                (state: m [count], then v [count])
 *     step_size = lr / (1 - beta1^step)
 *     denom = sqrt(v) / sqrt(1 - beta2^step) + eps
 *     p -= step_size * m / denom
 *
 * At step 1 the state's previous contents are ignored, as when PyTorch
 * creates it then (SGD's buffer becomes d; Adam's moments start at zero), so
 * a fresh allocation needs no zeroing for correctness. Fields a mode does
 * not use (momentum for Adam; betas and eps for SGD) are not read. */
typedef enum cnn_optim_mode {
    CNN_OPTIM_SGD = 0,
    CNN_OPTIM_ADAM,
    CNN_OPTIM_MODE_COUNT
} cnn_optim_mode;
typedef struct cnn_optim_desc {
    cnn_optim_mode mode;
    int64_t count;       /* parameters, >= 1 */
    double lr;           /* finite, >= 0 */
    double momentum;     /* SGD: finite, >= 0 (0: plain SGD, no state) */
    double beta1, beta2; /* Adam: each in [0, 1) (PyTorch: 0.9, 0.999) */
    double eps;          /* Adam: finite, > 0 (PyTorch: 1e-8) */
    double weight_decay; /* finite, >= 0: the L2 term added to the gradient */
    int64_t step;        /* this step's number, >= 1 */
} cnn_optim_desc;
cnn_status cnn_optim_init(cnn_optim_desc *d);
/* Floats of state the optimizer keeps: SGD count with momentum, else 0;
 * Adam 2 * count. */
int64_t cnn_optim_state_count(const cnn_optim_desc *d);
/* Adam's two per-step scalars, in double as PyTorch computes them in
 * Python: lr / (1 - beta1^step) and sqrt(1 - beta2^step). */
void cnn_optim_adam_scalars(const cnn_optim_desc *d, double *step_size, double *bc2_sqrt);

/* ---- one operation of any kind ---------------------------------------- */

typedef enum cnn_op_kind {
    CNN_OP_CONV = 0,
    CNN_OP_POOL,
    CNN_OP_ADAPOOL,
    CNN_OP_BN,
    CNN_OP_LINEAR,
    CNN_OP_ACT,
    CNN_OP_DROPOUT,
    CNN_OP_XENT,
    CNN_OP_CONCAT,
    CNN_OP_ADD,
    CNN_OP_OPTIM,
    CNN_OP_KIND_COUNT
} cnn_op_kind;

/* Which computation of an operation. Not every pass exists for every kind:
 *   conv:    FWD, BWD_DATA, BWD_WEIGHT, BWD_BIAS
 *   linear:  FWD, BWD_DATA, BWD_WEIGHT (weight and bias together)
 *   bn:      FWD (training), FWD_INFER, BWD_DATA (dx, dgamma, dbeta)
 *   optim:   FWD only: the update step
 *   others:  FWD, BWD_DATA (add: FWD only) */
typedef enum cnn_pass {
    CNN_FWD = 0,
    CNN_FWD_INFER,
    CNN_BWD_DATA,
    CNN_BWD_WEIGHT,
    CNN_BWD_BIAS,
    CNN_PASS_COUNT
} cnn_pass;

typedef struct cnn_op {
    cnn_op_kind kind;
    union {
        cnn_conv_desc conv;
        cnn_pool_desc pool;
        cnn_adapool_desc adapool;
        cnn_bn_desc bn;
        cnn_linear_desc linear;
        cnn_act_desc act;
        cnn_dropout_desc dropout;
        cnn_xent_desc xent;
        cnn_concat_desc concat;
        cnn_add_desc add;
        cnn_optim_desc optim;
    };
} cnn_op;

/* Validate and complete op->(kind's descriptor). */
cnn_status cnn_op_init(cnn_op *op);

/* Whether `pass` is a computation of this kind of operation (table above). */
bool cnn_op_has_pass(const cnn_op *op, cnn_pass pass);

/* "conv2d", "maxpool2d", "avgpool2d", "adaptive_avgpool2d", "batchnorm2d",
 * "linear", "relu", "sigmoid", "dropout", "softmax_xent", "concat", "add",
 * "sgd", "adam". */
const char *cnn_op_name(const cnn_op *op);
const char *cnn_op_kind_str(cnn_op_kind k); /* "conv", "pool", ... */
const char *cnn_pass_str(cnn_pass p);       /* "fwd", "fwd_infer", "bwd_data", ... */

/* The one printable form of a descriptor, benchdnn-style, used in logs and as
 * a CSV key: e.g. "mb2ic64ih56iw56oc64oh56ow56kh3kw3sh1sw1ph1pw1".
 * Returns buf. */
char *cnn_op_str(const cnn_op *op, char *buf, size_t n);

/* Shapes of the operation's main input x and output y. */
cnn_shape cnn_op_x_shape(const cnn_op *op);
cnn_shape cnn_op_y_shape(const cnn_op *op);

/* Floating-point operations of one pass: 2 per multiply-add for conv and
 * linear (bias adds not counted); for the others a nominal count per element
 * stated in ops.c. Used to turn times into FLOP/s. */
double cnn_op_flops(const cnn_op *op, cnn_pass pass);

/* The bytes one pass must move at least: every array its entry reads
 * (kernels/backend_ops.h) read once and every array it writes written once,
 * 4 bytes an element (float32; labels int32), nothing else; average
 * pooling's backward reads dy only, and running statistics updated in place
 * count twice. 0 for a pass the op does not have. cnn_op_flops over it is
 * the pass's arithmetic intensity (FLOPs per byte), the x of a roofline. */
double cnn_op_min_bytes(const cnn_op *op, cnn_pass pass);

#ifdef __cplusplus
}
#endif
#endif
