/* `cnnbench verify` as a process: the table has a header and a max_abs
 * column, --passes narrows the sweep, --shapes takes a model's name, and
 * an option of the other mode (--ops with --models, --batch without) is a
 * usage error instead of being ignored, as it was before (issue 13).
 *
 * The run folder (issue 13): each run writes RESULTS/<run-id>/ with
 * verify.csv and meta.json; two runs started at once get a folder each
 * (before, both wrote results/verify-<second>.csv and one run's rows were
 * lost); a run stopped by SIGINT exits 130 with the rows it finished, whole,
 * and meta.json saying "interrupted"; a run killed outright keeps its rows
 * and says "complete": false; neither leaves a temporary file. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

static char dir[] = "/tmp/cnn_test_verify_cli_XXXXXX";
static char out_text[1 << 17], err_text[1 << 16];

/* argv of `cnnbench verify ARGS... --results DIR/<root>`; results holds the
 * path. */
static void verify_argv(char *argv[64], const char *root, const char *const *args,
                        char results[512])
{
    snprintf(results, 512, "%s/%s", dir, root);
    tu_cli_argv(argv, CNNBENCH_EXE, "verify", args, results);
}

static int verify(const char *const *args)
{
    char results[512], *argv[64];
    verify_argv(argv, "results", args, results);
    return tu_run_process(CNNBENCH_EXE, argv, dir, out_text, sizeof out_text, err_text,
                          sizeof err_text);
}
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void expect(const char *what, const char *const *args, int want, const char *const *words,
                   const char *const *absent)
{
    int rc = verify(args);
    TU_CHECK(rc == want, "%s: exit %d, expected %d\nstderr: %s", what, rc, want, err_text);
    const char *text = want == CLI_EXIT_USAGE ? err_text : out_text;
    for (; words && *words; words++)
        TU_CHECK(strstr(text, *words), "%s: output lacks '%s':\n%s", what, *words, text);
    for (; absent && *absent; absent++)
        TU_CHECK(!strstr(text, *absent), "%s: output has '%s':\n%s", what, *absent, text);
}

#define VERIFY_CSV_HEADER                                                                          \
    "backend,algorithm,op,pass,tensor,layer,shape,n,c,h,w,k,r,s,p,q,stride_h,stride_w,pad_h,"      \
    "pad_w,rel_l2,max_abs,tolerance,status\n"

static char csv_text[1 << 20], meta_text[1 << 14];

/* The run folders under DIR/<root> into names; returns how many. */
static int run_folders(const char *root, char names[][256], int max)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, root);
    return tu_list_runs(path, names, max);
}

/* Read DIR/<root>/<run>/meta.json and verify.csv into meta_text and csv_text. */
static void read_run(const char *root, const char *run)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s/%s/meta.json", dir, root, run);
    tu_slurp(path, meta_text, sizeof meta_text);
    snprintf(path, sizeof path, "%s/%s/%s/verify.csv", dir, root, run);
    tu_slurp(path, csv_text, sizeof csv_text);
}

/* Rows of csv_text, each checked to be whole: ended by a newline, with as
 * many fields as the header (no field here holds a quote or comma). */
static int whole_rows(const char *what)
{
    TU_CHECK(!strncmp(csv_text, VERIFY_CSV_HEADER, strlen(VERIFY_CSV_HEADER)),
             "%s: verify.csv header is not the documented one:\n%.300s", what, csv_text);
    int rows = -1, bad = 0;
    for (const char *p = csv_text; *p;) {
        const char *e = strchr(p, '\n');
        int commas = 0;
        for (const char *q = p; *q && q != e; q++)
            commas += *q == ',';
        bad += !e || commas != 23;
        rows++;
        if (!e)
            break;
        p = e + 1;
    }
    TU_CHECK(bad == 0, "%s: %d lines of verify.csv are not whole rows", what, bad);
    return rows;
}

/* Nothing hidden and no *.tmp in the run folder: no temporary file left. */
static void expect_no_temp(const char *root, const char *run, const char *what)
{
    char path[2048], names[16][256];
    snprintf(path, sizeof path, "%s/%s/%s", dir, root, run);
    int n = tu_list_dir(path, names, 16);
    TU_CHECK(n == 2 && !strcmp(names[0], "meta.json") && !strcmp(names[1], "verify.csv"),
             "%s: the run folder holds %d entries, not meta.json and verify.csv (%s, %s)", what, n,
             n > 0 ? names[0] : "", n > 1 ? names[1] : "");
    for (int i = 0; i < n && i < 16; i++)
        TU_CHECK(names[i][0] != '.' && !strstr(names[i], ".tmp"), "%s: temporary file %s left",
                 what, names[i]);
}

static pid_t start_verify(const char *root, const char *tag, const char *const *args)
{
    char results[512], out[512], err[512], *argv[64];
    verify_argv(argv, root, args, results);
    snprintf(out, sizeof out, "%s/%s.out", dir, tag);
    snprintf(err, sizeof err, "%s/%s.err", dir, tag);
    return tu_start_process(CNNBENCH_EXE, argv, out, err);
}

/* The run of the first test: its folder, meta.json and CSV. */
static void test_run_folder(void)
{
    char names[4][256];
    int n = run_folders("results", names, 4);
    TU_CHECK(n == 1, "%d run folders after one run", n);
    if (n != 1)
        return;
    /* <host>-<YYYYmmdd-HHMMSS>-<6 hex> */
    size_t len = strlen(names[0]);
    const char *tail = names[0] + (len > 23 ? len - 23 : 0);
    TU_CHECK(len > 23 && tail[0] == '-' && strspn(tail + 1, "0123456789") == 8 && tail[9] == '-' &&
                 strspn(tail + 10, "0123456789") == 6 && tail[16] == '-' &&
                 strspn(tail + 17, "0123456789abcdef") == 6,
             "run id '%s' is not <host>-<YYYYmmdd-HHMMSS>-<hex6>", names[0]);
    read_run("results", names[0]);
    TU_CHECK(strstr(meta_text, "\"complete\": true") &&
                 strstr(meta_text, "\"status\": \"complete\"") &&
                 strstr(meta_text, "verify --shapes lenet5 --passes bwd_data --backends naive "
                                   "--results ") &&
                 strstr(meta_text, "\"seed\": 1") && strstr(meta_text, "\"threads\": ") &&
                 strstr(meta_text, "\"git_commit\": ") && strstr(meta_text, "\"run_id\": \""),
             "meta.json lacks what it should hold:\n%s", meta_text);
    int rows = whole_rows("lenet5 bwd_data");
    TU_CHECK(rows == 11, "lenet5 bwd_data: %d rows, expected 11 (one dx per layer)", rows);
    TU_CHECK(strstr(csv_text, "naive,naive,conv2d,bwd_data,dx,lenet5/conv2,"
                              "mb8ic6ih14iw14oc16oh10ow10kh5kw5sh1sw1ph0pw0,8,6,14,14,16,5,5,10,10,"
                              "1,1,0,0,"),
             "verify.csv lacks lenet5/conv2's row with its dimensions:\n%s", csv_text);
    expect_no_temp("results", names[0], "lenet5 bwd_data");
}

/* Two runs started at once into one results root: a folder each. */
static void test_concurrent_runs(void)
{
    const char *const *args = ARGS("--shapes", "edge", "--ops", "relu", "--backends", "naive");
    pid_t a = start_verify("both", "a", args), b = start_verify("both", "b", args);
    int ra = tu_wait_process(a), rb = tu_wait_process(b);
    TU_CHECK(ra == 0 && rb == 0, "two runs at once: exit %d and %d", ra, rb);
    char names[4][256];
    int n = run_folders("both", names, 4);
    TU_CHECK(n == 2, "two runs at once made %d run folders", n);
    for (int i = 0; i < n && i < 2; i++) {
        read_run("both", names[i]);
        int rows = whole_rows(names[i]);
        TU_CHECK(rows == 4 && strstr(meta_text, "\"complete\": true"),
                 "run %s: %d rows (expected 4: 2 relu shapes, y and dx), meta.json:\n%s", names[i],
                 rows, meta_text);
        expect_no_temp("both", names[i], names[i]);
    }
}

/* Wait until the one run under DIR/<root> has at least `rows` rows. */
static bool wait_for_rows(const char *root, int rows, char run[256])
{
    for (int t = 0; t < 1200; t++) {
        char names[2][256];
        if (run_folders(root, names, 2) == 1) {
            read_run(root, names[0]);
            int lines = 0;
            for (const char *p = csv_text; (p = strchr(p, '\n')); p++)
                lines++;
            if (lines > rows) {
                snprintf(run, 256, "%s", names[0]);
                return true;
            }
        }
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    return false;
}

/* A run stopped by a signal in the middle of the sweep. */
static void test_stopped_run(int sig, const char *root)
{
    /* minutes of cases on the reference: the signal comes long before the end */
    const char *const *args =
        ARGS("--shapes", "lenet5,fashion_cnn,alexnet,googlenet,resnet18", "--backends", "naive");
    pid_t pid = start_verify(root, root, args);
    char run[256], what[64];
    snprintf(what, sizeof what, "a run stopped by signal %d", sig);
    bool started = wait_for_rows(root, 3, run);
    TU_CHECK(started, "%s: no rows within a minute", what);
    kill(pid, sig);
    int rc = tu_wait_process(pid);
    if (!started)
        return;
    read_run(root, run);
    int rows = whole_rows(what);
    TU_CHECK(rows >= 3, "%s: %d rows", what, rows);
    expect_no_temp(root, run, what);
    if (sig == SIGINT) {
        char out[1 << 14], path[600];
        snprintf(path, sizeof path, "%s/%s.out", dir, root);
        tu_slurp(path, out, sizeof out);
        TU_CHECK(rc == 130, "%s: exit %d, expected 130", what, rc);
        TU_CHECK(strstr(meta_text, "\"complete\": false") &&
                     strstr(meta_text, "\"status\": \"interrupted\"") &&
                     !strstr(meta_text, "\"finished\": null"),
                 "%s: meta.json does not say interrupted:\n%s", what, meta_text);
        TU_CHECK(strstr(out, "summary (relative L2") && strstr(out, ": interrupted"),
                 "%s: no summary or no word of the interruption:\n%s", what, out);
    } else {
        TU_CHECK(rc == 128 + SIGKILL, "%s: exit %d", what, rc);
        TU_CHECK(strstr(meta_text, "\"complete\": false") &&
                     strstr(meta_text, "\"status\": \"running\""),
                 "%s: meta.json does not say incomplete:\n%s", what, meta_text);
    }
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    /* lenet5's layers, backward data only, on the reference itself. */
    expect("--shapes lenet5 --passes bwd_data",
           ARGS("--shapes", "lenet5", "--passes", "bwd_data", "--backends", "naive"), CLI_EXIT_OK,
           ARGS("status     backend", "rel_l2", "max_abs", "tolerance", "bwd_data",
                "mb8ic1ih28iw28oc6oh28ow28kh5kw5"),
           ARGS(" fwd ", "bwd_weight"));
    test_run_folder();
    test_concurrent_runs();
    test_stopped_run(SIGINT, "int");
    test_stopped_run(SIGKILL, "kill");
    expect("--ops with --models", ARGS("--models", "lenet5", "--ops", "conv2d"), CLI_EXIT_USAGE,
           ARGS("--ops applies to the op sweep, not to --models"), NULL);
    expect("--passes with --models", ARGS("--models", "--passes", "fwd"), CLI_EXIT_USAGE,
           ARGS("--passes applies to the op sweep"), NULL);
    expect("--batch without --models", ARGS("--batch", "4"), CLI_EXIT_USAGE,
           ARGS("--batch applies to --models only"), NULL);
    expect("unknown pass", ARGS("--passes", "fwd,backward"), CLI_EXIT_USAGE,
           ARGS("unknown pass 'backward'", "bwd_weight"), NULL);
    expect("unknown shape set", ARGS("--shapes", "quick,vgg"), CLI_EXIT_USAGE,
           ARGS("unknown shape set 'vgg'", "vgg16"), NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_verify_cli");
}
