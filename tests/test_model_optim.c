/* The model's optimizer (models/optim.c): training steps of fashion_cnn at
 * batch 2 on im2col agree with the same steps on naive; a run resumed from
 * a checkpoint of the state and step continues bit for bit; a oneDNN run
 * steps on its fallback and says so; misuse is refused with its reason. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "registry.h"
#include "test_util.h"

#define STEPS 3

static const cnn_optim_desc sgd = {CNN_OPTIM_SGD, .lr = 0.01, .momentum = 0.9,
                                   .weight_decay = 1e-4};
static const cnn_optim_desc adam = {CNN_OPTIM_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999,
                                    .eps = 1e-8};
static const cnn_optim_desc adam_wd = {CNN_OPTIM_ADAM, .lr = 1e-3,  .beta1 = 0.9,
                                       .beta2 = 0.999, .eps = 1e-8, .weight_decay = 1e-2};

static cnn_model *make(const char *backends, const cnn_optim_desc *d)
{
    cnn_model *m = NULL;
    TU_EXPECT_OK(cnn_model_create("fashion_cnn", &(cnn_model_opts){.batch = 2}, &m));
    if (!m)
        return NULL;
    /* one thread: the net is small, and barriers on a loaded machine cost
     * more than its work */
    cnn_exec_opts e = {.backends = backends, .seed = 5, .threads = 1};
    cnn_status st = cnn_model_bind(m, &e);
    if (st == CNN_OK)
        st = cnn_model_init_params(m, 11);
    if (st == CNN_OK && d)
        st = cnn_model_optimizer_init(m, d);
    TU_CHECK(st == CNN_OK, "fashion_cnn on %s: %s", backends, cnn_last_error());
    if (st != CNN_OK) {
        cnn_model_destroy(m);
        return NULL;
    }
    return m;
}

/* Two models, on backends a and b; false (neither left) if either fails. */
static bool make_two(const char *a, const char *b, const cnn_optim_desc *d, cnn_model **ma,
                     cnn_model **mb)
{
    *ma = make(a, d);
    *mb = make(b, d);
    if (*ma && *mb)
        return true;
    cnn_model_destroy(*ma);
    cnn_model_destroy(*mb);
    return false;
}

/* The same batch every step, drawn once. */
typedef struct batch {
    float x[2 * 1 * 32 * 32];
    int32_t labels[2];
} batch;

static batch the_batch(void)
{
    batch b;
    uint64_t rng = 3;
    tu_fill(b.x, (int64_t)(sizeof b.x / sizeof b.x[0]), &rng, 0.0f, 1.0f);
    b.labels[0] = 3;
    b.labels[1] = 8;
    return b;
}

/* forward (training mode), loss, backward, optimizer step, `steps` times */
static void train(cnn_model *m, const batch *b, int steps)
{
    for (int s = 0; s < steps; s++) {
        float loss;
        TU_EXPECT_OK(cnn_model_set_input(m, b->x, (int64_t)(sizeof b->x / sizeof b->x[0])));
        TU_EXPECT_OK(cnn_model_set_labels(m, b->labels, 2));
        TU_EXPECT_OK(cnn_model_forward(m, CNN_MODE_TRAIN));
        TU_EXPECT_OK(cnn_model_loss(m, &loss));
        TU_EXPECT_OK(cnn_model_backward(m));
        TU_EXPECT_OK(cnn_model_optimizer_step(m));
    }
}

/* A host copy of a block of device floats (the model's memory). */
static float *download(cnn_model *m, const float *dev, int64_t n)
{
    float *h = tu_xmalloc((size_t)(n ? n : 1) * 4);
    TU_EXPECT_OK(cnn_mem_download(cnn_model_ctx(m, 0), h, dev, (size_t)n * 4));
    return h;
}

static float *params_of(cnn_model *m, int64_t *n)
{
    float *p, *g;
    TU_EXPECT_OK(cnn_model_param_block(m, &p, &g, n));
    return download(m, p, *n);
}

static float *state_of(cnn_model *m, int64_t *n, int64_t *step)
{
    float *s;
    TU_EXPECT_OK(cnn_model_optimizer_state(m, &s, n, step));
    return download(m, s, *n);
}

/* im2col's gradients differ from naive's by float32 summation order, within
 * verify's tolerances: at most ~4e-5 relative for the largest sums here
 * (conv_layer1's weight gradient, 2 x 32 x 32 terms: 16 u sqrt(2048)),
 * about 1e-6 in practice. The moments are running averages of gradients and
 * inherit that; the parameters move by lr-sized steps and inherit it scaled
 * by lr / |param|. So after three steps: state within 1e-4, parameters
 * within 1e-5 (relative L2), while a wrong step (a missing bias
 * correction, the decay left out) moves the parameters by 1e-3 or more. */
static void check_backends_agree(const cnn_optim_desc *d, const char *what)
{
    const batch b = the_batch();
    cnn_model *ref, *m;
    if (!make_two("naive", "im2col", d, &ref, &m))
        return;
    int64_t n, nref, ns, nsref, step, stepref;
    float *p0 = params_of(ref, &nref);
    train(ref, &b, STEPS);
    train(m, &b, STEPS);
    float *pr = params_of(ref, &nref), *p = params_of(m, &n);
    float *sr = state_of(ref, &nsref, &stepref), *s = state_of(m, &ns, &step);
    TU_CHECK(n == nref && ns == nsref && step == STEPS && stepref == STEPS,
             "%s: blocks %lld/%lld, state %lld/%lld, steps %lld/%lld", what, (long long)n,
             (long long)nref, (long long)ns, (long long)nsref, (long long)step, (long long)stepref);
    double moved = tu_rel_l2(pr, p0, nref), dp = tu_rel_l2(p, pr, n);
    double ds = ns ? tu_rel_l2(s, sr, ns) : 0.0;
    TU_CHECK(moved > 1e-3, "%s: %d steps moved the parameters by only %.3e", what, STEPS, moved);
    TU_CHECK(dp <= 1e-5, "%s: im2col's parameters differ from naive's by %.3e", what, dp);
    TU_CHECK(ds <= 1e-4, "%s: im2col's state differs from naive's by %.3e", what, ds);
    TU_CHECK(ns == (d->mode == CNN_OPTIM_ADAM ? 2 * n
                    : d->momentum != 0.0      ? n
                                              : 0),
             "%s: state of %lld floats for a block of %lld", what, (long long)ns, (long long)n);
    printf("%s after %d steps: parameters moved %.3e, im2col vs naive: parameters %.3e, state "
           "%.3e\n",
           what, STEPS, moved, dp, ds);
    free(p0);
    free(pr);
    free(p);
    free(sr);
    free(s);
    cnn_model_destroy(ref);
    cnn_model_destroy(m);
}

/* Two steps, the parameters, state and step copied into a fresh model,
 * one more step: the same bits as three steps in a row. */
static void check_resume(const cnn_optim_desc *d, const char *what)
{
    const batch b = the_batch();
    cnn_model *a, *r;
    if (!make_two("im2col", "im2col", d, &a, &r))
        return;
    train(a, &b, 2);
    int64_t n, ns, step;
    float *p = params_of(a, &n), *s = state_of(a, &ns, &step);
    float *rp, *rg, *rs;
    int64_t rn, rns, rstep;
    TU_EXPECT_OK(cnn_model_param_block(r, &rp, &rg, &rn));
    TU_EXPECT_OK(cnn_model_optimizer_state(r, &rs, &rns, &rstep));
    TU_CHECK(rn == n && rns == ns && rstep == 0 && step == 2,
             "%s: fresh model's block %lld, "
             "state %lld, step %lld",
             what, (long long)rn, (long long)rns, (long long)rstep);
    TU_EXPECT_OK(cnn_mem_upload(cnn_model_ctx(r, 0), rp, p, (size_t)n * 4));
    if (ns)
        TU_EXPECT_OK(cnn_mem_upload(cnn_model_ctx(r, 0), rs, s, (size_t)ns * 4));
    TU_EXPECT_OK(cnn_model_optimizer_set_step(r, step));
    cnn_model_set_step(r, cnn_model_step(a)); /* the same dropout masks */
    train(a, &b, 1);
    train(r, &b, 1);
    float *pa = params_of(a, &n), *pb = params_of(r, &rn);
    TU_CHECK(!memcmp(pa, pb, (size_t)n * 4), "%s: a resumed run differs from a continuous one",
             what);
    free(p);
    free(s);
    free(pa);
    free(pb);
    cnn_model_destroy(a);
    cnn_model_destroy(r);
}

/* oneDNN has no optimizer entry: the step runs on the next fallback and is
 * recorded as the pseudo-layer "(optimizer)". */
static void check_fallback(void)
{
    const cnn_backend *be = cnn_backend_find("onednn");
    char why[256];
    if (!be || !cnn_backend_available(be, why, sizeof why)) {
        printf("onednn not built or not usable: no fallback check\n");
        return;
    }
    cnn_model *m = make("onednn", &adam);
    if (!m)
        return;
    const batch b = the_batch();
    train(m, &b, 2);
    bool found = false;
    for (int i = 0; i < cnn_model_fallback_count(m); i++) {
        cnn_fallback f;
        TU_EXPECT_OK(cnn_model_fallback(m, i, &f));
        if (strcmp(f.layer, "(optimizer)"))
            continue;
        found = true;
        TU_CHECK(!strcmp(f.requested, "onednn") && strcmp(f.used, "onednn") && f.calls == 2 &&
                     f.pass == CNN_FWD,
                 "optimizer fallback: requested %s used %s, %lld calls", f.requested, f.used,
                 (long long)f.calls);
    }
    TU_CHECK(found, "a oneDNN run's optimizer step is not recorded as a fallback");
    cnn_model_destroy(m);
}

static void expect_error(cnn_status st, cnn_status want, const char *what, const char *words)
{
    TU_CHECK(st == want && strstr(cnn_last_error(), words), "%s: got %s '%s', want %s naming '%s'",
             what, cnn_status_str(st), cnn_last_error(), cnn_status_str(want), words);
}

static void check_errors(void)
{
    cnn_model *m = NULL;
    TU_EXPECT_OK(cnn_model_create("fashion_cnn", &(cnn_model_opts){.batch = 2}, &m));
    expect_error(cnn_model_optimizer_init(m, &sgd), CNN_ERR_INVALID_ARG, "init before bind",
                 "bind it");
    cnn_model_destroy(m);

    m = make("naive", NULL);
    if (!m)
        return;
    expect_error(cnn_model_optimizer_step(m), CNN_ERR_INVALID_ARG, "step before init",
                 "cnn_model_optimizer_init");
    float *s;
    int64_t n, step;
    expect_error(cnn_model_optimizer_state(m, &s, &n, &step), CNN_ERR_INVALID_ARG,
                 "state before init", "no optimizer");
    cnn_optim_desc bad = adam;
    bad.lr = -1.0;
    expect_error(cnn_model_optimizer_init(m, &bad), CNN_ERR_INVALID_ARG, "negative lr", "lr");
    bad = adam;
    bad.beta2 = 1.0;
    expect_error(cnn_model_optimizer_init(m, &bad), CNN_ERR_INVALID_ARG, "beta2 1", "beta2");
    bad = adam;
    bad.eps = 0.0;
    expect_error(cnn_model_optimizer_init(m, &bad), CNN_ERR_INVALID_ARG, "eps 0", "eps");
    bad = sgd;
    bad.momentum = NAN;
    expect_error(cnn_model_optimizer_init(m, &bad), CNN_ERR_INVALID_ARG, "momentum NaN",
                 "momentum");
    bad.mode = (cnn_optim_mode)7;
    expect_error(cnn_model_optimizer_init(m, &bad), CNN_ERR_INVALID_ARG, "mode 7", "mode 7");
    /* a refused init leaves no optimizer behind */
    expect_error(cnn_model_optimizer_step(m), CNN_ERR_INVALID_ARG, "step after a refused init",
                 "no optimizer");
    TU_EXPECT_OK(cnn_model_optimizer_init(m, &sgd));
    expect_error(cnn_model_optimizer_set_step(m, -1), CNN_ERR_INVALID_ARG, "step -1", ">= 0");
    /* plain SGD keeps no state */
    cnn_optim_desc plain = {CNN_OPTIM_SGD, .lr = 0.1};
    TU_EXPECT_OK(cnn_model_optimizer_init(m, &plain));
    TU_EXPECT_OK(cnn_model_optimizer_state(m, &s, &n, &step));
    TU_CHECK(s == NULL && n == 0 && step == 0, "plain SGD: state %p of %lld floats, step %lld",
             (void *)s, (long long)n, (long long)step);
    cnn_model_destroy(m);

    m = NULL;
    TU_EXPECT_OK(cnn_model_create("fashion_cnn", &(cnn_model_opts){.batch = 2}, &m));
    TU_EXPECT_OK(cnn_model_bind(m, &(cnn_exec_opts){.backends = "naive", .forward_only = true}));
    expect_error(cnn_model_optimizer_init(m, &sgd), CNN_ERR_INVALID_ARG, "forward-only",
                 "forward-only");
    cnn_model_destroy(m);
}

int main(void)
{
    check_errors();
    check_backends_agree(&sgd, "SGD momentum 0.9, weight decay 1e-4");
    check_backends_agree(&adam, "Adam");
    check_backends_agree(&adam_wd, "Adam, weight decay 1e-2");
    check_resume(&sgd, "SGD");
    check_resume(&adam, "Adam");
    check_fallback();
    return tu_finish("test_model_optim");
}
