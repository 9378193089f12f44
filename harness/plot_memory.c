/* cnnbench plot: the memory a whole model takes per backend and mode
 * (results.csv MODEL rows): parameters, gradients, activations and
 * workspace stacked, in MiB; one cluster per backend, named in its colour,
 * one chart per model. */
#include <math.h>
#include <string.h>

#include "plot.h"

#define MIB (1024.0 * 1024.0)

static const char *const part_title[4] = {"parameters (+ BN statistics)", "gradients",
                                          "activations", "workspace"};
static const char *const part_colour[4] = {"#3b3b3b", "#8a8a8a", "#c9c9c9", "#f4f4f4"};

/* Row r's four parts in MiB; false when it has none (the mode failed, or is not usable). */
static bool parts(const plot_run *run, int r, double v[4])
{
    const int cols[4] = {run->rc.params, run->rc.grads, run->rc.act, run->rc.ws};
    bool any = false;
    for (int i = 0; i < 4; i++) {
        v[i] = plot_num(run, r, cols[i]) / MIB;
        any |= isfinite(v[i]);
        if (!isfinite(v[i]))
            v[i] = 0;
    }
    return any && strcmp(plot_cell(run, r, run->rc.status), "NOT_USABLE") != 0;
}

static void chart(plot_run *run, const char *model)
{
    char name[PLOT_NAME_MAX], t1[256], t2[320], data[PLOT_NAME_MAX + 16];
    plot_fmt(name, sizeof name, "memory_%s", model);
    char backends[PLOT_MAX_SERIES][PLOT_LABEL_MAX];
    int nb =
        plot_distinct(run, run->rc.backend, plot_model_rows_of, model, backends, PLOT_MAX_SERIES);
    plot_sort_backends(backends, nb);
    int nbars[PLOT_MAX_SERIES] = {0}, total = 0;
    for (int i = 0; i < nb; i++)
        for (int r = 0; r < run->res->nrows; r++) {
            double v[4];
            nbars[i] += plot_model_rows_of(run, r, model) &&
                        !strcmp(plot_cell(run, r, run->rc.backend), backends[i]) &&
                        parts(run, r, v);
        }
    for (int i = 0; i < nb; i++)
        total += nbars[i];
    if (total == 0) {
        plot_skip(run, name, "no backend has memory figures for %s", model);
        return;
    }
    plot_fmt(t1, sizeof t1, "%s: memory of the bound model by backend and mode", model);
    plot_setting_line(run, plot_model_rows_of, model, t2, sizeof t2);
    plot_chart c;
    cnn_status st = plot_chart_begin(&c, run, name, t1, t2, 300 + nb * 190, 560);
    cnn_atomic_file af;
    if (st == CNN_OK)
        st = plot_data_open(&c, &af, data, sizeof data);
    if (st != CNN_OK) {
        plot_chart_end(&c, st);
        return;
    }
    fprintf(af.f, "# one block per backend: mode, then MiB of parameters, gradients, "
                  "activations, workspace\n");
    for (int i = 0; i < nb; i++) {
        fprintf(af.f, "%s# %s\n", i ? "\n\n" : "", backends[i]);
        for (int r = 0; r < run->res->nrows; r++) {
            double v[4];
            if (!plot_model_rows_of(run, r, model) ||
                strcmp(plot_cell(run, r, run->rc.backend), backends[i]) || !parts(run, r, v))
                continue;
            char mode[PLOT_LABEL_MAX];
            plot_clean(mode, sizeof mode, plot_cell(run, r, run->rc.pass));
            fprintf(af.f, "\"%s\" %.6g %.6g %.6g %.6g\n", mode, v[0], v[1], v[2], v[3]);
        }
        if (!nbars[i])
            fprintf(af.f, "\"-\" NaN NaN NaN NaN\n");
    }
    if ((st = cnn_atomic_finish(&af, CNN_OK)) != CNN_OK) {
        plot_chart_end(&c, st);
        return;
    }
    FILE *f = c.body;
    fprintf(f, "set style data histograms\nset style histogram rowstacked title offset 0,-0.6\n"
               "set style fill solid 1.0 border lc rgb \"#303030\"\nset boxwidth 0.7\n"
               "set key outside right top vertical Left reverse\nset xtics scale 0\n"
               "set yrange [0:*]\nset ylabel \"MiB\"\nset bmargin 5\nplot ");
    double at = 0;
    bool first = true;
    for (int i = 0; i < nb; i++) {
        if (!nbars[i])
            continue;
        char clean[PLOT_LABEL_MAX];
        plot_clean(clean, sizeof clean, backends[i]);
        fprintf(f, "%snewhistogram \"%s\" tc rgb \"%s\" lt 1 at %g", first ? "" : ", \\\n     ",
                clean, plot_backend_colour(backends[i]), at);
        for (int p = 0; p < 4; p++)
            fprintf(f, ", \\\n     \"%s\" index %d using %d%s title \"%s\" lc rgb \"%s\"", data, i,
                    p + 2, p ? "" : ":xtic(1)", first ? part_title[p] : "", part_colour[p]);
        fprintf(
            f,
            ", \\\n     \"%s\" index %d using (%g + $0):($2 + $3 + $4 + $5):(sprintf(\"%%.0f\", "
            "$2 + $3 + $4 + $5)) with labels offset 0,0.7 font \",8\" notitle",
            data, i, at);
        at += nbars[i] + 1;
        first = false;
    }
    fprintf(f, "\n");
    plot_chart_end(&c, CNN_OK);
}

void plot_memory(plot_run *run)
{
    char models[64][PLOT_LABEL_MAX];
    int n = plot_models_with_model_rows(run, "memory_*", models, 64);
    if (n == 0)
        return;
    const char *missing = run->rc.params < 0  ? "params_bytes"
                          : run->rc.grads < 0 ? "grads_bytes"
                          : run->rc.act < 0   ? "act_bytes"
                          : run->rc.ws < 0    ? "ws_bytes"
                                              : NULL;
    if (missing) {
        plot_skip(run, "memory_*", "%s has no column %s (an older results.csv?)", run->res->path,
                  missing);
        return;
    }
    for (int m = 0; m < n; m++)
        chart(run, models[m]);
}
