/* `cnnbench plot RUN_DIR` as a process, on run folders that real bench and
 * verify processes write: the charts each kind of folder gets (PNG and SVG
 * that are what they claim, the script and data beside them), the Winograd
 * chart once verify.csv and results.csv share a folder, a second plot
 * replacing plots/ whole; then every refusal (usage, a missing or wrong
 * folder, CSVs and meta.json from elsewhere, train.csv without its
 * columns) with its message and exit status and nothing written, an
 * incomplete run drawn and said so, and gnuplot missing (the scripts are
 * still written). Without gnuplot on PATH the refusals are still checked,
 * then 77 (skipped); without Google Benchmark (no bench) 77 at once. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "registry.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

#define SKIPPED 77
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static char dir[] = "/tmp/cnn_test_plot_cli_XXXXXX";
static char out_text[1 << 16], err_text[1 << 16];

/* `cnnbench WORDS...` (no --results added); returns the exit status. */
static int run(const char *const *words)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)CNNBENCH_EXE;
    for (; *words && n < 63; words++)
        argv[n++] = (char *)*words;
    argv[n] = NULL;
    return tu_run_process(CNNBENCH_EXE, argv, dir, out_text, sizeof out_text, err_text,
                          sizeof err_text);
}

static int plot(const char *run_dir)
{
    return run(ARGS("plot", run_dir));
}

/* `cnnbench COMMAND ARGS... --results DIR/<out>`; the one run folder it made into folder. */
static bool make_run(const char *command, const char *out, const char *const *args, char *folder,
                     size_t n)
{
    char results[512], *argv[64], names[2][256];
    snprintf(results, sizeof results, "%s/%s", dir, out);
    tu_cli_argv(argv, CNNBENCH_EXE, command, args, results);
    int rc = tu_run_process(CNNBENCH_EXE, argv, dir, out_text, sizeof out_text, err_text,
                            sizeof err_text);
    TU_CHECK(rc == 0, "%s %s: exit %d\n%s\n%s", command, out, rc, out_text, err_text);
    if (rc != 0 || tu_list_dir(results, names, 2) != 1)
        return false;
    snprintf(folder, n, "%s/%s", results, names[0]);
    return true;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    TU_CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
}

static void copy_file(const char *from, const char *to)
{
    static char buf[1 << 20];
    tu_slurp(from, buf, sizeof buf);
    TU_CHECK(buf[0], "%s is empty or missing", from);
    write_file(to, buf);
}

/* A fresh folder DIR/name holding the named files of `from` (NULL-terminated). */
static void make_folder(char *out, size_t n, const char *name, const char *from,
                        const char *const *files)
{
    snprintf(out, n, "%s/%s", dir, name);
    TU_CHECK(mkdir(out, 0755) == 0, "mkdir %s", out);
    for (; from && *files; files++) {
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/%s", from, *files);
        snprintf(b, sizeof b, "%s/%s", out, *files);
        copy_file(a, b);
    }
}

/* Every chart of `charts` has NAME.gp, NAME.dat and a real PNG and SVG in folder/plots. */
static void expect_charts(const char *what, const char *folder, const char *const *charts)
{
    for (; *charts; charts++) {
        char path[1024], head[64];
        const char *kinds[] = {"gp", "dat", "png", "svg"};
        for (int k = 0; k < 4; k++) {
            snprintf(path, sizeof path, "%s/plots/%s.%s", folder, *charts, kinds[k]);
            struct stat sb;
            TU_CHECK(stat(path, &sb) == 0 && sb.st_size > (k >= 2 ? 4000 : 20),
                     "%s: %s missing or too small", what, path);
            tu_slurp(path, head, sizeof head);
            if (k == 2)
                TU_CHECK(!memcmp(head + 1, "PNG\r\n", 5) && (unsigned char)head[0] == 0x89,
                         "%s: %s is not a PNG", what, path);
            if (k == 3)
                TU_CHECK(!strncmp(head, "<?xml", 5) || !strncmp(head, "<svg", 4),
                         "%s: %s is not an SVG: %.20s", what, path, head);
        }
    }
}

/* No temporary folder of plot in folder, `keep` entries, plots/ among them only if `plots`. */
static void expect_entries(const char *what, const char *folder, int keep, bool plots)
{
    char names[16][256];
    int n = tu_list_dir(folder, names, 16);
    TU_CHECK(n == keep, "%s: %s holds %d entries, expected %d (plot wrote something)", what, folder,
             n, keep);
    for (int i = 0; i < n && i < 16; i++)
        TU_CHECK((plots || strcmp(names[i], "plots")) && strncmp(names[i], ".plots", 6),
                 "%s: %s/%s is left", what, folder, names[i]);
}

/* A refused plot wrote nothing: no plots/, no temporary folder. */
static void expect_untouched(const char *what, const char *folder, int keep)
{
    expect_entries(what, folder, keep, false);
}

static void expect(int rc, int want, const char *what, const char *text, const char *const *words)
{
    TU_CHECK(rc == want, "%s: exit %d, expected %d\nstdout: %s\nstderr: %s", what, rc, want,
             out_text, err_text);
    for (; words && *words; words++)
        TU_CHECK(strstr(text, *words), "%s: output lacks '%s':\n%s", what, *words, text);
}

static bool have_gnuplot(void)
{
    const char *path = getenv("PATH");
    char copy[4096], exe[4200];
    snprintf(copy, sizeof copy, "%s", path ? path : "");
    for (char *p = strtok(copy, ":"); p; p = strtok(NULL, ":")) {
        snprintf(exe, sizeof exe, "%s/gnuplot", p);
        if (access(exe, X_OK) == 0)
            return true;
    }
    return false;
}

/* A layer run of fashion_cnn's convolutions at verify's batch (8), and its checks. */
static void test_layer_charts(char *bench_dir, size_t n, bool winograd)
{
    const char *backends = winograd ? "im2col,winograd_f2x3,winograd_f4x3,naive" : "naive";
    if (!make_run("bench", "layers",
                  ARGS("--model", "fashion_cnn", "--batch", "8", "--backends", backends, "--passes",
                       "fwd,bwd_data", "--repetitions", "1", "--min-time", "0.01"),
                  bench_dir, n))
        return;
    expect(plot(bench_dir), 0, "plot layers", out_text,
           ARGS("drew plots/layers_fashion_cnn_fwd.png and .svg",
                "skipped winograd_error_speedup: needs results.csv and verify.csv in one folder",
                "skipped model_*: results.csv has no MODEL rows", "in ", "/plots/"));
    expect_charts(
        "plot layers", bench_dir,
        ARGS("layers_fashion_cnn_fwd", "layers_fashion_cnn_bwd_data", "roofline_fashion_cnn"));
    if (winograd)
        expect_charts(
            "plot layers", bench_dir,
            ARGS("speedup_fashion_cnn_fwd_vs_naive", "speedup_fashion_cnn_bwd_data_vs_naive"));
    /* the ceilings of meta.json are drawn */
    char gp[1024], text[1 << 14];
    snprintf(gp, sizeof gp, "%s/plots/layers_fashion_cnn_fwd.gp", bench_dir);
    tu_slurp(gp, text, sizeof text);
    TU_CHECK(strstr(text, "FMA peak ") && strstr(text, "OpenBLAS sgemm") &&
                 strstr(text, "set output \"layers_fashion_cnn_fwd.svg\""),
             "%s lacks the ceilings or the SVG:\n%s", gp, text);

    /* a second plot replaces plots/ whole: a file put there is gone */
    char stale[1024];
    snprintf(stale, sizeof stale, "%s/plots/stale.txt", bench_dir);
    write_file(stale, "old\n");
    expect(plot(bench_dir), 0, "plot again", out_text, NULL);
    TU_CHECK(!tu_exists(stale), "a second plot kept %s", stale);
    expect_entries("plot again", bench_dir, 3, true); /* meta.json, results.csv, plots */
}

/* verify.csv beside results.csv (as a sweep writes them): the Winograd chart, matched by
 * shape, and the verify chart. */
static void test_winograd_chart(const char *bench_dir)
{
    char verify_dir[1024], both[1024];
    if (!make_run("verify", "verify",
                  ARGS("--shapes", "fashion_cnn", "--ops", "conv2d", "--backends",
                       "winograd_f2x3,winograd_f4x3", "--passes", "fwd,bwd_data"),
                  verify_dir, sizeof verify_dir))
        return;
    expect(plot(verify_dir), 0, "plot verify", out_text,
           ARGS("drew plots/verify_margin.png and .svg", "skipped layers_*: no results.csv"));
    expect_charts("plot verify", verify_dir, ARGS("verify_margin"));
    make_folder(both, sizeof both, "both", bench_dir, ARGS("results.csv", "meta.json"));
    char a[1100], b[1100];
    snprintf(a, sizeof a, "%s/verify.csv", verify_dir);
    snprintf(b, sizeof b, "%s/verify.csv", both);
    copy_file(a, b);
    expect(plot(both), 0, "plot both", out_text,
           ARGS("drew plots/winograd_error_speedup.png and .svg",
                "drew plots/verify_margin.png and .svg"));
    expect_charts("plot both", both, ARGS("winograd_error_speedup", "verify_margin"));
    /* both tiles and both passes have points (each of 2 layers: 2 points per tile) */
    char dat[1100], text[1 << 14];
    snprintf(dat, sizeof dat, "%s/plots/winograd_error_speedup.dat", both);
    tu_slurp(dat, text, sizeof text);
    TU_CHECK(strstr(text, "\"conv_layer1.0\" \"winograd_f2x3\" \"fwd\"") &&
                 strstr(text, "\"conv_layer2.0\" \"winograd_f4x3\" \"bwd_data\""),
             "%s lacks points:\n%s", dat, text);
    TU_CHECK(!strstr(out_text, "note: winograd_error_speedup"), "unmatched rows:\n%s", out_text);
}

/* Whole models: images/s, memory, speed-up over naive, the models' roofline. */
static void test_model_charts(void)
{
    char models_dir[1024];
    if (!make_run("bench", "models",
                  ARGS("--models", "lenet5", "--batch", "2", "--backends", "im2col,naive",
                       "--repetitions", "1"),
                  models_dir, sizeof models_dir))
        return;
    expect(plot(models_dir), 0, "plot models", out_text,
           ARGS("skipped layers_*: results.csv has no layer rows"));
    expect_charts(
        "plot models", models_dir,
        ARGS("model_lenet5", "memory_lenet5", "speedup_models_vs_naive", "roofline_models"));
}

/* A run that did not finish is drawn, and every title and stdout say so. */
static void test_incomplete(const char *bench_dir)
{
    char inc[1024], meta[1100], text[1 << 15];
    make_folder(inc, sizeof inc, "incomplete", bench_dir, ARGS("results.csv", "meta.json"));
    snprintf(meta, sizeof meta, "%s/meta.json", inc);
    tu_slurp(meta, text, sizeof text);
    char *at = strstr(text, "\"status\": \"complete\"");
    TU_CHECK(at != NULL, "%s has no status complete", meta);
    if (!at)
        return;
    memmove(at + strlen("\"status\": \"interrupted\""), at + strlen("\"status\": \"complete\""),
            strlen(at + strlen("\"status\": \"complete\"")) + 1);
    memcpy(at, "\"status\": \"interrupted\"", strlen("\"status\": \"interrupted\""));
    write_file(meta, text);
    expect(plot(inc), 0, "plot incomplete", out_text,
           ARGS("incomplete run (status interrupted): drawing what it wrote"));
    char names[64][256], path[1600];
    snprintf(path, sizeof path, "%s/plots", inc);
    int n = tu_list_dir(path, names, 64);
    int scripts = 0;
    for (int i = 0; i < n && i < 64; i++) {
        if (!strstr(names[i], ".gp") ||
            snprintf(path, sizeof path, "%s/plots/%s", inc, names[i]) >= (int)sizeof path)
            continue;
        tu_slurp(path, text, sizeof text);
        TU_CHECK(strstr(text, "set title \"incomplete run (status interrupted)") ||
                     strstr(text, "set multiplot layout 1,2 title \"incomplete run"),
                 "%s: the title does not say incomplete", path);
        scripts++;
    }
    TU_CHECK(scripts >= 3, "only %d charts of the incomplete run", scripts);
}

/* gnuplot missing: exit 1, the install line, the scripts written, no image. */
static void test_no_gnuplot(const char *bench_dir)
{
    char folder[1024], empty[1100];
    make_folder(folder, sizeof folder, "nognuplot", bench_dir, ARGS("results.csv", "meta.json"));
    snprintf(empty, sizeof empty, "%s/empty-path", dir);
    TU_CHECK(mkdir(empty, 0755) == 0, "mkdir %s", empty);
    char saved[4096];
    snprintf(saved, sizeof saved, "%s", getenv("PATH") ? getenv("PATH") : "");
    setenv("PATH", empty, 1);
    int rc = plot(folder);
    setenv("PATH", saved, 1);
    expect(rc, CLI_EXIT_FAIL, "plot without gnuplot", err_text,
           ARGS("cannot run gnuplot", "apt-get install gnuplot-nox", "scripts are written"));
    char path[1200];
    snprintf(path, sizeof path, "%s/plots/layers_fashion_cnn_fwd.gp", folder);
    TU_CHECK(tu_exists(path), "without gnuplot, %s was not written", path);
    snprintf(path, sizeof path, "%s/plots/layers_fashion_cnn_fwd.png", folder);
    TU_CHECK(!tu_exists(path), "without gnuplot, %s exists", path);
    expect(run(ARGS("plot", folder, "--gnuplot", "/nonexistent/gnuplot")), CLI_EXIT_FAIL,
           "plot --gnuplot missing", err_text, ARGS("cannot run /nonexistent/gnuplot"));
}

/* A gnuplot that fails: exit 1 naming the script, plots/ with the scripts and no image; one
 * that is slow, and SIGTERM meanwhile: the process ends by it and writes nothing. */
static void test_gnuplot_trouble(const char *bench_dir)
{
    char folder[1024], fake[1100], path[1200];
    make_folder(folder, sizeof folder, "trouble", bench_dir, ARGS("results.csv", "meta.json"));
    snprintf(fake, sizeof fake, "%s/failing-gnuplot", dir);
    write_file(fake, "#!/bin/sh\necho \"$1: line 1: nonsense\" >&2\nexit 1\n");
    TU_CHECK(chmod(fake, 0755) == 0, "chmod %s", fake);
    expect(run(ARGS("plot", folder, "--gnuplot", fake)), CLI_EXIT_FAIL, "plot, gnuplot failing",
           err_text,
           ARGS("gnuplot failed on layers_fashion_cnn_fwd.gp (exit 1)",
                "gnuplot layers_fashion_cnn_fwd.gp: layers_fashion_cnn_fwd.gp: line 1: nonsense",
                "charts failed"));
    snprintf(path, sizeof path, "%s/plots/layers_fashion_cnn_fwd.gp", folder);
    TU_CHECK(tu_exists(path), "gnuplot failing: %s not written", path);
    snprintf(path, sizeof path, "%s/plots/layers_fashion_cnn_fwd.png", folder);
    TU_CHECK(!tu_exists(path), "gnuplot failing: %s exists", path);
    expect_entries("plot, gnuplot failing", folder, 3, true);

    make_folder(folder, sizeof folder, "interrupted", bench_dir, ARGS("results.csv", "meta.json"));
    snprintf(fake, sizeof fake, "%s/slow-gnuplot", dir);
    write_file(fake, "#!/bin/sh\n/bin/sleep 1\n");
    TU_CHECK(chmod(fake, 0755) == 0, "chmod %s", fake);
    char *argv[] = {(char *)CNNBENCH_EXE, (char *)"plot", folder, (char *)"--gnuplot", fake, NULL};
    char out[1200], err[1200];
    snprintf(out, sizeof out, "%s/stdout.txt", dir);
    snprintf(err, sizeof err, "%s/stderr.txt", dir);
    pid_t pid = tu_start_process(CNNBENCH_EXE, argv, out, err);
    /* signal once it is writing (its hidden folder is there), during the slow gnuplot */
    struct timespec tick = {0, 20 * 1000 * 1000};
    char names[4][256];
    for (int i = 0; i < 500 && tu_list_dir(folder, names, 4) < 3; i++)
        nanosleep(&tick, NULL);
    nanosleep(&tick, NULL);
    TU_CHECK(pid > 0 && kill(pid, SIGTERM) == 0, "cannot signal the plot");
    int rc = tu_wait_process(pid);
    tu_slurp(err, err_text, sizeof err_text);
    expect(rc, 128 + SIGTERM, "plot, SIGTERM", err_text,
           ARGS("cnnbench plot: interrupted: nothing written"));
    expect_untouched("plot, SIGTERM", folder, 2);
}

/* A folder holding one file `name` with `text`: plot refuses it with exit 1 and `fragment`,
 * and writes nothing. */
static void expect_refusal(const char *what, const char *name, const char *text,
                           const char *fragment)
{
    static int k;
    char folder[1024], file[1200], sub[64];
    snprintf(sub, sizeof sub, "refused%d", k++);
    make_folder(folder, sizeof folder, sub, NULL, NULL);
    snprintf(file, sizeof file, "%s/%s", folder, name);
    write_file(file, text);
    expect(plot(folder), CLI_EXIT_FAIL, what, err_text, ARGS(fragment));
    expect_untouched(what, folder, 1);
}

/* Each refusal: exit status, message, and nothing written into the folder. */
static void test_refusals(void)
{
    expect(run(ARGS("plot")), CLI_EXIT_USAGE, "plot without folder", err_text,
           ARGS("cnnbench plot: give the run folder to draw"));
    expect(run(ARGS("plot", "a", "b")), CLI_EXIT_USAGE, "plot two folders", err_text,
           ARGS("unexpected argument 'b'"));
    expect(run(ARGS("plot", "--bogus")), CLI_EXIT_USAGE, "plot --bogus", err_text,
           ARGS("unknown option '--bogus'"));
    expect(run(ARGS("plot", "--help")), 0, "plot --help", out_text,
           ARGS("RUN_DIR", "winograd_error_speedup", "apt-get install gnuplot-nox"));
    char path[1024];
    snprintf(path, sizeof path, "%s/nosuch", dir);
    expect(plot(path), CLI_EXIT_FAIL, "plot missing folder", err_text,
           ARGS("nosuch: no such folder"));
    TU_CHECK(!tu_exists(path), "plot made %s", path);

    char folder[1024], file[1200];
    make_folder(folder, sizeof folder, "empty", NULL, NULL);
    expect(plot(folder), CLI_EXIT_FAIL, "plot empty folder", err_text,
           ARGS("no results.csv, verify.csv or train.csv: not a cnnbench run folder"));
    expect_untouched("plot empty folder", folder, 0);
    snprintf(file, sizeof file, "%s/results.csv", folder);
    write_file(file, "name,value\nx,1\n");
    expect(plot(file), CLI_EXIT_FAIL, "plot a file", err_text, ARGS("results.csv: not a folder"));
    expect(plot(folder), CLI_EXIT_FAIL, "plot another tool's results.csv", err_text,
           ARGS("results.csv: no column model (is this a results.csv file?)"));
    expect_untouched("plot another tool's results.csv", folder, 1);

    expect_refusal("another tool's verify.csv", "verify.csv", "backend,op\nim2col,conv2d\n",
                   "verify.csv: no column algorithm");
    expect_refusal("a ragged CSV", "verify.csv", "backend,algorithm\nim2col,x\nim2col\n",
                   "verify.csv:3:");
    expect_refusal("a train.csv without test_acc", "train.csv",
                   "epoch,train_loss,train_acc,test_loss\n1,2.0,0.1,2.1\n",
                   "train.csv: no column test_acc (is this a train.csv file?)");
}

/* A meta.json that is not JSON: refused, naming the file. */
static void test_bad_meta(const char *bench_dir)
{
    char folder[1024], meta[1100];
    make_folder(folder, sizeof folder, "badmeta", bench_dir, ARGS("results.csv"));
    snprintf(meta, sizeof meta, "%s/meta.json", folder);
    write_file(meta, "{\"status\": \"complete\",\n");
    expect(plot(folder), CLI_EXIT_FAIL, "plot a broken meta.json", err_text, ARGS("meta.json:"));
    expect_untouched("plot a broken meta.json", folder, 2);
}

/* A folder of train.csv alone: its curves, one per backend, rows in any order. */
static void test_train(void)
{
    char folder[1024], file[1100];
    make_folder(folder, sizeof folder, "train", NULL, NULL);
    snprintf(file, sizeof file, "%s/train.csv", folder);
    write_file(file, "epoch,train_loss,train_acc,test_loss,test_acc,backend\n"
                     "2,1.1,0.62,1.2,0.6,im2col\n1,2.0,0.31,2.1,0.3,im2col\n"
                     "3,0.7,0.75,0.8,0.7,im2col\n1,2.1,0.3,2.2,0.28,onednn\n"
                     "2,1.2,0.6,,0.55,onednn\n3,0.8,0.72,0.9,nan,onednn\n");
    snprintf(file, sizeof file, "%s/confusion.csv", folder);
    write_file(file, "backend,true_class,a,b\nim2col,a,3,1\nim2col,b,0,4\n"
                     "onednn,a,4,0\nonednn,b,2,2\n");
    expect(plot(folder), 0, "plot train.csv", out_text,
           ARGS("drew plots/train_curves.png and .svg", "drew plots/confusion_im2col.png",
                "drew plots/confusion_onednn.png", "note: ",
                "has no meta.json: the machine and its ceilings are unknown"));
    expect_charts("plot train.csv", folder, ARGS("train_curves", "confusion_im2col"));
    char cdat[1200], ctext[1024];
    snprintf(cdat, sizeof cdat, "%s/plots/confusion_im2col.dat", folder);
    tu_slurp(cdat, ctext, sizeof ctext);
    /* each row as shares of its true class: a = 3 of 4 predicted a */
    TU_CHECK(strstr(ctext, "0 0 75.0000 3\n1 0 25.0000 1\n") &&
                 strstr(ctext, "0 1 0.0000 0\n1 1 100.0000 4\n"),
             "%s: not the shares of each true class:\n%s", cdat, ctext);
    char dat[1200], text[4096];
    snprintf(dat, sizeof dat, "%s/plots/train_curves.dat", folder);
    tu_slurp(dat, text, sizeof text);
    TU_CHECK(strstr(text, "# im2col\n1 2 2.1 31 30\n2 1.1 1.2 62 60\n3 0.7 0.8 75 70\n") &&
                 strstr(text, "2 1.2 NaN 60 55\n3 0.8 0.9 72 NaN\n"),
             "%s: rows not sorted by epoch, or accuracy not in %%:\n%s", dat, text);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    bool gnuplot = have_gnuplot();
    test_refusals();
    if (run(ARGS("bench", "--model", "nosuch")) == CLI_EXIT_UNSUPPORTED) {
        printf("test_plot_cli: no Google Benchmark in this build (no bench runs), skipped\n");
        return tu_failures ? 1 : SKIPPED;
    }
    char bench_dir[1024] = "";
    bool winograd = cnn_backend_find("im2col") && cnn_backend_find("winograd_f2x3");
    if (gnuplot)
        test_layer_charts(bench_dir, sizeof bench_dir, winograd);
    else /* a run folder for the tests that need no gnuplot */
        make_run("bench", "layers",
                 ARGS("--model", "fashion_cnn", "--batch", "8", "--backends", "naive",
                      "--repetitions", "1", "--min-time", "0.01"),
                 bench_dir, sizeof bench_dir);
    if (*bench_dir) {
        test_bad_meta(bench_dir);
        test_no_gnuplot(bench_dir);
        test_gnuplot_trouble(bench_dir);
    }
    if (gnuplot && *bench_dir) {
        if (winograd)
            test_winograd_chart(bench_dir);
        test_incomplete(bench_dir);
    }
    if (gnuplot) {
        if (cnn_backend_find("im2col"))
            test_model_charts();
        test_train();
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    if (!gnuplot && !tu_failures) {
        printf("test_plot_cli: no gnuplot on PATH: the charts are not checked, skipped\n");
        return SKIPPED;
    }
    return tu_finish("test_plot_cli");
}
