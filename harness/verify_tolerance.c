/* How far a float32 backend may stray from the double-accumulating
 * reference, as a relative L2 error ||y - ref|| / ||ref||.
 *
 * The reference rounds once, at the end; a float32 backend rounds at every
 * addition. For a sum of L terms of random sign, each rounding adds an error
 * of at most u = 2^-24 relative to the partial sum, and the errors add like a
 * random walk: the expected relative error grows like u * sqrt(L), the worst
 * case like u * L (Higham, "Accuracy and Stability of Numerical Algorithms",
 * ch. 3-4). Blocked GEMMs and pairwise reductions do better than a running
 * sum, never worse. So the tolerance for an op whose outputs are sums of L
 * terms is
 *
 *     tol = C_SUM * u * sqrt(L) + C_BASE * u
 *
 * with C_SUM = 16. Measured on the full sweep (cnnbench verify, README):
 * the GEMM and direct methods of im2col and oneDNN land at 0.02-0.1 u sqrt(L)
 * on the model layers, because blocked GEMMs sum in short runs; the row
 * closest to its tolerance is oneDNN's reference bias reduction (a plain
 * float running sum) at 7 u sqrt(L), on the single 162-term sum of a K = 1
 * convolution, where no averaging over elements helps. 16 keeps that case
 * and other BLAS builds inside, and still catches every real bug: a wrong
 * index or a dropped term gives errors of 1e-3 to 1, TF32 or bf16
 * arithmetic 1e-4 to 1e-2, all above tolerances of 1e-6 to 1e-5. C_BASE
 * covers the few roundings every element sees (bias add, scaling) even when
 * L is 1.
 *
 * Operations that only move or pick values (max pooling, ReLU, concat,
 * dropout) round once at most; they get sum_tol(1) = 24 u = 1.4e-6, which a
 * single misplaced element among a million (rel L2 ~1e-3) cannot pass.
 *
 * Winograd is different in kind: its transforms multiply and add values of
 * mixed magnitude before the channel sum, so its error grows with the tile
 * size and with C faster than a direct sum's. A backend that runs it says so
 * in the error class of its algorithm (CNN_ERROR_WINOGRAD, kernels/backend.h),
 * with the constants a, b, s it measured (impl_winograd/winograd.h has the
 * measurements); the bound they go into is winograd_tol() below. */
#include <math.h>

#include "verify.h"

#define U 5.9604644775390625e-8 /* 2^-24, unit roundoff of float32 */
#define C_SUM 16.0
#define C_BASE 8.0

static double sum_tol(double terms)
{
    return C_SUM * U * sqrt(terms < 1.0 ? 1.0 : terms) + C_BASE * U;
}

static double ceil_div(double a, double b)
{
    return ceil(a / b);
}

static double conv_tol(const cnn_conv_desc *d, cnn_pass pass)
{
    switch (pass) {
    case CNN_FWD: return sum_tol((double)d->c * d->r * d->s);
    case CNN_BWD_DATA:
        /* each input pixel gathers K * ceil(R/sh) * ceil(S/sw) products */
        return sum_tol((double)d->k * ceil_div(d->r, d->stride_h) * ceil_div(d->s, d->stride_w));
    default: return sum_tol((double)d->n * d->p * d->q);
    }
}

static double bn_tol(const cnn_bn_desc *d, cnn_pass pass, vt tensor)
{
    double m = (double)d->n * d->h * d->w;
    /* running_var is m/(m-1) * var: one more rounding; the normalised output
     * inherits the error of mean and variance, sums of m terms; backward
     * adds two more reductions of m terms */
    if (pass == CNN_FWD_INFER)
        return sum_tol(1.0);
    if (pass == CNN_BWD_DATA && tensor == VT_DX)
        return 2.0 * sum_tol(m);
    return sum_tol(m);
}

/* Relative L2 error of Winograd F(m x m, r x r) for a reduction of length
 * C (the channels: C for the forward pass, K for backward data; the terms
 * N * P * Q of each element for backward weights, whose a and b differ):
 *   tol = s * u * (a + b * sqrt(C)).
 * Only the passes that run the transforms; 0 for the others. */
static double winograd_tol(const cnn_error_class *e, const cnn_conv_desc *d, cnn_pass pass)
{
    double c = pass == CNN_FWD          ? d->c
               : pass == CNN_BWD_DATA   ? d->k
               : pass == CNN_BWD_WEIGHT ? (double)d->n * d->p * d->q
                                        : 0.0;
    if (c == 0.0)
        return 0.0;
    return e->s * U * (e->a + e->b * sqrt(c > 1.0 ? c : 1.0));
}

double verify_tolerance(const cnn_error_class *err, const cnn_op *op, cnn_pass pass, vt tensor)
{
    switch (op->kind) {
    case CNN_OP_CONV: {
        double w =
            err && err->kind == CNN_ERROR_WINOGRAD ? winograd_tol(err, &op->conv, pass) : 0.0;
        return w > 0.0 ? w : conv_tol(&op->conv, pass);
    }
    case CNN_OP_LINEAR: {
        const cnn_linear_desc *d = &op->linear;
        return sum_tol(pass == CNN_FWD ? d->in : pass == CNN_BWD_DATA ? d->out : d->n);
    }
    case CNN_OP_POOL:
        if (op->pool.mode == CNN_POOL_AVG)
            return sum_tol((double)op->pool.kh * op->pool.kw);
        /* max: forward picks; backward sums the gradients of overlapping
         * windows that chose the same input */
        return pass == CNN_FWD ? sum_tol(1.0)
                               : sum_tol(ceil_div(op->pool.kh, op->pool.stride_h) *
                                         ceil_div(op->pool.kw, op->pool.stride_w));
    case CNN_OP_ADAPOOL: {
        const cnn_adapool_desc *d = &op->adapool;
        return sum_tol(ceil_div(d->h, d->p) * ceil_div(d->w, d->q) + 2.0);
    }
    case CNN_OP_BN: return bn_tol(&op->bn, pass, tensor);
    case CNN_OP_XENT:
        /* the loss is a mean over the batch of log-sum-exps over classes */
        return sum_tol((double)op->xent.classes + op->xent.n);
    case CNN_OP_ACT:
        /* sigmoid: expf is accurate to a few ulp (glibc: < 1 ulp) */
        return op->act.mode == CNN_ACT_SIGMOID ? 4.0 * sum_tol(1.0) : sum_tol(1.0);
    case CNN_OP_OPTIM:
        /* no sums: each element goes through a chain of float32 roundings,
         * at most ~10 for Adam (decay, two moments, sqrt, two divisions,
         * the update), each within u of its value; the reference rounds
         * once. 24 u covers that chain, and a wrong rule (a missing bias
         * correction, the decay left out, the state read at step 1) is off
         * by 1e-3 or more. */
        return sum_tol(1.0);
    default: return sum_tol(1.0); /* dropout, concat, add: one rounding at most */
    }
}
