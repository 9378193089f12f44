/* cnnbench plot: the speed-up of each backend over naive, over onednn and
 * over pytorch (those of them the run has), per layer (with the model
 * total) or per whole model and mode. A log2 axis, so 2x faster and 2x
 * slower are the same distance from 1x. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

static const char *const baselines[] = {"naive", "onednn", "pytorch"};

/* How many times faster row r ran than the baseline's row: time over time for layers,
 * images/s over images/s for whole models (whose batches may differ). */
static double speedup(const plot_run *run, int r, const char *base)
{
    int b = plot_find_row(run, r, base);
    if (b < 0 || !plot_row_ok(run, r) || !plot_row_ok(run, b))
        return NAN;
    if (plot_is_model_row(run, r) && run->rc.images_per_s >= 0)
        return plot_num(run, r, run->rc.images_per_s) / plot_num(run, b, run->rc.images_per_s);
    return plot_num(run, b, run->rc.median) / plot_num(run, r, run->rc.median);
}

typedef struct selection {
    const char *model, *pass; /* NULL model: the MODEL rows */
} selection;

static bool selected(const plot_run *run, int r, const void *arg)
{
    const selection *s = arg;
    if (!s->model)
        return plot_is_model_row(run, r);
    return !plot_is_model_row(run, r) && !strcmp(plot_cell(run, r, run->rc.model), s->model) &&
           !strcmp(plot_cell(run, r, run->rc.pass), s->pass);
}

static bool has_backend(const plot_run *run, const selection *s, const char *backend)
{
    for (int r = 0; r < run->res->nrows; r++)
        if (selected(run, r, s) && !strcmp(plot_cell(run, r, run->rc.backend), backend))
            return true;
    return false;
}

static void chart(plot_run *run, const selection *s, const char *base)
{
    plot_bars *b = plot_bars_new();
    if (!b) {
        run->nerrors++;
        return;
    }
    for (int r = 0; r < run->res->nrows; r++) {
        const char *be = plot_cell(run, r, run->rc.backend);
        if (!selected(run, r, s) || !strcmp(be, base))
            continue;
        char group[PLOT_LABEL_MAX];
        if (s->model)
            plot_group_label(run, r, group, sizeof group);
        else
            snprintf(group, sizeof group, "%s %s", plot_cell(run, r, run->rc.model),
                     plot_cell(run, r, run->rc.pass));
        plot_bars_set(b, group, be, speedup(run, r, base));
    }
    char name[PLOT_NAME_MAX], t1[256], t2[320];
    if (s->model)
        plot_fmt(name, sizeof name, "speedup_%s_%s_vs_%s", s->model, s->pass, base);
    else
        plot_fmt(name, sizeof name, "speedup_models_vs_%s", base);
    if (!plot_bars_any(b)) {
        plot_skip(run, name, "no backend has a timing beside %s's", base);
        free(b);
        return;
    }
    if (s->model)
        plot_fmt(t1, sizeof t1, "%s, pass %s: speed-up over %s (its time / the backend's)",
                 s->model, s->pass, base);
    else
        plot_fmt(t1, sizeof t1, "Whole models: speed-up over %s (images/s / %s's images/s)", base,
                 base);
    plot_setting_line(run, selected, s, t2, sizeof t2);
    plot_chart c;
    char ylabel[96];
    snprintf(ylabel, sizeof ylabel, "speed-up over %s (log scale; > 1x: faster)", base);
    plot_hline same = {1.0, "same speed", "#000000"};
    cnn_status st = plot_chart_begin(&c, run, name, t1, t2, plot_bars_width(b), 560);
    if (st == CNN_OK)
        st = plot_bars_write(&c, b, &(plot_bars_opts){ylabel, 2, &same, 1, NULL});
    plot_chart_end(&c, st);
    free(b);
}

static void charts_for(plot_run *run, const selection *s, int *drawn)
{
    for (size_t i = 0; i < sizeof baselines / sizeof baselines[0]; i++)
        if (has_backend(run, s, baselines[i])) {
            chart(run, s, baselines[i]);
            ++*drawn;
        }
}

void plot_speedup(plot_run *run)
{
    if (!run->res) {
        plot_skip(run, "speedup_*", "no results.csv");
        return;
    }
    int drawn = 0;
    char models[64][PLOT_LABEL_MAX], passes[8][PLOT_LABEL_MAX];
    int nm = plot_models_with_layers(run, models, 64);
    for (int m = 0; m < nm; m++) {
        int np = plot_distinct(run, run->rc.pass, plot_layer_rows_of, models[m], passes, 8);
        for (int p = 0; p < np; p++)
            charts_for(run, &(selection){models[m], passes[p]}, &drawn);
    }
    charts_for(run, &(selection){NULL, NULL}, &drawn);
    if (!drawn)
        plot_skip(run, "speedup_*",
                  "none of the baselines naive, onednn, pytorch is in results.csv");
}
