/* The PyTorch peer (harness/peer.h): lenet5 and a few layer cases timed by
 * harness/peers/pytorch_peer.py come back as rows that say what they timed,
 * with consistent times; an unknown model, a case without the pass, a
 * script that fails or writes a malformed CSV are errors that name the
 * problem; the run's SIGINT stops the script. The paced session (bench
 * --models' rounds) waits for each step and fails, naming the exchange, when
 * the peer says the wrong thing, ends early or is cut short. 77: no python
 * with torch. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "clock.h"
#include "peer.h"
#include "run_dir.h"
#include "test_util.h"

static char dir[] = "/tmp/cnn_test_peer_XXXXXX";

/* The properties every row has, whatever it timed. */
static void check_times(const peer_row *r, const char *what)
{
    TU_CHECK(r->repetitions >= 1 && r->iterations >= 1, "%s: %d repetitions of %d calls", what,
             r->repetitions, r->iterations);
    TU_CHECK(r->min_ms > 0 && r->min_ms <= r->median_ms && r->median_ms <= r->max_ms,
             "%s: min %g, median %g, max %g ms", what, r->min_ms, r->median_ms, r->max_ms);
    for (int i = 0; i < r->repetitions; i++)
        TU_CHECK(r->reps_ms[i] >= r->min_ms && r->reps_ms[i] <= r->max_ms,
                 "%s: repetition %d took %g ms, outside [%g, %g]", what, i, r->reps_ms[i],
                 r->min_ms, r->max_ms);
}

static void test_models(void)
{
    peer_rows rows;
    peer_models_request rq = {.opts = {.dir = dir, .threads = 1, .repetitions = 2},
                              .models = "lenet5",
                              .modes = "infer,train_step",
                              .batch = 2};
    TU_EXPECT_OK(peer_run_models(&rq, &rows));
    TU_CHECK(rows.count == 2, "lenet5 infer and train_step: %d rows", rows.count);
    const char *modes[] = {"infer", "train_step"};
    for (int i = 0; i < rows.count && i < 2; i++) {
        const peer_row *r = &rows.rows[i];
        TU_CHECK(!strcmp(r->kind, "model") && !strcmp(r->model, "lenet5") &&
                     !strcmp(r->pass, modes[i]) && r->case_index == -1,
                 "row %d: %s %s %s", i, r->kind, r->model, r->pass);
        TU_CHECK(r->batch == 2 && r->image_size == 28 && r->classes == 10 && r->threads == 1,
                 "row %d: batch %lld, %dx%d, %d classes, %d threads", i, (long long)r->batch,
                 r->image_size, r->image_size, r->classes, r->threads);
        TU_CHECK(r->repetitions == 2 && r->iterations == 1, "row %d: %d x %d", i, r->repetitions,
                 r->iterations);
        check_times(r, modes[i]);
        double ips = 2 / (r->median_ms * 1e-3);
        TU_CHECK(fabs(r->images_per_s - ips) <= 1e-4 * ips, "row %d: %g images/s, want %g", i,
                 r->images_per_s, ips);
    }
    TU_CHECK(*rows.torch_version && *rows.cpu_capability && *rows.parallel_backend &&
                 rows.torch_threads == 1,
             "torch '%s', ISA '%s', '%s', %d threads", rows.torch_version, rows.cpu_capability,
             rows.parallel_backend, rows.torch_threads);
    peer_rows_free(&rows);

    rq.models = "lenet5,nosuch";
    TU_CHECK(peer_run_models(&rq, &rows) == CNN_ERR_INVALID_ARG &&
                 strstr(cnn_last_error(), "unknown model 'nosuch'") && rows.count == 0,
             "unknown model: %s", cnn_last_error());
    peer_rows_free(&rows);
}

/* The paced session on the real script: it waits for each step, and its
 * rows are those of an unpaced run; the script refuses --paced without the
 * socket. */
static void test_paced(void)
{
    peer_models_request rq = {.opts = {.dir = dir, .threads = 1, .repetitions = 3},
                              .models = "lenet5",
                              .batch = 2};
    peer_paced *p = NULL;
    TU_EXPECT_OK(peer_paced_start(&rq, &p));
    const char *modes[] = {"infer", "train_step"};
    for (int m = 0; m < 2 && p; m++) {
        TU_EXPECT_OK(peer_paced_ready(p, "lenet5", modes[m]));
        for (int i = 0; i < 3; i++) {
            /* between steps the peer waits: its CSV holds only the time of
             * the step itself, so a pause here must not show in it */
            if (m == 1 && i == 1) {
                struct timespec ts = {0, 300000000L};
                nanosleep(&ts, NULL);
            }
            TU_EXPECT_OK(peer_paced_step(p));
        }
    }
    peer_rows rows;
    TU_EXPECT_OK(peer_paced_finish(p, &rows));
    TU_CHECK(rows.count == 2, "paced lenet5: %d rows", rows.count);
    for (int i = 0; i < rows.count && i < 2; i++) {
        const peer_row *r = &rows.rows[i];
        TU_CHECK(!strcmp(r->pass, modes[i]) && r->repetitions == 3 && r->batch == 2,
                 "paced row %d: %s, %d repetitions, batch %lld", i, r->pass, r->repetitions,
                 (long long)r->batch);
        check_times(r, modes[i]);
        TU_CHECK(r->max_ms < 250, "paced row %d: a step of %g ms counts the wait", i, r->max_ms);
    }
    peer_rows_free(&rows);

    /* told to step before it said ready: the harness waits for 'ready' and
     * gets it; the wrong ready line is an error naming both */
    TU_EXPECT_OK(peer_paced_start(&rq, &p));
    TU_CHECK(peer_paced_ready(p, "lenet5", "train_step") == CNN_ERR_BACKEND &&
                 strstr(cnn_last_error(), "said 'ready lenet5 infer' where cnnbench waited for "
                                          "'ready lenet5 train_step'"),
             "wrong ready: %s", cnn_last_error());
    peer_paced_abort(p);

    /* closed before the last step: the script says so and fails */
    TU_EXPECT_OK(peer_paced_start(&rq, &p));
    TU_EXPECT_OK(peer_paced_ready(p, "lenet5", "infer"));
    TU_CHECK(peer_paced_finish(p, &rows) == CNN_ERR_BACKEND &&
                 strstr(cnn_last_error(), "closed the pace socket before the last step"),
             "finished early: %s", cnn_last_error());
    peer_rows_free(&rows);

    char cmd[1200], info[1024];
    TU_CHECK(peer_probe(info, sizeof info), "probe: %s", info);
    char *comma = strstr(info, ", ");
    if (comma) {
        *comma = '\0';
        snprintf(cmd, sizeof cmd, "%s %s --models lenet5 --paced --out %s/x.csv 3>&- 2>/dev/null",
                 info, comma + 2, dir);
        int rc = system(cmd);
        TU_CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "--paced without fd 3: status %d", rc);
    }
}

static peer_layer_case layer_case(const char *id, cnn_op op, cnn_pass pass)
{
    TU_EXPECT_OK(cnn_op_init(&op));
    return (peer_layer_case){.id = id, .op = op, .pass = pass};
}

static void test_layers(void)
{
    cnn_op conv = tu_conv_op(&(tu_conv_case){2, 3, 9, 8, 4, 3, 3, 2, 1, 1, 1, true});
    cnn_op pool = {.kind = CNN_OP_POOL,
                   .pool = tu_pool(CNN_POOL_MAX, 2, 4, 9, 9, 2, 2, 2, 2, 0, 0, true)};
    cnn_op bn = {.kind = CNN_OP_BN,
                 .bn = {.n = 2, .c = 4, .h = 5, .w = 5, .eps = 1e-5, .momentum = 0.1}};
    peer_layer_case cases[] = {
        layer_case("conv", conv, CNN_FWD),
        layer_case(NULL, conv, CNN_BWD_DATA),
        layer_case("conv", conv, CNN_BWD_WEIGHT),
        layer_case("conv", conv, CNN_BWD_BIAS),
        layer_case("pool", pool, CNN_FWD),
        layer_case("pool", pool, CNN_BWD_DATA),
        layer_case("bn", bn, CNN_FWD),
        layer_case("bn", bn, CNN_FWD_INFER),
        layer_case("bn", bn, CNN_BWD_DATA),
    };
    int n = (int)(sizeof cases / sizeof cases[0]);
    peer_opts opts = {.dir = dir, .threads = 1, .repetitions = 3, .min_time = 0.01};
    peer_rows rows;
    TU_EXPECT_OK(peer_run_layers(cases, n, &opts, &rows));
    TU_CHECK(rows.count == n, "%d cases, %d rows", n, rows.count);
    for (int i = 0; i < rows.count && i < n; i++) {
        const peer_row *r = &rows.rows[i];
        char id[16];
        snprintf(id, sizeof id, "%s", cases[i].id ? cases[i].id : "1");
        TU_CHECK(r->case_index == i && !strcmp(r->kind, "layer") && !strcmp(r->id, id) &&
                     !strcmp(r->op, cnn_op_name(&cases[i].op)) &&
                     !strcmp(r->pass, cnn_pass_str(cases[i].pass)) && r->batch == 2,
                 "row %d: case %d '%s' %s %s batch %lld", i, r->case_index, r->id, r->op, r->pass,
                 (long long)r->batch);
        TU_CHECK(r->repetitions == 3 && r->threads == 1, "row %d: %d repetitions, %d threads", i,
                 r->repetitions, r->threads);
        /* calls of microseconds, repeated to fill about 0.01 s (10 times less on a machine
         * whose load changes between sizing and timing) */
        TU_CHECK(r->iterations >= 2 && r->median_ms * r->iterations >= 1.0,
                 "row %d: %d calls of %g ms", i, r->iterations, r->median_ms);
        check_times(r, r->id);
    }
    peer_rows_free(&rows);

    cases[0].pass = CNN_BWD_BIAS;
    cases[4].pass = CNN_BWD_WEIGHT;
    TU_CHECK(peer_run_layers(cases, n, &opts, &rows) == CNN_ERR_INVALID_ARG &&
                 strstr(cnn_last_error(), "case 4: maxpool2d has no pass"),
             "pool bwd_weight: %s", cnn_last_error());
    cases[4].pass = CNN_FWD;
    cases[1].id = "a,b";
    TU_CHECK(peer_run_layers(cases, n, &opts, &rows) == CNN_ERR_INVALID_ARG &&
                 strstr(cnn_last_error(), "case 1: id 'a,b'"),
             "id with a comma: %s", cnn_last_error());
}

/* A stand-in script in dir/fake that runs `body` (python; `out` is the --out path). */
static void fake_script(const char *body)
{
    char path[256];
    snprintf(path, sizeof path, "%s/fake", dir);
    mkdir(path, 0755);
    setenv("CNNBENCH_PEERS_DIR", path, 1);
    snprintf(path, sizeof path, "%s/fake/pytorch_peer.py", dir);
    FILE *f = fopen(path, "w");
    TU_CHECK(f != NULL, "cannot write %s", path);
    if (f) {
        fprintf(f,
                "import os, signal, sys, time\nout = sys.argv[sys.argv.index('--out') + 1]\n%s\n",
                body);
        fclose(f);
    }
}

static void test_failures(void)
{
    peer_rows rows;
    peer_models_request rq = {.opts = {.dir = dir, .repetitions = 1}, .models = "lenet5"};
    fake_script("print('something broke', file=sys.stderr)\nsys.exit(1)");
    TU_CHECK(peer_run_models(&rq, &rows) == CNN_ERR_BACKEND &&
                 strstr(cnn_last_error(), "failed (exit 1): something broke (log: "),
             "exit 1: %s", cnn_last_error());
    fake_script("open(out, 'w').write('# torch=9\\nkind,id,model,op,pass,batch,image_size,"
                "classes,threads,repetitions,iterations,median_ms,min_ms,max_ms,reps_ms,"
                "images_per_s\\nmodel,,lenet5,,infer,2,28,10,1,1,1,abc,1,1,1,2000\\n')");
    TU_CHECK(peer_run_models(&rq, &rows) == CNN_ERR_BACKEND &&
                 strstr(cnn_last_error(), "pytorch_peer_models.csv:3: median_ms 'abc'"),
             "malformed row: %s", cnn_last_error());
    peer_rows_free(&rows);
    fake_script("open(out, 'w').write('kind,model\\n')");
    TU_CHECK(peer_run_models(&rq, &rows) == CNN_ERR_BACKEND &&
                 strstr(cnn_last_error(), "pytorch_peer_models.csv:1: header is not"),
             "wrong header: %s", cnn_last_error());

    /* the run's SIGINT (run_dir_stopping) stops the script and says so */
    run_dir rd;
    char results[256];
    snprintf(results, sizeof results, "%s/results", dir);
    TU_EXPECT_OK(run_dir_init(&rd, "bench", 0, NULL, 1, 1));
    TU_EXPECT_OK(run_dir_create(&rd, results));
    fake_script("os.kill(os.getppid(), signal.SIGINT)\ntime.sleep(60)");
    double t0 = cnn_wall_seconds();
    TU_CHECK(peer_run_models(&rq, &rows) == CNN_ERR_BACKEND &&
                 strstr(cnn_last_error(), "interrupted (signal 2)"),
             "SIGINT: %s", cnn_last_error());
    TU_CHECK(cnn_wall_seconds() - t0 < 30, "stopped after %g s", cnn_wall_seconds() - t0);
    run_dir_finish(&rd, RUN_INTERRUPTED, NULL);
    unsetenv("CNNBENCH_PEERS_DIR");
}

/* The paced exchange going wrong on the peer's side. */
static void test_paced_failures(void)
{
    peer_models_request rq = {.opts = {.dir = dir, .repetitions = 2}, .models = "lenet5"};
    peer_paced *p = NULL;
    peer_rows rows;
    fake_script("print('no torch here', file=sys.stderr)\nsys.exit(1)");
    TU_EXPECT_OK(peer_paced_start(&rq, &p));
    TU_CHECK(peer_paced_ready(p, "lenet5", "infer") == CNN_ERR_BACKEND &&
                 strstr(cnn_last_error(), "failed (exit 1): no torch here"),
             "exit before ready: %s", cnn_last_error());
    peer_paced_abort(p);
    fake_script("sys.exit(0)");
    TU_EXPECT_OK(peer_paced_start(&rq, &p));
    TU_CHECK(peer_paced_ready(p, "lenet5", "infer") == CNN_ERR_BACKEND &&
                 strstr(cnn_last_error(), "ended (exit 0) while cnnbench waited for "
                                          "'ready lenet5 infer'"),
             "exit 0 before ready: %s", cnn_last_error());
    peer_paced_abort(p);
    fake_script("os.write(3, b'ready lenet5 infer\\n')\nos.read(3, 5)\nos.write(3, b'what\\n')\n"
                "time.sleep(60)");
    TU_EXPECT_OK(peer_paced_start(&rq, &p));
    TU_EXPECT_OK(peer_paced_ready(p, "lenet5", "infer"));
    double t0 = cnn_wall_seconds();
    TU_CHECK(peer_paced_step(p) == CNN_ERR_BACKEND &&
                 strstr(cnn_last_error(), "said 'what' where cnnbench waited for 'done'"),
             "wrong answer: %s", cnn_last_error());
    peer_paced_abort(p); /* stops the sleeping script */
    TU_CHECK(cnn_wall_seconds() - t0 < 30, "stopped after %g s", cnn_wall_seconds() - t0);
    fake_script("os.write(3, b'x' * 300)\ntime.sleep(60)");
    TU_EXPECT_OK(peer_paced_start(&rq, &p));
    TU_CHECK(peer_paced_ready(p, "lenet5", "infer") == CNN_ERR_BACKEND &&
                 strstr(cnn_last_error(), "a line over 255 bytes"),
             "endless line: %s", cnn_last_error());
    peer_paced_abort(p);
    (void)rows;
    unsetenv("CNNBENCH_PEERS_DIR");
}

int main(void)
{
    char info[1024];
    if (!peer_probe(info, sizeof info)) {
        printf("test_peer: skipped: %s\n", info);
        return 77;
    }
    printf("test_peer: %s\n", info);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_models();
    test_layers();
    test_paced();
    test_paced_failures(); /* before test_failures, which leaves the run stopping */
    test_failures();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_peer: could not remove %s\n", dir);
    return tu_finish("test_peer");
}
