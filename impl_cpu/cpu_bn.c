/* Batch norm over (n, h, w) per channel. One OpenMP task per channel (its
 * statistics are one reduction) or, in inference, per plane.
 *
 * Statistics in one pass: sums of d = x - k and d*d about a shift k, the
 * channel's first element, whose distance to the mean is of the order of
 * the spread, so the difference var = E[d^2] - E[d]^2 keeps its digits.
 * The sums are float within blocks of BLK elements (8 terms a vector lane)
 * and double across blocks, so that a channel with millions of values keeps
 * float32 accuracy, and the inner loop is a float vector loop at memory
 * speed (the double sums it replaces, two passes of them, were bound by the
 * latency of their one accumulator: 4x slower than the normalisation).
 * Where k is far from the mean, E[d]^2 > 15 var, the difference would lose
 * more than 4 bits (and E[d] those of x - k), and a second pass sums x - mean
 * and its square in double instead. (1e5 first among values in [0, 1): the
 * one pass gives y to 2e-6, inside verify's tolerance, the second to 1e-7.)
 *
 * Normalisation subtracts the mean before scaling (not x*scale + shift),
 * which keeps inputs with a large mean from cancelling; in training the
 * double mean is subtracted as two floats, hi + lo: x - hi is exact for x
 * near the mean, so x - mean keeps the precision a float mean would lose. */
#include "cpu_ops.h"
#include "cpu_parallel.h"
#include "cpu_simd.h"

#include <math.h>

#define BLK 64

/* s[0] += sum of d, s[1] += sum of d*d, d = x - k. */
static CNN_CPU_VEC void plane_moments(const float *restrict x, int64_t n, float k, double s[2])
{
    double t1 = 0.0, t2 = 0.0;
    for (int64_t i0 = 0; i0 < n; i0 += BLK) {
        const int64_t len = n - i0 < BLK ? n - i0 : BLK;
        float a = 0.0f, b = 0.0f;
#pragma omp simd reduction(+ : a, b)
        for (int64_t i = 0; i < len; i++) {
            const float d = x[i0 + i] - k;
            a += d;
            b += d * d;
        }
        t1 += a;
        t2 += b;
    }
    s[0] += t1;
    s[1] += t2;
}

/* The fallback's second pass, in double: s[0] += sum of x - mean (what the
 * first pass's mean is off by, times the count), s[1] += sum of its square. */
static void plane_dev(const float *restrict x, int64_t n, double mean, double s[2])
{
    double a = 0.0, b = 0.0;
#pragma omp simd reduction(+ : a, b)
    for (int64_t i = 0; i < n; i++) {
        const double t = x[i] - mean;
        a += t;
        b += t * t;
    }
    s[0] += a;
    s[1] += b;
}

/* floor 0 is the fused ReLU (fuse_relu; NaN and -0.0 kept), -inf none */
static CNN_CPU_VEC void plane_affine(const float *restrict x, int64_t n, float mean_hi,
                                     float mean_lo, float scale, float beta, float floor,
                                     float *restrict y)
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
        const float k = x[(int64_t)c * hw];
        double s[2] = {0.0, 0.0};
        for (int n = 0; n < d->n; n++)
            plane_moments(x + ((int64_t)n * d->c + c) * hw, hw, k, s);
        const double dm = s[0] / (double)count, e2 = s[1] / (double)count;
        double mean = k + dm, var = e2 - dm * dm;
        if (!(var * 16.0 >= e2)) {
            double r[2] = {0.0, 0.0};
            for (int n = 0; n < d->n; n++)
                plane_dev(x + ((int64_t)n * d->c + c) * hw, hw, mean, r);
            const double fix = r[0] / (double)count;
            mean += fix;
            var = r[1] / (double)count - fix * fix;
        }
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

/* sums[0..2] += the sums over one plane of g, g * (x - mean) and x - mean,
 * float within blocks and double across (see the top), where g is dy or,
 * with `masked` (a fused ReLU, kernels/ops.h), dy * (y > 0); with `store`
 * also dx = k_dy * g in the same pass: the whole gradient when the
 * statistics are frozen, or (k_dy 1) the masked gradient kept for the
 * training form's second pass. store and masked are constants in each
 * caller below, so each is a loop of its own without a branch. */
static inline void grad_sums(const float *restrict x, const float *restrict y,
                             const float *restrict dy, int64_t n, float mean, double sums[3],
                             bool store, bool masked, float k_dy, float *restrict dx)
{
    double ta = 0.0, tb = 0.0, te = 0.0;
    for (int64_t i0 = 0; i0 < n; i0 += BLK) {
        const int64_t len = n - i0 < BLK ? n - i0 : BLK;
        const float *restrict xb = x + i0, *restrict gb = dy + i0;
        const float *restrict yb = masked ? y + i0 : gb;
        float a = 0.0f, b = 0.0f, e = 0.0f;
#pragma omp simd reduction(+ : a, b, e)
        for (int64_t i = 0; i < len; i++) {
            const float xmu = xb[i] - mean, g = masked ? (yb[i] > 0.0f ? gb[i] : 0.0f) : gb[i];
            a += g;
            b += g * xmu;
            e += xmu;
            if (store)
                dx[i0 + i] = k_dy * g;
        }
        ta += a;
        tb += b;
        te += e;
    }
    sums[0] += ta;
    sums[1] += tb;
    sums[2] += te;
}

static CNN_CPU_VEC void plane_grad_sums(const float *restrict x, const float *restrict dy,
                                        int64_t n, float mean, double sums[3])
{
    grad_sums(x, NULL, dy, n, mean, sums, false, false, 0.0f, NULL);
}

static CNN_CPU_VEC void plane_grad_store(const float *restrict x, const float *restrict dy,
                                         int64_t n, float mean, double sums[3], float k_dy,
                                         float *restrict dx)
{
    grad_sums(x, NULL, dy, n, mean, sums, true, false, k_dy, dx);
}

static CNN_CPU_VEC void plane_grad_store_masked(const float *restrict x, const float *restrict y,
                                                const float *restrict dy, int64_t n, float mean,
                                                double sums[3], float k_dy, float *restrict dx)
{
    grad_sums(x, y, dy, n, mean, sums, true, true, k_dy, dx);
}

static CNN_CPU_VEC void plane_grad(const float *restrict x, const float *restrict dy, int64_t n,
                                   float mean, float k_dy, float k_xmu, float k_0,
                                   float *restrict dx)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        dx[i] = k_dy * dy[i] + k_xmu * (x[i] - mean) + k_0;
}

/* The same in place: dx holds the masked gradient and receives the result. */
static CNN_CPU_VEC void plane_grad_in_place(const float *restrict x, int64_t n, float mean,
                                            float k_dy, float k_xmu, float k_0, float *restrict dx)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        dx[i] = k_dy * dx[i] + k_xmu * (x[i] - mean) + k_0;
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
        const double m = (double)count, g = gamma[c] * invstd;
        double sums[3] = {0.0, 0.0, 0.0};
        /* with frozen statistics the given mean is the mean by definition,
         * and dx is just dy scaled: one pass, beside the sums */
        for (int n = 0; n < d->n; n++) {
            int64_t off = ((int64_t)n * d->c + c) * hw;
            if (d->global_stats && y)
                plane_grad_store_masked(x + off, y + off, dy + off, hw, mean, sums, (float)g,
                                        dx + off);
            else if (d->global_stats)
                plane_grad_store(x + off, dy + off, hw, mean, sums, (float)g, dx + off);
            else if (y)
                plane_grad_store_masked(x + off, y + off, dy + off, hw, mean, sums, 1.0f,
                                        dx + off);
            else
                plane_grad_sums(x + off, dy + off, hw, mean, sums);
        }
        /* training form: delta corrects for save_mean being the batch mean
         * rounded to float */
        const double sum_dy = sums[0], delta = d->global_stats ? 0.0 : sums[2] / m;
        const double sum_dy_xmu = sums[1] - delta * sum_dy;
        dbeta[c] = (float)sum_dy;
        dgamma[c] = (float)(sum_dy_xmu * invstd);
        if (d->global_stats)
            continue;
        const double k_xmu = -g * invstd * invstd * sum_dy_xmu / m;
        const float k_0 = (float)(-g * sum_dy / m - k_xmu * delta);
        for (int n = 0; n < d->n; n++) {
            int64_t off = ((int64_t)n * d->c + c) * hw;
            if (y)
                plane_grad_in_place(x + off, hw, mean, (float)g, (float)k_xmu, k_0, dx + off);
            else
                plane_grad(x + off, dy + off, hw, mean, (float)g, (float)k_xmu, k_0, dx + off);
        }
    }
    return CNN_OK;
}
