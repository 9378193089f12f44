/* bench --models' timed repetitions: every row bound at once and stepped
 * in rounds, with the PyTorch peer's steps between (bench_models_rows.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_models_rows.h"
#include "run_dir.h"

/* The PyTorch peer on one model (--peer pytorch): the same batch, input,
 * threads and repetitions, in its own process (peer.h), paced so that its
 * steps take turns with the rows' (time_rounds). Starts it; NULL (its
 * reason in both of r's modes) when it cannot run: the run goes on. */
peer_paced *bench_start_peer(const bench_models_run *run, const char *name, model_result *r)
{
    r->batch = bench_model_batch(name, "", run->batch);
    /* its memory is the other process's: not measured here */
    for (int mode = 0; mode < CNN_MODE_COUNT; mode++)
        r->peak_rss[mode] = r->device_mem[mode] = -1;
    cnn_model *m = NULL;
    cnn_model_opts mo = bench_model_opts(run, r->batch);
    if (cnn_model_create(name, &mo, &m) == CNN_OK) {
        r->image_size = (int)cnn_model_input_shape(m).dim[2];
        for (int mode = 0; mode < CNN_MODE_COUNT; mode++)
            r->flops[mode] = bench_step_flops(m, (cnn_mode)mode, &r->bytes[mode]);
    }
    cnn_model_destroy(m);
    peer_models_request rq = {.opts = {.dir = run->dir,
                                       .threads = run->threads,
                                       .repetitions = run->repetitions},
                              .models = name,
                              .batch = r->batch,
                              .image_size = run->image_size};
    peer_paced *p = NULL;
    if (peer_paced_start(&rq, &p) != CNN_OK)
        bench_fail_both(r, ST_FAILED, cnn_last_error());
    return p;
}

/* The peer's rows (its CSV) into r. */
void bench_peer_results(const peer_rows *rows, model_result *r)
{
    for (int mode = 0; mode < CNN_MODE_COUNT; mode++) {
        snprintf(r->error[mode], sizeof r->error[mode], "the peer wrote no %s row",
                 BENCH_MODE_NAME[mode]);
        r->status[mode] = ST_FAILED;
    }
    for (int i = 0; i < rows->count; i++) {
        const peer_row *pr = &rows->rows[i];
        for (int mode = 0; mode < CNN_MODE_COUNT; mode++) {
            if (strcmp(pr->pass, BENCH_MODE_NAME[mode]))
                continue;
            r->error[mode][0] = '\0';
            r->med[mode] = pr->median_ms;
            r->lo[mode] = pr->min_ms;
            r->hi[mode] = pr->max_ms;
            r->nreps = pr->repetitions < BENCH_ROW_MAX_REPS ? pr->repetitions : BENCH_ROW_MAX_REPS;
            for (int k = 0; k < r->nreps; k++)
                r->reps[mode][k] = pr->reps_ms[k] * 1e-3;
            snprintf(r->top[mode], sizeof r->top[mode], "torch %s, %s", rows->torch_version,
                     rows->cpu_capability);
        }
    }
}

/* ---- the timed rounds ---- */

/* Between cnnbench's steps and the peer's, both sides rest this long, so
 * that the other process's OpenMP workers, which spin for a while after a
 * parallel region (libgomp: 300000 pause instructions by default, about
 * 20 ms at 140 cycles each and 2 GHz), have gone to sleep before the next
 * timed step. */
#define QUIET_MS 50

static void quiet(void)
{
    struct timespec ts = {0, QUIET_MS * 1000000L};
    nanosleep(&ts, NULL);
}

/* The rows and the peer of one mode's rounds. */
typedef struct rounds {
    const bench_models_run *run;
    cnn_mode mode;
    cnn_model **m;   /* per row; NULL: not in these rounds */
    double **s;      /* per row: room for the repetitions */
    model_result *res;
    int nrows;
    peer_paced **peer; /* NULL or *peer NULL: none */
    model_result *peer_res;
} rounds;

/* Take a turn to the peer: one of its timed steps between quiet gaps. A
 * peer that fails leaves its reason in its row and stops. */
static void peer_turn(rounds *rd)
{
    if (!rd->peer || !*rd->peer)
        return;
    quiet();
    if (peer_paced_step(*rd->peer) != CNN_OK) {
        bench_fail_both(rd->peer_res, ST_FAILED, cnn_last_error());
        peer_paced_abort(*rd->peer);
        *rd->peer = NULL;
    }
    quiet();
}

/* The repetitions in rounds: each round one timed step of every row in
 * rd->m, starting one row further each round (so no row always follows the
 * same one), then one of the peer's. A slow minute of a shared machine
 * then falls on every row alike. A row whose step fails keeps the error
 * and leaves the rounds. */
static void run_rounds(rounds *rd)
{
    int n = rd->nrows, reps = rd->run->repetitions;
    for (int i = 0; i < reps && !run_dir_stopping(); i++) {
        for (int j = 0; j < n; j++) {
            int b = (i + j) % n;
            if (!rd->m[b])
                continue;
            if (bench_timed_step(rd->m[b], rd->mode, &rd->s[b][i]) != CNN_OK) {
                bench_fail_mode(&rd->res[b], rd->mode);
                cnn_model_destroy(rd->m[b]);
                rd->m[b] = NULL;
            }
        }
        peer_turn(rd);
    }
}

/* Bind row b for the rounds and warm it up; false (its error in its row)
 * if it cannot. */
static cnn_status bind_warm(const bench_models_run *run, const char *name, int b,
                            const auto_plan *plans, rounds *rd)
{
    const cnn_backend *be = b < run->nbackends ? run->backends[b] : NULL;
    cnn_status st = bench_bind_row(run, name, be, be ? NULL : &plans[b - run->nbackends],
                             rd->res[b].batch, rd->mode, &rd->m[b]);
    if (st == CNN_OK && (st = bench_step(rd->m[b], rd->mode)) != CNN_OK) {
        cnn_model_destroy(rd->m[b]);
        rd->m[b] = NULL;
    }
    return st;
}

/* CNNBENCH_TEST_ROUNDS_BIND=N (tests only): binding more than N rows at
 * once fails as out of memory, to exercise the rows timed alone. */
static int test_bind_limit(void)
{
    const char *e = getenv("CNNBENCH_TEST_ROUNDS_BIND");
    return e && *e ? atoi(e) : -1;
}

/* Every row's timed repetitions of one mode, with every row bound at once
 * and the steps in rounds (run_rounds). A row that does not fit in memory
 * beside the others is timed alone afterwards (said in out). */
cnn_status bench_time_rounds(const bench_models_run *run, const char *name, cnn_mode mode,
                              const auto_plan *plans, model_result *res, int nrows,
                              peer_paced **peer, FILE *out)
{
    cnn_model **m = calloc((size_t)nrows, sizeof *m);
    double **s = calloc((size_t)nrows, sizeof *s);
    bool *alone = calloc((size_t)nrows, sizeof *alone);
    cnn_status st = m && s && alone ? CNN_OK : cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
    for (int b = 0; b < nrows && st == CNN_OK; b++)
        if (!(s[b] = calloc((size_t)run->repetitions, sizeof **s)))
            st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "bench: no memory");
    rounds rd = {run, mode, m, s, res, nrows, peer, &res[nrows]};
    int bound = 0, limit = test_bind_limit();
    for (int b = 0; b < nrows && st == CNN_OK; b++) {
        if (*res[b].error[mode])
            continue; /* it failed alone already */
        cnn_status bs = limit >= 0 && bound >= limit
                            ? cnn_fail(CNN_ERR_OUT_OF_MEMORY, "test: over %d rows bound", limit)
                            : bind_warm(run, name, b, plans, &rd);
        bound += bs == CNN_OK;
        if (bs == CNN_ERR_OUT_OF_MEMORY)
            alone[b] = true;
        else if (bs != CNN_OK)
            bench_fail_mode(&res[b], mode);
    }
    if (st == CNN_OK && peer && *peer &&
        peer_paced_ready(*peer, name, BENCH_MODE_NAME[mode]) != CNN_OK) {
        bench_fail_both(rd.peer_res, ST_FAILED, cnn_last_error());
        peer_paced_abort(*peer);
        *peer = NULL;
    }
    if (st == CNN_OK)
        run_rounds(&rd);
    for (int b = 0; b < nrows && m; b++) {
        cnn_model_destroy(m[b]);
        m[b] = NULL;
    }
    rd.peer = NULL;
    for (int b = 0; b < nrows && st == CNN_OK && !run_dir_stopping(); b++) {
        if (!alone[b])
            continue;
        fprintf(out, "  (%s %s: timed alone, not in rounds with the others: out of memory with "
                     "every row bound)\n",
                bench_row_backend(run, b), BENCH_MODE_NAME[mode]);
        if (bind_warm(run, name, b, plans, &rd) != CNN_OK) {
            bench_fail_mode(&res[b], mode);
            continue;
        }
        run_rounds(&rd);
        cnn_model_destroy(m[b]);
        m[b] = NULL;
    }
    for (int b = 0; b < nrows && st == CNN_OK; b++)
        if (!*res[b].error[mode] && !run_dir_stopping())
            bench_set_times(&res[b], mode, s[b], run->repetitions);
    for (int b = 0; b < nrows && s; b++)
        free(s[b]);
    free(s);
    free(m);
    free(alone);
    return st;
}

