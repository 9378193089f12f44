/* The run's surroundings, as processes:
 *   - --threads 0 (the libraries' default), negative, past 1024, more than
 *     the machine's CPUs (a warning: the run goes on), the same in every
 *     command (cli_parse checks them all);
 *   - an output folder that cannot be made. The tests run as root, which
 *     chmod does not stop, so the unwritable places are a path under a
 *     regular file (ENOTDIR) and one under /proc (no folders there);
 *   - a full disk: RLIMIT_FSIZE in the child with SIGXFSZ ignored, so a write
 *     past the limit fails with EFBIG. The error names the file; the files
 *     there before (an op output, a weights folder, results/index.csv and
 *     older runs) are intact and no temporary file is left.
 * Each: the exact message and the exit status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npy.h"
#include "test_hostile_util.h"

static char fp_before[1 << 15], fp_after[1 << 15];

static void write_x(const char *rel, cnn_shape s)
{
    int64_t n = cnn_shape_numel(&s);
    float *x = tu_xmalloc((size_t)n * sizeof *x);
    uint64_t rng = 11;
    tu_fill(x, n, &rng, -1, 1);
    TU_EXPECT_OK(cnn_npy_write_f32(th_path(rel), &s, x));
    free(x);
}

static void test_threads(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    char more[32], msg[256];
    snprintf(more, sizeof more, "%ld", cpus + 1);
    const char *op[] = {"op",    "relu",           "--backend", "naive", "--x", th_path("x.npy"),
                        "--out", th_path("t_out"), "--threads", NULL,    NULL};
    op[9] = "0";
    int rc = th_run(op, 0);
    th_expect("op --threads 0", rc, 0, NULL);
    TU_CHECK(!strstr(th_err, "warning"), "--threads 0 warned: %s", th_err);
    op[9] = more;
    rc = th_run(op, 0);
    snprintf(msg, sizeof msg,
             "cnnbench op relu: warning: --threads %ld is more than this machine's %ld CPUs; the "
             "threads will share them",
             cpus + 1, cpus);
    th_expect("op --threads CPUs + 1", rc, 0, ARGS(msg));
    TU_CHECK(tu_exists(th_path("t_out/y.npy")), "op --threads CPUs + 1 did not run");

    /* the same checks in every command that takes --threads N */
    static const char *const cmds[][12] = {
        {"op", "relu", "--backend", "naive", "--x", "X", "--out", "O"},
        {"op", "sgd", "--backend", "naive", "--param", "X", "--grad", "X", "--lr", "1", "--out",
         "O"},
        {"run", "--model", "lenet5", "--backends", "naive", "--input", "X", "--out"},
        {"verify", "--shapes", "quick", "--backends", "naive", "--results", "O", NULL},
        {"bench", "--models", "lenet5", "--backends", "naive", "--results", "O", NULL},
        {"train", "--model", "lenet5", "--backends", "naive", "--results", "O", NULL},
    };
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
        for (int bad = 0; bad < 2; bad++) {
            const char *argv[20];
            int n = 0;
            for (int i = 0; i < 12 && cmds[c][i]; i++)
                argv[n++] = !strcmp(cmds[c][i], "X")   ? th_path("x.npy")
                            : !strcmp(cmds[c][i], "O") ? th_path("never")
                                                       : cmds[c][i];
            if (!strcmp(argv[0], "run"))
                argv[n++] = th_path("never");
            argv[n++] = "--threads";
            argv[n++] = bad ? "1025" : "-3";
            argv[n] = NULL;
            char name[64], what[96];
            snprintf(name, sizeof name, "cnnbench %s%s%s: ", argv[0],
                     !strcmp(argv[0], "op") ? " " : "", !strcmp(argv[0], "op") ? argv[1] : "");
            if (bad)
                snprintf(msg, sizeof msg,
                         "%s--threads 1025 is more than 1024 (this machine has %ld CPUs)", name,
                         cpus);
            else
                snprintf(msg, sizeof msg,
                         "%s--threads must be >= 0 (0: the libraries' default), got -3", name);
            snprintf(what, sizeof what, "%s --threads %s", name, bad ? "1025" : "-3");
            th_expect(what, th_run(argv, 0), 2, ARGS(msg));
            TU_CHECK(!tu_exists(th_path("never")), "%s created its output", what);
        }
    }
    rc = th_run(ARGS("sweep", "--quick", "--models", "lenet5", "--threads", "1,0", "--results",
                     th_path("never")),
                0);
    th_expect("sweep --threads 1,0", rc, 2,
              ARGS("cnnbench sweep: --threads: '0' is not a thread count (1 to 1024)"));
}

/* Places no one can write, even root: under a regular file, under /proc. */
static void test_unwritable(void)
{
    th_write("afile", "a regular file\n");
    char under[1100], msg[1400];
    snprintf(under, sizeof under, "%s/results", th_path("afile"));
    int rc = th_run(ARGS("verify", "--shapes", "quick", "--backends", "naive", "--ops", "relu",
                         "--results", under),
                    0);
    snprintf(msg, sizeof msg, "cnnbench verify: i/o error: %s: exists and is not a folder",
             th_path("afile"));
    th_expect("verify --results under a file", rc, 1, ARGS(msg));
    rc = th_run(ARGS("verify", "--shapes", "quick", "--backends", "naive", "--ops", "relu",
                     "--results", "/proc/cnnbench_results"),
                0);
    th_expect("verify --results under /proc", rc, 1,
              ARGS("cnnbench verify: i/o error: /proc/cnnbench_results: cannot create folder: "
                   "No such file or directory"));
    rc = th_run(ARGS("op", "relu", "--backend", "naive", "--x", th_path("x.npy"), "--out", under),
                0);
    snprintf(msg, sizeof msg, "cnnbench op: i/o error: relu: --out: %s: exists and is not a folder",
             th_path("afile"));
    th_expect("op --out under a file", rc, 1, ARGS(msg));
    /* run: a --save-weights folder that cannot be made stops it before --out is written */
    rc = th_run(ARGS("run", "--model", "lenet5", "--backends", "naive", "--input",
                     th_path("x28.npy"), "--out", th_path("run_out"), "--save-weights", under),
                0);
    snprintf(msg, sizeof msg,
             "cnnbench run: i/o error: --save-weights %s: %s: exists and is not a folder", under,
             th_path("afile"));
    th_expect("run --save-weights under a file", rc, 1, ARGS(msg));
    TU_CHECK(!tu_exists(th_path("run_out")), "run wrote --out though --save-weights failed");
    th_fingerprint(th_path("afile"), fp_after, sizeof fp_after);
    TU_CHECK(strstr(fp_after, ". 15 ") == fp_after, "the file was changed: %s", fp_after);
}

/* A write past `limit` bytes fails: the message names the file, `dir` is as it was. */
static void full(const char *what, const char *const *args, long limit, const char *dir,
                 const char *file)
{
    th_fingerprint(dir, fp_before, sizeof fp_before);
    int rc = th_run(args, limit);
    char msg[1200];
    snprintf(msg, sizeof msg, "%s: cannot write: File too large", file);
    th_expect(what, rc, 1, ARGS(msg));
    th_fingerprint(dir, fp_after, sizeof fp_after);
    TU_CHECK(!strcmp(fp_before, fp_after), "%s: %s changed:\nbefore\n%s\nafter\n%s", what, dir,
             fp_before, fp_after);
}

static void test_full_disk(void)
{
    /* op: y.npy (256 KiB) past a 64 KiB limit; the old y.npy stays, no temporary */
    write_x("big.npy", cnn_shape2(64, 1024));
    const char *out = th_path("op_out");
    char y[1100];
    snprintf(y, sizeof y, "%s/y.npy", out);
    int rc = th_run(
        ARGS("op", "sigmoid", "--backend", "naive", "--x", th_path("big.npy"), "--out", out), 0);
    th_expect("op before the disk is full", rc, 0, NULL);
    full("op on a full disk",
         ARGS("op", "relu", "--backend", "naive", "--x", th_path("big.npy"), "--out", out),
         64 << 10, out, y);

    /* run --save-weights over an older weights folder: fc1.weight (188 KiB) fails; every
     * key keeps its old file (none half replaced by the new weights) */
    const char *w = th_path("weights");
    rc = th_run(ARGS("run", "--model", "lenet5", "--backends", "naive", "--input",
                     th_path("x28.npy"), "--out", th_path("w_out"), "--save-weights", w),
                0);
    th_expect("run --save-weights", rc, 0, NULL);
    char fc1[1100];
    snprintf(fc1, sizeof fc1, "%s/fc1.weight.npy.part", w);
    full("run --save-weights on a full disk",
         ARGS("run", "--model", "lenet5", "--backends", "naive", "--input", th_path("x28.npy"),
              "--seed", "9", "--out", th_path("w_out"), "--save-weights", w),
         64 << 10, w, fc1);

    /* verify: its meta.json (1.4 KiB) past 1 KiB; the older run and the index stay as
     * they were */
    const char *root = th_path("results");
    const char *verify[] = {"verify", "--shapes", "quick",     "--backends", "naive",
                            "--ops",  "relu",     "--results", root,         NULL};
    rc = th_run(verify, 0);
    th_expect("verify before the disk is full", rc, 0, NULL);
    th_fingerprint(root, fp_before, sizeof fp_before);
    rc = th_run(verify, 1024);
    th_expect("verify on a full disk", rc, 1, ARGS("/meta.json: cannot write: File too large"));
    char names[8][256];
    int k = tu_list_runs(root, names, 8);
    TU_CHECK(k == 1, "verify on a full disk: %d run folders, want the old one alone", k);
    th_fingerprint(root, fp_after, sizeof fp_after);
    TU_CHECK(!strcmp(fp_before, fp_after), "verify on a full disk changed %s:\n%s\n%s", root,
             fp_before, fp_after);

    /* an index larger than the limit: the run itself is whole (exit 0), the warning names
     * the index, which keeps its lines */
    char index[1100], line[2048], text[1 << 13];
    snprintf(index, sizeof index, "%s/index.csv", root);
    tu_slurp(index, text, sizeof text);
    const char *last = strchr(text, '\n');
    snprintf(line, sizeof line, "%s", last ? last + 1 : "");
    FILE *f = fopen(index, "a");
    for (int i = 0; f && i < 30; i++)
        fputs(line, f);
    if (f)
        fclose(f);
    th_fingerprint(index, fp_before, sizeof fp_before);
    rc = th_run(verify, 4096);
    char msg[1300];
    snprintf(msg, sizeof msg,
             "cnnbench: warning: the run is not in the index: %s: write failed: File too large",
             index);
    th_expect("verify with the index past the limit", rc, 0, ARGS(msg));
    th_fingerprint(index, fp_after, sizeof fp_after);
    TU_CHECK(!strcmp(fp_before, fp_after), "the index changed:\n%s\n%s", fp_before, fp_after);
}

int main(void)
{
    if (!th_init("hostile_io"))
        return 2;
    write_x("x.npy", cnn_shape2(3, 5));
    write_x("x28.npy", cnn_shape4(2, 1, 28, 28));
    test_threads();
    test_unwritable();
    test_full_disk();
    return th_finish("test_hostile_io");
}
