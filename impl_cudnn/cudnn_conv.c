/* Convolution through cuDNN's descriptor API.
 *
 * Each shape gets a plan on first use: its tensor, filter and convolution
 * descriptors, and for each pass the algorithm cudnnFind*Algorithm measured
 * fastest among those that compute in true float32 and need at most
 * CUDNN_CONV_WS_LIMIT of workspace. The search runs once, from
 * workspace_size() (which the checked dispatch asks before every call), so
 * the compute calls only look the plan up. The choice comes from timing, as
 * in PyTorch's cudnn.benchmark mode: it can differ between runs, and the
 * algorithm's name goes into every result row so that this is visible.
 *
 * Mode CUDNN_CROSS_CORRELATION is PyTorch's conv2d (no kernel flip). Math
 * type CUDNN_FMA_MATH restricts cuDNN to FMA kernels: under
 * CUDNN_DEFAULT_MATH a float32 convolution on Hopper may run on TF32 tensor
 * cores, which round the inputs to 10 mantissa bits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cudnn_impl.h"

static const char *const fwd_names[CUDNN_CONVOLUTION_FWD_ALGO_COUNT] = {
    "IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING",
    "WINOGRAD",      "WINOGRAD_NONFUSED",
};
static const char *const bwd_data_names[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT] = {
    "ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED",
};
static const char *const bwd_filter_names[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT] = {
    "ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING",
};
static const char *const pass_names[CUDNN_CONV_PASSES] = {"fwd", "bwd_data", "bwd_filter"};

static const char *algo_name(int pass, int algo)
{
    switch (pass) {
    case CUDNN_CONV_FWD:
        return algo >= 0 && algo < CUDNN_CONVOLUTION_FWD_ALGO_COUNT ? fwd_names[algo] : "?";
    case CUDNN_CONV_BWD_DATA:
        return algo >= 0 && algo < CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT ? bwd_data_names[algo]
                                                                         : "?";
    default:
        return algo >= 0 && algo < CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT ? bwd_filter_names[algo]
                                                                           : "?";
    }
}

/* The fields of the three cuDNN perf structs that the choice reads. */
typedef struct perf {
    int algo;
    cudnnStatus_t status;
    float time_ms;
    size_t memory;
    cudnnDeterminism_t determinism;
    cudnnMathType_t math;
} perf;

#define MAX_ALGOS 16

#define COPY_PERF(dst, src)                                                                        \
    do {                                                                                           \
        (dst).algo = (int)(src).algo;                                                              \
        (dst).status = (src).status;                                                               \
        (dst).time_ms = (src).time;                                                                \
        (dst).memory = (src).memory;                                                               \
        (dst).determinism = (src).determinism;                                                     \
        (dst).math = (src).mathType;                                                               \
    } while (0)

/* Runs every algorithm on scratch buffers that cuDNN allocates itself and
 * returns them sorted fastest first. */
static cnn_status find_algos(cudnn_state *st, cudnn_conv_plan *p, int pass, perf *out, int *count)
{
    int n = 0;
    if (pass == CUDNN_CONV_FWD) {
        cudnnConvolutionFwdAlgoPerf_t r[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(st->cudnn, p->x, p->w, p->conv, p->y,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, r));
        for (int i = 0; i < n; i++)
            COPY_PERF(out[i], r[i]);
    } else if (pass == CUDNN_CONV_BWD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(
            st->cudnn, p->w, p->y, p->conv, p->x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, r));
        for (int i = 0; i < n; i++)
            COPY_PERF(out[i], r[i]);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(
            st->cudnn, p->x, p->y, p->conv, p->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, r));
        for (int i = 0; i < n; i++)
            COPY_PERF(out[i], r[i]);
    }
    *count = n;
    return CNN_OK;
}

/* The workspace cuDNN will want for algo under the plan's descriptors (FMA
 * math); fails if that algorithm cannot run under them. */
static cudnnStatus_t workspace_of(cudnn_state *st, cudnn_conv_plan *p, int pass, int algo,
                                  size_t *bytes)
{
    switch (pass) {
    case CUDNN_CONV_FWD:
        return cudnnGetConvolutionForwardWorkspaceSize(st->cudnn, p->x, p->w, p->conv, p->y,
                                                       (cudnnConvolutionFwdAlgo_t)algo, bytes);
    case CUDNN_CONV_BWD_DATA:
        return cudnnGetConvolutionBackwardDataWorkspaceSize(
            st->cudnn, p->w, p->y, p->conv, p->x, (cudnnConvolutionBwdDataAlgo_t)algo, bytes);
    default:
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(
            st->cudnn, p->x, p->y, p->conv, p->w, (cudnnConvolutionBwdFilterAlgo_t)algo, bytes);
    }
}

static cnn_status search(cudnn_state *st, cudnn_conv_plan *p, int pass, cudnn_conv_choice *c)
{
    perf r[MAX_ALGOS];
    int n = 0;
    cnn_status s = find_algos(st, p, pass, r, &n);
    if (s != CNN_OK)
        return s;
    /* Find has run kernels on our stream; make sure none of them failed. */
    CUDA_CHECK(cudaStreamSynchronize(st->stream));
    char seen[256] = "";
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        if (used < sizeof seen)
            used += (size_t)snprintf(seen + used, sizeof seen - used, "%s%s(%s,math%d,%zuB)",
                                     i ? " " : "", algo_name(pass, r[i].algo),
                                     cudnnGetErrorString(r[i].status), (int)r[i].math, r[i].memory);
        if (r[i].status != CUDNN_STATUS_SUCCESS || r[i].math != CUDNN_FMA_MATH)
            continue;
        /* Execution asks for the workspace of the descriptor's math type;
         * take the larger of that and what the search measured with. */
        size_t ws = 0;
        if (workspace_of(st, p, pass, r[i].algo, &ws) != CUDNN_STATUS_SUCCESS)
            continue;
        ws = ws > r[i].memory ? ws : r[i].memory;
        if (ws > CUDNN_CONV_WS_LIMIT)
            continue;
        c->algo = r[i].algo;
        c->ws_bytes = ws;
        snprintf(c->name, sizeof c->name, "cudnn %s %s%s", pass_names[pass],
                 algo_name(pass, r[i].algo),
                 r[i].determinism == CUDNN_NON_DETERMINISTIC ? " (nondeterministic)" : "");
        return CNN_OK;
    }
    char desc[160];
    cnn_op op = {.kind = CNN_OP_CONV, .conv = p->key};
    return cnn_fail(CNN_ERR_BACKEND,
                    "cudnn: no float32 (FMA) %s algorithm within %zu MiB of workspace for %s; "
                    "cuDNN offered: %s",
                    pass_names[pass], CUDNN_CONV_WS_LIMIT >> 20, cnn_op_str(&op, desc, sizeof desc),
                    n ? seen : "nothing");
}

static bool same_shape(const cnn_conv_desc *a, const cnn_conv_desc *b)
{
    return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w && a->k == b->k &&
           a->r == b->r && a->s == b->s && a->stride_h == b->stride_h &&
           a->stride_w == b->stride_w && a->pad_h == b->pad_h && a->pad_w == b->pad_w;
}

static void plan_free(cudnn_conv_plan *p)
{
    if (p->x)
        (void)cudnnDestroyTensorDescriptor(p->x);
    if (p->y)
        (void)cudnnDestroyTensorDescriptor(p->y);
    if (p->b)
        (void)cudnnDestroyTensorDescriptor(p->b);
    if (p->w)
        (void)cudnnDestroyFilterDescriptor(p->w);
    if (p->conv)
        (void)cudnnDestroyConvolutionDescriptor(p->conv);
    free(p);
}

void cudnn_conv_plans_free(cudnn_state *st)
{
    for (int i = 0; i < st->plan_count; i++)
        plan_free(st->plans[i]);
    free(st->plans);
    st->plans = NULL;
    st->plan_count = st->plan_cap = 0;
}

static cnn_status plan_descriptors(cudnn_conv_plan *p)
{
    const cnn_conv_desc *d = &p->key;
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->b));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->n, d->c,
                                           d->h, d->w));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->n, d->k,
                                           d->p, d->q));
    CUDNN_CHECK(
        cudnnSetTensor4dDescriptor(p->b, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, d->k, 1, 1));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d->k, d->c,
                                           d->r, d->s));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, d->pad_h, d->pad_w, d->stride_h,
                                                d->stride_w, 1, 1, CUDNN_CROSS_CORRELATION,
                                                CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, CUDNN_FMA_MATH));
    /* Our output size comes from ops.c; cuDNN must agree or every index
     * below would be wrong. */
    int on, ok, op, oq;
    CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &on, &ok, &op, &oq));
    if (on != d->n || ok != d->k || op != d->p || oq != d->q)
        return cnn_fail(CNN_ERR_BACKEND,
                        "cudnn: output %dx%dx%dx%d, but ops.c computes %dx%dx%dx%d", on, ok, op, oq,
                        d->n, d->k, d->p, d->q);
    return CNN_OK;
}

static cnn_status get_plan(cudnn_state *st, const cnn_conv_desc *d, cudnn_conv_plan **out)
{
    for (int i = 0; i < st->plan_count; i++) {
        if (same_shape(&st->plans[i]->key, d)) {
            *out = st->plans[i];
            return CNN_OK;
        }
    }
    if (st->plan_count == st->plan_cap) {
        int cap = st->plan_cap ? 2 * st->plan_cap : 16;
        cudnn_conv_plan **grown = realloc(st->plans, (size_t)cap * sizeof *grown);
        if (!grown)
            return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "cudnn: no memory for convolution plans");
        st->plans = grown;
        st->plan_cap = cap;
    }
    cudnn_conv_plan *p = calloc(1, sizeof *p);
    if (!p)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "cudnn: no memory for a convolution plan");
    p->key = *d;
    p->key.has_bias = false;
    cnn_status s = plan_descriptors(p);
    if (s != CNN_OK) {
        plan_free(p);
        return s;
    }
    st->plans[st->plan_count++] = p;
    *out = p;
    return CNN_OK;
}

cnn_status cudnn_conv_choose(cnn_ctx *ctx, const cnn_conv_desc *d, int pass,
                             cudnn_conv_plan **plan_out, const cudnn_conv_choice **choice_out)
{
    cudnn_state *st = cudnn_st(ctx);
    cudnn_conv_plan *p;
    cnn_status s = get_plan(st, d, &p);
    if (s != CNN_OK)
        return s;
    cudnn_conv_choice *c = &p->choice[pass];
    if (!c->searched) {
        c->status = search(st, p, pass, c);
        if (c->status != CNN_OK)
            snprintf(c->why, sizeof c->why, "%s", cnn_last_error());
        c->searched = true;
    }
    if (c->status != CNN_OK)
        return cnn_fail(c->status, "%s", c->why);
    *plan_out = p;
    *choice_out = c;
    return CNN_OK;
}

/* The plan and algorithm for a compute call. The dispatch has already
 * checked the workspace against workspace_size(); the check here guards
 * direct calls through the table. */
static cnn_status choose_for_call(cnn_ctx *ctx, const cnn_conv_desc *d, int pass, size_t ws_size,
                                  cudnn_conv_plan **p, const cudnn_conv_choice **c)
{
    cnn_status s = cudnn_conv_choose(ctx, d, pass, p, c);
    if (s != CNN_OK)
        return s;
    if (ws_size < (*c)->ws_bytes)
        return cnn_fail(CNN_ERR_INVALID_ARG, "cudnn: %s needs a workspace of %zu bytes, got %zu",
                        (*c)->name, (*c)->ws_bytes, ws_size);
    return CNN_OK;
}

/* alpha = 1, beta = 0 everywhere: outputs are overwritten, and cuDNN does
 * not read an output whose beta is zero (so NaN there cannot leak in). */
static const float one = 1.0f, zero = 0.0f;

cnn_status cudnn_conv_fwd(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x, const float *w,
                          const float *b, float *y, CNN_WS)
{
    if (d->has_bias && !b)
        return cnn_fail(CNN_ERR_INVALID_ARG, "conv2d: has_bias is set but the bias is NULL");
    cudnn_conv_plan *p = NULL;
    const cudnn_conv_choice *c = NULL;
    cnn_status s = choose_for_call(ctx, d, CUDNN_CONV_FWD, ws_size, &p, &c);
    if (s != CNN_OK)
        return s;
    cudnn_state *st = cudnn_st(ctx);
    CUDNN_CHECK(cudnnConvolutionForward(st->cudnn, &one, p->x, x, p->w, w, p->conv,
                                        (cudnnConvolutionFwdAlgo_t)c->algo, ws, c->ws_bytes, &zero,
                                        p->y, y));
    if (d->has_bias)
        CUDNN_CHECK(cudnnAddTensor(st->cudnn, &one, p->b, b, &one, p->y, y));
    return CNN_OK;
}

cnn_status cudnn_conv_bwd_data(cnn_ctx *ctx, const cnn_conv_desc *d, const float *dy,
                               const float *w, float *dx, CNN_WS)
{
    cudnn_conv_plan *p = NULL;
    const cudnn_conv_choice *c = NULL;
    cnn_status s = choose_for_call(ctx, d, CUDNN_CONV_BWD_DATA, ws_size, &p, &c);
    if (s != CNN_OK)
        return s;
    CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn_st(ctx)->cudnn, &one, p->w, w, p->y, dy, p->conv,
                                             (cudnnConvolutionBwdDataAlgo_t)c->algo, ws,
                                             c->ws_bytes, &zero, p->x, dx));
    return CNN_OK;
}

cnn_status cudnn_conv_bwd_filter(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x,
                                 const float *dy, float *dw, CNN_WS)
{
    cudnn_conv_plan *p = NULL;
    const cudnn_conv_choice *c = NULL;
    cnn_status s = choose_for_call(ctx, d, CUDNN_CONV_BWD_FILTER, ws_size, &p, &c);
    if (s != CNN_OK)
        return s;
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(cudnn_st(ctx)->cudnn, &one, p->x, x, p->y, dy,
                                               p->conv, (cudnnConvolutionBwdFilterAlgo_t)c->algo,
                                               ws, c->ws_bytes, &zero, p->w, dw));
    return CNN_OK;
}

cnn_status cudnn_conv_bwd_bias(cnn_ctx *ctx, const cnn_conv_desc *d, const float *y,
                               const float *dy, float *db, float *dz, CNN_WS)
{
    (void)y, (void)dz; /* fuse_relu is declined (cudnn_supports) */
    (void)ws;
    (void)ws_size;
    cudnn_state *st = cudnn_st(ctx);
    cudnn_conv_plan *p;
    cnn_status s = get_plan(st, d, &p);
    if (s != CNN_OK)
        return s;
    CUDNN_CHECK(cudnnConvolutionBackwardBias(st->cudnn, &one, p->y, dy, &zero, p->b, db));
    return CNN_OK;
}
