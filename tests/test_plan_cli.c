/* Plans as processes: `bench --models lenet5 --backends auto,im2col` writes
 * plan.csv (each row's chosen ms the least of its ms_<backend> columns) and
 * an auto row in results.csv whose instrumented step ran each layer pass
 * where the plan says; `bench --plan` of that file and `run --plan` of a
 * run's own plan.csv replay them; every bad plan file is refused with its
 * exact error and nothing written. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model.h"
#include "npy.h"
#include "registry.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

static char dir[] = "/tmp/cnn_test_plan_cli_XXXXXX";
static char out_text[1 << 17], err_text[1 << 16];

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* `cnnbench COMMAND ARGS...` in dir; returns the exit status. */
static int cnnbench(const char *command, const char *const *args)
{
    char *argv[64] = {CNNBENCH_EXE, (char *)command};
    int n = 2;
    for (; *args && n < 63; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    return tu_run_process(CNNBENCH_EXE, argv, dir, out_text, sizeof out_text, err_text,
                          sizeof err_text);
}

static const char *in_dir(const char *name)
{
    static char buf[8][600];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* The file `file` of the one run folder under DIR/<results>. */
static const char *run_file(const char *results, const char *file)
{
    static char path[1400];
    char names[2][256];
    if (tu_list_runs(in_dir(results), names, 2) != 1) {
        TU_CHECK(false, "not one run folder in %s", in_dir(results));
        return "";
    }
    snprintf(path, sizeof path, "%s/%s/%s/%s", dir, results, names[0], file);
    return path;
}

/* ---- CSV tables (quoted fields as report.c writes them) ---- */

#define MAX_ROWS 256
#define MAX_COLS 64
typedef struct table {
    char text[1 << 16];
    const char *cell[MAX_ROWS][MAX_COLS];
    int nrows, ncols; /* row 0 is the header */
} table;

static bool load(table *t, const char *path)
{
    tu_slurp(path, t->text, sizeof t->text);
    t->nrows = t->ncols = 0;
    char *w = t->text;
    int c = 0;
    bool quoted = false;
    t->cell[0][0] = w;
    for (const char *r = t->text; *r && t->nrows < MAX_ROWS; r++) {
        if (*r == '"' && !(quoted && r[1] == '"')) {
            quoted = !quoted;
        } else if (*r == '"') {
            *w++ = *r++;
        } else if (!quoted && (*r == ',' || *r == '\n')) {
            bool comma = *r == ',';
            *w++ = '\0';
            if (comma && c + 1 < MAX_COLS) {
                t->cell[t->nrows][++c] = w;
                continue;
            }
            t->ncols = t->nrows ? t->ncols : c + 1;
            TU_CHECK(c + 1 == t->ncols, "%s: row %d has %d fields, header %d", path, t->nrows,
                     c + 1, t->ncols);
            t->nrows++;
            c = 0;
            if (t->nrows < MAX_ROWS)
                t->cell[t->nrows][0] = w;
        } else {
            *w++ = *r;
        }
    }
    TU_CHECK(t->nrows > 1, "%s: no rows", path);
    return t->nrows > 1;
}

static int col(const table *t, const char *name)
{
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->cell[0][c], name))
            return c;
    return -1;
}

static const char *cell(const table *t, int r, const char *name)
{
    int c = col(t, name);
    TU_CHECK(c >= 0, "no column %s", name);
    return c >= 0 ? t->cell[r][c] : "";
}

static table plan, tab;

/* ---- auto ---- */

/* Layer passes lenet5 runs in a training step (and an eval forward). */
static int lenet5_passes(void)
{
    cnn_model *m = NULL;
    int n = 0;
    TU_EXPECT_OK(cnn_model_create("lenet5", NULL, &m));
    for (int l = 0; m && l < cnn_model_layer_count(m); l++)
        for (int p = 0; p < CNN_PASS_COUNT; p++)
            n += cnn_model_layer_runs(m, l, (cnn_pass)p);
    cnn_model_destroy(m);
    return n;
}

/* Each layer's breakdown.csv rows of backend `be` ran where plan.csv says:
 * the forward row on its fwd backend, the backward row on its backward
 * passes' backends, '+' between distinct ones, in pass order. */
static void check_breakdown(const char *results, const char *be)
{
    if (!load(&tab, run_file(results, "breakdown.csv")))
        return;
    int checked = 0;
    /* a plan kept from one backend alone lacks the passes it does not run */
    bool partial = plan.nrows - 1 < lenet5_passes();
    for (int r = 1; r < tab.nrows; r++) {
        const char *layer = cell(&tab, r, "layer");
        if (strcmp(cell(&tab, r, "backend"), be) || !strcmp(layer, "(other)"))
            continue;
        bool fwd = !strcmp(cell(&tab, r, "pass"), "fwd");
        char want[256] = "";
        for (int k = 1; k < plan.nrows; k++) {
            const char *pass = cell(&plan, k, "pass"), *pb = cell(&plan, k, "backend");
            if (strcmp(cell(&plan, k, "layer"), layer) || fwd != !strcmp(pass, "fwd") ||
                !strcmp(pass, "fwd_infer"))
                continue;
            char item[40];
            snprintf(item, sizeof item, "+%s+", pb);
            char wrapped[260];
            snprintf(wrapped, sizeof wrapped, "+%s+", want);
            if (!strstr(wrapped, item))
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", *want ? "+" : "",
                         pb);
        }
        if (!*want && partial)
            continue; /* the executor's rule placed it, as for the kept backend alone */
        checked++;
        TU_CHECK(!strcmp(cell(&tab, r, "backend_used"), want),
                 "breakdown %s %s %s %s: ran on %s, plan.csv says %s", be, cell(&tab, r, "mode"),
                 layer, cell(&tab, r, "pass"), cell(&tab, r, "backend_used"), want);
    }
    /* 11 forward rows in each mode, 11 backward ones in train_step */
    TU_CHECK(partial ? checked > 0 && checked <= 33 : checked == 33,
             "breakdown %s: %d layer rows, want %s33", be, checked, partial ? "1 to " : "");
}

/* The MODEL rows of backend `be`: OK, algorithm starting with `algo` and
 * holding `has` (NULL: anything). */
static void check_model_rows(const char *results, const char *be, const char *algo,
                             const char *has)
{
    if (!load(&tab, run_file(results, "results.csv")))
        return;
    int n = 0;
    for (int r = 1; r < tab.nrows; r++) {
        if (strcmp(cell(&tab, r, "backend"), be))
            continue;
        n++;
        TU_CHECK(!strcmp(cell(&tab, r, "status"), "OK") &&
                     !strncmp(cell(&tab, r, "algorithm"), algo, strlen(algo)) &&
                     (!has || strstr(cell(&tab, r, "algorithm"), has)) &&
                     atof(cell(&tab, r, "median_ms")) > 0 && !strcmp(cell(&tab, r, "batch"), "2"),
                 "results.csv %s %s: status %s algorithm '%s' median %s batch %s", be,
                 cell(&tab, r, "pass"), cell(&tab, r, "status"), cell(&tab, r, "algorithm"),
                 cell(&tab, r, "median_ms"), cell(&tab, r, "batch"));
    }
    TU_CHECK(n == 2, "results.csv: %d rows of backend %s, want infer and train_step", n, be);
}

/* The in-model check's line on stdout, "auto: in-model check, ...";
 * kept gets the backend it kept alone ("" when the plan stood). */
static bool check_line(char kept[32])
{
    kept[0] = '\0';
    const char *line = strstr(out_text, "  auto: in-model check, train step median of 3: plan ");
    if (!line)
        return false;
    const char *end = strchr(line, '\n'), *k = strstr(line, "; kept ");
    if (k && (!end || k < end))
        sscanf(k, "; kept %31s", kept);
    return true;
}

static void test_auto(void)
{
    /* every candidate checked in the model, however far its layer times */
    setenv("CNNBENCH_TEST_AUTO_CLOSE", "1e9", 1);
    int rc = cnnbench("bench", ARGS("--models", "lenet5", "--backends", "auto,im2col", "--batch",
                                    "2", "--repetitions", "2", "--results", in_dir("auto")));
    unsetenv("CNNBENCH_TEST_AUTO_CLOSE");
    TU_CHECK(rc == 0 && strstr(out_text, "  auto: ") && strstr(out_text, "  auto       train_step"),
             "bench auto: exit %d\n%s\n%s", rc, out_text, err_text);
    char kept[32];
    bool checked = check_line(kept);
    TU_CHECK(checked, "bench auto: no in-model check line\n%s", out_text);
    if (rc || !load(&plan, run_file("auto", "plan.csv")))
        return;
    const char *const head[] = {"model", "layer", "op", "pass", "backend", "algorithm", "ms"};
    for (int c = 0; c < 7; c++)
        TU_CHECK(plan.ncols > 7 && !strcmp(plan.cell[0][c], head[c]), "plan.csv column %d is %s",
                 c, plan.cell[0][c]);
    TU_CHECK(col(&plan, "ms_im2col") > 6 && col(&plan, "ms_naive") < 0,
             "plan.csv: ms_im2col at %d, ms_naive at %d", col(&plan, "ms_im2col"),
             col(&plan, "ms_naive"));
    if (*kept) {
        /* the check kept one candidate alone: its rows where it runs the
         * pass, at its own time, no algorithm name (the search timed it,
         * not its algorithm) */
        char own[64];
        snprintf(own, sizeof own, "ms_%s", kept);
        TU_CHECK(col(&plan, own) > 0, "plan.csv: no column %s for the kept backend", own);
        for (int r = 1; r < plan.nrows && col(&plan, own) > 0; r++)
            TU_CHECK(!strcmp(cell(&plan, r, "backend"), kept) &&
                         !strcmp(cell(&plan, r, "ms"), cell(&plan, r, own)) &&
                         !*cell(&plan, r, "algorithm"),
                     "plan.csv line %d (%s %s): backend %s ms %s algorithm '%s', kept %s (%s)",
                     r + 1, cell(&plan, r, "layer"), cell(&plan, r, "pass"),
                     cell(&plan, r, "backend"), cell(&plan, r, "ms"), cell(&plan, r, "algorithm"),
                     kept, cell(&plan, r, own));
        TU_CHECK(plan.nrows > 1 && plan.nrows - 1 <= lenet5_passes(),
                 "plan.csv: %d rows, lenet5 runs %d layer passes", plan.nrows - 1,
                 lenet5_passes());
        check_model_rows("auto", "auto", "plan: ", "; in-model check, train step median of 3: plan ");
        check_breakdown("auto", "auto");
        return;
    }
    TU_CHECK(plan.nrows - 1 == lenet5_passes(), "plan.csv: %d rows, lenet5 runs %d layer passes",
             plan.nrows - 1, lenet5_passes());
    for (int r = 1; r < plan.nrows; r++) {
        double ms = atof(cell(&plan, r, "ms")), lo = INFINITY;
        for (int c = 7; c < plan.ncols; c++)
            if (strcmp(plan.cell[r][c], "nan"))
                lo = fmin(lo, atof(plan.cell[r][c]));
        char own[64];
        snprintf(own, sizeof own, "ms_%s", cell(&plan, r, "backend"));
        TU_CHECK(!strcmp(cell(&plan, r, "model"), "lenet5") && ms == lo &&
                     col(&plan, own) > 0 && !strcmp(cell(&plan, r, own), cell(&plan, r, "ms")) &&
                     *cell(&plan, r, "algorithm"),
                 "plan.csv line %d (%s %s): ms %s on %s, the least ms_* is %g", r + 1,
                 cell(&plan, r, "layer"), cell(&plan, r, "pass"), cell(&plan, r, "ms"),
                 cell(&plan, r, "backend"), lo);
    }
    check_model_rows("auto", "auto", "plan: ", "; in-model check, train step median of 3: plan ");
    check_breakdown("auto", "auto");
}

/* bench --plan of auto's plan.csv: the same layer passes on the same backends. */
static void test_bench_replay(void)
{
    char plan_path[1400];
    snprintf(plan_path, sizeof plan_path, "%s", run_file("auto", "plan.csv"));
    int rc = cnnbench("bench", ARGS("--models", "lenet5", "--plan", plan_path, "--backends",
                                    "im2col", "--batch", "2", "--repetitions", "2", "--results",
                                    in_dir("replay")));
    TU_CHECK(rc == 0, "bench --plan: exit %d\n%s\n%s", rc, out_text, err_text);
    if (rc)
        return;
    char algo[1500];
    snprintf(algo, sizeof algo, "plan %s: ", plan_path);
    check_model_rows("replay", "plan", algo, NULL);
    check_breakdown("replay", "plan");
    TU_CHECK(!tu_exists(run_file("replay", "plan.csv")), "bench --plan wrote a plan.csv");
}

/* ---- run --plan ---- */

static void write_inputs(void)
{
    uint64_t rng = 9;
    cnn_shape xs = cnn_shape4(2, 1, 28, 28), ys = cnn_shape1(2);
    float *x = tu_rand_buf(2 * 28 * 28, &rng, -1, 1);
    int64_t y[2] = {3, 8};
    TU_EXPECT_OK(cnn_npy_write_f32(in_dir("x.npy"), &xs, x));
    TU_EXPECT_OK(cnn_npy_write(in_dir("y.npy"), CNN_DTYPE_I64, &ys, y));
    free(x);
}

static bool same_file(const char *a, const char *b)
{
    static char ta[1 << 16], tb[1 << 16];
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    size_t na = fa ? fread(ta, 1, sizeof ta, fa) : 0, nb = fb ? fread(tb, 1, sizeof tb, fb) : 1;
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return fa && fb && na == nb && !memcmp(ta, tb, na);
}

static void test_run_replay(void)
{
    write_inputs();
    const char *x = in_dir("x.npy"), *y = in_dir("y.npy");
    int rc = cnnbench("run", ARGS("--model", "lenet5", "--backends", "winograd", "--mode", "train",
                                  "--threads", "1", "--input", x, "--labels", y, "--out",
                                  in_dir("A")));
    TU_CHECK(rc == 0, "run A: exit %d\n%s", rc, err_text);
    char a_plan[700];
    snprintf(a_plan, sizeof a_plan, "%s/A/plan.csv", dir);
    rc = cnnbench("run", ARGS("--model", "lenet5", "--plan", a_plan, "--mode", "train",
                              "--threads", "1", "--input", x, "--labels", y, "--out", in_dir("B")));
    TU_CHECK(rc == 0 && strstr(out_text, "on plan "), "run --plan: exit %d\n%s\n%s", rc, out_text,
             err_text);
    static table a, b;
    char b_plan[700];
    snprintf(b_plan, sizeof b_plan, "%s/B/plan.csv", dir);
    if (rc || !load(&a, a_plan) || !load(&b, b_plan))
        return;
    TU_CHECK(a.nrows == b.nrows, "A's plan.csv has %d rows, B's %d", a.nrows, b.nrows);
    int fell = 0;
    for (int r = 1; r < a.nrows && r < b.nrows; r++) {
        for (int c = 0; c < 5; c++)
            TU_CHECK(!strcmp(a.cell[r][c], b.cell[r][c]), "plan.csv line %d column %s: %s, then %s",
                     r + 1, a.cell[0][c], a.cell[r][c], b.cell[r][c]);
        fell += !strcmp(cell(&a, r, "fallback"), "yes");
        TU_CHECK(!strcmp(cell(&b, r, "fallback"), "no"), "replay line %d fell back", r + 1);
    }
    /* lenet5's 5x5 convolutions are not Winograd's */
    TU_CHECK(fell == 7, "run A: %d fallbacks in plan.csv, want 7", fell);
    char pa[700], pb[700];
    snprintf(pa, sizeof pa, "%s/A/logits.npy", dir);
    snprintf(pb, sizeof pb, "%s/B/logits.npy", dir);
    TU_CHECK(same_file(pa, pb), "replayed logits differ");
    snprintf(pa, sizeof pa, "%s/A/loss.txt", dir);
    snprintf(pb, sizeof pb, "%s/B/loss.txt", dir);
    TU_CHECK(same_file(pa, pb), "replayed loss differs");

    /* a bench plan (model column) in run: its forward passes where it says */
    if (plan.nrows < 2)
        return;
    char bench_plan[1400];
    snprintf(bench_plan, sizeof bench_plan, "%s", run_file("auto", "plan.csv"));
    rc = cnnbench("run", ARGS("--model", "lenet5", "--plan", bench_plan, "--input", x, "--out",
                              in_dir("C")));
    char c_plan[700];
    snprintf(c_plan, sizeof c_plan, "%s/C/plan.csv", dir);
    TU_CHECK(rc == 0, "run --plan of bench's plan.csv: exit %d\n%s", rc, err_text);
    if (rc || !load(&a, c_plan))
        return;
    for (int r = 1; r < a.nrows; r++)
        for (int k = 1; k < plan.nrows; k++)
            if (!strcmp(cell(&a, r, "layer"), cell(&plan, k, "layer")) &&
                !strcmp(cell(&a, r, "pass"), cell(&plan, k, "pass")))
                TU_CHECK(!strcmp(cell(&a, r, "backend"), cell(&plan, k, "backend")),
                         "run --plan: %s %s on %s, planned on %s", cell(&a, r, "layer"),
                         cell(&a, r, "pass"), cell(&a, r, "backend"), cell(&plan, k, "backend"));
    TU_CHECK(a.nrows == 12, "eval run: %d layer passes, want lenet5's 11 forwards", a.nrows - 1);
}

/* ---- bad plan files ---- */

static void expect_refused(const char *command, const char *const *args, int want_rc,
                           const char *want, const char *out)
{
    int rc = cnnbench(command, args);
    TU_CHECK(rc == want_rc && strstr(err_text, want), "%s: exit %d (want %d), stderr:\n%s\nwant: %s",
             command, rc, want_rc, err_text, want);
    TU_CHECK(!tu_exists(out), "%s: a refused run made %s", command, out);
}

static void test_bad_plans(void)
{
    char names[512];
    cnn_backend_names(names, sizeof names);
    static const struct {
        const char *file, *text, *why; /* why: %s is the file */
    } cases[] = {
        {"none.csv", NULL, "plan %s: cannot open: No such file or directory"},
        {"empty.csv", "", "plan %s is empty: no header line"},
        {"nocol.csv", "layer,pass\nconv1,fwd\n",
         "plan %s: the header (line 1) has no 'backend' column; a plan needs the columns layer, "
         "pass and backend"},
        {"fields.csv", "layer,pass,backend\nconv1,fwd,im2col\n\nconv2,fwd\n",
         "plan %s line 4: 2 fields, the header has 3"},
        {"layer.csv", "layer,pass,backend\nconv9,fwd,im2col\n",
         "plan %s line 2: model lenet5 has no layer 'conv9'"},
        {"pass.csv", "layer,pass,backend\nconv1,fwdx,im2col\n",
         "plan %s line 2: unknown pass 'fwdx'; valid passes: fwd, fwd_infer, bwd_data, "
         "bwd_weight, bwd_bias"},
        {"backend.csv", "op,layer,pass,backend\nconv2d,conv1,fwd,naive\nconv2d,conv2,fwd,foo\n",
         "plan %s line 3: unknown backend 'foo'; valid backends: "},
        {"nopass.csv", "layer,pass,backend\nsigmoid1,bwd_weight,naive\n",
         "plan %s line 2: layer sigmoid1 (sigmoid) has no pass bwd_weight"},
        {"twice.csv", "layer,pass,backend\nconv1,fwd,naive\nconv1,fwd,naive\n",
         "plan %s line 3: layer conv1 pass fwd is planned twice"},
        {"quote.csv", "layer,pass,backend\n\"conv1,fwd,naive\n",
         "plan %s line 2: unterminated quote"},
        {"other.csv", "model,layer,pass,backend\nresnet18,conv1,fwd,naive\nvgg16,x,fwd,naive\n",
         "plan %s has no rows for model lenet5 (models there: resnet18,vgg16)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = in_dir(cases[i].file);
        if (cases[i].text) {
            FILE *f = fopen(path, "w");
            fputs(cases[i].text, f);
            fclose(f);
        }
        char why[1200], want[1400];
        snprintf(why, sizeof why, cases[i].why, path);
        if (!strcmp(cases[i].file, "backend.csv"))
            snprintf(why + strlen(why), sizeof why - strlen(why), "%s", names);
        snprintf(want, sizeof want, "cnnbench bench: invalid argument: %s\n", why);
        expect_refused("bench", ARGS("--models", "lenet5", "--plan", path, "--results",
                                     in_dir("refused")),
                       CLI_EXIT_FAIL, want, in_dir("refused"));
        snprintf(want, sizeof want, "cnnbench run: invalid argument: %s\n", why);
        expect_refused("run", ARGS("--model", "lenet5", "--plan", path, "--input", in_dir("x.npy"),
                                   "--out", in_dir("refused_run")),
                       CLI_EXIT_FAIL, want, in_dir("refused_run"));
    }
    char want[1400];
    snprintf(want, sizeof want,
             "plan %s has no model column, so it holds one model's plan: give one model with "
             "--models",
             in_dir("layer.csv"));
    expect_refused("bench",
                   ARGS("--models", "lenet5,fashion_cnn", "--plan", in_dir("layer.csv"),
                        "--results", in_dir("refused")),
                   CLI_EXIT_FAIL, want, in_dir("refused"));
    const struct {
        const char *const *args;
        const char *why;
    } usage[] = {
        {ARGS("--model", "lenet5", "--backends", "auto,im2col"),
         "--backends auto is for whole models (--models)"},
        {ARGS("--model", "lenet5", "--plan", "x.csv"), "--plan is for whole models (--models)"},
        {ARGS("--models", "lenet5", "--backends", "im2col,auto,auto"),
         "--backends lists auto twice"},
        {ARGS("--models", "lenet5", "--backends", "auto", "--plan", "x.csv"),
         "--plan FILE replaces auto's search: give one or the other"},
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        const char *args[16];
        int n = 0;
        for (const char *const *a = usage[i].args; *a; a++)
            args[n++] = *a;
        args[n++] = "--results";
        args[n++] = in_dir("refused");
        args[n] = NULL;
        expect_refused("bench", args, CLI_EXIT_USAGE, usage[i].why, in_dir("refused"));
    }
    expect_refused("run", ARGS("--model", "lenet5", "--input", in_dir("x.npy"), "--out",
                               in_dir("refused_run")),
                   CLI_EXIT_USAGE, "give --backends, --plan FILE or both", in_dir("refused_run"));
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    TU_CHECK(cnnbench("bench", ARGS("--help")) == 0 && strstr(out_text, "--plan FILE") &&
                 strstr(out_text, "auto in the --backends list"),
             "bench --help:\n%s", out_text);
    TU_CHECK(cnnbench("run", ARGS("--help")) == 0 && strstr(out_text, "--plan FILE") &&
                 strstr(out_text, "replays the run"),
             "run --help:\n%s", out_text);
    if (cnn_backend_find("im2col") && cnn_backend_find("winograd")) {
        test_auto();
        test_bench_replay();
        test_run_replay();
    } else {
        printf("test_plan_cli: im2col or winograd not built: auto and replays not checked\n");
        write_inputs();
    }
    test_bad_plans();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_plan_cli");
}
