/* `cnnbench bench --peer pytorch` as a process: the PyTorch peer's rows land
 * in results.csv as backend pytorch, with the same columns as cnnbench's
 * own (whole models and layers, TOTAL rows, ratios against the first
 * backend), and meta.json says what ran it. Without torch (skipped then,
 * code 77), only the no-python case is checked: one line, and the run goes
 * on without pytorch rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_read.h"
#include "json_read.h"
#include "peer.h"
#include "registry.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

static char dir[] = "/tmp/cnn_test_bench_peer_XXXXXX";
static char out_text[1 << 17], err_text[1 << 16];

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static int bench(const char *out, const char *const *args)
{
    char out_dir[512], *argv[64];
    snprintf(out_dir, sizeof out_dir, "%s/%s", dir, out);
    tu_cli_argv(argv, CNNBENCH_EXE, "bench", args, out_dir);
    return tu_run_process(CNNBENCH_EXE, argv, dir, out_text, sizeof out_text, err_text,
                          sizeof err_text);
}

/* results.csv and meta.json of the one run folder under dir/out. */
static csv_table *read_run(const char *out, json_doc **meta)
{
    char path[1024], names[4][256];
    snprintf(path, sizeof path, "%s/%s", dir, out);
    *meta = NULL;
    if (tu_list_runs(path, names, 4) != 1) {
        TU_CHECK(false, "%s: not one run folder", path);
        return NULL;
    }
    csv_table *t = NULL;
    snprintf(path, sizeof path, "%s/%s/%s/results.csv", dir, out, names[0]);
    TU_EXPECT_OK(csv_read(path, &t));
    snprintf(path, sizeof path, "%s/%s/%s/meta.json", dir, out, names[0]);
    TU_EXPECT_OK(json_read(path, meta));
    return t;
}

static int find(const csv_table *t, const char *layer, const char *pass, const char *backend)
{
    int cl = csv_col(t, "layer"), cp = csv_col(t, "pass"), cb = csv_col(t, "backend");
    for (int r = 0; r < t->nrows; r++)
        if (!strcmp(csv_cell(t, r, cl), layer) && !strcmp(csv_cell(t, r, cp), pass) &&
            !strcmp(csv_cell(t, r, cb), backend))
            return r;
    return -1;
}

static double num(const csv_table *t, int r, const char *col)
{
    return csv_num(t, r, csv_col(t, col));
}

static const char *str(const csv_table *t, int r, const char *col)
{
    return csv_cell(t, r, csv_col(t, col));
}

static void test_models(void)
{
    int rc = bench("models", ARGS("--models", "lenet5", "--backends", "im2col", "--batch", "2",
                                  "--repetitions", "2", "--peer", "pytorch"));
    TU_CHECK(rc == 0 && strstr(out_text, "  pytorch    infer          2 "),
             "--models --peer: exit %d\n%s\n%s", rc, out_text, err_text);
    json_doc *meta;
    csv_table *t = read_run("models", &meta);
    if (!t)
        return;
    TU_CHECK(meta && !strncmp(json_str(meta, "peer", ""), "pytorch through: ", 17),
             "meta.json peer: %s", meta ? json_str(meta, "peer", "(none)") : "?");
    const char *modes[] = {"infer", "train_step"};
    for (int m = 0; m < 2; m++) {
        int r = find(t, "MODEL", modes[m], "pytorch"), base = find(t, "MODEL", modes[m], "im2col");
        TU_CHECK(r >= 0 && base >= 0, "no MODEL %s rows of pytorch and im2col", modes[m]);
        if (r < 0 || base < 0)
            continue;
        double med = num(t, r, "median_ms"), ips = num(t, r, "images_per_s");
        double rep[2];
        TU_CHECK(!strcmp(str(t, r, "status"), "OK") && !strcmp(str(t, r, "batch"), "2") &&
                     !strcmp(str(t, r, "image_size"), "28") && med > 0 &&
                     fabs(ips - 2 / (med * 1e-3)) <= 0.01 * ips &&
                     num(t, r, "min_ms") <= med && med <= num(t, r, "max_ms") &&
                     sscanf(str(t, r, "reps_ms"), "%lf;%lf", &rep[0], &rep[1]) == 2,
                 "pytorch %s: status %s batch %s image %s median %g images/s %g reps %s",
                 modes[m], str(t, r, "status"), str(t, r, "batch"), str(t, r, "image_size"), med,
                 ips, str(t, r, "reps_ms"));
        /* ratio = its images/s over the first backend's; same FLOPs as cnnbench's */
        double want = ips / num(t, base, "images_per_s");
        TU_CHECK(fabs(num(t, r, "ratio") - want) <= 0.002 + 0.01 * want &&
                     fabs(num(t, r, "intensity") - num(t, base, "intensity")) < 1e-9,
                 "pytorch %s: ratio %s (want %g), intensity %s vs %s", modes[m],
                 str(t, r, "ratio"), want, str(t, r, "intensity"), str(t, base, "intensity"));
    }
    csv_free(t);
    json_free(meta);
}

static void test_layers(void)
{
    int rc = bench("layers", ARGS("--model", "lenet5", "--ops", "conv2d", "--passes",
                                  "fwd,bwd_weight", "--backends", "im2col", "--batch", "2",
                                  "--repetitions", "2", "--min-time", "0.01", "--peer", "pytorch"));
    TU_CHECK(rc == 0 && strstr(out_text, "pytorch (the peer"), "layers --peer: exit %d\n%s\n%s",
             rc, out_text, err_text);
    json_doc *meta;
    csv_table *t = read_run("layers", &meta);
    json_free(meta);
    if (!t)
        return;
    const char *layers[] = {"conv1", "conv2", "TOTAL"}, *passes[] = {"fwd", "bwd_weight"};
    for (int l = 0; l < 3; l++)
        for (int p = 0; p < 2; p++) {
            int r = find(t, layers[l], passes[p], "pytorch");
            int base = find(t, layers[l], passes[p], "im2col");
            TU_CHECK(r >= 0 && base >= 0, "no %s %s rows of pytorch and im2col", layers[l],
                     passes[p]);
            if (r < 0 || base < 0)
                continue;
            double med = num(t, r, "median_ms");
            double want = num(t, base, "median_ms") / med;
            TU_CHECK(!strcmp(str(t, r, "status"), "OK") && med > 0 &&
                         !strcmp(str(t, r, "shape"), str(t, base, "shape")) &&
                         fabs(num(t, r, "ratio") - want) <= 0.002 + 0.01 * want &&
                         num(t, r, "gflops") > 0,
                     "pytorch %s %s: status %s median %g ratio %s (want %g) shape %s",
                     layers[l], passes[p], str(t, r, "status"), med, str(t, r, "ratio"), want,
                     str(t, r, "shape"));
        }
    csv_free(t);
}

static void test_no_python(void)
{
    setenv("CNNBENCH_PYTHON", "/nonexistent/python3", 1);
    int rc = bench("nopy", ARGS("--models", "lenet5", "--backends", "im2col", "--batch", "1",
                                "--repetitions", "1", "--peer", "pytorch"));
    unsetenv("CNNBENCH_PYTHON");
    TU_CHECK(rc == 0 && strstr(out_text, "pytorch: not usable here (") &&
                 strstr(out_text, "the run goes on without it"),
             "no python: exit %d\n%s\n%s", rc, out_text, err_text);
    json_doc *meta;
    csv_table *t = read_run("nopy", &meta);
    if (t) {
        TU_CHECK(find(t, "MODEL", "infer", "pytorch") < 0 && find(t, "MODEL", "infer", "im2col") >= 0,
                 "no python: pytorch rows, or no im2col rows");
        TU_CHECK(meta && !strncmp(json_str(meta, "peer", ""), "pytorch not usable: ", 20),
                 "meta.json peer: %s", meta ? json_str(meta, "peer", "(none)") : "?");
    }
    csv_free(t);
    json_free(meta);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (!cnn_backend_find("im2col")) {
        printf("test_bench_peer: no im2col backend in this build, skipped\n");
        return 77;
    }
    test_no_python();
    char info[512];
    bool torch = peer_probe(info, sizeof info);
    if (torch) {
        test_models();
        test_layers();
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    int rc = tu_finish("test_bench_peer");
    if (rc == 0 && !torch) {
        printf("test_bench_peer: no python with torch (%s): the peer's rows were not checked\n",
               info);
        return 77;
    }
    return rc;
}
