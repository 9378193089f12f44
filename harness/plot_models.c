/* cnnbench plot: whole-model throughput (results.csv MODEL rows): per
 * model, the images/s of infer and train_step by backend, PyTorch's rows
 * among them like any backend's. One chart per model, since models differ
 * in images/s by orders of magnitude and each deserves a linear axis. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

static void chart(plot_run *run, const char *model)
{
    plot_bars *b = plot_bars_new();
    if (!b) {
        run->nerrors++;
        return;
    }
    for (int r = 0; r < run->res->nrows; r++)
        if (plot_model_rows_of(run, r, model)) {
            double ips = plot_num(run, r, run->rc.images_per_s);
            plot_bars_set(b, plot_cell(run, r, run->rc.pass), plot_cell(run, r, run->rc.backend),
                          plot_row_ok(run, r) && ips > 0 ? ips : NAN);
        }
    char name[PLOT_NAME_MAX], t1[256], t2[320];
    plot_fmt(name, sizeof name, "model_%s", model);
    if (!plot_bars_any(b)) {
        plot_skip(run, name, "no backend has a timing of %s", model);
        free(b);
        return;
    }
    plot_fmt(t1, sizeof t1, "%s: images/s of whole-model steps by backend", model);
    plot_setting_line(run, plot_model_rows_of, model, t2, sizeof t2);
    plot_chart c;
    cnn_status st = plot_chart_begin(&c, run, name, t1, t2, plot_bars_width(b), 520);
    if (st == CNN_OK)
        st = plot_bars_write(
            &c, b,
            &(plot_bars_opts){"images/s (batch / median step time; higher is faster)", 0, NULL, 0,
                              NULL});
    plot_chart_end(&c, st);
    free(b);
}

void plot_models(plot_run *run)
{
    char models[64][PLOT_LABEL_MAX];
    int n = plot_models_with_model_rows(run, "model_*", models, 64);
    if (n == 0)
        return;
    if (run->rc.images_per_s < 0) {
        plot_skip(run, "model_*", "%s has no column images_per_s (an older results.csv?)",
                  run->res->path);
        return;
    }
    for (int m = 0; m < n; m++)
        chart(run, models[m]);
}
