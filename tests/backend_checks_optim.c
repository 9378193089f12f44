/* test_backends: optimizer steps in a row. Verify's rows judge one step
 * from a given state; this carries the state from step to step on the
 * backend and on the reference, as a training run does, so that a backend
 * that keeps its state in another layout, or counts steps differently,
 * shows up too. */
#include <math.h>
#include <stdlib.h>

#include "backend_checks.h"
#include "dispatch.h"
#include "test_util.h"
#include "verify_run.h"

#define STEPS 5

/* One context's copy of the block: param, grad and state in its memory. */
typedef struct side {
    cnn_ctx *ctx;
    void *p, *g, *state;
} side;

static void side_open(side *s, cnn_ctx *ctx, const float *p, const float *state, int64_t n,
                      int64_t nstate)
{
    *s = (side){.ctx = ctx};
    TU_EXPECT_OK(cnn_mem_alloc(ctx, (size_t)n * 4, &s->p));
    TU_EXPECT_OK(cnn_mem_alloc(ctx, (size_t)n * 4, &s->g));
    TU_EXPECT_OK(cnn_mem_upload(ctx, s->p, p, (size_t)n * 4));
    if (nstate) {
        TU_EXPECT_OK(cnn_mem_alloc(ctx, (size_t)nstate * 4, &s->state));
        TU_EXPECT_OK(cnn_mem_upload(ctx, s->state, state, (size_t)nstate * 4));
    }
}

static void side_close(side *s)
{
    cnn_mem_free(s->ctx, s->p);
    cnn_mem_free(s->ctx, s->g);
    cnn_mem_free(s->ctx, s->state);
}

/* Step d->step with gradient g (host), then param and state back to host. */
static void side_step(side *s, const cnn_optim_desc *d, const float *g, float *p, float *state)
{
    int64_t n = d->count, nstate = cnn_optim_state_count(d);
    TU_EXPECT_OK(cnn_mem_upload(s->ctx, s->g, g, (size_t)n * 4));
    TU_EXPECT_OK(cnn_optim_step(s->ctx, d, s->p, s->g, s->state));
    TU_EXPECT_OK(cnn_sync(s->ctx));
    TU_EXPECT_OK(cnn_mem_download(s->ctx, p, s->p, (size_t)n * 4));
    if (nstate)
        TU_EXPECT_OK(cnn_mem_download(s->ctx, state, s->state, (size_t)nstate * 4));
}

/* After step k, param and state within k times one step's tolerance: each
 * step adds its own rounding and carries the earlier ones on (damped by the
 * momentum and the betas, which are below 1). The state starts as NaN:
 * step 1 must not read it. */
static void run_steps(cnn_ctx *ctx, cnn_ctx *naive, cnn_op *op)
{
    cnn_optim_desc *d = &op->optim;
    const int64_t n = d->count, nstate = cnn_optim_state_count(d);
    uint64_t rng = 1234;
    float *p0 = tu_rand_buf(n, &rng, -1.0f, 1.0f), *state0 = tu_nan_buf(nstate);
    float *g = tu_xmalloc((size_t)n * 4);
    float *p[2] = {tu_nan_buf(n), tu_nan_buf(n)},
          *state[2] = {tu_nan_buf(nstate), tu_nan_buf(nstate)};
    side s[2];
    side_open(&s[0], ctx, p0, state0, n, nstate);
    side_open(&s[1], naive, p0, state0, n, nstate);
    const double tol = verify_tolerance(NULL, op, CNN_FWD, VT_PARAM);
    char desc[256];
    for (int k = 1; k <= STEPS; k++) {
        d->step = k;
        cnn_op_str(op, desc, sizeof desc);
        tu_fill(g, n, &rng, -1.0f, 1.0f);
        for (int i = 0; i < 2; i++)
            side_step(&s[i], d, g, p[i], state[i]);
        double rel, max_abs;
        verify_compare(p[0], p[1], n, &rel, &max_abs);
        TU_CHECK(rel <= k * tol, "%s %s: param after step %d: rel L2 %.3e > %.3e",
                 ctx->backend->name, desc, k, rel, k * tol);
        if (nstate) {
            verify_compare(state[0], state[1], nstate, &rel, &max_abs);
            TU_CHECK(rel <= k * tol, "%s %s: state after step %d: rel L2 %.3e > %.3e",
                     ctx->backend->name, desc, k, rel, k * tol);
        }
    }
    /* the steps moved the parameters: a backend that did nothing would
     * agree with a reference that did nothing */
    TU_CHECK(tu_rel_l2(p[1], p0, n) > 1e-3, "%s: %d steps left param at %.3e of where it was", desc,
             STEPS, tu_rel_l2(p[1], p0, n));
    for (int i = 0; i < 2; i++) {
        side_close(&s[i]);
        free(p[i]);
        free(state[i]);
    }
    free(p0);
    free(state0);
    free(g);
}

void bc_check_optim_steps(cnn_ctx *ctx, cnn_ctx *naive)
{
    static const cnn_optim_desc ds[] = {
        {CNN_OPTIM_SGD, 40009, .lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4},
        {CNN_OPTIM_SGD, 40009, .lr = 0.1, .weight_decay = 1e-2},
        {CNN_OPTIM_ADAM, 40009, .lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
        {CNN_OPTIM_ADAM, 40009, .lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
         .weight_decay = 1e-2},
    };
    int ran = 0;
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        cnn_op op = {.kind = CNN_OP_OPTIM, .optim = ds[i]};
        op.optim.step = 1;
        TU_EXPECT_OK(cnn_op_init(&op));
        if (!cnn_supports(ctx, &op, CNN_FWD))
            continue;
        run_steps(ctx, naive, &op);
        ran++;
    }
    printf("%s: %d optimizers stepped %d times against naive\n", ctx->backend->name, ran, STEPS);
}
