/* cnnbench plot: per model and pass, the GFLOP/s of each layer by backend
 * (results.csv layer rows, the model total last), under the machine's
 * measured FMA peak and sgemm ceilings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

typedef struct model_pass {
    const char *model, *pass;
} model_pass;

static bool layer_or_total_of(const plot_run *run, int r, const void *arg)
{
    const model_pass *mp = arg;
    return !plot_is_model_row(run, r) && !strcmp(plot_cell(run, r, run->rc.model), mp->model) &&
           (!mp->pass || !strcmp(plot_cell(run, r, run->rc.pass), mp->pass));
}

bool plot_layer_rows_of(const plot_run *run, int r, const void *model)
{
    return plot_is_layer_row(run, r) && !strcmp(plot_cell(run, r, run->rc.model), model);
}

static bool any_layer_row(const plot_run *run, int r, const void *arg)
{
    (void)arg;
    return plot_is_layer_row(run, r);
}

int plot_models_with_layers(const plot_run *run, char models[][PLOT_LABEL_MAX], int max)
{
    return run->res ? plot_distinct(run, run->rc.model, any_layer_row, NULL, models, max) : 0;
}

void plot_group_label(const plot_run *run, int r, char *out, size_t n)
{
    if (plot_is_total_row(run, r)) {
        snprintf(out, n, "model total");
        return;
    }
    double count = plot_num(run, r, run->rc.layers);
    snprintf(out, n, count > 1 ? "%s x%.0f" : "%s", plot_cell(run, r, run->rc.layer), count);
}

static void chart(plot_run *run, const model_pass *mp)
{
    plot_bars *b = plot_bars_new();
    if (!b) {
        run->nerrors++;
        return;
    }
    for (int r = 0; r < run->res->nrows; r++) {
        if (!layer_or_total_of(run, r, mp))
            continue;
        char group[PLOT_LABEL_MAX];
        plot_group_label(run, r, group, sizeof group);
        double g = plot_num(run, r, run->rc.gflops);
        plot_bars_set(b, group, plot_cell(run, r, run->rc.backend),
                      plot_row_ok(run, r) && g > 0 ? g : NAN);
    }
    char name[PLOT_NAME_MAX], t1[256], t2[320];
    plot_fmt(name, sizeof name, "layers_%s_%s", mp->model, mp->pass);
    if (!plot_bars_any(b)) {
        plot_skip(run, name, "no layer of %s in pass %s has a timing", mp->model, mp->pass);
        free(b);
        return;
    }
    plot_fmt(t1, sizeof t1, "%s, pass %s: GFLOP/s of each layer by backend", mp->model, mp->pass);
    plot_setting_line(run, layer_or_total_of, mp, t2, sizeof t2);
    plot_hline lines[2];
    char peak[128], sgemm[128];
    plot_ceiling_lines(run, lines, peak, sgemm);
    plot_chart c;
    cnn_status st = plot_chart_begin(&c, run, name, t1, t2, plot_bars_width(b), 560);
    if (st == CNN_OK)
        st = plot_bars_write(
            &c, b,
            &(plot_bars_opts){"GFLOP/s (the pass's FLOPs / median time)", 0, lines, 2, NULL});
    plot_chart_end(&c, st);
    free(b);
}

void plot_layers(plot_run *run)
{
    char models[64][PLOT_LABEL_MAX], passes[8][PLOT_LABEL_MAX];
    int nm = plot_models_with_layers(run, models, 64);
    if (nm == 0) {
        plot_skip(run, "layers_*", "%s",
                  run->res ? "results.csv has no layer rows (a --models run)" : "no results.csv");
        return;
    }
    for (int m = 0; m < nm; m++) {
        int np = plot_distinct(run, run->rc.pass, plot_layer_rows_of, models[m], passes, 8);
        for (int p = 0; p < np; p++)
            chart(run, &(model_pass){models[m], passes[p]});
    }
}
