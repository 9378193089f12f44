/* Batch normalisation over (n, h, w) for each channel, PyTorch semantics.
 *
 * Training normalises with the batch mean and the *biased* variance
 * (divide by m = n*h*w) but feeds the *unbiased* one (divide by m - 1) into
 * running_var, as torch.nn.BatchNorm2d does. Statistics are computed in two
 * passes in double (mean first, then squared deviations), which is exact
 * enough that they are the reference for one-pass and Welford versions. */
#include "naive.h"

#include <math.h>

static double channel_mean(const cnn_bn_desc *d, const float *x, int c)
{
    const int64_t hw = (int64_t)d->h * d->w;
    double sum = 0.0;
    for (int n = 0; n < d->n; n++)
        for (int64_t i = 0; i < hw; i++)
            sum += x[at4(n, c, 0, 0, d->c, d->h, d->w) + i];
    return sum / ((double)d->n * hw);
}

/* Biased: divided by m = n*h*w. */
static double channel_var(const cnn_bn_desc *d, const float *x, int c, double mean)
{
    const int64_t hw = (int64_t)d->h * d->w;
    double sum = 0.0;
    for (int n = 0; n < d->n; n++) {
        for (int64_t i = 0; i < hw; i++) {
            double dev = x[at4(n, c, 0, 0, d->c, d->h, d->w) + i] - mean;
            sum += dev * dev;
        }
    }
    return sum / ((double)d->n * hw);
}

/* y = gamma * (x - mean) * invstd + beta over channel c, then the ReLU
 * with fuse_relu (a plain second step: the reference of the fused pass). */
static void normalise(const cnn_bn_desc *d, const float *x, int c, double mean, double invstd,
                      double gamma, double beta, float *y)
{
    const int64_t hw = (int64_t)d->h * d->w;
    for (int n = 0; n < d->n; n++) {
        const int64_t base = at4(n, c, 0, 0, d->c, d->h, d->w);
        for (int64_t i = 0; i < hw; i++)
            y[base + i] = (float)(gamma * ((x[base + i] - mean) * invstd) + beta);
        for (int64_t i = 0; i < hw && d->fuse_relu; i++)
            y[base + i] = cnn_relu(y[base + i]);
    }
}

/* The gradient of batch norm's own output at element i: dy, or with
 * fuse_relu the fused ReLU's backward dy * (y > 0) (ops.h). */
static inline double grad_at(const cnn_bn_desc *d, const float *y, const float *dy, int64_t i)
{
    return d->fuse_relu ? cnn_relu_grad(y[i], dy[i]) : dy[i];
}

cnn_status cnn_naive_bn_fwd_train(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x,
                                  const float *gamma, const float *beta, float *y,
                                  float *running_mean, float *running_var, float *save_mean,
                                  float *save_invstd, CNN_WS)
{
    CNN_NAIVE_NO_WS;
    const double m = (double)d->n * d->h * d->w;
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int c = 0; c < d->c; c++) {
        double mean = channel_mean(d, x, c);
        double var = channel_var(d, x, c, mean);
        double invstd = 1.0 / sqrt(var + d->eps);
        normalise(d, x, c, mean, invstd, gamma[c], beta[c], y);
        save_mean[c] = (float)mean;
        save_invstd[c] = (float)invstd;
        if (running_mean)
            running_mean[c] = (float)((1.0 - d->momentum) * running_mean[c] + d->momentum * mean);
        if (running_var) {
            double unbiased = var * m / (m - 1.0); /* m >= 2: checked by dispatch */
            running_var[c] = (float)((1.0 - d->momentum) * running_var[c] + d->momentum * unbiased);
        }
    }
    return CNN_OK;
}

cnn_status cnn_naive_bn_fwd_infer(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x,
                                  const float *gamma, const float *beta, const float *running_mean,
                                  const float *running_var, float *y, CNN_WS)
{
    CNN_NAIVE_NO_WS;
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int c = 0; c < d->c; c++) {
        double invstd = 1.0 / sqrt((double)running_var[c] + d->eps);
        normalise(d, x, c, running_mean[c], invstd, gamma[c], beta[c], y);
    }
    return CNN_OK;
}

/* Frozen statistics (global_stats): batch norm is the per-channel affine
 * map y = gamma * (x - mean) * invstd + beta with the running statistics,
 * invstd = 1/sqrt(running_var + eps) as the inference forward takes it, and
 * its gradient is that map's. */
static cnn_status bn_bwd_global(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x, const float *y,
                                const float *dy, const float *gamma, const float *running_mean,
                                const float *running_var, float *dx, float *dgamma, float *dbeta)
{
    const int64_t hw = (int64_t)d->h * d->w;
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int c = 0; c < d->c; c++) {
        const double mean = running_mean[c], invstd = 1.0 / sqrt((double)running_var[c] + d->eps);
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int n = 0; n < d->n; n++) {
            const int64_t base = at4(n, c, 0, 0, d->c, d->h, d->w);
            for (int64_t i = 0; i < hw; i++) {
                double g = grad_at(d, y, dy, base + i);
                sum_dy += g;
                sum_dy_xhat += g * ((x[base + i] - mean) * invstd);
                dx[base + i] = (float)(g * gamma[c] * invstd);
            }
        }
        dgamma[c] = (float)sum_dy_xhat;
        dbeta[c] = (float)sum_dy;
    }
    return CNN_OK;
}

/* The training-mode gradient, through the batch statistics. With
 * xhat = (x - mean) * invstd and m = n*h*w:
 *   dbeta  = sum dy
 *   dgamma = sum dy * xhat
 *   dx     = gamma * invstd / m * (m * dy - dbeta - xhat * dgamma)
 * (the last two terms are the paths through the mean and the variance).
 * The three terms of dx cancel almost completely when m is small (for m = 2
 * the exact dx is nearly zero: the normalised output cannot move), so the
 * float-rounded save_mean and save_invstd would leave an error of 1e-7 of
 * the terms in a result a million times smaller. The reference therefore
 * recomputes both statistics from x in double, exactly as the forward pass
 * did; fast backends use the saved ones. */
cnn_status cnn_naive_bn_bwd(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x, const float *y,
                            const float *dy, const float *gamma, const float *mean,
                            const float *invstd_or_var, float *dx, float *dgamma, float *dbeta,
                            CNN_WS)
{
    CNN_NAIVE_NO_WS;
    if (d->global_stats)
        return bn_bwd_global(ctx, d, x, y, dy, gamma, mean, invstd_or_var, dx, dgamma, dbeta);
    const double m = (double)d->n * d->h * d->w;
    const int64_t hw = (int64_t)d->h * d->w;
#pragma omp parallel for schedule(static) num_threads(cnn_naive_threads(ctx))
    for (int c = 0; c < d->c; c++) {
        const double mean = channel_mean(d, x, c);
        const double invstd = 1.0 / sqrt(channel_var(d, x, c, mean) + d->eps);
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int n = 0; n < d->n; n++) {
            const int64_t base = at4(n, c, 0, 0, d->c, d->h, d->w);
            for (int64_t i = 0; i < hw; i++) {
                double g = grad_at(d, y, dy, base + i);
                sum_dy += g;
                sum_dy_xhat += g * ((x[base + i] - mean) * invstd);
            }
        }
        const double scale = gamma[c] * invstd / m;
        for (int n = 0; n < d->n; n++) {
            const int64_t base = at4(n, c, 0, 0, d->c, d->h, d->w);
            for (int64_t i = 0; i < hw; i++) {
                double xhat = (x[base + i] - mean) * invstd;
                double g = grad_at(d, y, dy, base + i);
                dx[base + i] = (float)(scale * (m * g - sum_dy - xhat * sum_dy_xhat));
            }
        }
        dgamma[c] = (float)sum_dy_xhat;
        dbeta[c] = (float)sum_dy;
    }
    return CNN_OK;
}
