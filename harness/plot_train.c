/* cnnbench plot: a training run's curves (train.csv: epoch, train_loss,
 * train_acc, test_loss, test_acc and, when there, backend): loss and
 * accuracy per epoch, train solid and test dashed, one colour per backend.
 * The file comes from a command still to be written, so the chart reads it
 * defensively: rows in any order, empty or nan cells left out, accuracy as
 * a fraction or a percentage. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

static const csv_table *sort_t;
static int sort_epoch;
static int by_epoch(const void *a, const void *b)
{
    double x = csv_num(sort_t, *(const int *)a, sort_epoch);
    double y = csv_num(sort_t, *(const int *)b, sort_epoch);
    return (x > y) - (x < y);
}

static bool finite_row(const csv_table *t, int r, const int *cols)
{
    bool any = false;
    for (int i = 1; i < 5; i++)
        any |= isfinite(csv_num(t, r, cols[i]));
    return isfinite(csv_num(t, r, cols[0])) && any;
}

void plot_train(plot_run *run)
{
    const char *name = "train_curves";
    const csv_table *t = run->train;
    if (!t) {
        plot_skip(run, name, "no train.csv in the folder");
        return;
    }
    const int cols[5] = {csv_col(t, "epoch"), csv_col(t, "train_loss"), csv_col(t, "test_loss"),
                         csv_col(t, "train_acc"), csv_col(t, "test_acc")};
    int cb = csv_col(t, "backend");
    /* the backends, in the fixed order; "" when the file has no backend column */
    char backends[PLOT_MAX_SERIES][PLOT_LABEL_MAX];
    int nb = 0;
    double acc_max = 0, epoch_max = 0;
    for (int r = 0; r < t->nrows; r++) {
        if (!finite_row(t, r, cols))
            continue;
        epoch_max = fmax(epoch_max, csv_num(t, r, cols[0]));
        acc_max = fmax(acc_max, fmax(fmax(csv_num(t, r, cols[3]), csv_num(t, r, cols[4])), 0));
        const char *be = csv_cell(t, r, cb);
        int i = 0;
        while (i < nb && strcmp(backends[i], be))
            i++;
        if (i == nb && nb < PLOT_MAX_SERIES)
            snprintf(backends[nb++], PLOT_LABEL_MAX, "%s", be);
    }
    if (!nb) {
        plot_skip(run, name, "train.csv has no row with an epoch and a loss or accuracy");
        return;
    }
    double scale = acc_max <= 1.0 ? 100.0 : 1.0; /* fractions are shown as % */
    const char *model = run->meta ? json_str(run->meta, "model", NULL) : NULL;
    char t1[256], t2[320], data[PLOT_NAME_MAX + 16];
    snprintf(t1, sizeof t1, "%s%straining: loss and accuracy per epoch by backend",
             model ? model : "", model ? " " : "");
    plot_setting_line(run, NULL, NULL, t2, sizeof t2);
    plot_chart c;
    cnn_atomic_file af;
    cnn_status st = plot_chart_begin(&c, run, name, t1, t2, 1300, 560);
    if (st == CNN_OK)
        st = plot_data_open(&c, &af, data, sizeof data);
    if (st != CNN_OK) {
        plot_chart_end(&c, st);
        return;
    }
    fprintf(af.f, "# one block per backend: epoch, train_loss, test_loss, train_acc %%, "
                  "test_acc %% (NaN: not in train.csv)\n");
    int *idx = malloc(sizeof(int) * (size_t)(t->nrows ? t->nrows : 1));
    for (int i = 0; idx && i < nb; i++) {
        fprintf(af.f, "%s# %s\n", i ? "\n\n" : "", *backends[i] ? backends[i] : "(no backend)");
        int n = 0;
        for (int r = 0; r < t->nrows; r++)
            if (finite_row(t, r, cols) && !strcmp(csv_cell(t, r, cb), backends[i]))
                idx[n++] = r;
        sort_t = t;
        sort_epoch = cols[0];
        qsort(idx, (size_t)n, sizeof idx[0], by_epoch);
        for (int k = 0; k < n; k++) {
            for (int j = 0; j < 5; j++) {
                double v = csv_num(t, idx[k], cols[j]) * (j >= 3 ? scale : 1);
                fprintf(af.f, isfinite(v) ? "%s%.6g" : "%sNaN", j ? " " : "", v);
            }
            fprintf(af.f, "\n");
        }
    }
    free(idx);
    if ((st = cnn_atomic_finish(&af, idx ? CNN_OK : CNN_ERR_OUT_OF_MEMORY)) != CNN_OK) {
        plot_chart_end(&c, st);
        return;
    }
    FILE *f = c.body;
    const char *what[2] = {"loss", "accuracy"};
    fprintf(f,
            "set multiplot layout 1,2 title \"%s\"\nunset title\n"
            "set key bottom left Left reverse\nset grid xtics ytics lc rgb \"#e4e4e4\"\n"
            "set xlabel \"epoch\"\n%s",
            c.title, epoch_max <= 20 ? "set xtics 1\n" : "");
    for (int p = 0; p < 2; p++) {
        fprintf(f, "set ylabel \"%s\"\nset key %s\nplot ",
                p ? "accuracy (%)" : "loss (mean cross-entropy)", p ? "bottom right" : "top right");
        for (int i = 0; i < nb; i++) {
            char be[PLOT_LABEL_MAX];
            plot_clean(be, sizeof be, *backends[i] ? backends[i] : "run");
            const char *col = plot_backend_colour(*backends[i] ? backends[i] : "-");
            fprintf(f,
                    "%s\"%s\" index %d using 1:%d with linespoints pt 7 ps 0.6 lw 2 lc rgb \"%s\" "
                    "title \"%s train %s\", \\\n     \"\" index %d using 1:%d with linespoints "
                    "pt 6 ps 0.6 lw 2 dt 2 lc rgb \"%s\" title \"%s test %s\"",
                    i ? ", \\\n     " : "", data, i, 2 + 2 * p, col, be, what[p], i, 3 + 2 * p, col,
                    be, what[p]);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "unset multiplot\n");
    plot_chart_end(&c, CNN_OK);
}
