/* `cnnbench sweep --quick` as a process, narrowed to lenet5 so it takes
 * seconds: one run folder holding results.csv (layer and whole-model rows,
 * auto among them), verify.csv, plan.csv, meta.json complete, each stage's
 * folder and log under parts/, the charts in plots/ (when gnuplot is
 * here), and the summary table; usage errors name the bad option. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv_read.h"
#include "json_read.h"
#include "registry.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

static char dir[] = "/tmp/cnn_test_sweep_XXXXXX";
static char out_text[1 << 18], err_text[1 << 16];

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static int sweep(const char *out, const char *const *args)
{
    char root[512], *argv[64];
    snprintf(root, sizeof root, "%s/%s", dir, out);
    tu_cli_argv(argv, CNNBENCH_EXE, "sweep", args, root);
    return tu_run_process(CNNBENCH_EXE, argv, dir, out_text, sizeof out_text, err_text,
                          sizeof err_text);
}

static bool has_backend_row(const csv_table *t, const char *layer, const char *backend)
{
    int cl = csv_col(t, "layer"), cb = csv_col(t, "backend"), cs = csv_col(t, "status");
    for (int r = 0; r < t->nrows; r++)
        if (!strcmp(csv_cell(t, r, cl), layer) && !strcmp(csv_cell(t, r, cb), backend) &&
            !strcmp(csv_cell(t, r, cs), "OK"))
            return true;
    return false;
}

static int count_png(const char *plots)
{
    char cmd[1600], line[64];
    snprintf(cmd, sizeof cmd, "ls '%s' 2>/dev/null | grep -c '\\.png$'", plots);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (p && fgets(line, sizeof line, p))
        n = atoi(line);
    if (p)
        pclose(p);
    return n;
}

static void test_quick(void)
{
    int rc = sweep("quick", ARGS("--quick", "--models", "lenet5"));
    TU_CHECK(rc == 0, "sweep --quick: exit %d\nstdout:\n%s\nstderr:\n%s", rc, out_text, err_text);
    TU_CHECK(strstr(out_text, "summary: the fastest cnnbench configuration") &&
                 strstr(out_text, "lenet5") && strstr(out_text, "run folder: "),
             "sweep --quick: no summary table:\n%s", out_text);
    char root[512], names[4][256], path[1400];
    snprintf(root, sizeof root, "%s/quick", dir);
    if (tu_list_runs(root, names, 4) != 1) {
        TU_CHECK(false, "%s: not one run folder", root);
        return;
    }
    char run[1024];
    snprintf(run, sizeof run, "%s/%s", root, names[0]);
    json_doc *meta = NULL;
    snprintf(path, sizeof path, "%s/meta.json", run);
    TU_EXPECT_OK(json_read(path, &meta));
    TU_CHECK(meta && json_true(meta, "complete") && !strcmp(json_str(meta, "command", ""), "sweep"),
             "meta.json: not a complete sweep");
    json_free(meta);
    csv_table *t = NULL;
    snprintf(path, sizeof path, "%s/results.csv", run);
    TU_EXPECT_OK(csv_read(path, &t));
    if (t) {
        TU_CHECK(has_backend_row(t, "MODEL", "im2col") && has_backend_row(t, "MODEL", "auto") &&
                     has_backend_row(t, "conv1", "im2col") && has_backend_row(t, "TOTAL", "im2col"),
                 "results.csv lacks layer, TOTAL, MODEL or auto rows (%d rows)", t->nrows);
        csv_free(t);
    }
    t = NULL;
    snprintf(path, sizeof path, "%s/verify.csv", run);
    TU_EXPECT_OK(csv_read(path, &t));
    TU_CHECK(t && t->nrows > 50, "verify.csv: %d rows", t ? t->nrows : 0);
    csv_free(t);
    const char *must[] = {"plan.csv", "breakdown.csv", "parts"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", run, must[i]);
        TU_CHECK(access(path, F_OK) == 0, "sweep folder lacks %s", must[i]);
    }
    snprintf(path, sizeof path, "%s/parts/01-verify.log", run);
    TU_CHECK(access(path, F_OK) == 0, "no log of the first stage");
    if (system("command -v gnuplot > /dev/null 2>&1") == 0) {
        snprintf(path, sizeof path, "%s/plots", run);
        int n = count_png(path);
        TU_CHECK(n >= 5, "%s: %d PNG charts, expected at least 5", path, n);
    }
}

static void test_usage(void)
{
    const struct {
        const char *const *args;
        const char *want;
    } cases[] = {
        {ARGS("--quick", "--full"), "--quick and --full: one or the other"},
        {ARGS("--models", "lenet9"), "--models: unknown model 'lenet9'; valid models:"},
        {ARGS("--backends", "cuda"), "--backends: unknown backend 'cuda'; valid backends:"},
        {ARGS("--threads", "0"), "--threads: '0' is not a thread count"},
        {ARGS("--threads", "2,x"), "--threads: 'x' is not a thread count"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = sweep("usage", cases[i].args);
        TU_CHECK(rc == 2 && strstr(err_text, cases[i].want), "want exit 2 and '%s', got %d: %s",
                 cases[i].want, rc, err_text);
    }
    char root[512];
    snprintf(root, sizeof root, "%s/usage", dir);
    struct stat sb;
    TU_CHECK(stat(root, &sb) != 0, "a refused sweep made %s", root);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_usage();
    if (cnn_backend_find("im2col"))
        test_quick();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_sweep_cli");
}
