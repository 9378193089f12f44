/* Fully connected layer, weight [out][in] as in torch.nn.Linear:
 *   y[n][o] = b[o] + sum_i x[n][i] * w[o][i]. */
#include "naive.h"

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

/* dx[n][i] = sum_o dy[n][o] * w[o][i]. */
cnn_status cnn_naive_linear_bwd_data(cnn_ctx *ctx, const cnn_linear_desc *d, const float *dy,
                                     const float *w, float *dx, CNN_WS)
{
    CNN_NAIVE_NO_WS;
#pragma omp parallel for collapse(2) schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int n = 0; n < d->n; n++) {
        for (int i = 0; i < d->in; i++) {
            double acc = 0.0;
            for (int o = 0; o < d->out; o++)
                acc += (double)dy[(int64_t)n * d->out + o] * (double)w[(int64_t)o * d->in + i];
            dx[(int64_t)n * d->in + i] = (float)acc;
        }
    }
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
