/* Plans (cnn_exec_opts.plan, harness/auto_plan.h): entries force the
 * backend of single layer passes and leave the numbers within the
 * cross-backend tolerance; each bad entry is refused at bind with its exact
 * reason; the search keeps the fastest candidate of every layer pass the
 * model runs, one measurement per shape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auto_plan.h"
#include "model.h"
#include "registry.h"
#include "test_util.h"

/* verify_models.c's FWD_TOL: logits and loss of two float32 backends. */
#define FWD_TOL 2e-4

static int layer_id(const cnn_model *m, const char *name)
{
    for (int l = 0; l < cnn_model_layer_count(m); l++) {
        cnn_layer_info info;
        if (cnn_model_layer(m, l, &info) == CNN_OK && !strcmp(info.name, name))
            return l;
    }
    TU_CHECK(false, "%s has no layer %s", cnn_model_name(m), name);
    return 0;
}

/* lenet5 at batch 2 bound on list `backends` with `plan`, one training
 * step from seeded parameters and input: logits and loss out. */
static cnn_model *train_step(const char *backends, const cnn_plan_entry *plan, int nplan,
                             float *logits, float *loss)
{
    cnn_model *m = NULL;
    TU_EXPECT_OK(cnn_model_create("lenet5", &(cnn_model_opts){.batch = 2}, &m));
    cnn_exec_opts e = {.backends = backends, .plan = plan, .nplan = nplan, .threads = 1};
    TU_EXPECT_OK(cnn_model_bind(m, &e));
    TU_EXPECT_OK(cnn_model_init_params(m, 3));
    uint64_t rng = 5;
    float *x = tu_rand_buf(2 * 28 * 28, &rng, -1, 1);
    int32_t labels[2] = {4, 7};
    TU_EXPECT_OK(cnn_model_set_input(m, x, 2 * 28 * 28));
    TU_EXPECT_OK(cnn_model_set_labels(m, labels, 2));
    TU_EXPECT_OK(cnn_model_forward(m, CNN_MODE_TRAIN));
    TU_EXPECT_OK(cnn_model_get_logits(m, logits, 20));
    TU_EXPECT_OK(cnn_model_loss(m, loss));
    TU_EXPECT_OK(cnn_model_backward(m));
    free(x);
    return m;
}

static void test_plan_forces_backends(void)
{
    if (!cnn_backend_find("im2col") || !cnn_backend_find("onednn") ||
        !cnn_backend_find("winograd")) {
        printf("  (im2col, onednn or winograd not built: plan entries not checked)\n");
        return;
    }
    /* conv2 fwd on winograd: a 5x5 conv it declines, so it falls back, and
     * conv1 bwd_data (conv1 reads only the image) is never run */
    const cnn_plan_entry plan[] = {
        {"conv1", CNN_FWD, "onednn"},        {"conv1", CNN_BWD_WEIGHT, "naive"},
        {"sigmoid1", CNN_FWD, "winograd"},   {"pool1", CNN_FWD, "naive"},
        {"pool1", CNN_BWD_DATA, "onednn"},   {"conv2", CNN_FWD, "winograd"},
        {"conv2", CNN_BWD_DATA, "naive"},    {"fc1", CNN_BWD_DATA, "onednn"},
        {"fc3", CNN_BWD_WEIGHT, "winograd"}, {"conv1", CNN_BWD_DATA, "onednn"},
    };
    int n = (int)(sizeof plan / sizeof plan[0]);
    float ref[20], got[20], lr = 0, lp = 0;
    cnn_model *plain = train_step("im2col", NULL, 0, ref, &lr);
    cnn_model *m = train_step("im2col", plan, n, got, &lp);
    for (int i = 0; m && i < n; i++) {
        const char *alg = NULL;
        const char *be = cnn_model_layer_backend(m, layer_id(m, plan[i].layer), plan[i].pass, &alg);
        const char *want = !strcmp(plan[i].layer, "conv2") && plan[i].pass == CNN_FWD ? "im2col"
                           : plan[i].pass == CNN_BWD_DATA && !strcmp(plan[i].layer, "conv1")
                               ? NULL
                               : plan[i].backend;
        TU_CHECK(want ? be && !strcmp(be, want) && alg : !be, "%s %s: planned on %s, ran on %s",
                 plan[i].layer, cnn_pass_str(plan[i].pass), plan[i].backend, be ? be : "(none)");
    }
    /* what the plan leaves out follows the list */
    const char *be = m ? cnn_model_layer_backend(m, layer_id(m, "conv2"), CNN_BWD_WEIGHT, NULL) : 0;
    TU_CHECK(be && !strcmp(be, "im2col"), "conv2 bwd_weight (not planned) on %s", be ? be : "-");
    /* the one fallback: conv2 fwd, asked of winograd */
    int fallbacks = 0;
    for (int i = 0; m && i < cnn_model_fallback_count(m); i++) {
        cnn_fallback f;
        TU_EXPECT_OK(cnn_model_fallback(m, i, &f));
        bool conv2 = !strcmp(f.layer, "conv2") && f.pass == CNN_FWD;
        fallbacks += conv2;
        TU_CHECK(!conv2 || (!strcmp(f.requested, "winograd") && !strcmp(f.used, "im2col")),
                 "conv2 fwd fallback: requested %s used %s", f.requested, f.used);
    }
    TU_CHECK(fallbacks == 1, "%d conv2 fwd fallbacks recorded, want 1", fallbacks);
    double rel = tu_rel_l2(got, ref, 20);
    TU_CHECK(rel <= FWD_TOL && fabs(lp - lr) <= FWD_TOL * fabs(lr),
             "planned vs plain: logits rel L2 %.3g, loss %.9g vs %.9g (tolerance %g)", rel, lp, lr,
             FWD_TOL);
    cnn_model_destroy(plain);
    cnn_model_destroy(m);

    /* a forward-only bind takes a plan with backward entries */
    TU_EXPECT_OK(cnn_model_create("lenet5", NULL, &m));
    cnn_exec_opts e = {.backends = "naive", .plan = plan, .nplan = n, .forward_only = true};
    TU_EXPECT_OK(cnn_model_bind(m, &e));
    be = m ? cnn_model_layer_backend(m, 0, CNN_FWD, NULL) : NULL;
    TU_CHECK(be && !strcmp(be, "onednn") && !cnn_model_layer_backend(m, 0, CNN_BWD_WEIGHT, NULL),
             "forward-only: conv1 fwd on %s", be ? be : "(none)");
    cnn_model_destroy(m);
}

/* ---- bad entries ---- */

static bool offline(char *why, size_t n)
{
    snprintf(why, n, "test: switched off");
    return false;
}

static void expect_bind_error(const char *list, const cnn_plan_entry *plan, int n,
                              const cnn_backend *const *extra, const char *want)
{
    cnn_model *m = NULL;
    TU_EXPECT_OK(cnn_model_create("lenet5", NULL, &m));
    cnn_exec_opts e = {.backends = list, .plan = plan, .nplan = n, .extra_backends = extra};
    cnn_status st = m ? cnn_model_bind(m, &e) : CNN_OK;
    TU_CHECK(st == CNN_ERR_INVALID_ARG && !strcmp(cnn_last_error(), want),
             "bind: %s: '%s'\n  want '%s'", cnn_status_str(st), cnn_last_error(), want);
    cnn_model_destroy(m);
}

static void test_bad_entries(void)
{
    cnn_backend off = *cnn_backend_find("naive");
    off.name = "offline";
    off.available = offline;
    cnn_backend fake = tu_fake_cuda_backend();
    const cnn_backend *extra[] = {&off, &fake, NULL};
    char names[512], want[1024];
    cnn_backend_names(names, sizeof names);

    expect_bind_error("naive", (cnn_plan_entry[]){{"conv9", CNN_FWD, "naive"}}, 1, NULL,
                      "model lenet5: plan entry 0 (conv9 fwd on naive): model lenet5 has no "
                      "layer 'conv9'");
    expect_bind_error("naive",
                      (cnn_plan_entry[]){{"conv1", CNN_FWD, "naive"},
                                         {"sigmoid1", CNN_BWD_WEIGHT, "naive"}},
                      2, NULL,
                      "model lenet5: plan entry 1 (sigmoid1 bwd_weight on naive): layer sigmoid1 "
                      "(sigmoid) has no pass bwd_weight");
    snprintf(want, sizeof want,
             "model lenet5: plan entry 0 (conv1 fwd on nosuch): unknown backend 'nosuch'; valid "
             "backends: %s",
             names);
    expect_bind_error("naive", (cnn_plan_entry[]){{"conv1", CNN_FWD, "nosuch"}}, 1, NULL, want);
    expect_bind_error("naive", (cnn_plan_entry[]){{"conv1", CNN_FWD, "offline"}}, 1, extra,
                      "model lenet5: plan entry 0 (conv1 fwd on offline): backend offline is not "
                      "usable here: test: switched off");
    expect_bind_error("naive", (cnn_plan_entry[]){{"conv1", CNN_FWD, "fakecuda"}}, 1, extra,
                      "model lenet5: plan entry 0 (conv1 fwd on fakecuda): backend fakecuda runs "
                      "on cuda, the run's backends (naive) on host; all backends of one run must "
                      "share a device");
    expect_bind_error("fakecuda",
                      (cnn_plan_entry[]){{"conv1", CNN_FWD, "naive"}, {"conv2", CNN_FWD, "fakecuda"}},
                      2, extra,
                      "model lenet5: plan entry 1 (conv2 fwd on fakecuda): backend fakecuda runs "
                      "on cuda, conv1 fwd's naive on host; all backends of one run must share a "
                      "device");
    expect_bind_error("naive",
                      (cnn_plan_entry[]){{"conv1", CNN_FWD, "naive"}, {"conv1", CNN_FWD, "naive"}},
                      2, NULL,
                      "model lenet5: plan entry 1 (conv1 fwd on naive): layer conv1 pass fwd is "
                      "planned twice");
    expect_bind_error("naive", (cnn_plan_entry[]){{NULL, CNN_PASS_COUNT, NULL}}, 1, NULL,
                      "model lenet5: plan entry 0 ((null) unknown on (null)): model lenet5 has no "
                      "layer '(null)'");
}

/* ---- the search ---- */

/* Which candidates the search times again: those within the factor of the
 * fastest, and only when there are two or more. */
static void test_retime_set(void)
{
    static const struct {
        double ms[4];
        int n;
        bool want[4];
    } cases[] = {
        {{10, 14, 16, NAN}, 2, {true, true, false, false}}, /* 16 > 1.5 x 10 */
        {{10, 15, 15.0001, NAN}, 2, {true, true, false, false}}, /* the bound counts */
        {{12, 30, 9.9, 14.8}, 3, {true, false, true, true}},      /* fastest not first */
        {{10, 20, 30, 40}, 0, {false, false, false, false}}, /* only the fastest */
        {{NAN, NAN, NAN, NAN}, 0, {false, false, false, false}},
        {{NAN, 3, NAN, 3}, 2, {false, true, false, true}}, /* a tie */
        {{7, NAN, NAN, NAN}, 0, {false, false, false, false}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got[4] = {true, true, true, true};
        const int n = auto_plan_retime_set(cases[i].ms, 4, 1.5, got);
        TU_CHECK(n == cases[i].n && !memcmp(got, cases[i].want, sizeof got),
                 "retime case %zu: %d retimed (want %d), set %d%d%d%d", i, n, cases[i].n, got[0],
                 got[1], got[2], got[3]);
    }
}

static void test_search(void)
{
    auto_search s = {.model = "resnet18", .batch = 2, .image_size = 32, .threads = 1};
    auto_plan p;
    cnn_status st = auto_plan_search(&s, &p, stdout);
    TU_EXPECT_OK(st);
    if (st != CNN_OK)
        return;
    cnn_model *m = NULL;
    TU_EXPECT_OK(cnn_model_create("resnet18", &(cnn_model_opts){.batch = 2, .h = 32, .w = 32}, &m));
    int runs = 0;
    for (int l = 0; l < cnn_model_layer_count(m); l++)
        for (int k = 0; k < CNN_PASS_COUNT; k++)
            runs += cnn_model_layer_runs(m, l, (cnn_pass)k);
    TU_CHECK(p.nrows == runs, "%d plan rows, the model runs %d layer passes", p.nrows, runs);
    for (int c = 0; c < p.ncand; c++)
        TU_CHECK(strcmp(p.cand[c]->name, "naive"), "naive is a candidate");
    const auto_plan_row *a = NULL, *b = NULL;
    for (int i = 0; i < p.nrows; i++) {
        const auto_plan_row *r = &p.rows[i];
        double lo = INFINITY;
        int at = -1;
        for (int c = 0; c < p.ncand; c++)
            if (!isnan(r->cand_ms[c]) && r->cand_ms[c] < lo) {
                lo = r->cand_ms[c];
                at = c;
            }
        TU_CHECK(at >= 0 && r->ms == lo && !strcmp(r->backend, p.cand[at]->name) &&
                     !strcmp(p.entries[i].backend, r->backend) && *r->algorithm,
                 "%s %s: chose %s at %g ms, fastest %s at %g", r->layer, cnn_pass_str(r->pass),
                 r->backend, r->ms, at >= 0 ? p.cand[at]->name : "-", lo);
        TU_CHECK(cnn_model_layer_runs(m, layer_id(m, r->layer), r->pass), "%s %s is not run",
                 r->layer, cnn_pass_str(r->pass));
        if (r->pass == CNN_FWD && !strcmp(r->layer, "layer1.0.conv1"))
            a = r;
        if (r->pass == CNN_FWD && !strcmp(r->layer, "layer1.1.conv2"))
            b = r;
    }
    /* two layers of one shape: one measurement */
    TU_CHECK(a && b && !memcmp(a->cand_ms, b->cand_ms, sizeof a->cand_ms),
             "layer1.0.conv1 and layer1.1.conv2 were timed apart");
    /* the plan binds as it is, and runs */
    cnn_model *pm = NULL;
    TU_EXPECT_OK(cnn_model_create("resnet18", &(cnn_model_opts){.batch = 2, .h = 32, .w = 32}, &pm));
    cnn_exec_opts e = {.backends = p.backends, .plan = p.entries, .nplan = p.nrows, .threads = 1};
    TU_EXPECT_OK(cnn_model_bind(pm, &e));
    for (int i = 0; i < p.nrows; i++) {
        const char *be = cnn_model_layer_backend(pm, layer_id(pm, p.rows[i].layer), p.rows[i].pass,
                                                 NULL);
        TU_CHECK(be && !strcmp(be, p.rows[i].backend), "%s %s: planned %s, bound to %s",
                 p.rows[i].layer, cnn_pass_str(p.rows[i].pass), p.rows[i].backend, be ? be : "-");
    }
    cnn_model_destroy(pm);
    cnn_model_destroy(m);
    auto_plan_free(&p);
}

int main(void)
{
    test_plan_forces_backends();
    test_bad_entries();
    test_retime_set();
    test_search();
    return tu_finish("test_plan");
}
