/* `cnnbench bench` as a process: model totals that every backend can be
 * compared on, selections that match nothing refused as usage errors naming
 * what exists (with no results folder made), --ops all and --image-size, and
 * --models: whole models' infer and train_step rows and their per-layer
 * breakdown.
 *
 * What each case did before (issue 13): a backend that skipped layers got a
 * total over the layers it ran, beside complete ones ("ratio 2.175
 * (incomplete: some layers not run)"); --passes fwd_infer on conv layers
 * printed "Failed to match any benchmarks", totals of 0.00 ms, ratio -nan,
 * and exited 0 with a header-only CSV; --ops all and --ops conv both failed
 * with exit 1 ("has no layer of the ops 'all'"); there was no --image-size.
 *
 * The timed runs are tiny (batch 1, one repetition of 0.01 s). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_row.h"
#include "cli.h"
#include "registry.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

#define SKIPPED 77

static char dir[] = "/tmp/cnn_test_bench_cli_XXXXXX";
static char out_text[1 << 17], err_text[1 << 16], csv_text[1 << 17];

/* `cnnbench bench ARGS... --results DIR/<out>`; returns the exit status. */
static int bench(const char *out, const char *const *args)
{
    char out_dir[512], *argv[64];
    snprintf(out_dir, sizeof out_dir, "%s/%s", dir, out);
    tu_cli_argv(argv, CNNBENCH_EXE, "bench", args, out_dir);
    return tu_run_process(CNNBENCH_EXE, argv, dir, out_text, sizeof out_text, err_text,
                          sizeof err_text);
}
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define TINY "--batch", "1", "--repetitions", "1", "--min-time", "0.01"

/* The run's exit status is `want` and `text` holds every one of `words`. */
static void expect(int rc, int want, const char *what, const char *text, const char *const *words)
{
    TU_CHECK(rc == want, "%s: exit %d, expected %d\nstdout: %s\nstderr: %s", what, rc, want,
             out_text, err_text);
    for (; words && *words; words++)
        TU_CHECK(strstr(text, *words), "%s: output lacks '%s':\n%s", what, *words, text);
}

/* A usage error: exit 2, the words on stderr, and no results folder. */
static void expect_usage(const char *what, const char *const *args, const char *const *words)
{
    expect(bench("refused", args), CLI_EXIT_USAGE, what, err_text, words);
    char path[512];
    snprintf(path, sizeof path, "%s/refused", dir);
    TU_CHECK(!tu_exists(path), "%s: a refused run made %s", what, path);
}

/* ---- reading results.csv ---- */

#define MAX_ROWS 256
#define MAX_COLS 64
typedef struct csv_table {
    char cells[MAX_ROWS][MAX_COLS][96];
    int nrows, ncols; /* row 0 is the header */
} csv_table;
static csv_table csv;

static int col(const char *name)
{
    for (int c = 0; c < csv.ncols; c++)
        if (!strcmp(csv.cells[0][c], name))
            return c;
    TU_CHECK(false, "results.csv has no column %s", name);
    return 0;
}

static const char *cell(int r, const char *name)
{
    return csv.cells[r][col(name)];
}

/* meta.json holds the machine's ceilings, and each timed row of results.csv
 * its GFLOP/s as a percentage of that FMA peak and a positive arithmetic
 * intensity (every op bench times here moves data and computes). */
static void check_ceilings(const char *meta_text)
{
    const char *c = strstr(meta_text, "\"ceilings\": {");
    const char *peak_at = c ? strstr(c, "\"fma_peak_gflops\": ") : NULL;
    double peak = peak_at ? atof(peak_at + strlen("\"fma_peak_gflops\": ")) : 0;
    TU_CHECK(peak > 0 && strstr(c, "\"isa\": ") && strstr(c, "\"sgemm_gflops\": ") &&
                 strstr(c, "\"triad_gbs\": ") && strstr(c, "\"llc_bytes\": "),
             "meta.json lacks the ceilings:\n%s", meta_text);
    for (int r = 1; r < csv.nrows && peak > 0; r++) {
        if (strcmp(cell(r, "status"), "OK"))
            continue;
        double g = atof(cell(r, "gflops")), pct = atof(cell(r, "pct_peak"));
        double ai = atof(cell(r, "intensity"));
        /* the CSV rounds gflops to 0.01 and pct_peak to 0.1 */
        TU_CHECK(fabs(pct - g / peak * 100) <= 0.051 + 0.0051 / peak * 100 + 1e-3 * pct && ai > 0,
                 "row %d: %g GFLOP/s, pct_peak %s of %g, intensity %s", r, g, cell(r, "pct_peak"),
                 peak, cell(r, "intensity"));
    }
}

/* Read `file` (results.csv, breakdown.csv) of the one run folder under
 * DIR/<out> into csv, and check that its meta.json says the run is
 * complete (and, for results.csv, holds the ceilings its rows agree with). */
static bool read_run_csv(const char *out, const char *file)
{
    char path[1024], run[1300], names[2][256];
    snprintf(path, sizeof path, "%s/%s", dir, out);
    if (tu_list_runs(path, names, 2) != 1) {
        TU_CHECK(false, "not one run folder in %s", path);
        return false;
    }
    snprintf(run, sizeof run, "%s/%s", path, names[0]);
    char meta[1400]; /* meta.json's path, then results.csv's */
    static char meta_text[1 << 14];
    snprintf(meta, sizeof meta, "%s/meta.json", run);
    tu_slurp(meta, meta_text, sizeof meta_text);
    TU_CHECK(strstr(meta_text, "\"complete\": true") && strstr(meta_text, "\"command\": \"bench\""),
             "%s: not a complete bench run:\n%s", meta, meta_text);
    snprintf(meta, sizeof meta, "%s/%s", run, file);
    tu_slurp(meta, csv_text, sizeof csv_text);
    memset(&csv, 0, sizeof csv);
    int r = 0, c = 0;
    size_t len = 0;
    bool quoted = false;
    for (const char *p = csv_text; *p && r < MAX_ROWS; p++) {
        if (*p == '"') {
            quoted = !quoted; /* a doubled quote inside a field drops out */
        } else if (*p == ',' && !quoted) {
            c += c + 1 < MAX_COLS;
            len = 0;
        } else if (*p == '\n' && !quoted) {
            csv.ncols = r == 0 ? c + 1 : csv.ncols;
            TU_CHECK(c + 1 == csv.ncols && c + 1 < MAX_COLS, "%s: row %d has %d fields, header %d",
                     file, r, c + 1, csv.ncols);
            r++;
            c = 0;
            len = 0;
        } else if (len + 1 < sizeof csv.cells[0][0]) {
            csv.cells[r][c][len++] = *p;
        }
    }
    csv.nrows = r;
    TU_CHECK(csv.nrows > 1, "%s: no rows:\n%s", meta, csv_text);
    if (!strcmp(file, "results.csv"))
        check_ceilings(meta_text);
    return csv.nrows > 1;
}

static bool read_csv(const char *out)
{
    return read_run_csv(out, "results.csv");
}

/* The row of (layer, pass, backend), or -1. */
static int find_row(const char *layer, const char *pass, const char *backend)
{
    for (int r = 1; r < csv.nrows; r++)
        if (!strcmp(cell(r, "layer"), layer) && !strcmp(cell(r, "pass"), pass) &&
            !strcmp(cell(r, "backend"), backend))
            return r;
    return -1;
}

/* The TOTAL row of `backend` in pass fwd equals the sum over its layer rows
 * of its own median, or, where it did not run a layer, the median of the
 * backend named in charged_at, times the layer count; charged_layers and
 * charged_at add up the same way. Returns the total. */
static double check_total(const char *backend, int want_layers, int want_charged,
                          const char *want_at)
{
    double sum = 0;
    int layers = 0, charged = 0;
    for (int r = 1; r < csv.nrows; r++) {
        if (strcmp(cell(r, "backend"), backend) || !strcmp(cell(r, "layer"), "TOTAL"))
            continue;
        int count = atoi(cell(r, "layers"));
        double ms = atof(cell(r, "median_ms"));
        layers += count;
        if (!isnan(ms)) {
            TU_CHECK(atoi(cell(r, "charged_layers")) == 0 && !*cell(r, "charged_at"),
                     "%s %s ran but is charged at '%s'", backend, cell(r, "layer"),
                     cell(r, "charged_at"));
            sum += ms * count;
            continue;
        }
        const char *at = cell(r, "charged_at");
        TU_CHECK(!strcmp(at, want_at) && atoi(cell(r, "charged_layers")) == count,
                 "%s %s: not run, charged %s layers at '%s', expected %d at %s", backend,
                 cell(r, "layer"), cell(r, "charged_layers"), at, count, want_at);
        int sr = find_row(cell(r, "layer"), "fwd", at);
        TU_CHECK(sr > 0 && !isnan(atof(cell(sr, "median_ms"))), "%s %s: no timed row of %s",
                 backend, cell(r, "layer"), at);
        if (sr > 0)
            sum += atof(cell(sr, "median_ms")) * count;
        charged += count;
    }
    int t = find_row("TOTAL", "fwd", backend);
    TU_CHECK(t > 0, "no TOTAL row for %s", backend);
    if (t <= 0)
        return NAN;
    double total = atof(cell(t, "median_ms"));
    TU_CHECK(fabs(total - sum) <= 1e-3 + 1e-5 * sum, "%s: TOTAL %s ms, rows add up to %.4f",
             backend, cell(t, "median_ms"), sum);
    TU_CHECK(layers == want_layers && atoi(cell(t, "layers")) == want_layers,
             "%s: %d layer rows' layers, TOTAL says %s, expected %d", backend, layers,
             cell(t, "layers"), want_layers);
    TU_CHECK(charged == want_charged && atoi(cell(t, "charged_layers")) == want_charged &&
                 !strcmp(cell(t, "charged_at"), want_charged ? want_at : ""),
             "%s: %d rows charged, TOTAL says %s at '%s', expected %d at %s", backend, charged,
             cell(t, "charged_layers"), cell(t, "charged_at"), want_charged, want_at);
    return total;
}

/* The table's totals are all complete: no sum over fewer layers. */
static void expect_complete_totals(const char *what)
{
    const char *totals = strstr(out_text, "\ntotal over");
    TU_CHECK(totals != NULL, "%s: no totals:\n%s", what, out_text);
    if (totals)
        TU_CHECK(!strstr(totals, "incomplete") && !strstr(totals, "nan") && !strstr(totals, "n/a"),
                 "%s: a total leaves layers out:\n%s", what, totals);
}

/* ResNet-18 at 32x32: Winograd does only 3x3 stride-1 convolutions, so it
 * skips conv1 (7x7 stride 2), the three stride-2 3x3 convolutions and the
 * three 1x1 downsamples: 7 of the 20 conv layers, charged at im2col. */
static void test_partial_backend_total(void)
{
    int rc = bench("partial", ARGS("--model", "resnet18", "--image-size", "32", TINY, "--backends",
                                   "im2col,winograd"));
    expect(rc, 0, "resnet18 im2col,winograd", out_text,
           ARGS("ratio = im2col's time / this backend's (> 1: faster than im2col)",
                "ratio = im2col's total / this backend's, > 1 is faster",
                "(7 of 20 layers charged at im2col)", "unsupported, charged at im2col"));
    expect_complete_totals("resnet18 im2col,winograd");
    if (!read_csv("partial"))
        return;
    int conv1 = find_row("conv1", "fwd", "im2col");
    TU_CHECK(conv1 > 0 && strstr(cell(conv1, "shape"), "ic3ih32iw32"),
             "--image-size 32 not applied: conv1 shape '%s'",
             conv1 > 0 ? cell(conv1, "shape") : "");
    /* the dimensions beside the descriptor, and what each row's status is */
    TU_CHECK(conv1 > 0 && !strcmp(cell(conv1, "c"), "3") && !strcmp(cell(conv1, "h"), "32") &&
                 !strcmp(cell(conv1, "k"), "64") && !strcmp(cell(conv1, "r"), "7") &&
                 !strcmp(cell(conv1, "stride_h"), "2") && !strcmp(cell(conv1, "pad_w"), "3") &&
                 !strcmp(cell(conv1, "p"), "16") && !strcmp(cell(conv1, "status"), "OK"),
             "conv1 im2col: c %s h %s k %s r %s stride_h %s pad_w %s p %s status %s",
             cell(conv1, "c"), cell(conv1, "h"), cell(conv1, "k"), cell(conv1, "r"),
             cell(conv1, "stride_h"), cell(conv1, "pad_w"), cell(conv1, "p"),
             cell(conv1, "status"));
    int wconv1 = find_row("conv1", "fwd", "winograd");
    TU_CHECK(wconv1 > 0 && !strcmp(cell(wconv1, "status"), "UNSUPPORTED"),
             "winograd conv1: status '%s', expected UNSUPPORTED",
             wconv1 > 0 ? cell(wconv1, "status") : "");
    for (int r = 1; r < csv.nrows; r++)
        if (!strcmp(cell(r, "layer"), "TOTAL"))
            TU_CHECK(!strcmp(cell(r, "status"), "OK") && !*cell(r, "c"),
                     "TOTAL %s: status '%s', c '%s'", cell(r, "backend"), cell(r, "status"),
                     cell(r, "c"));
    double im2col = check_total("im2col", 20, 0, "");
    double winograd = check_total("winograd", 20, 7, "im2col");
    int t = find_row("TOTAL", "fwd", "winograd");
    TU_CHECK(t > 0 && fabs(atof(cell(t, "ratio")) - im2col / winograd) <=
                          1e-3 + 1e-3 * im2col / winograd,
             "winograd TOTAL ratio %s, expected im2col / winograd = %.4f",
             t > 0 ? cell(t, "ratio") : "", im2col / winograd);
    /* the printed total is the CSV's */
    const char *totals = strstr(out_text, "\ntotal over");
    const char *line = totals ? strstr(totals, "\n  fwd       winograd ") : NULL;
    double printed = NAN;
    TU_CHECK(line && sscanf(line + 22, "%lf ms", &printed) == 1 &&
                 fabs(printed - winograd) <= 0.0051,
             "printed winograd total %.2f, CSV %.4f:\n%s", printed, winograd, out_text);
}

/* A backend alone: its unsupported layers are charged where a model run on
 * it would run them (the executor's rule): LeNet's 5x5 convolutions, not
 * Winograd's, at im2col, the fallback Winograd names (not naive), which is
 * timed on those layers only. */
static void test_stand_in(void)
{
    int rc = bench("stand_in", ARGS("--model", "lenet5", TINY, "--backends", "winograd"));
    expect(rc, 0, "lenet5 winograd", out_text,
           ARGS("(2 of 2 layers charged at im2col)", "(timed only as the stand-in)"));
    expect_complete_totals("lenet5 winograd");
    TU_CHECK(!strstr(out_text, "naive"), "lenet5 winograd: naive timed or charged:\n%s", out_text);
    if (read_csv("stand_in"))
        check_total("winograd", 2, 2, "im2col");
}

/* Whole models: each backend times infer and train_step (results.csv rows of
 * layer MODEL, images/s = batch / median), and breakdown.csv holds every
 * layer of one instrumented step per (backend, mode), the forward ones in
 * both modes and the backward ones in train_step, with shares that add up
 * to 1 with the "(other)" row. */
static void test_whole_models(void)
{
    int rc = bench("models", ARGS("--models", "lenet5", "--backends", "naive,im2col", "--batch",
                                  "2", "--repetitions", "2"));
    expect(rc, 0, "--models lenet5", out_text,
           ARGS("lenet5, 1x28x28 input", "ratio = images/s / naive's", "images/s"));
    const char *backends[] = {"naive", "im2col"}, *modes[] = {"infer", "train_step"};
    for (int b = 0; b < 2; b++)
        for (int mo = 0; mo < 2; mo++) {
            char head[64];
            snprintf(head, sizeof head, "\n  %-10s %-10s     2 ", backends[b], modes[mo]);
            const char *line = strstr(out_text, head);
            double med = 0, lo = 0, hi = 0, ips = 0;
            TU_CHECK(
                line && sscanf(line + strlen(head), "%lf %lf %lf %lf", &med, &lo, &hi, &ips) == 4 &&
                    lo <= med && med <= hi && ips > 0,
                "--models: no %s %s row in the table:\n%s", backends[b], modes[mo], out_text);
        }
    if (!read_csv("models"))
        return;
    TU_CHECK(csv.nrows == 5, "--models lenet5: %d rows in results.csv, expected 4", csv.nrows - 1);
    for (int b = 0; b < 2; b++)
        for (int mo = 0; mo < 2; mo++) {
            int r = find_row("MODEL", modes[mo], backends[b]);
            TU_CHECK(r > 0, "results.csv: no MODEL row of %s %s", backends[b], modes[mo]);
            if (r <= 0)
                continue;
            double med = atof(cell(r, "median_ms")), ips = atof(cell(r, "images_per_s"));
            TU_CHECK(!strcmp(cell(r, "status"), "OK") && !strcmp(cell(r, "batch"), "2") &&
                         !strcmp(cell(r, "layers"), "11") && !strcmp(cell(r, "model"), "lenet5") &&
                         med > 0 && fabs(ips - 2 / (med * 1e-3)) <= 0.01 * ips,
                     "%s %s: status %s batch %s layers %s median %s images/s %s", backends[b],
                     modes[mo], cell(r, "status"), cell(r, "batch"), cell(r, "layers"),
                     cell(r, "median_ms"), cell(r, "images_per_s"));
            /* the raw repetitions: two, within [min, max], their median the median */
            double rep[2] = {0, 0}, lo = atof(cell(r, "min_ms")), hi = atof(cell(r, "max_ms"));
            TU_CHECK(sscanf(cell(r, "reps_ms"), "%lf;%lf", &rep[0], &rep[1]) == 2 &&
                         !strchr(strchr(cell(r, "reps_ms"), ';') + 1, ';') &&
                         fabs((rep[0] + rep[1]) / 2 - med) < 1e-3 && lo <= rep[0] &&
                         rep[0] <= hi && lo <= rep[1] && rep[1] <= hi,
                     "%s %s: reps_ms %s, min %s, median %s, max %s", backends[b], modes[mo],
                     cell(r, "reps_ms"), cell(r, "min_ms"), cell(r, "median_ms"),
                     cell(r, "max_ms"));
            /* memory: lenet5 has 61706 trainable floats and no batch norm, so the
             * gradients are as large as the parameters; a host run has no
             * device memory */
            double params = atof(cell(r, "params_bytes")), grads = atof(cell(r, "grads_bytes"));
            double rss = atof(cell(r, "peak_rss_bytes"));
            TU_CHECK(params >= 4 * 61706.0 && params < 4 * 61706.0 + 4096 &&
                         grads == (mo ? params : 0) && atof(cell(r, "act_bytes")) > 0 &&
                         atof(cell(r, "act_unshared_bytes")) >= atof(cell(r, "act_bytes")) &&
                         *cell(r, "ws_bytes") && rss > params && !*cell(r, "device_mem_bytes"),
                     "%s %s: params %s grads %s act %s/%s ws %s rss %s device %s", backends[b],
                     modes[mo], cell(r, "params_bytes"), cell(r, "grads_bytes"),
                     cell(r, "act_bytes"), cell(r, "act_unshared_bytes"), cell(r, "ws_bytes"),
                     cell(r, "peak_rss_bytes"), cell(r, "device_mem_bytes"));
        }
    if (!read_run_csv("models", "breakdown.csv"))
        return;
    /* lenet5: conv1 sigmoid1 pool1 conv2 sigmoid2 pool2 fc1 sigmoid3 fc2 sigmoid4 fc3 */
    for (int b = 0; b < 2; b++)
        for (int mo = 0; mo < 2; mo++) {
            double share = 0;
            int fwd = 0, bwd = 0, other = 0, conv2 = 0;
            for (int r = 1; r < csv.nrows; r++) {
                if (strcmp(cell(r, "backend"), backends[b]) || strcmp(cell(r, "mode"), modes[mo]))
                    continue;
                share += atof(cell(r, "share"));
                const char *pass = cell(r, "pass");
                other += !strcmp(cell(r, "layer"), "(other)");
                fwd += !strcmp(pass, "fwd");
                bwd += !strncmp(pass, "bwd", 3);
                if (!strcmp(cell(r, "layer"), "conv2")) {
                    conv2++;
                    TU_CHECK(!strcmp(cell(r, "backend_used"), backends[b]) &&
                                 *cell(r, "algorithm") && atof(cell(r, "ms")) > 0,
                             "breakdown %s %s conv2 %s: ran on '%s', algorithm '%s', %s ms",
                             backends[b], modes[mo], pass, cell(r, "backend_used"),
                             cell(r, "algorithm"), cell(r, "ms"));
                }
            }
            TU_CHECK(fwd == 11 && bwd == (mo ? 11 : 0) && other == 1 && conv2 == 1 + mo &&
                         fabs(share - 1) < 0.01,
                     "breakdown %s %s: %d fwd rows, %d bwd, %d (other), %d conv2, shares sum %.4f",
                     backends[b], modes[mo], fwd, bwd, other, conv2, share);
        }
}

/* A row that cannot be bound beside the others (out of memory; forced here
 * by the test hook) is timed alone after the rounds, said so, and still
 * gets its repetitions. */
static void test_rows_alone(void)
{
    setenv("CNNBENCH_TEST_ROUNDS_BIND", "1", 1);
    int rc = bench("alone", ARGS("--models", "lenet5", "--backends", "naive,im2col", "--batch",
                                 "2", "--repetitions", "3"));
    unsetenv("CNNBENCH_TEST_ROUNDS_BIND");
    expect(rc, 0, "--models lenet5, one row bound at a time", out_text,
           ARGS("in rounds (one step of every row in turn)",
                "(im2col infer: timed alone, not in rounds with the others",
                "(im2col train_step: timed alone"));
    TU_CHECK(!strstr(out_text, "(naive infer: timed alone"), "naive was bound first:\n%s",
             out_text);
    if (!read_csv("alone"))
        return;
    for (int mo = 0; mo < 2; mo++) {
        const char *mode = mo ? "train_step" : "infer";
        for (int b = 0; b < 2; b++) {
            const char *be = b ? "im2col" : "naive";
            int r = find_row("MODEL", mode, be);
            int reps = 0;
            for (const char *c = r > 0 ? cell(r, "reps_ms") : ""; *c; c++)
                reps += *c == ';';
            TU_CHECK(r > 0 && !strcmp(cell(r, "status"), "OK") && reps == 2 &&
                         atof(cell(r, "median_ms")) > 0,
                     "%s %s timed alone: status %s, reps '%s'", be, mode,
                     r > 0 ? cell(r, "status") : "(no row)", r > 0 ? cell(r, "reps_ms") : "");
        }
    }
}

/* --threads 1,2 with --models: every backend's rows at each count, the
 * count in the threads column of results.csv and breakdown.csv, and
 * scaling.csv's speed-ups (the first count's median over each count's) as
 * printed at the end. */
static void test_thread_list(void)
{
    int rc = bench("threads", ARGS("--models", "lenet5", "--backends", "naive", "--batch", "2",
                                   "--repetitions", "1", "--threads", "1,2"));
    expect(rc, 0, "--threads 1,2", out_text,
           ARGS("lenet5, 1x28x28 input, 1 threads", "lenet5, 1x28x28 input, 2 threads",
                "train_step speed-up over 1 thread", "scaling.csv"));
    if (!read_csv("threads"))
        return;
    const char *modes[] = {"infer", "train_step"};
    double ms[2][2] = {{0, 0}, {0, 0}};
    int rows = 0;
    for (int r = 1; r < csv.nrows; r++) {
        int t = atoi(cell(r, "threads")) - 1, mo = !strcmp(cell(r, "pass"), "train_step");
        TU_CHECK(t == 0 || t == 1, "results.csv row %d: threads '%s'", r, cell(r, "threads"));
        if (t == 0 || t == 1)
            ms[t][mo] = atof(cell(r, "median_ms"));
        rows++;
    }
    TU_CHECK(rows == 4 && ms[0][0] > 0 && ms[0][1] > 0 && ms[1][0] > 0 && ms[1][1] > 0,
             "--threads 1,2: %d MODEL rows, want one per mode and count", rows);
    if (read_run_csv("threads", "breakdown.csv")) {
        int per[2] = {0, 0};
        for (int r = 1; r < csv.nrows; r++) {
            int t = atoi(cell(r, "threads"));
            if (t == 1 || t == 2)
                per[t - 1]++;
        }
        /* 11 forward rows and (other) in infer, 22 and (other) in train_step */
        TU_CHECK(per[0] == 35 && per[1] == 35 && csv.nrows - 1 == 70,
                 "breakdown.csv: %d rows at 1 thread, %d at 2, %d in all", per[0], per[1],
                 csv.nrows - 1);
    }
    if (!read_run_csv("threads", "scaling.csv"))
        return;
    TU_CHECK(csv.nrows - 1 == 4, "scaling.csv: %d rows, want 4", csv.nrows - 1);
    for (int r = 1; r < csv.nrows; r++) {
        int t = atoi(cell(r, "threads")) - 1, mo = !strcmp(cell(r, "mode"), "train_step");
        double up = atof(cell(r, "speedup"));
        bool ok = (t == 0 || t == 1) && !strcmp(cell(r, "backend"), "naive") &&
                  !strcmp(cell(r, "base_threads"), "1") &&
                  fabs(up - ms[0][mo] / ms[t][mo]) <= 0.002 * up + 0.001 &&
                  fabs(atof(cell(r, "efficiency")) - up / (t + 1)) <= 0.002;
        TU_CHECK(ok, "scaling.csv row %d: %s %s threads %s speedup %s efficiency %s", r,
                 cell(r, "backend"), modes[mo], cell(r, "threads"), cell(r, "speedup"),
                 cell(r, "efficiency"));
        if (ok && mo && t == 1) {
            /* the table rounds the exact ratio, the CSV a ratio of rounded
             * medians to 0.001: they may differ by one in the last digit */
            char line[128];
            snprintf(line, sizeof line, "  %-12s %-12s ", "lenet5", "naive");
            const char *at = strstr(out_text, line);
            double shown = at ? atof(at + strlen(line)) : NAN;
            TU_CHECK(at && fabs(shown - up) <= 0.0051 + 0.002 * up,
                     "the speed-up table lacks '%s%.2fx':\n%s", line, up, out_text);
        }
    }
}

static void test_selection_errors(void)
{
    fprintf(stderr, "(the usage errors below are expected)\n");
    expect_usage("conv layers have no fwd_infer", ARGS("--model", "vgg16", "--passes", "fwd_infer"),
                 ARGS("no layer of vgg16 has pass fwd_infer for ops conv2d; passes there: fwd, "
                      "bwd_data, bwd_weight, bwd_bias"));
    expect_usage("an unknown op", ARGS("--model", "resnet18", "--ops", "conv"),
                 ARGS("unknown value 'conv' for --ops; valid values: all," CLI_OP_NAMES));
    expect_usage("an op the model lacks", ARGS("--model", "lenet5", "--ops", "conv2d,relu"),
                 ARGS("lenet5 has no layer of op 'relu'; ops there: conv2d, sigmoid, avgpool2d, "
                      "linear"));
    expect_usage("an empty op list", ARGS("--model", "lenet5", "--ops", ", "),
                 ARGS("--ops is empty; valid values: all,conv2d"));
    expect_usage("an input the model cannot take", ARGS("--model", "lenet5", "--image-size", "32"),
                 ARGS("fc1", "400 input features"));
    expect_usage("an unknown model in --models", ARGS("--models", "lenet5,nosuch"),
                 ARGS("--models: unknown model 'nosuch'; valid models: all, fashion_cnn, lenet5"));
    expect_usage("--model and --models", ARGS("--models", "lenet5", "--model", "vgg16"),
                 ARGS("one or the other"));
    expect_usage("a per-layer option with --models", ARGS("--models", "lenet5", "--ops", "all"),
                 ARGS("--ops is for the per-layer bench"));
    expect_usage("a negative image size", ARGS("--model", "lenet5", "--image-size", "-1"),
                 ARGS("--image-size >= 1"));
    expect_usage("a thread list for the per-layer bench",
                 ARGS("--model", "lenet5", "--threads", "1,2"), ARGS("is for whole models"));
    expect_usage("a count twice", ARGS("--models", "lenet5", "--threads", "1,2,1"),
                 ARGS("--threads lists 1 twice"));
    expect_usage("a count that is none", ARGS("--models", "lenet5", "--threads", "1,x"),
                 ARGS("--threads: 'x' is not a thread count"));
}

/* Passes that only some selected layers have: the others are left out
 * without a word from Google Benchmark; --ops all takes every op. */
static void test_selections(void)
{
    int rc = bench("bn", ARGS("--model", "resnet18", "--image-size", "32", TINY, "--backends",
                              "im2col", "--ops", "conv2d,batchnorm2d", "--passes", "fwd_infer"));
    expect(rc, 0, "fwd_infer on conv2d,batchnorm2d", out_text, ARGS("bn1 x1", "fwd_infer"));
    TU_CHECK(!strstr(out_text, "Failed to match") && !strstr(err_text, "Failed to match"),
             "Google Benchmark was run with nothing to time:\n%s\n%s", out_text, err_text);
    if (read_csv("bn")) {
        for (int r = 1; r < csv.nrows; r++)
            TU_CHECK(strcmp(cell(r, "op"), "conv2d") && !strcmp(cell(r, "pass"), "fwd_infer"),
                     "fwd_infer run has a row of %s %s", cell(r, "op"), cell(r, "pass"));
    }
    expect_complete_totals("fwd_infer on conv2d,batchnorm2d");

    rc = bench("all", ARGS("--model", "lenet5", TINY, "--backends", "im2col", "--ops", "all"));
    expect(rc, 0, "--ops all", out_text,
           ARGS("conv1 x1", "sigmoid1 x1", "pool1 x1", "fc1 x1", "fc3 x1"));
    if (read_csv("all")) {
        int t = find_row("TOTAL", "fwd", "im2col");
        TU_CHECK(t > 0 && atoi(cell(t, "layers")) == 11 && !strcmp(cell(t, "op"), "all"),
                 "--ops all: TOTAL row layers '%s' op '%s', expected 11 and all",
                 t > 0 ? cell(t, "layers") : "", t > 0 ? cell(t, "op") : "");
    }
}

/* SIGINT in the middle: the layers timed so far are in results.csv, whole,
 * there are no totals (they would cover some layers only), meta.json says
 * "interrupted", the exit status is 130 and no temporary file is left. */
static void test_interrupted(void)
{
    char results[512], out[512], err[512], run[1300], names[4][256];
    snprintf(results, sizeof results, "%s/int", dir);
    snprintf(out, sizeof out, "%s/int.out", dir);
    snprintf(err, sizeof err, "%s/int.err", dir);
    char *argv[] = {CNNBENCH_EXE, "bench",   "--model",    "resnet18",      "--image-size",
                    "32",         "--batch", "1",          "--repetitions", "3",
                    "--min-time", "0.2",     "--backends", "im2col",        "--results",
                    results,      NULL};
    pid_t pid = tu_start_process(CNNBENCH_EXE, argv, out, err);
    bool rows = false;
    for (int t = 0; t < 1200 && !rows; t++) {
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
        if (tu_list_dir(results, names, 4) != 1)
            continue;
        snprintf(run, sizeof run, "%s/%s/results.csv", results, names[0]);
        tu_slurp(run, csv_text, sizeof csv_text);
        const char *nl = strchr(csv_text, '\n');
        rows = nl && strchr(nl + 1, '\n');
    }
    TU_CHECK(rows, "an interrupted bench: no row within a minute");
    kill(pid, SIGINT);
    int rc = tu_wait_process(pid);
    if (!rows)
        return;
    TU_CHECK(rc == 130, "an interrupted bench: exit %d, expected 130", rc);
    snprintf(run, sizeof run, "%s/%s", results, names[0]);
    int n = tu_list_dir(run, names, 4);
    /* tu_list_dir sorts the names */
    TU_CHECK(n == 2 && !strcmp(names[0], "meta.json") && !strcmp(names[1], "results.csv"),
             "an interrupted bench left %d entries in its folder (%s, ...)", n, names[0]);
    char path[1400];
    static char meta_text[1 << 14];
    snprintf(path, sizeof path, "%s/meta.json", run);
    tu_slurp(path, meta_text, sizeof meta_text);
    TU_CHECK(strstr(meta_text, "\"complete\": false") &&
                 strstr(meta_text, "\"status\": \"interrupted\""),
             "an interrupted bench: meta.json:\n%s", meta_text);
    snprintf(path, sizeof path, "%s/results.csv", run);
    tu_slurp(path, csv_text, sizeof csv_text);
    size_t len = strlen(csv_text);
    TU_CHECK(len && csv_text[len - 1] == '\n' && !strstr(csv_text, "TOTAL"),
             "an interrupted bench: a cut row or totals in results.csv:\n%s", csv_text);
}

/* Every column of results.csv is documented in results/README.md's
 * "## results.csv" table (a cell naming it in backquotes), and every column
 * that table names exists: the documentation cannot drift from the file. */
static void test_columns_documented(void)
{
    static char doc[1 << 17];
    tu_slurp(CNN_SOURCE_DIR "/results/README.md", doc, sizeof doc);
    const char *sec = strstr(doc, "\n## results.csv");
    const char *end = sec ? strstr(sec + 1, "\n## ") : NULL;
    TU_CHECK(sec, "results/README.md has no results.csv section");
    if (!sec)
        return;
    size_t len = end ? (size_t)(end - sec) : strlen(sec);
    char *part = strndup(sec, len);
    char header[] = BENCH_ROW_HEADER;
    for (char *save = NULL, *col = strtok_r(header, ",", &save); col;
         col = strtok_r(NULL, ",", &save)) {
        char quoted[64];
        snprintf(quoted, sizeof quoted, "`%s`", col);
        bool in_dims = strstr(REPORT_DIMS_HEADER, col) != NULL; /* "Dimension columns" */
        TU_CHECK(in_dims || strstr(part, quoted), "results.csv column %s is not in the README", col);
    }
    /* and the other way: every `name` in a table row's first cell is a column */
    char all[sizeof BENCH_ROW_HEADER + 2];
    snprintf(all, sizeof all, ",%s,", BENCH_ROW_HEADER);
    for (const char *p = part; (p = strstr(p, "\n| `")); p++) {
        const char *cell_end = strstr(p + 3, " |");
        for (const char *q = strchr(p + 2, '`'); q && cell_end && q < cell_end;) {
            const char *e = strchr(q + 1, '`');
            if (!e || e > cell_end)
                break;
            char name[64], want[80];
            snprintf(name, sizeof name, "%.*s", (int)(e - q - 1), q + 1);
            snprintf(want, sizeof want, ",%s,", name);
            bool dim = strstr("," REPORT_DIMS_HEADER ",", want) != NULL;
            TU_CHECK(dim || strstr(all, want),
                     "results/README.md documents a column %s that results.csv lacks", name);
            q = strchr(e + 1, '`');
        }
    }
    free(part);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (bench("probe", ARGS("--model", "nosuch")) == CLI_EXIT_UNSUPPORTED) {
        printf("test_bench_cli: no Google Benchmark in this build, skipped\n");
        return SKIPPED;
    }
    expect(bench("probe", ARGS("--help")), 0, "bench --help", out_text,
           ARGS("--image-size N", "operations to time, or all", "--models LIST",
                "naive runs the last four at batch 1"));
    test_selection_errors();
    test_columns_documented();
    if (cnn_backend_find("im2col")) {
        test_selections();
        test_interrupted();
        test_whole_models();
        test_rows_alone();
        test_thread_list();
        if (cnn_backend_find("winograd")) {
            test_partial_backend_total();
            test_stand_in();
        }
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_bench_cli");
}
