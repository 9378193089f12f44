/* Fully connected layer, weight [out][in] as in torch.nn.Linear:
 *   y[n][o] = b[o] + sum_i x[n][i] * w[o][i]. */
#include "naive.h"

#include <stdlib.h>

cnn_status cnn_naive_linear_fwd(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                const float *w, const float *b, float *y, CNN_WS)
{
    CNN_NAIVE_NO_WS;
    if (d->has_bias && !b)
        return cnn_fail(CNN_ERR_INVALID_ARG, "linear: has_bias is set but the bias is NULL");
#pragma omp parallel for collapse(2) schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int n = 0; n < d->n; n++) {
        for (int o = 0; o < d->out; o++) {
            double acc = d->has_bias ? b[o] : 0.0;
            for (int i = 0; i < d->in; i++)
                acc += (double)x[(int64_t)n * d->in + i] * (double)w[(int64_t)o * d->in + i];
            y[(int64_t)n * d->out + o] = (float)acc;
        }
    }
    return CNN_OK;
}

/* Inputs whose dx sums linear_bwd_data carries together, for every n. */
#define LINEAR_IB 256

/* dx[n][i] = sum_o dy[n][o] * w[o][i], added in order of o. Rows of w are
 * contiguous in i, so each thread takes a block of LINEAR_IB inputs, keeps
 * their N x LINEAR_IB sums, and adds a row segment of w into them for each
 * o in turn: the inner loop runs over independent sums along contiguous
 * memory, and w is read once. */
cnn_status cnn_naive_linear_bwd_data(cnn_ctx *ctx, const cnn_linear_desc *d, const float *dy,
                                     const float *w, float *dx, CNN_WS)
{
    CNN_NAIVE_NO_WS;
    const int threads = cnn_naive_threads(ctx), blocks = (d->in + LINEAR_IB - 1) / LINEAR_IB;
    /* Whole 64-byte lines per thread (LINEAR_IB is a multiple of 8), on
     * lines of their own: no two threads write to the same line. */
    const int64_t per = (int64_t)d->n * LINEAR_IB;
    const size_t bytes = sizeof(double) * (size_t)threads * (size_t)per;
    double *scratch = aligned_alloc(64, (bytes / 64 + 1) * 64);
    if (!scratch)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "linear backward data: no memory for %d x %lld sums",
                        threads, (long long)per);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int ib = 0; ib < blocks; ib++) {
        double *acc = scratch + cnn_naive_thread_id() * per;
        const int i0 = ib * LINEAR_IB, len = d->in - i0 < LINEAR_IB ? d->in - i0 : LINEAR_IB;
        for (int64_t i = 0; i < per; i++)
            acc[i] = 0.0;
        for (int o = 0; o < d->out; o++) {
            const float *wrow = w + (int64_t)o * d->in + i0;
            for (int n = 0; n < d->n; n++) {
                const double g = dy[(int64_t)n * d->out + o];
                double *an = acc + (int64_t)n * LINEAR_IB;
                for (int i = 0; i < len; i++)
                    an[i] += g * (double)wrow[i];
            }
        }
        for (int n = 0; n < d->n; n++)
            for (int i = 0; i < len; i++)
                dx[(int64_t)n * d->in + i0 + i] = (float)acc[(int64_t)n * LINEAR_IB + i];
    }
    free(scratch);
    return CNN_OK;
}

/* dw[o][i] = sum_n dy[n][o] * x[n][i]; db[o] = sum_n dy[n][o] (db may be NULL). */
cnn_status cnn_naive_linear_bwd_weight(cnn_ctx *ctx, const cnn_linear_desc *d, const float *x,
                                       const float *dy, float *dw, float *db, CNN_WS)
{
    CNN_NAIVE_NO_WS;
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int o = 0; o < d->out; o++) {
        for (int i = 0; i < d->in; i++) {
            double acc = 0.0;
            for (int n = 0; n < d->n; n++)
                acc += (double)dy[(int64_t)n * d->out + o] * (double)x[(int64_t)n * d->in + i];
            dw[(int64_t)o * d->in + i] = (float)acc;
        }
        if (db) {
            double acc = 0.0;
            for (int n = 0; n < d->n; n++)
                acc += dy[(int64_t)n * d->out + o];
            db[o] = (float)acc;
        }
    }
    return CNN_OK;
}
