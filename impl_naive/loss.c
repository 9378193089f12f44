/* Softmax + cross-entropy with the mean over the batch, as
 * F.cross_entropy(logits, labels) computes it. log-softmax is evaluated
 * stably in double: log p_j = l_j - (max + log sum_i exp(l_i - max)). */
#include "naive.h"

#include <math.h>

static cnn_status check_labels(const cnn_xent_desc *d, const int32_t *labels)
{
    for (int n = 0; n < d->n; n++)
        if (labels[n] < 0 || labels[n] >= d->classes)
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "softmax_xent: label of batch element %d is %d, outside [0, %d)", n,
                            (int)labels[n], d->classes);
    return CNN_OK;
}

/* log sum_j exp(row[j]), shifted by the maximum so that nothing overflows. */
static double log_sum_exp(const float *row, int classes)
{
    double max = row[0];
    for (int j = 1; j < classes; j++)
        if (row[j] > max)
            max = row[j];
    double sum = 0.0;
    for (int j = 0; j < classes; j++)
        sum += exp(row[j] - max);
    return max + log(sum);
}

cnn_status cnn_naive_xent_fwd(cnn_ctx *ctx, const cnn_xent_desc *d, const float *logits,
                              const int32_t *labels, float *prob, float *loss)
{
    cnn_status st = check_labels(d, labels);
    if (st != CNN_OK)
        return st;
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int n = 0; n < d->n; n++) {
        const float *row = logits + (int64_t)n * d->classes;
        double lse = log_sum_exp(row, d->classes);
        for (int j = 0; j < d->classes; j++)
            prob[(int64_t)n * d->classes + j] = (float)exp(row[j] - lse);
    }
    /* The batch mean is one reduction; summing it serially keeps its order
     * fixed. Recomputing log-sum-exp costs far less than the loop above. */
    double total = 0.0;
    for (int n = 0; n < d->n; n++) {
        const float *row = logits + (int64_t)n * d->classes;
        total += log_sum_exp(row, d->classes) - row[labels[n]];
    }
    loss[0] = (float)(total / d->n);
    return CNN_OK;
}

/* d(mean loss)/dlogits = (softmax - onehot(label)) / n. */
cnn_status cnn_naive_xent_bwd(cnn_ctx *ctx, const cnn_xent_desc *d, const float *prob,
                              const int32_t *labels, float *dlogits)
{
    cnn_status st = check_labels(d, labels);
    if (st != CNN_OK)
        return st;
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int n = 0; n < d->n; n++) {
        for (int j = 0; j < d->classes; j++) {
            const int64_t i = (int64_t)n * d->classes + j;
            double onehot = j == labels[n] ? 1.0 : 0.0;
            dlogits[i] = (float)((prob[i] - onehot) / d->n);
        }
    }
    return CNN_OK;
}
