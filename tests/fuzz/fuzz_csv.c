/* fuzz_csv: the CSV reader of plot, compare and --plan on any bytes:
 * csv_parse from memory (harness/csv_read.c), then the typed loaders on
 * top, each from a run folder holding the input as its CSV and a fixed,
 * finished bench meta.json: plot_load (results.csv) and the row helpers
 * the charts share; compare_run_load, compare_rows of the run against
 * itself and the printed table; auto_plan_read (plan.csv, its own line
 * splitter) against lenet5. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auto_plan.h"
#include "compare.h"
#include "csv_read.h"
#include "fuzz_util.h"
#include "plot.h"

static const char meta[] = "{\"command\": \"bench\", \"status\": \"complete\", \"complete\": true, "
                           "\"batch\": 1, \"threads\": 1, \"cpu\": \"fuzz\"}\n";

static void plot_it(const char *dir)
{
    plot_run *run = calloc(1, sizeof *run);
    if (!run)
        return;
    run->dir = dir;
    if (plot_load(run) == CNN_OK && run->res) {
        static char vals[PLOT_MAX_GROUPS][PLOT_LABEL_MAX];
        int n = plot_distinct(run, run->rc.backend, NULL, NULL, vals, PLOT_MAX_GROUPS);
        plot_sort_backends(vals, n);
        char line[512], label[256];
        plot_setting_line(run, NULL, NULL, line, sizeof line);
        for (int r = 0; r < run->res->nrows && r < 64; r++) {
            plot_group_label(run, r, label, sizeof label);
            (void)plot_row_ok(run, r);
            (void)plot_find_row(run, r, plot_cell(run, r, run->rc.backend));
        }
    }
    plot_unload(run);
    free(run);
}

static void compare_it(const char *dir, FILE *sink)
{
    compare_run a;
    if (compare_run_load(&a, "RUN_A", dir) != CNN_OK)
        return;
    compare_table t;
    if (compare_rows(&a, &a, COMPARE_FLOOR_PCT, &t) == CNN_OK) {
        compare_meta_print(sink, &a, &a);
        compare_print(sink, &a, &a, &t);
        compare_table_free(&t);
    }
    compare_run_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *dir;
    static char res[4200], plan[4200], mpath[4200];
    static cnn_model *lenet;
    static FILE *sink;
    if (!dir) {
        dir = fuzz_scratch();
        snprintf(res, sizeof res, "%s/results.csv", dir);
        snprintf(plan, sizeof plan, "%s/plan.csv", dir);
        snprintf(mpath, sizeof mpath, "%s/meta.json", dir);
        fuzz_write(mpath, meta, strlen(meta));
        cnn_model_opts o = {.batch = 1};
        if (cnn_model_create("lenet5", &o, &lenet) != CNN_OK || !(sink = fopen("/dev/null", "w")))
            abort();
    }
    csv_table *t = NULL;
    fuzz_note(csv_parse("fuzz.csv", (const char *)data, size, &t));
    if (t) {
        /* every cell of every row is there and NUL-terminated */
        size_t sum = 0;
        for (int r = 0; r < t->nrows; r++)
            for (int c = 0; c < t->ncols; c++)
                sum += strlen(csv_cell(t, r, c));
        (void)sum;
        csv_free(t);
    }
    fuzz_write(res, data, size);
    plot_it(dir);
    compare_it(dir, sink);
    remove(res);
    fuzz_write(plan, data, size);
    auto_plan p;
    if (auto_plan_read(plan, lenet, &p) == CNN_OK)
        auto_plan_free(&p);
    remove(plan);
    return 0;
}
