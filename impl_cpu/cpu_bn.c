/* Batch norm over (n, h, w) per channel. One OpenMP task per channel; the
 * channel's statistics are summed in double, plane by plane, so that a
 * channel with millions of values keeps float32 accuracy. Normalisation
 * subtracts the mean before scaling (not x*scale + shift), which keeps
 * inputs with a large mean from cancelling; in training the double mean is
 * subtracted as two floats, hi + lo: x - hi is exact for x near the mean,
 * so x - mean keeps the precision a float mean would lose. */
#include "cpu_ops.h"
#include "cpu_parallel.h"

#include <math.h>

static double plane_sum(const float *restrict x, int64_t n)
{
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++)
        s += x[i];
    return s;
}

static double plane_sq_dev(const float *restrict x, int64_t n, double mean)
{
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) {
        double t = x[i] - mean;
        s += t * t;
    }
    return s;
}

/* floor 0 is the fused ReLU (fuse_relu; NaN and -0.0 kept), -inf none */
static void plane_affine(const float *restrict x, int64_t n, float mean_hi, float mean_lo,
                         float scale, float beta, float floor, float *restrict y)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const float v = ((x[i] - mean_hi) - mean_lo) * scale + beta;
        y[i] = v < floor ? 0.0f : v;
    }
}

static float relu_floor(const cnn_bn_desc *d)
{
    return d->fuse_relu ? 0.0f : -INFINITY;
}

cnn_status cnn_cpu_bn_fwd_train(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x,
                                const float *gamma, const float *beta, float *y,
                                float *running_mean, float *running_var, float *save_mean,
                                float *save_invstd, CNN_WS)
{
    (void)ws, (void)ws_size;
    const int64_t hw = (int64_t)d->h * d->w, count = (int64_t)d->n * hw;
    const int nt = cnn_cpu_team(ctx, count * d->c);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int c = 0; c < d->c; c++) {
        double sum = 0.0, sq = 0.0;
        for (int n = 0; n < d->n; n++)
            sum += plane_sum(x + ((int64_t)n * d->c + c) * hw, hw);
        double mean = sum / (double)count;
        for (int n = 0; n < d->n; n++)
            sq += plane_sq_dev(x + ((int64_t)n * d->c + c) * hw, hw, mean);
        double var = sq / (double)count;
        double invstd = 1.0 / sqrt(var + d->eps);
        double unbiased = var * (double)count / (double)(count - 1);
        running_mean[c] = (float)((1.0 - d->momentum) * running_mean[c] + d->momentum * mean);
        running_var[c] = (float)((1.0 - d->momentum) * running_var[c] + d->momentum * unbiased);
        save_mean[c] = (float)mean;
        save_invstd[c] = (float)invstd;
        const float scale = (float)(gamma[c] * invstd), hi = (float)mean, lo = (float)(mean - hi);
        for (int n = 0; n < d->n; n++) {
            int64_t off = ((int64_t)n * d->c + c) * hw;
            plane_affine(x + off, hw, hi, lo, scale, beta[c], relu_floor(d), y + off);
        }
    }
    return CNN_OK;
}

cnn_status cnn_cpu_bn_fwd_infer(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x,
                                const float *gamma, const float *beta, const float *running_mean,
                                const float *running_var, float *y, CNN_WS)
{
    (void)ws, (void)ws_size;
    const int64_t hw = (int64_t)d->h * d->w, planes = (int64_t)d->n * d->c;
    const int nt = cnn_cpu_team(ctx, planes * hw);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < planes; i++) {
        int c = (int)(i % d->c);
        float scale = (float)(gamma[c] / sqrt((double)running_var[c] + d->eps));
        plane_affine(x + i * hw, hw, running_mean[c], 0.0f, scale, beta[c], relu_floor(d),
                     y + i * hw);
    }
    return CNN_OK;
}

/* Sums over one plane of g, g * (x - mean) and x - mean, where g is dy,
 * or with a fused ReLU (y and dz not NULL) dy * (y > 0), stored in dz for
 * the second pass (kernels/ops.h). */
static void plane_grad_sums(const float *restrict x, const float *restrict y,
                            const float *restrict dy, float *restrict dz, int64_t n, float mean,
                            double sums[3])
{
    double a = 0.0, b = 0.0, e = 0.0;
#pragma omp simd reduction(+ : a, b, e)
    for (int64_t i = 0; i < n; i++) {
        const float xmu = x[i] - mean, g = y && !(y[i] > 0.0f) ? 0.0f : dy[i];
        if (dz)
            dz[i] = g;
        a += g;
        b += g * xmu;
        e += xmu;
    }
    sums[0] += a;
    sums[1] += b;
    sums[2] += e;
}

/* dx may be dy: element i is read before it is written (the fused form) */
static void plane_grad(const float *restrict x, const float *dy, int64_t n, float mean, float k_dy,
                       float k_xmu, float k_0, float *dx)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        dx[i] = k_dy * dy[i] + k_xmu * (x[i] - mean) + k_0;
}

/* With xhat = (x - mean) * invstd, the training-mode gradient is
 *   dbeta = sum dy,  dgamma = sum dy * xhat,
 *   dx = gamma * invstd * (dy - dbeta/m - xhat * dgamma/m),  m = n*h*w,
 * written here as k_dy*dy + k_xmu*(x - mean) + k_0 with per-channel k's.
 * save_mean arrives rounded to float, which would cost u*|mean|/std of
 * relative accuracy in xhat; the same pass that sums the gradients measures
 * that rounding, delta = mean(x) - save_mean, and the k's absorb it.
 * With frozen statistics the two arrays are running_mean and running_var. */
cnn_status cnn_cpu_bn_bwd(cnn_ctx *ctx, const cnn_bn_desc *d, const float *x, const float *y_in,
                          const float *dy, const float *gamma, const float *mean_in,
                          const float *invstd_or_var, float *dx, float *dgamma, float *dbeta,
                          CNN_WS)
{
    (void)ws, (void)ws_size;
    const int64_t hw = (int64_t)d->h * d->w, count = (int64_t)d->n * hw;
    const int nt = cnn_cpu_team(ctx, count * d->c);
    const float *y = d->fuse_relu ? y_in : NULL;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int c = 0; c < d->c; c++) {
        const float mean = mean_in[c];
        const double invstd = d->global_stats ? 1.0 / sqrt((double)invstd_or_var[c] + d->eps)
                                              : (double)invstd_or_var[c];
        const double m = (double)count;
        double sums[3] = {0.0, 0.0, 0.0};
        for (int n = 0; n < d->n; n++) {
            int64_t off = ((int64_t)n * d->c + c) * hw;
            plane_grad_sums(x + off, y ? y + off : NULL, dy + off, y ? dx + off : NULL, hw, mean,
                            sums);
        }
        /* training form: delta corrects for save_mean being the batch mean
         * rounded to float; with frozen statistics the given mean is the
         * mean by definition, and dx is just dy scaled */
        const double sum_dy = sums[0], delta = d->global_stats ? 0.0 : sums[2] / m;
        const double sum_dy_xmu = sums[1] - delta * sum_dy;
        dbeta[c] = (float)sum_dy;
        dgamma[c] = (float)(sum_dy_xmu * invstd);
        const double g = gamma[c] * invstd;
        const double k_xmu = d->global_stats ? 0.0 : -g * invstd * invstd * sum_dy_xmu / m;
        const float k_0 = d->global_stats ? 0.0f : (float)(-g * sum_dy / m - k_xmu * delta);
        for (int n = 0; n < d->n; n++) {
            int64_t off = ((int64_t)n * d->c + c) * hw;
            plane_grad(x + off, (y ? dx : dy) + off, hw, mean, (float)g, (float)k_xmu, k_0,
                       dx + off);
        }
    }
    return CNN_OK;
}
