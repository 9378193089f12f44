/* `cnnbench compare` as a process, on a real small bench run and edited
 * copies of it: one row made 1.5x slower is flagged, alone, and fails
 * --fail-on-regression; a run against itself flags nothing; a wide spread
 * or --threshold keeps a change unflagged; an interrupted copy, one without
 * meta.json and a broken or foreign results.csv are refused with the
 * reason (file:line for the CSV); a different CPU is printed before the
 * table. And the bench run's line in the results root's index.csv. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "csv_read.h"
#include "report.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

static char dir[] = "/tmp/cnn_test_compare_XXXXXX";
static char out_text[1 << 16], err_text[1 << 16], file_text[1 << 17];

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* `cnnbench ARGS...`; returns the exit status, the output in out_text, err_text. */
static int cnnbench(const char *const *args)
{
    char *argv[64];
    int n = 0;
    argv[n++] = CNNBENCH_EXE;
    for (; *args && n < 62; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    return tu_run_process(CNNBENCH_EXE, argv, dir, out_text, sizeof out_text, err_text,
                          sizeof err_text);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    TU_CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
}

/* DIR/<name>, a copy of run folder src's meta.json and results.csv. */
static const char *copy_run(const char *src, const char *name)
{
    static char paths[16][512];
    static int used;
    char *dst = paths[used++ % 16], from[1024], to[1024];
    snprintf(dst, 512, "%s/%s", dir, name);
    mkdir(dst, 0777);
    for (int i = 0; i < 2; i++) {
        const char *file = i ? "results.csv" : "meta.json";
        snprintf(from, sizeof from, "%s/%s", src, file);
        snprintf(to, sizeof to, "%s/%s", dst, file);
        tu_slurp(from, file_text, sizeof file_text);
        TU_CHECK(*file_text, "%s is empty", from);
        write_text(to, file_text);
    }
    return dst;
}

/* Replace the first `from` in run/file by `to`. */
static void edit(const char *run, const char *file, const char *from, const char *to)
{
    static char text[1 << 17];
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", run, file);
    tu_slurp(path, file_text, sizeof file_text);
    char *at = strstr(file_text, from);
    TU_CHECK(at != NULL, "%s has no '%s'", path, from);
    if (!at)
        return;
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - file_text), file_text, to,
             at + strlen(from));
    write_text(path, text);
}

/* Rewrite row `row` of run/results.csv: median_ms = scale x m and reps_ms =
 * scale x m x each of spread[3] (m: the row's median in the real run). */
static void set_row(const char *run, int row, double m, double scale, const double spread[3])
{
    char path[1024], header[4096] = "", cell[3][64], reps[200];
    snprintf(path, sizeof path, "%s/results.csv", run);
    csv_table *t = NULL;
    TU_EXPECT_OK(csv_read(path, &t));
    if (!t)
        return;
    for (int c = 0; c < t->ncols; c++)
        snprintf(header + strlen(header), sizeof header - strlen(header), "%s%s", c ? "," : "",
                 t->header[c]);
    int med = csv_col(t, "median_ms"), lo = csv_col(t, "min_ms"), hi = csv_col(t, "max_ms"),
        rep = csv_col(t, "reps_ms");
    snprintf(cell[0], 64, "%.9g", m * scale);
    snprintf(cell[1], 64, "%.9g", m * scale * spread[0]);
    snprintf(cell[2], 64, "%.9g", m * scale * spread[2]);
    snprintf(reps, sizeof reps, "%.9g;%.9g;%.9g", m * scale * spread[0], m * scale * spread[1],
             m * scale * spread[2]);
    report_csv *out = NULL;
    TU_EXPECT_OK(report_csv_open(path, header, &out));
    for (int r = 0; out && r < t->nrows; r++) {
        const char *f[128];
        for (int c = 0; c < t->ncols && c < 128; c++)
            f[c] = t->rows[r][c];
        if (r == row) {
            f[med] = cell[0];
            f[lo] = cell[1];
            f[hi] = cell[2];
            f[rep] = reps;
        }
        TU_EXPECT_OK(report_csv_row(out, t->ncols, f));
    }
    TU_EXPECT_OK(report_csv_close(out, true));
    csv_free(t);
}

/* compare.csv of the last `compare --out DIR/<out>`: how many rows are
 * flagged, and that the one flagged (if any) is row `want` of A with flag
 * `flag` and ratio near `ratio`. */
static int flagged(const char *out, const char *want_pass, const char *flag, double ratio)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/compare.csv", dir, out);
    csv_table *t = NULL;
    TU_EXPECT_OK(csv_read(path, &t));
    if (!t)
        return -1;
    int n = 0, fc = csv_col(t, "flag"), pc = csv_col(t, "pass"), rc = csv_col(t, "ratio");
    TU_CHECK(fc >= 0 && pc >= 0 && rc >= 0 && csv_col(t, "present") >= 0, "%s: columns", path);
    for (int r = 0; r < t->nrows; r++) {
        if (!strcmp(csv_cell(t, r, fc), "same"))
            continue;
        n++;
        TU_CHECK(want_pass && !strcmp(csv_cell(t, r, pc), want_pass) &&
                     !strcmp(csv_cell(t, r, fc), flag) && csv_num(t, r, rc) > ratio * 0.999 &&
                     csv_num(t, r, rc) < ratio * 1.001,
                 "%s:%d: flagged %s, pass %s, ratio %s", path, t->line[r], csv_cell(t, r, fc),
                 csv_cell(t, r, pc), csv_cell(t, r, rc));
    }
    csv_free(t);
    return n;
}

/* Column `col` of the `pass` row of DIR/<out>/compare.csv, as a number (NaN if absent). */
static double csv_value(const char *out, const char *pass, const char *col)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/compare.csv", dir, out);
    csv_table *t = NULL;
    TU_EXPECT_OK(csv_read(path, &t));
    double v = NAN;
    for (int r = 0; t && r < t->nrows; r++)
        if (!strcmp(csv_cell(t, r, csv_col(t, "pass")), pass))
            v = csv_num(t, r, csv_col(t, col));
    csv_free(t);
    return v;
}

static int count(const char *text, const char *word)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, word)); p += strlen(word))
        n++;
    return n;
}

/* compare refuses: exit 1, stderr holds every word, no table. */
static void expect_refused(const char *what, const char *a, const char *b, const char *const *words)
{
    int rc = cnnbench(ARGS("compare", a, b));
    TU_CHECK(rc == CLI_EXIT_FAIL && !strstr(out_text, "B/A"), "%s: exit %d\nstdout: %s", what, rc,
             out_text);
    for (; *words; words++)
        TU_CHECK(strstr(err_text, *words), "%s: stderr lacks '%s': %s", what, *words, err_text);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char root[512], names[4][256], run[1024], out[1536];
    snprintf(root, sizeof root, "%s/res", dir);
    int rc = cnnbench(ARGS("bench", "--models", "lenet5", "--batch", "2", "--backends", "im2col",
                           "--repetitions", "3", "--results", root));
    TU_CHECK(rc == 0, "bench: exit %d\n%s\n%s", rc, out_text, err_text);
    if (rc != 0 || tu_list_runs(root, names, 4) != 1)
        return tu_finish("test_compare");
    snprintf(run, sizeof run, "%s/%s", root, names[0]);

    /* the run's line in the index */
    snprintf(out, sizeof out, "%s/index.csv", root);
    csv_table *ix = NULL;
    TU_EXPECT_OK(csv_read(out, &ix));
    TU_CHECK(ix && ix->nrows == 1 && !strcmp(csv_cell(ix, 0, csv_col(ix, "run_id")), names[0]) &&
                 !strcmp(csv_cell(ix, 0, csv_col(ix, "command")), "bench") &&
                 !strcmp(csv_cell(ix, 0, csv_col(ix, "status")), "complete"),
             "index.csv does not hold the bench run's line");
    csv_free(ix);

    /* the real run against itself: nothing flagged, exit 0 even with --fail-on-regression */
    snprintf(out, sizeof out, "%s/self", dir);
    rc = cnnbench(ARGS("compare", run, run, "--fail-on-regression", "--out", out));
    TU_CHECK(rc == 0 && !strstr(out_text, "SLOWER") && !strstr(out_text, "FASTER") &&
                 strstr(out_text, "2 rows in both: 0 slower, 0 faster"),
             "a run against itself: exit %d\n%s%s", rc, out_text, err_text);
    TU_CHECK(flagged("self", NULL, NULL, 0) == 0, "a run against itself: rows flagged");

    /* A: the real run with infer's repetitions 1% apart; B: infer 1.5x slower */
    csv_table *t = NULL;
    snprintf(out, sizeof out, "%s/results.csv", run);
    TU_EXPECT_OK(csv_read(out, &t));
    int infer = -1;
    for (int r = 0; t && r < t->nrows; r++)
        if (!strcmp(csv_cell(t, r, csv_col(t, "pass")), "infer"))
            infer = r;
    TU_CHECK(t && t->nrows == 2 && infer >= 0, "results.csv: not an infer and a train_step row");
    double m = t && infer >= 0 ? csv_num(t, infer, csv_col(t, "median_ms")) : 1;
    csv_free(t);
    if (infer < 0)
        return tu_finish("test_compare");
    static const double tight[3] = {0.99, 1, 1.01}, wide[3] = {0.6, 1, 1.4};
    const char *a = copy_run(run, "a"), *b = copy_run(run, "b"), *w = copy_run(run, "wide");
    set_row(a, infer, m, 1, tight);
    set_row(b, infer, m, 1.5, tight);
    set_row(w, infer, m, 1.5, wide);

    snprintf(out, sizeof out, "%s/slower", dir);
    rc = cnnbench(ARGS("compare", a, b, "--out", out));
    TU_CHECK(rc == 0 && count(out_text, "SLOWER") == 1 && strstr(out_text, "1.500") &&
                 strstr(out_text, "0.667x"),
             "one row 1.5x slower: exit %d, not flagged once:\n%s%s", rc, out_text, err_text);
    TU_CHECK(flagged("slower", "infer", "SLOWER", 1.5) == 1, "one row 1.5x slower: not alone");
    rc = cnnbench(ARGS("compare", a, b, "--fail-on-regression"));
    TU_CHECK(rc == CLI_EXIT_FAIL && strstr(err_text, "--fail-on-regression"),
             "--fail-on-regression on a slower row: exit %d\n%s", rc, err_text);
    /* the other way round it is FASTER, which is no regression */
    snprintf(out, sizeof out, "%s/faster", dir);
    rc = cnnbench(ARGS("compare", b, a, "--fail-on-regression", "--out", out));
    TU_CHECK(rc == 0 && count(out_text, "FASTER") == 1, "B against A: exit %d\n%s", rc, out_text);
    TU_CHECK(flagged("faster", "infer", "FASTER", 1 / 1.5) == 1, "faster: not alone");
    /* --threshold 60: 1.5x is within it */
    rc = cnnbench(ARGS("compare", a, b, "--threshold", "60", "--fail-on-regression"));
    TU_CHECK(rc == 0 && !strstr(out_text, "SLOWER"), "--threshold 60: exit %d\n%s", rc, out_text);
    /* B's repetitions 40% apart (relative MAD 0.4): the threshold is 3 x 40%, 1.5x within it */
    snprintf(out, sizeof out, "%s/wide", dir);
    rc = cnnbench(ARGS("compare", a, w, "--fail-on-regression", "--out", out));
    double thr = csv_value("wide", "infer", "threshold_pct");
    TU_CHECK(rc == 0 && !strstr(out_text, "SLOWER") && thr > 119.9 && thr < 120.1,
             "a wide spread: exit %d, threshold %g%%\n%s", rc, thr, out_text);
    TU_CHECK(flagged("wide", NULL, NULL, 0) == 0, "a wide spread: rows flagged");

    /* another CPU: said before the table */
    const char *cpu = copy_run(b, "cpu");
    edit(cpu, "meta.json", "\"cpu\": \"", "\"cpu\": \"Imaginary CPU 9000 ");
    rc = cnnbench(ARGS("compare", a, cpu));
    const char *said = strstr(out_text, "Imaginary CPU 9000"),
               *table = strstr(out_text, "\nbackend ");
    TU_CHECK(rc == 0 && said && table && said < table && strstr(out_text, "  cpu "),
             "another CPU is not said before the table:\n%s", out_text);
    TU_CHECK(!strstr(table ? table : "", "Imaginary"), "the CPU is said after the table");

    /* runs that did not finish, or are not runs */
    const char *intr = copy_run(run, "interrupted");
    edit(intr, "meta.json", "\"complete\": true", "\"complete\": false");
    edit(intr, "meta.json", "\"status\": \"complete\"", "\"status\": \"interrupted\"");
    expect_refused("interrupted B", a, intr,
                   ARGS("RUN_B", "the run did not finish (status interrupted)",
                        "its numbers cover part of the work; compare refuses it"));
    expect_refused("interrupted A", intr, a, ARGS("RUN_A", "(status interrupted)"));
    const char *running = copy_run(run, "running");
    edit(running, "meta.json", "\"status\": \"complete\"", "\"status\": \"running\"");
    expect_refused("running", a, running, ARGS("RUN_B", "(status running"));
    const char *nometa = copy_run(run, "nometa");
    snprintf(out, sizeof out, "%s/meta.json", nometa);
    unlink(out);
    expect_refused("no meta.json", nometa, a, ARGS("RUN_A", "no meta.json", "refuses"));
    const char *badmeta = copy_run(run, "badmeta");
    edit(badmeta, "meta.json", "{", "[");
    expect_refused("unreadable meta.json", a, badmeta, ARGS("RUN_B", "meta.json", "refuses"));

    /* a broken line (3: train_step's, cut short) and a foreign CSV */
    const char *cut = copy_run(run, "cut");
    edit(cut, "results.csv", ",train_step,", ",train_step\n");
    snprintf(out, sizeof out, "%s/results.csv:3:", cut);
    expect_refused("a broken line", a, cut, ARGS(out));
    const char *foreign = copy_run(run, "foreign");
    snprintf(out, sizeof out, "%s/results.csv", foreign);
    write_text(out, "backend,algorithm,op\nnaive,naive,relu\n");
    expect_refused("a foreign CSV", foreign, a, ARGS("results.csv: no column"));

    /* usage */
    rc = cnnbench(ARGS("compare", a));
    TU_CHECK(rc == CLI_EXIT_USAGE && strstr(err_text, "two run folders"), "one run: exit %d", rc);
    rc = cnnbench(ARGS("compare", a, b, "--threshold", "-1"));
    TU_CHECK(rc == CLI_EXIT_USAGE, "--threshold -1: exit %d", rc);
    rc = cnnbench(ARGS("compare", "--help"));
    TU_CHECK(rc == 0 && strstr(out_text, "median absolute deviation"), "compare --help: %d", rc);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_compare");
}
