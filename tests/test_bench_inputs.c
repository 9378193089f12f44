/* The tensors `cnnbench bench` times a backward pass on (bench_inputs, then
 * vcase_upload, as bench_layer does) hold what the forward writes: max
 * pooling's y (so dy is routed to the real maxima), batch norm's saved
 * mean and inverse std of x, an activation's y, cross-entropy's
 * probabilities, each checked against its definition computed here. The
 * naive conv forward is never run for it, nor anything when no backward
 * pass is timed.
 *
 * What it did before (issue 8): bench_layer uploaded vcase_init's inputs
 * only, so with --passes bwd_data those outputs were zeros: batch norm's
 * backward ran with invstd 0 and max pooling's with y = 0 everywhere. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "registry.h"
#include "test_util.h"
#include "verify.h"

static cnn_ctx *naive;

/* bench_inputs and vcase_upload for `op`, timing only the passes listed
 * (-1 ends the list); the device tensors are downloaded into got[t]
 * (malloc'd, free with free_got). */
static void bench_tensors(cnn_op op, const int *passes, vcase *vc, float *got[VT_COUNT])
{
    bench_run run = {0};
    for (; *passes >= 0; passes++)
        run.passes[*passes] = true;
    memset(got, 0, sizeof(float *) * VT_COUNT);
    TU_EXPECT_OK(cnn_op_init(&op));
    TU_EXPECT_OK(bench_inputs(&run, &op, naive, vc));
    void *dev[VT_COUNT];
    TU_EXPECT_OK(vcase_upload(vc, naive, dev));
    for (int t = 0; t < VT_COUNT; t++) {
        if (!vc->numel[t])
            continue;
        got[t] = tu_xmalloc((size_t)vc->numel[t] * 4);
        TU_EXPECT_OK(cnn_mem_download(naive, got[t], dev[t], (size_t)vc->numel[t] * 4));
    }
    vcase_device_free(naive, dev);
}

static void free_got(float *got[VT_COUNT])
{
    for (int t = 0; t < VT_COUNT; t++)
        free(got[t]);
}

static const int bwd_only[] = {CNN_BWD_DATA, -1};

static void check_maxpool(void)
{
    vcase vc;
    float *got[VT_COUNT];
    cnn_op op = {.kind = CNN_OP_POOL, .pool = {CNN_POOL_MAX, 2, 3, 9, 9, 3, 3, 2, 2, 1, 1, false}};
    bench_tensors(op, bwd_only, &vc, got);
    const cnn_pool_desc *d = &vc.op.pool;
    const float *x = vc.host[VT_X];
    int bad = 0;
    for (int nc = 0; nc < d->n * d->c; nc++)
        for (int i = 0; i < d->p; i++)
            for (int j = 0; j < d->q; j++) {
                float m = -INFINITY;
                for (int u = 0; u < d->kh; u++)
                    for (int v = 0; v < d->kw; v++) {
                        int h = i * d->stride_h - d->pad_h + u, w = j * d->stride_w - d->pad_w + v;
                        if (h >= 0 && h < d->h && w >= 0 && w < d->w)
                            m = fmaxf(m, x[((int64_t)nc * d->h + h) * d->w + w]);
                    }
                bad += got[VT_Y][((int64_t)nc * d->p + i) * d->q + j] != m;
            }
    TU_CHECK(bad == 0, "maxpool bwd_data: %d of %lld y elements are not their window's maximum",
             bad, (long long)vc.numel[VT_Y]);
    free_got(got);
    vcase_free(&vc);
}

static void check_batchnorm(void)
{
    vcase vc, fresh;
    float *got[VT_COUNT];
    cnn_op op = {.kind = CNN_OP_BN, .bn = {2, 3, 5, 5, 1e-5, 0.1, false}};
    bench_tensors(op, bwd_only, &vc, got);
    TU_EXPECT_OK(vcase_init(&fresh, &vc.op, 1));
    const cnn_bn_desc *d = &vc.op.bn;
    const float *x = vc.host[VT_X];
    int64_t hw = (int64_t)d->h * d->w, m = d->n * hw;
    for (int c = 0; c < d->c; c++) {
        double s = 0.0, ss = 0.0;
        for (int n = 0; n < d->n; n++)
            for (int64_t i = 0; i < hw; i++) {
                double v = x[((int64_t)n * d->c + c) * hw + i];
                s += v;
                ss += v * v;
            }
        double mean = s / (double)m, invstd = 1.0 / sqrt(ss / (double)m - mean * mean + d->eps);
        TU_CHECK(fabs(got[VT_SMEAN][c] - mean) < 1e-5, "bn bwd_data: save_mean[%d] %g, x's mean %g",
                 c, got[VT_SMEAN][c], mean);
        TU_CHECK(fabs(got[VT_SINVSTD][c] - invstd) < 1e-4 * invstd,
                 "bn bwd_data: save_invstd[%d] %g, 1/sqrt(var + eps) of x %g", c,
                 got[VT_SINVSTD][c], invstd);
    }
    /* the forward run leaves the inputs of the other passes as they were */
    static const vt kept[] = {VT_X, VT_GAMMA, VT_RMEAN, VT_RVAR, VT_DY};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        TU_CHECK(!memcmp(got[kept[i]], fresh.host[kept[i]], (size_t)vc.numel[kept[i]] * 4),
                 "bn bwd_data: %s differs from vcase_init's", vt_name(kept[i]));
    vcase_free(&fresh);
    free_got(got);
    vcase_free(&vc);
}

static void check_act(cnn_act_mode mode)
{
    vcase vc;
    float *got[VT_COUNT];
    cnn_op op = {.kind = CNN_OP_ACT, .act = {mode, 1000}};
    bench_tensors(op, bwd_only, &vc, got);
    const float *x = vc.host[VT_X];
    int bad = 0;
    for (int64_t i = 0; i < vc.numel[VT_X]; i++) {
        double want = mode == CNN_ACT_RELU ? fmax(x[i], 0.0) : 1.0 / (1.0 + exp(-(double)x[i]));
        bad += !(fabs(got[VT_Y][i] - want) <= 1e-6);
    }
    TU_CHECK(bad == 0, "%s bwd_data: %d of 1000 y elements are not f(x)",
             mode == CNN_ACT_RELU ? "relu" : "sigmoid", bad);
    free_got(got);
    vcase_free(&vc);
}

static void check_xent(void)
{
    vcase vc;
    float *got[VT_COUNT];
    cnn_op op = {.kind = CNN_OP_XENT, .xent = {4, 10}};
    bench_tensors(op, bwd_only, &vc, got);
    const float *x = vc.host[VT_X];
    int bad = 0;
    for (int n = 0; n < 4; n++) {
        double mx = -INFINITY, z = 0.0;
        for (int k = 0; k < 10; k++)
            mx = fmax(mx, x[n * 10 + k]);
        for (int k = 0; k < 10; k++)
            z += exp(x[n * 10 + k] - mx);
        for (int k = 0; k < 10; k++)
            bad += !(fabs(got[VT_PROB][n * 10 + k] - exp(x[n * 10 + k] - mx) / z) <= 1e-6);
    }
    TU_CHECK(bad == 0, "xent bwd_data: %d of 40 probabilities are not softmax(x)", bad);
    free_got(got);
    vcase_free(&vc);
}

/* What bench must not pay for: the naive conv forward (conv backward reads
 * no forward output), or any forward when only forward passes are timed. */
static void check_nothing_run(void)
{
    vcase vc;
    float *got[VT_COUNT];
    static const int conv_bwd[] = {CNN_BWD_DATA, CNN_BWD_WEIGHT, CNN_BWD_BIAS, -1};
    cnn_op op = tu_conv_op(&(tu_conv_case){1, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, true});
    bench_tensors(op, conv_bwd, &vc, got);
    TU_CHECK(!vc.ref[CNN_FWD][VT_Y], "conv backward: bench ran the naive conv forward");
    free_got(got);
    vcase_free(&vc);
    static const int fwd_only[] = {CNN_FWD, -1};
    op = (cnn_op){.kind = CNN_OP_POOL, .pool = {CNN_POOL_MAX, 1, 2, 4, 4, 2, 2, 2, 2, 0, 0, false}};
    bench_tensors(op, fwd_only, &vc, got);
    TU_CHECK(!vc.ref[CNN_FWD][VT_Y], "maxpool fwd only: bench ran a forward before timing");
    free_got(got);
    vcase_free(&vc);
}

int main(void)
{
    TU_EXPECT_OK(cnn_ctx_create(cnn_backend_find("naive"), NULL, &naive));
    if (!naive)
        return tu_finish("test_bench_inputs");
    check_maxpool();
    check_batchnorm();
    check_act(CNN_ACT_RELU);
    check_act(CNN_ACT_SIGMOID);
    check_xent();
    check_nothing_run();
    cnn_ctx_destroy(naive);
    return tu_finish("test_bench_inputs");
}
