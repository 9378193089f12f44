/* The first layer whose output holds NaN or Inf (finite.h). Only called
 * once a caller has seen non-finite logits or loss. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finite.h"
#include "model_internal.h"

typedef struct counts {
    int64_t nan, inf;
} counts;

static counts count(const float *x, int64_t n)
{
    counts c = {0, 0};
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            c.nan++;
        else if (isinf(x[i]))
            c.inf++;
    }
    return c;
}

/* n floats at dev (on the run's first context) counted through buf. */
static cnn_status count_dev(const cnn_model *m, const float *dev, int64_t n, float *buf, counts *c)
{
    cnn_status st = cnn_mem_download(m->ctx[0], buf, dev, (size_t)n * sizeof *buf);
    if (st == CNN_OK)
        *c = count(buf, n);
    return st;
}

/* The element count of the largest parameter or buffer tensor (at least 1). */
static int64_t largest_tensor(const cnn_model *m)
{
    int64_t most = 1;
    for (int t = 0; t < m->net.ntensors; t++) {
        int64_t k = cnn_shape_numel(&m->net.tensors[t].shape);
        most = k > most ? k : most;
    }
    return most;
}

/* What the scan found: the first node (CNN_NET_INPUT for the input, or
 * nnodes when none) and its counts. */
typedef struct scan {
    float *buf; /* room for the largest output */
    int first;
    counts c;
    cnn_status st;
} scan;

/* A layer whose ReLU runs fused into it writes only the ReLU's output: that
 * output is the pair's and is checked at the ReLU, which the report names
 * with the layer it ran in. */
static void check_node(scan *s, const cnn_model *m, int layer)
{
    if (s->first != m->net.nnodes || s->st != CNN_OK || model_fused_relu(m, layer) >= 0)
        return;
    counts c = {0, 0};
    s->st = count_dev(m, model_y(m, layer), net_numel(&m->net, layer), s->buf, &c);
    if (s->st == CNN_OK && c.nan + c.inf > 0) {
        s->first = layer;
        s->c = c;
    }
}

/* The hook of the checked forward: after each layer, its output. */
static void after_layer(void *user, const cnn_model *m, int layer, cnn_phase phase, double sec)
{
    (void)sec;
    if (phase == CNN_PHASE_FORWARD)
        check_node(user, m, layer);
}

/* The forward again, each output checked as it is written; the step and
 * the batch-norm counts it advances are put back. */
static cnn_status checked_forward(cnn_model *m, cnn_mode mode, scan *s)
{
    uint64_t step = m->step;
    size_t nbn = (size_t)m->net.nbn + 1;
    int64_t *tracked = malloc(nbn * sizeof *tracked);
    if (!tracked)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "no memory to locate the non-finite values");
    memcpy(tracked, m->batches_tracked, nbn * sizeof *tracked);
    cnn_layer_hook hook = m->hook;
    void *user = m->hook_user;
    bool sync = m->hook_sync;
    cnn_model_set_hook(m, after_layer, s, false);
    cnn_status st = cnn_model_forward(m, mode);
    cnn_model_set_hook(m, hook, user, sync);
    m->step = step;
    memcpy(m->batches_tracked, tracked, nbn * sizeof *tracked);
    free(tracked);
    return st != CNN_OK ? st : s->st;
}

/* "; its weight holds 3 NaN, 0 Inf" for each of the layer's tensors that
 * is not finite, else "; its input and weights are finite (float32
 * overflow)". */
static cnn_status describe_tensors(const cnn_model *m, const cnn_node *nd, float *buf, char *why,
                                   size_t n)
{
    const int ts[4] = {nd->weight, nd->bias, nd->mean, nd->var};
    const char *names[4] = {"weight", "bias", "running_mean", "running_var"};
    bool any = false;
    for (int k = 0; k < 4; k++) {
        if (ts[k] < 0)
            continue;
        counts c = {0, 0};
        cnn_status st = count_dev(m, model_tensor_ptr(m, ts[k]),
                                  cnn_shape_numel(&m->net.tensors[ts[k]].shape), buf, &c);
        if (st != CNN_OK)
            return st;
        if (c.nan + c.inf == 0)
            continue;
        size_t used = strlen(why);
        snprintf(why + used, n - used, "; its %s holds %lld NaN, %lld Inf", names[k],
                 (long long)c.nan, (long long)c.inf);
        any = true;
    }
    if (!any) {
        size_t used = strlen(why);
        snprintf(why + used, n - used, "; its input and %s are finite (float32 overflow)",
                 ts[0] >= 0 ? "weights" : "settings");
    }
    return CNN_OK;
}

cnn_status cnn_model_first_nonfinite(cnn_model *m, cnn_mode mode, char *why, size_t n)
{
    why[0] = '\0';
    int64_t most = largest_tensor(m), in_n = cnn_shape_numel(&m->net.input);
    most = in_n > most ? in_n : most;
    bool reused = false;
    for (int i = 0; i < m->net.nnodes; i++) {
        int64_t k = net_numel(&m->net, i);
        most = k > most ? k : most;
        /* after a backward on a sharing bind, the spent ones too */
        reused = reused || m->mem[i].reused || (m->acts_spent && m->mem[i].spent);
    }
    scan s = {.buf = malloc((size_t)most * sizeof(float)), .first = m->net.nnodes};
    if (!s.buf)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "no memory to locate the non-finite values");
    counts in = {0, 0};
    cnn_status st =
        count_dev(m, model_act(m, m->x_off), cnn_shape_numel(&m->net.input), s.buf, &in);
    if (st == CNN_OK && in.nan + in.inf > 0) {
        snprintf(why, n, "first in the input: %lld NaN, %lld Inf of %lld values", (long long)in.nan,
                 (long long)in.inf, (long long)cnn_shape_numel(&m->net.input));
    } else if (st == CNN_OK) {
        if (reused)
            st = checked_forward(m, mode, &s);
        for (int i = 0; !reused && i < m->net.nnodes && st == CNN_OK; i++) {
            check_node(&s, m, i);
            st = s.st;
        }
        if (st == CNN_OK && s.first == m->net.nnodes)
            snprintf(why, n, "every layer's output is finite");
        if (st == CNN_OK && s.first < m->net.nnodes) {
            const cnn_node *nd = &m->net.nodes[s.first];
            /* a fused pair's output is the producer's: name that layer */
            const bool fused = model_relu_fused(m, s.first);
            const cnn_node *at = fused ? &m->net.nodes[m->fuse[s.first].into] : nd;
            snprintf(why, n,
                     "first in layer %s (%s forward%s%s%s): %lld NaN, %lld Inf of %lld values",
                     at->name, cnn_op_name(&at->op), fused ? ", with its ReLU " : "",
                     fused ? nd->name : "", fused ? " fused" : "", (long long)s.c.nan,
                     (long long)s.c.inf, (long long)net_numel(&m->net, s.first));
            st = describe_tensors(m, at, s.buf, why, n);
        }
    }
    free(s.buf);
    return st;
}

cnn_status cnn_model_scale_params(cnn_model *m, double factor)
{
    if (!m->bound)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: bind it before scaling its weights",
                        m->desc->name);
    float *buf = malloc((size_t)largest_tensor(m) * sizeof *buf);
    if (!buf)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "no memory to scale the weights");
    cnn_status st = CNN_OK;
    for (int t = 0; t < m->net.ntensors && st == CNN_OK; t++) {
        const cnn_tensor_def *d = &m->net.tensors[t];
        int64_t k = cnn_shape_numel(&d->shape);
        if (!d->trainable)
            continue;
        float *dev = model_tensor_ptr(m, t);
        st = cnn_mem_download(m->ctx[0], buf, dev, (size_t)k * sizeof *buf);
        for (int64_t i = 0; i < k && st == CNN_OK; i++)
            buf[i] = (float)(buf[i] * factor);
        if (st == CNN_OK)
            st = cnn_mem_upload(m->ctx[0], dev, buf, (size_t)k * sizeof *buf);
    }
    m->have_forward = m->have_loss = false;
    free(buf);
    return st;
}
