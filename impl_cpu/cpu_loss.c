/* Softmax + cross-entropy, mean over the batch. The softmax subtracts the
 * row maximum before exponentiating; the loss is taken as
 * log(sum exp(l - max)) - (l[label] - max) in double rather than as
 * -log(prob), which would be inf once prob underflows. */
#include "cpu_exp.h"
#include "cpu_ops.h"
#include "cpu_parallel.h"
#include "cpu_simd.h"

#include <math.h>

static cnn_status check_labels(const cnn_xent_desc *d, const int32_t *labels)
{
    for (int i = 0; i < d->n; i++)
        if (labels[i] < 0 || labels[i] >= d->classes)
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "softmax_xent: label[%d] = %d is outside [0, %d) classes", i,
                            (int)labels[i], d->classes);
    return CNN_OK;
}

/* Writes the row's softmax into prob and returns its loss term. A NaN
 * logit makes every term NaN whether or not the maximum saw it. */
static CNN_CPU_VEC double softmax_row(const float *restrict l, int classes, int label,
                                      float *restrict prob)
{
    float m = l[0];
#pragma omp simd reduction(max : m)
    for (int j = 1; j < classes; j++)
        m = l[j] > m ? l[j] : m;
#pragma omp simd
    for (int j = 0; j < classes; j++)
        prob[j] = cnn_cpu_exp_nonpos(l[j] - m);
    double sum = 0.0;
    for (int j0 = 0; j0 < classes; j0 += 64) { /* float within blocks, double across */
        const int len = classes - j0 < 64 ? classes - j0 : 64;
        const float *restrict e = prob + j0;
        float part = 0.0f;
#pragma omp simd reduction(+ : part)
        for (int j = 0; j < len; j++)
            part += e[j];
        sum += part;
    }
    const float inv = (float)(1.0 / sum);
#pragma omp simd
    for (int j = 0; j < classes; j++)
        prob[j] *= inv;
    return log(sum) - ((double)l[label] - m);
}

cnn_status cnn_cpu_xent_fwd(cnn_ctx *ctx, const cnn_xent_desc *d, const float *logits,
                            const int32_t *labels, float *prob, float *loss)
{
    cnn_status st = check_labels(d, labels);
    if (st != CNN_OK)
        return st;
    const int nt = cnn_cpu_team(ctx, (int64_t)d->n * d->classes);
    double total = 0.0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(+ : total)
    for (int i = 0; i < d->n; i++) {
        int64_t off = (int64_t)i * d->classes;
        total += softmax_row(logits + off, d->classes, labels[i], prob + off);
    }
    loss[0] = (float)(total / d->n);
    return CNN_OK;
}

cnn_status cnn_cpu_xent_bwd(cnn_ctx *ctx, const cnn_xent_desc *d, const float *prob,
                            const int32_t *labels, float *dlogits)
{
    cnn_status st = check_labels(d, labels);
    if (st != CNN_OK)
        return st;
    const float inv_n = 1.0f / (float)d->n;
    const int nt = cnn_cpu_team(ctx, (int64_t)d->n * d->classes);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int i = 0; i < d->n; i++) {
        const float *restrict p = prob + (int64_t)i * d->classes;
        float *restrict g = dlogits + (int64_t)i * d->classes;
#pragma omp simd
        for (int j = 0; j < d->classes; j++)
            g[j] = p[j] * inv_n;
        g[labels[i]] = (p[labels[i]] - 1.0f) * inv_n;
    }
    return CNN_OK;
}
