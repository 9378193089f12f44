/* Auto's per-layer plan checked in the model (bench_models_rows.h).
 *
 * The search times each layer pass alone; in the model the passes meet
 * each other: a layer on one library after a layer on another, a ReLU that
 * fuses into its convolution on one backend and not on the other. Session
 * 10 measured a plan that the layer times put ahead of Winograd alone run
 * 6-9% behind it on VGG-16, the same Winograd layers slower next to a
 * oneDNN one. So before auto's row is timed, its plan's train step is
 * timed in rounds against each candidate alone whose layer times add up to
 * within AUTO_MODEL_CLOSE of the plan's, and the fastest is kept. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_models_rows.h"

/* A candidate alone is checked if its layer times sum to at most this
 * factor of the plan's (a pass it lacks counted at the plan's time). */
#define AUTO_MODEL_CLOSE 1.5
/* Rounds of the check (the median of these decides). */
#define AUTO_MODEL_ROUNDS 3

/* CNNBENCH_TEST_AUTO_CLOSE=F (tests only): check every candidate whose
 * layer times sum within F x the plan's instead of AUTO_MODEL_CLOSE, so a
 * test can make the check run whatever the layer times were. */
static double close_factor(void)
{
    const char *e = getenv("CNNBENCH_TEST_AUTO_CLOSE");
    double f = e ? atof(e) : 0;
    return f > 0 ? f : AUTO_MODEL_CLOSE;
}

/* The plan's rows where backend c runs the pass, on c; the others dropped,
 * so the executor's rule places them as it does for c alone. */
static cnn_status keep_only(auto_plan *plan, int c)
{
    int n = 0;
    for (int i = 0; i < plan->nrows; i++) {
        auto_plan_row r = plan->rows[i];
        if (isnan(r.cand_ms[c]))
            continue;
        snprintf(r.backend, sizeof r.backend, "%s", plan->cand[c]->name);
        r.algorithm[0] = '\0'; /* the search has c's time, not its algorithm's name */
        r.ms = r.cand_ms[c];
        plan->rows[n++] = r;
    }
    plan->nrows = n;
    return auto_plan_finish(plan);
}

cnn_status bench_auto_check(const bench_models_run *run, const char *name, auto_plan *plan,
                            char *note, size_t nnote, FILE *out)
{
    note[0] = '\0';
    double plan_ms = 0, pred[AUTO_MAX_CANDIDATES] = {0};
    for (int i = 0; i < plan->nrows; i++) {
        const auto_plan_row *r = &plan->rows[i];
        plan_ms += r->ms;
        for (int c = 0; c < plan->ncand; c++)
            pred[c] += isnan(r->cand_ms[c]) ? r->ms : r->cand_ms[c];
    }
    double close = close_factor();
    bench_models_run chk = *run;
    int cand_of[AUTO_MAX_CANDIDATES];
    chk.nbackends = 0;
    chk.peer = false;
    chk.plan_file = NULL;
    chk.repetitions = AUTO_MODEL_ROUNDS;
    for (int c = 0; c < plan->ncand && chk.nbackends < BENCH_MAX_BACKENDS; c++)
        if (pred[c] <= close * plan_ms && strcmp(plan->backends, plan->cand[c]->name)) {
            cand_of[chk.nbackends] = c;
            chk.backends[chk.nbackends++] = plan->cand[c];
        }
    if (!chk.nbackends)
        return CNN_OK; /* none close: the plan stands */
    int nrows = chk.nbackends + 1;
    /* one slot more: bench_time_rounds takes the peer's after the rows (none here) */
    model_result *res = calloc((size_t)nrows + 1, sizeof *res);
    if (!res)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
    for (int b = 0; b < nrows; b++)
        res[b].batch = bench_model_batch(name, b < chk.nbackends ? chk.backends[b]->name : "auto",
                                         run->batch);
    cnn_status st = bench_time_rounds(&chk, name, CNN_MODE_TRAIN, plan, res, nrows, NULL, out);
    int best = -1;
    for (int b = 0; b < nrows && st == CNN_OK; b++)
        if (!*res[b].error[CNN_MODE_TRAIN] &&
            (best < 0 || res[b].med[CNN_MODE_TRAIN] < res[best].med[CNN_MODE_TRAIN]))
            best = b;
    if (st == CNN_OK && best >= 0) {
        int used = snprintf(note, nnote, "in-model check, train step median of %d:",
                            AUTO_MODEL_ROUNDS);
        /* the plan (the last row) first, then the candidates in order */
        for (int i = 0; i < nrows && used > 0 && (size_t)used < nnote; i++) {
            int b = (i + nrows - 1) % nrows;
            used += snprintf(note + used, nnote - (size_t)used, "%s %s %.3g ms", i ? "," : "",
                             b < chk.nbackends ? chk.backends[b]->name : "plan",
                             res[b].med[CNN_MODE_TRAIN]);
        }
        if (best < chk.nbackends && used > 0 && (size_t)used < nnote)
            snprintf(note + used, nnote - (size_t)used, "; kept %s alone",
                     chk.backends[best]->name);
        fprintf(out, "  auto: %s\n", note);
        if (best < chk.nbackends)
            st = keep_only(plan, cand_of[best]);
    }
    free(res);
    return st;
}
