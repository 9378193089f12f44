#include "ops.h"

#include "backend_ops.h"

#include <math.h>
#include <stdio.h>

/* Bounds that keep every index and FLOP count far from int overflow while
 * allowing any real network layer. */
#define DIM_MAX (1 << 24)

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

int64_t cnn_window_count(int64_t in, int k, int stride, int pad, bool ceil_mode)
{
    if (stride < 1 || k < 1)
        return 0;
    int64_t span = in + 2 * (int64_t)pad - k;
    int64_t out = floor_div(span + (ceil_mode ? stride - 1 : 0), stride) + 1;
    /* PyTorch: in ceil mode the last window must start inside the input or
     * the left padding. */
    if (ceil_mode && out > 0 && (out - 1) * stride >= in + pad)
        out--;
    return out;
}

static cnn_status check_dim(const char *op, const char *name, int64_t v)
{
    if (v < 1 || v > DIM_MAX)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: %s must be in [1, %d], got %lld", op, name,
                        DIM_MAX, (long long)v);
    return CNN_OK;
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        cnn_status st_ = (call);                                                                   \
        if (st_ != CNN_OK)                                                                         \
            return st_;                                                                            \
    } while (0)

/* At most 2^40 elements in one tensor (4 TiB of float32): every index and
 * byte count of it fits in 64 bits with room to spare. */
#define COUNT_MAX ((int64_t)1 << 40)

/* A tensor a*b*c*d of factors in [1, 2^24] (their pairs' products fit in 64
 * bits, the whole is checked): at most COUNT_MAX elements. */
static cnn_status check_elems(const char *op, const char *what, int64_t a, int64_t b, int64_t c,
                              int64_t d)
{
    if (a * b > COUNT_MAX / (c * d))
        return cnn_fail(
            CNN_ERR_INVALID_ARG, "%s: %s %lldx%lldx%lldx%lld has more than 2^40 = %lld elements",
            op, what, (long long)a, (long long)b, (long long)c, (long long)d, (long long)COUNT_MAX);
    return CNN_OK;
}

static cnn_status check_nchw(const char *op, int n, int c, int h, int w)
{
    CHECK(check_dim(op, "batch n", n));
    CHECK(check_dim(op, "channels c", c));
    CHECK(check_dim(op, "height h", h));
    CHECK(check_dim(op, "width w", w));
    return check_elems(op, "input", n, c, h, w);
}

static cnn_status check_window(const char *op, const char *axis, int in, int k, int stride, int pad)
{
    if (k < 1 || k > DIM_MAX)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: kernel %s must be in [1, %d], got %d", op, axis,
                        DIM_MAX, k);
    /* Bounded so that index arithmetic like o*stride - pad stays in int. */
    if (stride < 1 || stride > DIM_MAX)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: stride %s must be in [1, %d], got %d", op, axis,
                        DIM_MAX, stride);
    if (pad < 0 || pad > DIM_MAX)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: padding %s must be in [0, %d], got %d", op, axis,
                        DIM_MAX, pad);
    if ((int64_t)in + 2 * (int64_t)pad < k)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: kernel %s %d is larger than the padded input %s %d + 2*%d = %lld", op,
                        axis, k, axis, in, pad, (long long)in + 2 * (long long)pad);
    return CNN_OK;
}

cnn_status cnn_conv_init(cnn_conv_desc *d)
{
    CHECK(check_nchw("conv2d", d->n, d->c, d->h, d->w));
    CHECK(check_dim("conv2d", "output channels k", d->k));
    CHECK(check_dim("conv2d", "kernel height r", d->r));
    CHECK(check_dim("conv2d", "kernel width s", d->s));
    CHECK(check_window("conv2d", "height", d->h, d->r, d->stride_h, d->pad_h));
    CHECK(check_window("conv2d", "width", d->w, d->s, d->stride_w, d->pad_w));
    /* Input and padding of up to DIM_MAX each still allow 3 * DIM_MAX rows. */
    int64_t p = cnn_window_count(d->h, d->r, d->stride_h, d->pad_h, false);
    int64_t q = cnn_window_count(d->w, d->s, d->stride_w, d->pad_w, false);
    CHECK(check_dim("conv2d", "output height p", p));
    CHECK(check_dim("conv2d", "output width q", q));
    CHECK(check_elems("conv2d", "weight", d->k, d->c, d->r, d->s));
    CHECK(check_elems("conv2d", "output", d->n, d->k, p, q));
    d->p = (int)p;
    d->q = (int)q;
    return CNN_OK;
}

cnn_status cnn_pool_init(cnn_pool_desc *d)
{
    const char *op = d->mode == CNN_POOL_AVG ? "avgpool2d" : "maxpool2d";
    if ((unsigned)d->mode >= CNN_POOL_MODE_COUNT)
        return cnn_fail(CNN_ERR_INVALID_ARG, "pool2d: unknown mode %d", (int)d->mode);
    CHECK(check_nchw(op, d->n, d->c, d->h, d->w));
    CHECK(check_window(op, "height", d->h, d->kh, d->stride_h, d->pad_h));
    CHECK(check_window(op, "width", d->w, d->kw, d->stride_w, d->pad_w));
    /* PyTorch's rule: padding at most half the kernel, so that every window
     * holds at least one real element. */
    if (d->pad_h > d->kh / 2 || d->pad_w > d->kw / 2)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: padding %d,%d must be at most half the kernel %dx%d", op, d->pad_h,
                        d->pad_w, d->kh, d->kw);
    int64_t p = cnn_window_count(d->h, d->kh, d->stride_h, d->pad_h, d->ceil_mode);
    int64_t q = cnn_window_count(d->w, d->kw, d->stride_w, d->pad_w, d->ceil_mode);
    if (p < 1 || q < 1)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: output size %lldx%lld is too small", op,
                        (long long)p, (long long)q);
    d->p = (int)p;
    d->q = (int)q;
    return CNN_OK;
}

cnn_status cnn_adapool_init(cnn_adapool_desc *d)
{
    CHECK(check_nchw("adaptive_avgpool2d", d->n, d->c, d->h, d->w));
    CHECK(check_dim("adaptive_avgpool2d", "output height", d->p));
    CHECK(check_dim("adaptive_avgpool2d", "output width", d->q));
    CHECK(check_elems("adaptive_avgpool2d", "output", d->n, d->c, d->p, d->q));
    return CNN_OK;
}

cnn_status cnn_bn_init(cnn_bn_desc *d)
{
    CHECK(check_nchw("batchnorm2d", d->n, d->c, d->h, d->w));
    if (!(d->eps > 0.0) || !isfinite(d->eps))
        return cnn_fail(CNN_ERR_INVALID_ARG, "batchnorm2d: eps must be > 0, got %g", d->eps);
    if (!(d->momentum >= 0.0 && d->momentum <= 1.0))
        return cnn_fail(CNN_ERR_INVALID_ARG, "batchnorm2d: momentum must be in [0, 1], got %g",
                        d->momentum);
    return CNN_OK;
}

cnn_status cnn_linear_init(cnn_linear_desc *d)
{
    CHECK(check_dim("linear", "batch n", d->n));
    CHECK(check_dim("linear", "in_features", d->in));
    CHECK(check_dim("linear", "out_features", d->out));
    CHECK(check_elems("linear", "input", d->n, d->in, 1, 1));
    CHECK(check_elems("linear", "weight", d->out, d->in, 1, 1));
    CHECK(check_elems("linear", "output", d->n, d->out, 1, 1));
    return CNN_OK;
}

static cnn_status check_count(const char *op, int64_t count)
{
    if (count == INT64_MAX)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: element count must be in [1, 2^40 = %lld], got one that overflows "
                        "64 bits",
                        op, (long long)COUNT_MAX);
    if (count < 1 || count > COUNT_MAX)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: element count must be in [1, 2^40 = %lld], got %lld", op,
                        (long long)COUNT_MAX, (long long)count);
    return CNN_OK;
}

cnn_status cnn_act_init(cnn_act_desc *d)
{
    if ((unsigned)d->mode >= CNN_ACT_MODE_COUNT)
        return cnn_fail(CNN_ERR_INVALID_ARG, "activation: unknown mode %d", (int)d->mode);
    return check_count(d->mode == CNN_ACT_RELU ? "relu" : "sigmoid", d->count);
}

cnn_status cnn_dropout_init(cnn_dropout_desc *d)
{
    CHECK(check_count("dropout", d->count));
    if (!(d->p >= 0.0 && d->p <= 1.0))
        return cnn_fail(CNN_ERR_INVALID_ARG, "dropout: p must be in [0, 1], got %g", d->p);
    return CNN_OK;
}

cnn_status cnn_xent_init(cnn_xent_desc *d)
{
    CHECK(check_dim("softmax_xent", "batch n", d->n));
    CHECK(check_dim("softmax_xent", "classes", d->classes));
    return CNN_OK;
}

cnn_status cnn_concat_init(cnn_concat_desc *d)
{
    if (d->count < 1 || d->count > CNN_MAX_CONCAT)
        return cnn_fail(CNN_ERR_INVALID_ARG, "concat: input count must be in [1, %d], got %d",
                        CNN_MAX_CONCAT, d->count);
    CHECK(check_nchw("concat", d->n, 1, d->h, d->w));
    int64_t total = 0;
    for (int i = 0; i < d->count; i++) {
        if (d->c[i] < 1)
            return cnn_fail(CNN_ERR_INVALID_ARG, "concat: input %d has %d channels", i, d->c[i]);
        total += d->c[i];
    }
    CHECK(check_dim("concat", "output channels", total));
    d->c_out = (int)total;
    return CNN_OK;
}

cnn_status cnn_add_init(cnn_add_desc *d)
{
    return check_count("add", d->count);
}

/* The fields a mode reads, each named with its value when it is out of
 * range (PyTorch's constructors refuse the same values). */
static cnn_status check_real(const char *op, const char *name, double v, double lo, bool lo_open,
                             double hi, bool hi_open)
{
    bool ok = isfinite(v) && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
    if (ok)
        return CNN_OK;
    if (isinf(hi))
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: %s must be finite and %s %g, got %g", op, name,
                        lo_open ? ">" : ">=", lo, v);
    return cnn_fail(CNN_ERR_INVALID_ARG, "%s: %s must be in %c%g, %g%c, got %g", op, name,
                    lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']', v);
}

cnn_status cnn_optim_init(cnn_optim_desc *d)
{
    if ((unsigned)d->mode >= CNN_OPTIM_MODE_COUNT)
        return cnn_fail(CNN_ERR_INVALID_ARG, "optimizer: unknown mode %d", (int)d->mode);
    const bool adam = d->mode == CNN_OPTIM_ADAM;
    const char *op = adam ? "adam" : "sgd";
    CHECK(check_count(op, d->count));
    CHECK(check_real(op, "lr", d->lr, 0.0, false, INFINITY, false));
    CHECK(check_real(op, "weight_decay", d->weight_decay, 0.0, false, INFINITY, false));
    if (adam) {
        CHECK(check_real(op, "beta1", d->beta1, 0.0, false, 1.0, true));
        CHECK(check_real(op, "beta2", d->beta2, 0.0, false, 1.0, true));
        CHECK(check_real(op, "eps", d->eps, 0.0, true, INFINITY, false));
    } else {
        CHECK(check_real(op, "momentum", d->momentum, 0.0, false, INFINITY, false));
    }
    if (d->step < 1)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: step must be >= 1 (this step's number), got %lld",
                        op, (long long)d->step);
    return CNN_OK;
}

int64_t cnn_optim_state_count(const cnn_optim_desc *d)
{
    if (d->mode == CNN_OPTIM_ADAM)
        return 2 * d->count;
    return d->momentum != 0.0 ? d->count : 0;
}

void cnn_optim_adam_scalars(const cnn_optim_desc *d, double *step_size, double *bc2_sqrt)
{
    double step = (double)d->step;
    *step_size = d->lr / (1.0 - pow(d->beta1, step));
    *bc2_sqrt = sqrt(1.0 - pow(d->beta2, step));
}

cnn_status cnn_op_init(cnn_op *op)
{
    switch (op->kind) {
    case CNN_OP_CONV: return cnn_conv_init(&op->conv);
    case CNN_OP_POOL: return cnn_pool_init(&op->pool);
    case CNN_OP_ADAPOOL: return cnn_adapool_init(&op->adapool);
    case CNN_OP_BN: return cnn_bn_init(&op->bn);
    case CNN_OP_LINEAR: return cnn_linear_init(&op->linear);
    case CNN_OP_ACT: return cnn_act_init(&op->act);
    case CNN_OP_DROPOUT: return cnn_dropout_init(&op->dropout);
    case CNN_OP_XENT: return cnn_xent_init(&op->xent);
    case CNN_OP_CONCAT: return cnn_concat_init(&op->concat);
    case CNN_OP_ADD: return cnn_add_init(&op->add);
    case CNN_OP_OPTIM: return cnn_optim_init(&op->optim);
    default: return cnn_fail(CNN_ERR_INVALID_ARG, "unknown operation kind %d", (int)op->kind);
    }
}

/* The passes are those with an entry in the backend table. */
#define HAS_PASS(ARG, ENTRY, KIND, DESC, PASS, ...)                                                \
    if (op->kind == KIND && pass == PASS)                                                          \
        return true;

bool cnn_op_has_pass(const cnn_op *op, cnn_pass pass)
{
    /* a convolution's data and weight gradients have no fused form (ops.h) */
    if (op->kind == CNN_OP_CONV && op->conv.fuse_relu &&
        (pass == CNN_BWD_DATA || pass == CNN_BWD_WEIGHT))
        return false;
    CNN_BACKEND_OPS(HAS_PASS, )
    return false;
}

const char *cnn_op_kind_str(cnn_op_kind k)
{
    static const char *const names[CNN_OP_KIND_COUNT] = {
        [CNN_OP_CONV] = "conv",       [CNN_OP_POOL] = "pool",     [CNN_OP_ADAPOOL] = "adapool",
        [CNN_OP_BN] = "bn",           [CNN_OP_LINEAR] = "linear", [CNN_OP_ACT] = "act",
        [CNN_OP_DROPOUT] = "dropout", [CNN_OP_XENT] = "xent",     [CNN_OP_CONCAT] = "concat",
        [CNN_OP_ADD] = "add",         [CNN_OP_OPTIM] = "optim",
    };
    return (unsigned)k < CNN_OP_KIND_COUNT ? names[k] : "unknown";
}

const char *cnn_op_name(const cnn_op *op)
{
    switch (op->kind) {
    case CNN_OP_CONV: return "conv2d";
    case CNN_OP_POOL: return op->pool.mode == CNN_POOL_AVG ? "avgpool2d" : "maxpool2d";
    case CNN_OP_ADAPOOL: return "adaptive_avgpool2d";
    case CNN_OP_BN: return "batchnorm2d";
    case CNN_OP_LINEAR: return "linear";
    case CNN_OP_ACT: return op->act.mode == CNN_ACT_SIGMOID ? "sigmoid" : "relu";
    case CNN_OP_DROPOUT: return "dropout";
    case CNN_OP_XENT: return "softmax_xent";
    case CNN_OP_CONCAT: return "concat";
    case CNN_OP_ADD: return "add";
    case CNN_OP_OPTIM: return op->optim.mode == CNN_OPTIM_ADAM ? "adam" : "sgd";
    default: return "unknown";
    }
}

const char *cnn_pass_str(cnn_pass p)
{
    static const char *const names[CNN_PASS_COUNT] = {
        [CNN_FWD] = "fwd",           [CNN_FWD_INFER] = "fwd_infer",
        [CNN_BWD_DATA] = "bwd_data", [CNN_BWD_WEIGHT] = "bwd_weight",
        [CNN_BWD_BIAS] = "bwd_bias",
    };
    return (unsigned)p < CNN_PASS_COUNT ? names[p] : "unknown";
}

char *cnn_op_str(const cnn_op *op, char *buf, size_t n)
{
    if (n == 0)
        return buf;
    switch (op->kind) {
    case CNN_OP_CONV: {
        const cnn_conv_desc *d = &op->conv;
        snprintf(buf, n, "mb%dic%dih%diw%doc%doh%dow%dkh%dkw%dsh%dsw%dph%dpw%d%s%s", d->n, d->c,
                 d->h, d->w, d->k, d->p, d->q, d->r, d->s, d->stride_h, d->stride_w, d->pad_h,
                 d->pad_w, d->has_bias ? "" : "_nobias", d->fuse_relu ? "_relu" : "");
        break;
    }
    case CNN_OP_POOL: {
        const cnn_pool_desc *d = &op->pool;
        snprintf(buf, n, "%s_mb%dic%dih%diw%doh%dow%dkh%dkw%dsh%dsw%dph%dpw%d%s",
                 d->mode == CNN_POOL_AVG ? "avg" : "max", d->n, d->c, d->h, d->w, d->p, d->q, d->kh,
                 d->kw, d->stride_h, d->stride_w, d->pad_h, d->pad_w, d->ceil_mode ? "_ceil" : "");
        break;
    }
    case CNN_OP_ADAPOOL: {
        const cnn_adapool_desc *d = &op->adapool;
        snprintf(buf, n, "mb%dic%dih%diw%doh%dow%d", d->n, d->c, d->h, d->w, d->p, d->q);
        break;
    }
    case CNN_OP_BN: {
        const cnn_bn_desc *d = &op->bn;
        snprintf(buf, n, "mb%dic%dih%diw%deps%g%s%s", d->n, d->c, d->h, d->w, d->eps,
                 d->global_stats ? "_global" : "", d->fuse_relu ? "_relu" : "");
        break;
    }
    case CNN_OP_LINEAR: {
        const cnn_linear_desc *d = &op->linear;
        snprintf(buf, n, "mb%dic%doc%d%s", d->n, d->in, d->out, d->has_bias ? "" : "_nobias");
        break;
    }
    case CNN_OP_ACT: snprintf(buf, n, "%s_n%lld", cnn_op_name(op), (long long)op->act.count); break;
    case CNN_OP_DROPOUT:
        snprintf(buf, n, "n%lldp%g", (long long)op->dropout.count, op->dropout.p);
        break;
    case CNN_OP_XENT: snprintf(buf, n, "mb%dnc%d", op->xent.n, op->xent.classes); break;
    case CNN_OP_CONCAT: {
        const cnn_concat_desc *d = &op->concat;
        int used = snprintf(buf, n, "mb%dih%diw%dic", d->n, d->h, d->w);
        for (int i = 0; i < d->count && used > 0 && (size_t)used < n; i++)
            used += snprintf(buf + used, n - (size_t)used, i ? "+%d" : "%d", d->c[i]);
        break;
    }
    case CNN_OP_ADD: snprintf(buf, n, "n%lld", (long long)op->add.count); break;
    case CNN_OP_OPTIM: {
        const cnn_optim_desc *d = &op->optim;
        if (d->mode == CNN_OPTIM_ADAM)
            snprintf(buf, n, "n%lldlr%gb1_%gb2_%geps%gwd%gstep%lld", (long long)d->count, d->lr,
                     d->beta1, d->beta2, d->eps, d->weight_decay, (long long)d->step);
        else
            snprintf(buf, n, "n%lldlr%gm%gwd%gstep%lld", (long long)d->count, d->lr, d->momentum,
                     d->weight_decay, (long long)d->step);
        break;
    }
    default: snprintf(buf, n, "unknown");
    }
    return buf;
}

cnn_shape cnn_op_x_shape(const cnn_op *op)
{
    switch (op->kind) {
    case CNN_OP_CONV: return cnn_shape4(op->conv.n, op->conv.c, op->conv.h, op->conv.w);
    case CNN_OP_POOL: return cnn_shape4(op->pool.n, op->pool.c, op->pool.h, op->pool.w);
    case CNN_OP_ADAPOOL:
        return cnn_shape4(op->adapool.n, op->adapool.c, op->adapool.h, op->adapool.w);
    case CNN_OP_BN: return cnn_shape4(op->bn.n, op->bn.c, op->bn.h, op->bn.w);
    case CNN_OP_LINEAR: return cnn_shape2(op->linear.n, op->linear.in);
    case CNN_OP_ACT: return cnn_shape1(op->act.count);
    case CNN_OP_DROPOUT: return cnn_shape1(op->dropout.count);
    case CNN_OP_XENT: return cnn_shape2(op->xent.n, op->xent.classes);
    case CNN_OP_CONCAT:
        return cnn_shape4(op->concat.n, op->concat.c[0], op->concat.h, op->concat.w);
    case CNN_OP_ADD: return cnn_shape1(op->add.count);
    case CNN_OP_OPTIM: return cnn_shape1(op->optim.count);
    default: return cnn_shape1(0);
    }
}

cnn_shape cnn_op_y_shape(const cnn_op *op)
{
    switch (op->kind) {
    case CNN_OP_CONV: return cnn_shape4(op->conv.n, op->conv.k, op->conv.p, op->conv.q);
    case CNN_OP_POOL: return cnn_shape4(op->pool.n, op->pool.c, op->pool.p, op->pool.q);
    case CNN_OP_ADAPOOL:
        return cnn_shape4(op->adapool.n, op->adapool.c, op->adapool.p, op->adapool.q);
    case CNN_OP_LINEAR: return cnn_shape2(op->linear.n, op->linear.out);
    case CNN_OP_XENT: return cnn_shape1(1);
    case CNN_OP_CONCAT:
        return cnn_shape4(op->concat.n, op->concat.c_out, op->concat.h, op->concat.w);
    default: return cnn_op_x_shape(op);
    }
}

/* Nominal FLOPs per element for the memory-bound operations, so that their
 * throughput can be charted next to the convolutions:
 *   pool: one op per window element; adaptive pool: one add per input element;
 *   bn: training forward 5 (mean, var, normalise, scale, shift), inference 2
 *       (folded scale and shift), backward 6;
 *   relu 1, sigmoid 4 forward / 3 backward; dropout 1; softmax+xent 4
 *   forward / 2 backward per logit; add 1; concat 0 (pure copy);
 *   optimizer step per parameter: SGD 2 (p -= lr * d) plus 2 for weight
 *   decay and 2 for momentum; Adam 12 (decay 2, m 3, v 4, the update 3,
 *   counting sqrt and divide as one each). */
double cnn_op_flops(const cnn_op *op, cnn_pass pass)
{
    if (!cnn_op_has_pass(op, pass))
        return 0.0;
    switch (op->kind) {
    case CNN_OP_CONV: {
        const cnn_conv_desc *d = &op->conv;
        double out = (double)d->n * d->k * d->p * d->q;
        if (pass == CNN_BWD_BIAS)
            return out;
        return 2.0 * out * d->c * d->r * d->s;
    }
    case CNN_OP_POOL: {
        const cnn_pool_desc *d = &op->pool;
        return (double)d->n * d->c * d->p * d->q * d->kh * d->kw;
    }
    case CNN_OP_ADAPOOL: {
        const cnn_adapool_desc *d = &op->adapool;
        return (double)d->n * d->c * d->h * d->w;
    }
    case CNN_OP_BN: {
        const cnn_bn_desc *d = &op->bn;
        double count = (double)d->n * d->c * d->h * d->w;
        return count * (pass == CNN_FWD ? 5.0 : pass == CNN_FWD_INFER ? 2.0 : 6.0);
    }
    case CNN_OP_LINEAR: return 2.0 * op->linear.n * op->linear.in * op->linear.out;
    case CNN_OP_ACT:
        return (double)op->act.count * (op->act.mode == CNN_ACT_RELU ? 1.0
                                        : pass == CNN_FWD            ? 4.0
                                                                     : 3.0);
    case CNN_OP_DROPOUT: return (double)op->dropout.count;
    case CNN_OP_XENT: return (double)op->xent.n * op->xent.classes * (pass == CNN_FWD ? 4.0 : 2.0);
    case CNN_OP_ADD: return (double)op->add.count;
    case CNN_OP_OPTIM: {
        const cnn_optim_desc *d = &op->optim;
        double per = d->mode == CNN_OPTIM_ADAM ? 12.0
                                               : 2.0 + (d->weight_decay != 0.0 ? 2.0 : 0.0) +
                                                     (d->momentum != 0.0 ? 2.0 : 0.0);
        return (double)d->count * per;
    }
    default: return 0.0;
    }
}

/* Elements of every array a pass reads or writes, each once (ops.h). */
static double min_elems(const cnn_op *op, cnn_pass pass)
{
    cnn_shape xs = cnn_op_x_shape(op), ys = cnn_op_y_shape(op);
    double in = (double)cnn_shape_numel(&xs), out = (double)cnn_shape_numel(&ys);
    switch (op->kind) {
    case CNN_OP_CONV: {
        const cnn_conv_desc *d = &op->conv;
        double w = (double)d->k * d->c * d->r * d->s;
        switch (pass) {
        case CNN_FWD: return in + w + (d->has_bias ? d->k : 0) + out; /* x, w, b -> y */
        case CNN_BWD_DATA:                                            /* dy, w -> dx */
        case CNN_BWD_WEIGHT: return out + w + in;                     /* x, dy -> dw */
        default: return out + d->k;                                   /* dy -> db */
        }
    }
    case CNN_OP_LINEAR: {
        const cnn_linear_desc *d = &op->linear;
        double w = (double)d->in * d->out, b = d->has_bias ? d->out : 0;
        return pass == CNN_BWD_DATA     ? out + w + in      /* dy, w -> dx */
               : pass == CNN_BWD_WEIGHT ? in + out + w + b  /* x, dy -> dw, db */
                                        : in + w + b + out; /* x, w, b -> y */
    }
    case CNN_OP_POOL:
        /* max backward: x, y, dy -> dx; average backward: dy -> dx */
        return pass == CNN_FWD                 ? in + out
               : op->pool.mode == CNN_POOL_MAX ? 2 * in + 2 * out
                                               : out + in;
    case CNN_OP_BN: {
        double c = op->bn.c;
        /* train: x, gamma, beta -> y, running mean and var read and
         * written, save_mean, save_invstd; infer: x and four [c] -> y;
         * backward: x, dy, gamma, save_mean, save_invstd -> dx, dgamma, dbeta */
        return pass == CNN_FWD         ? 2 * in + 8 * c
               : pass == CNN_FWD_INFER ? 2 * in + 4 * c
                                       : 3 * in + 5 * c;
    }
    case CNN_OP_ACT: return pass == CNN_FWD ? 2 * in : 3 * in; /* backward: y, dy -> dx */
    case CNN_OP_ADD: return 3 * in;                            /* a, b -> y */
    case CNN_OP_OPTIM:
        /* param read and written, grad read, the state read and written
         * (SGD's buffer is only written at step 1) */
        return 3 * in + (op->optim.step == 1 && op->optim.mode == CNN_OPTIM_SGD ? 1.0 : 2.0) *
                            (double)cnn_optim_state_count(&op->optim);
    case CNN_OP_XENT:
        /* logits, labels -> prob, loss; prob, labels -> dlogits */
        return pass == CNN_FWD ? 2 * in + op->xent.n + 1 : 2 * in + op->xent.n;
    case CNN_OP_CONCAT: return 2 * out; /* the inputs, out elements in all -> y */
    default: return in + out;           /* adapool, dropout: one array in, one out */
    }
}

double cnn_op_min_bytes(const cnn_op *op, cnn_pass pass)
{
    return cnn_op_has_pass(op, pass) ? 4.0 * min_elems(op, pass) : 0.0;
}
