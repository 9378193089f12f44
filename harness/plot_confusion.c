/* cnnbench plot: the confusion matrix of a training run (confusion.csv:
 * backend, true_class, then one column per predicted class, counts) as a
 * heat map per backend: rows the true class, columns the predicted one,
 * each cell the share of its true class (so rows sum to 100%), the count
 * written in it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

#define MAX_CLASSES 32

static void one(plot_run *run, const csv_table *t, const char *backend)
{
    int cb = csv_col(t, "backend"), ct = csv_col(t, "true_class");
    int nc = t->ncols - 2;
    if (nc < 1 || nc > MAX_CLASSES)
        return;
    char name[PLOT_NAME_MAX], be[PLOT_LABEL_MAX];
    plot_clean(be, sizeof be, backend);
    snprintf(name, sizeof name, "confusion_%.60s", be);
    char t1[256], t2[320], data[PLOT_NAME_MAX + 16];
    const char *model = run->meta ? json_str(run->meta, "model", NULL) : NULL;
    snprintf(t1, sizeof t1, "%s%sconfusion matrix on the test set, %s (share of each true class)",
             model ? model : "", model ? " " : "", be);
    plot_setting_line(run, NULL, NULL, t2, sizeof t2);
    plot_chart c;
    cnn_atomic_file af;
    cnn_status st = plot_chart_begin(&c, run, name, t1, t2, 980, 820);
    if (st == CNN_OK)
        st = plot_data_open(&c, &af, data, sizeof data);
    if (st != CNN_OK) {
        plot_chart_end(&c, st);
        return;
    }
    fprintf(af.f, "# predicted true share_percent count\n");
    int row = 0;
    char labels[MAX_CLASSES][PLOT_LABEL_MAX];
    for (int r = 0; r < t->nrows && row < nc; r++) {
        if (strcmp(csv_cell(t, r, cb), backend))
            continue;
        plot_clean(labels[row], sizeof labels[row], csv_cell(t, r, ct));
        double sum = 0;
        for (int k = 0; k < nc; k++)
            sum += fmax(csv_num(t, r, 2 + k), 0);
        for (int k = 0; k < nc; k++) {
            double v = csv_num(t, r, 2 + k);
            fprintf(af.f, "%d %d %.4f %.0f\n", k, row, sum > 0 && v >= 0 ? 100 * v / sum : 0,
                    v >= 0 ? v : 0);
        }
        fprintf(af.f, "\n");
        row++;
    }
    if ((st = cnn_atomic_finish(&af, CNN_OK)) != CNN_OK) {
        plot_chart_end(&c, st);
        return;
    }
    FILE *f = c.body;
    fprintf(f,
            "set xrange [-0.5:%d.5]\nset yrange [%d.5:-0.5]\nset size ratio -1\n"
            "set palette defined (0 \"#ffffff\", 10 \"#c6dbef\", 50 \"#4292c6\", 100 \"#08306b\")\n"
            "set cbrange [0:100]\nset cblabel \"share of the true class (%%)\"\n"
            "set xlabel \"predicted class\"\nset ylabel \"true class\"\nset xtics rotate by 35 "
            "right (",
            nc - 1, row - 1);
    for (int k = 0; k < nc; k++) {
        char h[PLOT_LABEL_MAX];
        plot_clean(h, sizeof h, t->header[2 + k]);
        fprintf(f, "%s\"%s\" %d", k ? ", " : "", h, k);
    }
    fprintf(f, ")\nset ytics (");
    for (int k = 0; k < row; k++)
        fprintf(f, "%s\"%s\" %d", k ? ", " : "", labels[k], k);
    fprintf(f, ")\nunset key\nset tics scale 0\n"
               "plot \"%s\" using 1:2:3 with image, \\\n"
               "     \"\" using 1:2:(sprintf(\"%%.0f\", $4)):($3 > 50 ? 0xffffff : 0x202020) "
               "with labels font \",8\" tc rgb variable\n",
            data);
    plot_chart_end(&c, CNN_OK);
}

void plot_confusion(plot_run *run)
{
    const csv_table *t = run->conf;
    if (!t) {
        plot_skip(run, "confusion", "no confusion.csv in the folder");
        return;
    }
    int cb = csv_col(t, "backend");
    char seen[PLOT_MAX_SERIES][PLOT_LABEL_MAX];
    int ns = 0;
    for (int r = 0; r < t->nrows && ns < PLOT_MAX_SERIES; r++) {
        const char *be = csv_cell(t, r, cb);
        int i = 0;
        while (i < ns && strcmp(seen[i], be))
            i++;
        if (i == ns) {
            snprintf(seen[ns++], PLOT_LABEL_MAX, "%s", be);
            one(run, t, be);
        }
    }
}
