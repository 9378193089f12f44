/* test_backends: the checks every backend must meet beside the verify
 * rows: a declined pass is refused by the dispatch, a workspace one byte
 * short is refused, the workspace size is stable, a rerun with a workspace
 * of exactly that size gives the same bits (except algorithms that say they
 * are nondeterministic), bad labels
 * are refused (host) or poison the loss (device), dropout keeps 1 - p,
 * concat's backward undoes its forward, linear's weight gradient does not
 * depend on whether db is asked for, a backend that cannot run here
 * says why and refuses a context, and what `cnnbench backends` says a
 * backend declines is what its supports() declines. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend_checks.h"
#include "dispatch.h"
#include "test_util.h"

static float *outputs_for(const vcase *c, cnn_pass pass, float *out[VT_COUNT])
{
    vt outs[5];
    int nout = vcase_outputs(c, pass, outs);
    memset(out, 0, VT_COUNT * sizeof *out);
    for (int i = 0; i < nout; i++)
        out[outs[i]] = tu_nan_buf(c->numel[outs[i]]);
    return nout ? out[outs[0]] : NULL;
}

static void free_outputs(float *out[VT_COUNT])
{
    for (int t = 0; t < VT_COUNT; t++)
        free(out[t]);
}

/* A workspace one byte short is refused, whatever the backend. */
static void check_short_workspace(cnn_ctx *ctx, const vcase *c, cnn_pass pass, size_t ws)
{
    void *dev[VT_COUNT], *buf = NULL;
    TU_EXPECT_OK(vcase_upload(c, ctx, dev));
    TU_EXPECT_OK(cnn_mem_alloc(ctx, ws, &buf));
    cnn_status st = vcase_call(ctx, &c->op, pass, dev, buf, ws - 1);
    TU_CHECK(st == CNN_ERR_INVALID_ARG, "%s %s %s: a workspace of %zu bytes for %zu gave %s",
             ctx->backend->name, c->shape, cnn_pass_str(pass), ws - 1, ws, cnn_status_str(st));
    cnn_mem_free(ctx, buf);
    vcase_device_free(ctx, dev);
}

/* One pass as vcase_run does it, but on a host backend with a workspace
 * malloc'd at exactly the size asked for: malloc's alignment only (not
 * cnn_mem_alloc's 64 bytes), and ASan sees a write past its end. A device
 * backend's own allocation is exact already. */
static cnn_status run_exact_ws(cnn_ctx *ctx, const vcase *c, cnn_pass pass,
                               float *const out[VT_COUNT])
{
    if (ctx->backend->device != CNN_DEVICE_HOST)
        return vcase_run(c, ctx, pass, out);
    void *dev[VT_COUNT];
    vt outs[5];
    int nout = vcase_outputs(c, pass, outs);
    cnn_status st = vcase_upload(c, ctx, dev);
    if (st != CNN_OK)
        return st;
    for (int i = 0; i < nout; i++) /* as vcase_run: NaN, but what is in-out keeps its input */
        for (int64_t j = 0; !vcase_in_place(outs[i]) && j < c->numel[outs[i]]; j++)
            ((float *)dev[outs[i]])[j] = NAN;
    size_t wss;
    void *ws = tu_ws_for(ctx, &c->op, pass, &wss);
    st = vcase_call(ctx, &c->op, pass, dev, ws, wss);
    for (int i = 0; i < nout && st == CNN_OK; i++)
        memcpy(out[outs[i]], dev[outs[i]], (size_t)c->numel[outs[i]] * 4);
    free(ws);
    vcase_device_free(ctx, dev);
    return st;
}

void bc_case_checks(cnn_ctx *ctx, const vcase *c)
{
    const char *name = ctx->backend->name;
    for (int p = 0; p < CNN_PASS_COUNT; p++) {
        cnn_pass pass = (cnn_pass)p;
        float *out[VT_COUNT], *again[VT_COUNT];
        vt outs[5];
        int nout = vcase_outputs(c, pass, outs);
        if (!nout || !cnn_op_has_pass(&c->op, pass))
            continue;
        outputs_for(c, pass, out);
        if (!cnn_supports(ctx, &c->op, pass)) {
            cnn_status st = vcase_run(c, ctx, pass, out);
            TU_CHECK(st == CNN_ERR_UNSUPPORTED, "%s declines %s %s, yet the call gave %s", name,
                     c->shape, cnn_pass_str(pass), cnn_status_str(st));
            free_outputs(out);
            continue;
        }
        size_t ws = cnn_workspace_size(ctx, &c->op, pass);
        TU_CHECK(ws == cnn_workspace_size(ctx, &c->op, pass), "%s %s %s: workspace size changed",
                 name, c->shape, cnn_pass_str(pass));
        if (ws > 0)
            check_short_workspace(ctx, c, pass, ws);
        /* Twice, the second time with an exact workspace: the same bits (a
         * cached primitive is the one first built, and a difference between
         * runs is a race), unless the algorithm says it is nondeterministic. */
        const char *algo = cnn_algorithm(ctx, &c->op, pass);
        outputs_for(c, pass, again);
        TU_EXPECT_OK(vcase_run(c, ctx, pass, out));
        TU_EXPECT_OK(run_exact_ws(ctx, c, pass, again));
        for (int i = 0; i < nout && !strstr(algo, "nondeterministic"); i++)
            TU_CHECK(!memcmp(out[outs[i]], again[outs[i]], (size_t)c->numel[outs[i]] * 4),
                     "%s [%s] %s %s: %s differs between two runs", name, algo, c->shape,
                     cnn_pass_str(pass), vt_name(outs[i]));
        free_outputs(again);
        free_outputs(out);
    }
}

/* A case of `op` with its reference computed; false if the backend does
 * not take pass. */
static bool ready_case(cnn_ctx *ctx, cnn_ctx *naive, cnn_op op, cnn_pass pass, vcase *c)
{
    TU_EXPECT_OK(cnn_op_init(&op));
    if (!cnn_supports(ctx, &op, pass))
        return false;
    TU_EXPECT_OK(vcase_init(c, &op, BC_SEED));
    TU_EXPECT_OK(vcase_reference(c, naive));
    return true;
}

/* A label out of range: a host backend refuses it; a device backend cannot
 * report it without a sync, so it poisons the loss and that row's
 * gradient instead. */
void bc_check_bad_labels(cnn_ctx *ctx, cnn_ctx *naive)
{
    const cnn_op op = {.kind = CNN_OP_XENT, .xent = {4, 10}};
    vcase c;
    if (!ready_case(ctx, naive, op, CNN_FWD, &c))
        return;
    float *out[VT_COUNT];
    int32_t *labels = c.host[VT_LABELS];
    bool host = ctx->backend->device == CNN_DEVICE_HOST;
    for (int p = 0; p < 2; p++) {
        cnn_pass pass = p ? CNN_BWD_DATA : CNN_FWD;
        labels[3] = p ? -1 : 10;
        outputs_for(&c, pass, out);
        cnn_status st = vcase_run(&c, ctx, pass, out);
        if (host)
            TU_CHECK(st == CNN_ERR_INVALID_ARG, "%s xent %s: label %d gave %s", ctx->backend->name,
                     cnn_pass_str(pass), labels[3], cnn_status_str(st));
        else if (p == 0)
            TU_CHECK(st == CNN_OK && isnan(out[VT_LOSS][0]), "%s xent: a bad label gave loss %g",
                     ctx->backend->name, out[VT_LOSS][0]);
        else
            TU_CHECK(st == CNN_OK && isnan(out[VT_DX][30]) && isnan(out[VT_DX][39]),
                     "%s xent: a bad label's gradient row is not NaN", ctx->backend->name);
        free_outputs(out);
    }
    vcase_free(&c);
}

/* The mask is the reference's (verify's rows); this guards against a
 * reference and a backend that agree on nonsense: kept within 5 sigma of a
 * binomial's mean. */
void bc_check_dropout_rate(cnn_ctx *ctx, cnn_ctx *naive, int64_t count, double p)
{
    const cnn_op op = {.kind = CNN_OP_DROPOUT, .dropout = {count, p, 99}};
    vcase c;
    if (!ready_case(ctx, naive, op, CNN_FWD, &c))
        return;
    float *out[VT_COUNT];
    float *y = outputs_for(&c, CNN_FWD, out);
    TU_EXPECT_OK(vcase_run(&c, ctx, CNN_FWD, out));
    int64_t kept = 0;
    for (int64_t i = 0; i < count; i++)
        kept += y[i] != 0.0f;
    double rate = (double)kept / (double)count, sd = sqrt(p * (1 - p) / (double)count);
    TU_CHECK(fabs(rate - (1 - p)) < 5 * sd, "%s dropout p = %g keeps %.4f", ctx->backend->name, p,
             rate);
    free_outputs(out);
    vcase_free(&c);
}

/* concat backward of its own forward gives the inputs back, bit for bit. */
void bc_check_concat_round_trip(cnn_ctx *ctx, cnn_ctx *naive)
{
    const cnn_op op = {.kind = CNN_OP_CONCAT,
                       .concat = {.n = 3, .h = 5, .w = 7, .count = 3, .c = {1, 4, 2}}};
    vcase c;
    if (!ready_case(ctx, naive, op, CNN_BWD_DATA, &c))
        return;
    float *y[VT_COUNT], *dx[VT_COUNT];
    outputs_for(&c, CNN_FWD, y);
    TU_EXPECT_OK(vcase_run(&c, ctx, CNN_FWD, y));
    memcpy(c.host[VT_DY], y[VT_Y], (size_t)c.numel[VT_Y] * 4);
    outputs_for(&c, CNN_BWD_DATA, dx);
    TU_EXPECT_OK(vcase_run(&c, ctx, CNN_BWD_DATA, dx));
    for (int i = 0; i < 3; i++)
        TU_CHECK(!memcmp(dx[VT_DCAT + i], c.host[VT_CAT + i], (size_t)c.numel[VT_CAT + i] * 4),
                 "%s concat: backward of forward differs from input %d", ctx->backend->name, i);
    free_outputs(y);
    free_outputs(dx);
    vcase_free(&c);
}

/* A caller may leave db out even with a bias; dw does not change. */
void bc_check_linear_without_db(cnn_ctx *ctx, cnn_ctx *naive)
{
    const cnn_op op = {.kind = CNN_OP_LINEAR, .linear = {4, 32, 10, true}};
    vcase c;
    if (!ready_case(ctx, naive, op, CNN_BWD_WEIGHT, &c))
        return;
    float *out[VT_COUNT];
    float *dw = outputs_for(&c, CNN_BWD_WEIGHT, out), *dw_nob = tu_nan_buf(c.numel[VT_DW]);
    TU_EXPECT_OK(vcase_run(&c, ctx, CNN_BWD_WEIGHT, out));
    void *dev[VT_COUNT], *ws = NULL;
    size_t wss = cnn_workspace_size(ctx, &c.op, CNN_BWD_WEIGHT);
    TU_EXPECT_OK(vcase_upload(&c, ctx, dev));
    if (wss)
        TU_EXPECT_OK(cnn_mem_alloc(ctx, wss, &ws));
    TU_EXPECT_OK(
        cnn_linear_bwd_weight(ctx, &c.op.linear, dev[VT_X], dev[VT_DY], dev[VT_DW], NULL, ws, wss));
    TU_EXPECT_OK(cnn_sync(ctx));
    TU_EXPECT_OK(cnn_mem_download(ctx, dw_nob, dev[VT_DW], (size_t)c.numel[VT_DW] * 4));
    TU_CHECK(!memcmp(dw, dw_nob, (size_t)c.numel[VT_DW] * 4),
             "%s linear bwd_weight: dw differs when db is not asked for", ctx->backend->name);
    cnn_mem_free(ctx, ws);
    vcase_device_free(ctx, dev);
    free_outputs(out);
    free(dw_nob);
    vcase_free(&c);
}

/* Without a usable device: a reason, and a context refused cleanly. */
void bc_check_unavailable(const cnn_backend *be, const char *why)
{
    printf("test_backends: %s is not available here: %s\n", be->name, why);
    cnn_ctx *ctx = NULL;
    cnn_status st = cnn_ctx_create(be, NULL, &ctx);
    TU_CHECK(why[0] != '\0', "%s: unavailable without a reason", be->name);
    TU_CHECK(st != CNN_OK && ctx == NULL, "%s: unavailable, yet ctx_create gave %s", be->name,
             cnn_status_str(st));
    /* A device backend on a machine without one says so first, with the
     * driver's words (e.g. "CUDA driver version is insufficient") after. */
    if (be->device != CNN_DEVICE_HOST)
        TU_CHECK(strncmp(why, "no CUDA device", 14) == 0, "%s: reason '%s' should start with 'no "
                 "CUDA device'", be->name, why);
    cnn_ctx_destroy(ctx);
}

void bc_check_coverage(cnn_ctx *ctx, const bc_case *cases, int n)
{
    const cnn_backend *be = ctx->backend;
    int probed[CNN_OP_KIND_COUNT][CNN_PASS_COUNT] = {{0}};
    int declined[CNN_OP_KIND_COUNT][CNN_PASS_COUNT] = {{0}};
    for (int i = 0; i < n; i++) {
        cnn_op op = cases[i].op;
        if (cnn_op_init(&op) != CNN_OK) {
            TU_CHECK(false, "coverage case %d: %s", i, cnn_last_error());
            continue;
        }
        for (int p = 0; p < CNN_PASS_COUNT; p++) {
            cnn_pass pass = (cnn_pass)p;
            if (!cnn_op_has_pass(&op, pass) || !cnn_backend_implements(be, op.kind, pass))
                continue;
            cnn_coverage cov = cnn_backend_coverage(be, op.kind, pass);
            char desc[256];
            probed[op.kind][p]++;
            if (!cnn_supports(ctx, &op, pass)) {
                declined[op.kind][p]++;
                TU_CHECK(cov.partial, "%s declines %s %s %s, but its coverage is not partial",
                         be->name, cnn_op_name(&op), cnn_pass_str(pass),
                         cnn_op_str(&op, desc, sizeof desc));
                continue;
            }
            const char *algo = cnn_algorithm(ctx, &op, pass);
            if (strstr(algo, "delegated"))
                TU_CHECK(cov.note && strstr(cov.note, algo),
                         "%s %s %s runs '%s', which its coverage note '%s' does not say", be->name,
                         cnn_op_name(&op), cnn_pass_str(pass), algo,
                         cov.note ? cov.note : "(none)");
        }
    }
    int partial = 0;
    for (int k = 0; k < CNN_OP_KIND_COUNT; k++)
        for (int p = 0; p < CNN_PASS_COUNT; p++) {
            cnn_coverage cov = cnn_backend_coverage(be, (cnn_op_kind)k, (cnn_pass)p);
            partial += cov.partial;
            TU_CHECK(!cov.partial || !probed[k][p] || declined[k][p],
                     "%s: %s %s is partial ('%s'), yet none of %d cases is declined", be->name,
                     cnn_op_kind_str((cnn_op_kind)k), cnn_pass_str((cnn_pass)p),
                     cov.note ? cov.note : "", probed[k][p]);
            TU_CHECK(!cov.partial || cov.note, "%s: %s %s is partial without a note", be->name,
                     cnn_op_kind_str((cnn_op_kind)k), cnn_pass_str((cnn_pass)p));
        }
    printf("%s: coverage agrees with supports() on %d cases (%d kind x pass partial)\n", be->name,
           n, partial);
}
