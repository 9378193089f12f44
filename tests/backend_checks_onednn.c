/* test_backends: the oneDNN backend's own checks.
 *
 * A one-thread context builds other primitives (the thread count is in the
 * primitive cache's key), so a share of the corner-case convolutions runs
 * on one through the verify machinery; the reorder clock moves exactly when
 * the algorithm says it reorders; and what oneDNN would get wrong or does
 * not have is declined rather than computed: average pools whose ceil-mode
 * window hangs past the padding (PyTorch divides those by less than the
 * kernel), adaptive pools with uneven windows, dropout and softmax
 * cross-entropy. */
#include <stdlib.h>
#include <string.h>

#include "backend_checks.h"
#include "dispatch.h"
#include "registry.h"
#include "test_util.h"

static void check_reorder_clock(cnn_ctx *ctx)
{
    const bc_case cs = BC_CONV(2, 32, 20, 20, 32, 3, 3, 1, 1, 1, 1, false);
    cnn_op op = cs.op;
    vcase c;
    TU_EXPECT_OK(cnn_op_init(&op));
    TU_EXPECT_OK(vcase_init(&c, &op, 1));
    float *out[VT_COUNT] = {0};
    out[VT_Y] = tu_nan_buf(c.numel[VT_Y]);
    const char *alg = cnn_algorithm(ctx, &op, CNN_FWD);
    TU_EXPECT_OK(vcase_run(&c, ctx, CNN_FWD, out));
    const char *what = NULL;
    double spent = -1.0;
    TU_CHECK(cnn_side_time(ctx, &what, &spent) && what, "onednn reports no side time");
    if (strstr(alg, "+reorder"))
        TU_CHECK(spent > 0.0, "%s: reorders ran but the clock says %g s", alg, spent);
    else
        TU_CHECK(spent == 0.0, "%s: no reorders, but the clock moved %g s", alg, spent);
    free(out[VT_Y]);
    vcase_free(&c);
    cnn_ctx *naive = NULL;
    TU_EXPECT_OK(cnn_ctx_create(cnn_backend_find("naive"), NULL, &naive));
    TU_CHECK(naive && !cnn_side_time(naive, &what, &spent) && spent == 0.0,
             "a naive context reports a side time");
    cnn_ctx_destroy(naive);
}

static void check_declined(cnn_ctx *ctx, cnn_op op, const char *why)
{
    char key[160];
    TU_EXPECT_OK(cnn_op_init(&op));
    cnn_op_str(&op, key, sizeof key);
    for (int p = 0; p < CNN_PASS_COUNT; p++)
        if (cnn_op_has_pass(&op, (cnn_pass)p))
            TU_CHECK(!cnn_supports(ctx, &op, (cnn_pass)p), "%s %s %s: %s must be declined",
                     cnn_op_name(&op), cnn_pass_str((cnn_pass)p), key, why);
}

void bc_check_onednn(const cnn_backend *be, cnn_ctx *ctx)
{
    bc_case convs[16];
    int n = 0;
    for (int i = 0, k = 0; i < bc_ncases && n < 16; i++)
        if (bc_cases[i].op.kind == CNN_OP_CONV && k++ % 4 == 0)
            convs[n++] = bc_cases[i];
    bc_verify(be, "convolutions on one thread", convs, n,
              &(bc_how){.threads = 1, .each = bc_case_checks});
    check_reorder_clock(ctx);
    const cnn_op overhang[] = {
        {.kind = CNN_OP_POOL, .pool = {CNN_POOL_AVG, 2, 3, 8, 10, 3, 3, 2, 2, 0, 0, true}},
        {.kind = CNN_OP_POOL, .pool = {CNN_POOL_AVG, 1, 2, 6, 8, 2, 3, 2, 2, 0, 1, true}}, /* w */
        {.kind = CNN_OP_POOL, .pool = {CNN_POOL_AVG, 1, 2, 4, 6, 3, 2, 2, 2, 1, 0, true}}, /* h */
    };
    for (int i = 0; i < 3; i++)
        check_declined(ctx, overhang[i],
                       "an average pool whose ceil window hangs past the padding");
    check_declined(ctx, (cnn_op){.kind = CNN_OP_ADAPOOL, .adapool = {2, 3, 7, 7, 3, 3}},
                   "uneven adaptive windows");
    check_declined(ctx, (cnn_op){.kind = CNN_OP_DROPOUT, .dropout = {10, 0.5, 1}},
                   "dropout, not a oneDNN operation,");
    check_declined(ctx, (cnn_op){.kind = CNN_OP_XENT, .xent = {2, 3}},
                   "softmax cross-entropy, not a oneDNN operation,");
}
