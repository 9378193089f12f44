/* The verify machinery must catch what it is for: an element a backend
 * does not write (outputs are poisoned with NaN), a result off by more than
 * rounding, and a backend that declines (SKIPPED, not FAIL). A correct
 * backend passes. Backends under test are copies of naive with one entry
 * replaced. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "test_util.h"
#include "verify.h"
#include "verify_run.h"

extern const cnn_backend cnn_backend_naive;

/* Leaves the last output element unwritten. */
static cnn_status conv_fwd_lazy(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x,
                                const float *w, const float *b, float *y, CNN_WS)
{
    int64_t n = (int64_t)d->n * d->k * d->p * d->q;
    float *tmp = malloc((size_t)n * sizeof *tmp);
    if (!tmp)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "test");
    cnn_status st = cnn_backend_naive.conv_fwd(ctx, d, x, w, b, tmp, ws, ws_size);
    memcpy(y, tmp, (size_t)(n - 1) * sizeof *y);
    free(tmp);
    return st;
}

/* Right everywhere but one element, off by 1e-3 relative: the size of a
 * dropped term in a long sum, far above float32 rounding. */
static cnn_status conv_fwd_off(cnn_ctx *ctx, const cnn_conv_desc *d, const float *x, const float *w,
                               const float *b, float *y, CNN_WS)
{
    cnn_status st = cnn_backend_naive.conv_fwd(ctx, d, x, w, b, y, ws, ws_size);
    y[7] *= 1.001f;
    return st;
}

static bool decline_conv(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass)
{
    (void)ctx;
    (void)pass;
    return op->kind != CNN_OP_CONV;
}

static double conv_error(const cnn_backend *be, const vcase *c, cnn_status *st_out)
{
    cnn_ctx *ctx = NULL;
    cnn_status st = cnn_ctx_create(be, NULL, &ctx);
    int64_t n = c->numel[VT_Y];
    float *y = malloc((size_t)n * sizeof *y);
    float *out[VT_COUNT] = {0};
    out[VT_Y] = y;
    if (st == CNN_OK)
        st = vcase_run(c, ctx, CNN_FWD, out);
    double rel = NAN, max_abs = NAN;
    if (st == CNN_OK)
        verify_compare(y, c->ref[CNN_FWD][VT_Y], n, &rel, &max_abs);
    *st_out = st;
    free(y);
    cnn_ctx_destroy(ctx);
    return rel;
}

int main(void)
{
    cnn_op op = {.kind = CNN_OP_CONV,
                 .conv = {.n = 2,
                          .c = 5,
                          .h = 9,
                          .w = 7,
                          .k = 4,
                          .r = 3,
                          .s = 3,
                          .stride_h = 1,
                          .stride_w = 1,
                          .pad_h = 1,
                          .pad_w = 1,
                          .has_bias = true}};
    TU_CHECK(cnn_op_init(&op) == CNN_OK, "init: %s", cnn_last_error());
    vcase c;
    cnn_ctx *naive = NULL;
    TU_CHECK(cnn_ctx_create(&cnn_backend_naive, NULL, &naive) == CNN_OK, "naive ctx");
    TU_CHECK(vcase_init(&c, &op, 7) == CNN_OK, "vcase_init: %s", cnn_last_error());
    TU_CHECK(vcase_reference(&c, naive) == CNN_OK, "reference: %s", cnn_last_error());
    double tol = verify_tolerance(NULL, &op, CNN_FWD, VT_Y);
    TU_CHECK(tol > 0 && tol < 1e-5, "conv fwd tolerance %.3e should be in (0, 1e-5)", tol);

    cnn_status st;
    double rel = conv_error(&cnn_backend_naive, &c, &st);
    TU_CHECK(st == CNN_OK && rel <= tol, "naive against itself: %.3e (tolerance %.3e)", rel, tol);

    cnn_backend lazy = cnn_backend_naive;
    lazy.name = "lazy";
    lazy.conv_fwd = conv_fwd_lazy;
    rel = conv_error(&lazy, &c, &st);
    TU_CHECK(st == CNN_OK && isnan(rel), "an unwritten element must give NaN, got %.3e", rel);
    TU_CHECK(!(rel <= tol), "an unwritten element must FAIL");

    cnn_backend off = cnn_backend_naive;
    off.name = "off";
    off.conv_fwd = conv_fwd_off;
    rel = conv_error(&off, &c, &st);
    TU_CHECK(st == CNN_OK && rel > tol, "one element off by 1e-3 must FAIL: %.3e vs %.3e", rel,
             tol);

    cnn_backend shy = cnn_backend_naive;
    shy.name = "shy";
    shy.supports = decline_conv;
    cnn_ctx *ctx = NULL;
    TU_CHECK(cnn_ctx_create(&shy, NULL, &ctx) == CNN_OK, "shy ctx");
    TU_CHECK(!cnn_supports(ctx, &op, CNN_FWD), "a declining backend is not asked");
    float *out[VT_COUNT] = {0};
    out[VT_Y] = malloc((size_t)c.numel[VT_Y] * sizeof(float));
    TU_CHECK(vcase_run(&c, ctx, CNN_FWD, out) == CNN_ERR_UNSUPPORTED,
             "running a declined op is CNN_ERR_UNSUPPORTED");
    free(out[VT_Y]);
    cnn_ctx_destroy(ctx);

    /* every pass of every edge shape has outputs and a finite tolerance */
    cnn_op *ops = NULL;
    int n = 0;
    TU_CHECK(verify_shapes("edge", &ops, &n) == CNN_OK && n > 50, "edge sweep: %d ops", n);
    for (int i = 0; i < n; i++)
        for (int p = 0; p < CNN_PASS_COUNT; p++) {
            vt outs[5];
            if (!cnn_op_has_pass(&ops[i], (cnn_pass)p) || !vcase_outputs(&c, (cnn_pass)p, outs))
                continue;
            double t = verify_tolerance(NULL, &ops[i], (cnn_pass)p, VT_Y);
            TU_CHECK(t > 0 && t < 1e-3, "tolerance %.3e for %s %s", t, cnn_op_name(&ops[i]),
                     cnn_pass_str((cnn_pass)p));
        }
    free(ops);
    cnn_op *none = NULL;
    TU_CHECK(verify_shapes("bogus", &none, &n) == CNN_ERR_INVALID_ARG &&
                 strstr(cnn_last_error(), "edge, quick, models, all"),
             "an unknown shape set is refused with the valid names: %s", cnn_last_error());
    vcase_free(&c);
    cnn_ctx_destroy(naive);
    return tu_finish("test_verify");
}
