/* cnnbench plot: a roofline per model (every layer row, every backend and
 * pass) and one for whole models (MODEL rows): arithmetic intensity
 * (results.csv `intensity`, FLOP/byte) against achieved GFLOP/s, log-log,
 * under the measured ceilings of meta.json: min(FMA peak, triad bandwidth x
 * intensity), and OpenBLAS sgemm as a second, practical compute roof. */
#include <math.h>
#include <string.h>

#include "plot.h"

typedef struct rows {
    const char *model;             /* NULL: the MODEL rows */
    char names[8][PLOT_LABEL_MAX]; /* the MODEL rows: the models, each its own shape */
    int nnames;
} rows;

/* Filled shapes (circle, triangle, square, diamond, triangle down); each one less is open. */
static const int shapes[5] = {7, 9, 5, 13, 11};

/* The point type of row r: its pass's on a model's roofline; on the whole-model one the
 * model's shape, filled for infer and open for train_step. */
static int point_type(const plot_run *run, const rows *s, int r)
{
    const char *pass = plot_cell(run, r, run->rc.pass);
    if (s->model)
        return plot_pass_point(pass);
    int m = 0;
    while (m < s->nnames && strcmp(s->names[m], plot_cell(run, r, run->rc.model)))
        m++;
    return shapes[m % 5] - (strcmp(pass, "infer") != 0);
}

static bool selected(const plot_run *run, int r, const void *arg)
{
    const rows *s = arg;
    if (!s->model)
        return plot_is_model_row(run, r);
    return plot_layer_rows_of(run, r, s->model);
}

/* A point of row r: both coordinates finite and positive. */
static bool point(const plot_run *run, int r, double *ai, double *g)
{
    *ai = plot_num(run, r, run->rc.intensity);
    *g = plot_num(run, r, run->rc.gflops);
    return plot_row_ok(run, r) && *ai > 0 && *g > 0 && isfinite(*ai) && isfinite(*g);
}

static cnn_status write_data(plot_chart *c, const rows *s, char backends[][PLOT_LABEL_MAX], int nb,
                             char *data, size_t n, double box[4])
{
    const plot_run *run = c->run;
    cnn_atomic_file af;
    cnn_status st = plot_data_open(c, &af, data, n);
    if (st != CNN_OK)
        return st;
    fprintf(af.f, "# one block per backend: intensity (FLOP/byte), GFLOP/s, point type (pass), "
                  "layer, pass\n");
    box[0] = box[2] = INFINITY;
    box[1] = box[3] = 0;
    for (int i = 0; i < nb; i++) {
        fprintf(af.f, "%s# %s\n", i ? "\n\n" : "", backends[i]);
        int k = 0;
        for (int r = 0; r < run->res->nrows; r++) {
            double ai, g;
            if (!selected(run, r, s) || strcmp(plot_cell(run, r, run->rc.backend), backends[i]) ||
                !point(run, r, &ai, &g))
                continue;
            char label[PLOT_LABEL_MAX], pass[PLOT_LABEL_MAX];
            plot_clean(label, sizeof label,
                       plot_cell(run, r, s->model ? run->rc.layer : run->rc.model));
            plot_clean(pass, sizeof pass, plot_cell(run, r, run->rc.pass));
            fprintf(af.f, "%.6g %.6g %d \"%s\" \"%s\"\n", ai, g, point_type(run, s, r), label,
                    pass);
            box[0] = fmin(box[0], ai);
            box[1] = fmax(box[1], ai);
            box[2] = fmin(box[2], g);
            box[3] = fmax(box[3], g);
            k++;
        }
        if (!k) /* gnuplot wants every block to hold a point */
            fprintf(af.f, "NaN NaN 7 \"-\" \"-\"\n");
    }
    return cnn_atomic_finish(&af, CNN_OK);
}

static void chart(plot_run *run, rows *s)
{
    char name[PLOT_NAME_MAX], t1[256], t2[320], data[PLOT_NAME_MAX + 16];
    plot_fmt(name, sizeof name, "roofline_%s", s->model ? s->model : "models");
    char backends[PLOT_MAX_SERIES][PLOT_LABEL_MAX], passes[8][PLOT_LABEL_MAX];
    int nb = plot_distinct(run, run->rc.backend, selected, s, backends, PLOT_MAX_SERIES);
    plot_sort_backends(backends, nb);
    if (!s->model)
        s->nnames = plot_distinct(run, run->rc.model, selected, s, s->names, 8);
    int np = plot_distinct(run, run->rc.pass, selected, s, passes, 8);
    bool any = false;
    for (int r = 0; r < run->res->nrows && !any; r++) {
        double ai, g;
        any = selected(run, r, s) && point(run, r, &ai, &g);
    }
    if (!any) {
        plot_skip(run, name, "no row has a timing and an intensity");
        return;
    }
    double peak = run->meta ? json_num(run->meta, "ceilings.fma_peak_gflops") : NAN;
    double sgemm = run->meta ? json_num(run->meta, "ceilings.sgemm_gflops") : NAN;
    double bw = run->meta ? json_num(run->meta, "ceilings.triad_gbs") : NAN;
    if (s->model)
        plot_fmt(t1, sizeof t1, "%s: roofline of every layer, backend and pass", s->model);
    else
        plot_fmt(t1, sizeof t1, "Whole models: roofline of each step (all its layers' passes)");
    plot_setting_line(run, selected, s, t2, sizeof t2);
    plot_chart c;
    cnn_status st = plot_chart_begin(&c, run, name, t1, t2, 1000, 680);
    double box[4];
    if (st == CNN_OK)
        st = write_data(&c, s, backends, nb, data, sizeof data, box);
    if (st != CNN_OK) {
        plot_chart_end(&c, st);
        return;
    }
    /* the axes: the points, the ridge (peak / bandwidth) and the peak, with a margin */
    double ridge = peak / bw;
    double x0 = box[0] / 3, x1 = box[1] * 3, y0 = box[2] / 3, y1 = box[3] * 3;
    if (isfinite(ridge) && ridge > 0) {
        x0 = fmin(x0, ridge / 4);
        x1 = fmax(x1, ridge * 4);
    }
    if (peak > 0)
        y1 = fmax(y1, peak * 2);
    FILE *f = c.body;
    fprintf(f,
            "set logscale xy\nset xrange [%.6g:%.6g]\nset yrange [%.6g:%.6g]\n"
            "set xlabel \"arithmetic intensity (FLOP per byte moved, at least)\"\n"
            "set ylabel \"achieved GFLOP/s\"\nset grid xtics ytics mxtics mytics lc rgb "
            "\"#e4e4e4\"\nset key outside right top vertical Left reverse\nset samples 500\n",
            x0, x1, y0, y1);
    plot_log_tics(f, "x", x0, x1);
    plot_log_tics(f, "y", y0, y1);
    fprintf(f, "plot ");
    int terms = 0;
    if (peak > 0 && bw > 0)
        fprintf(f,
                "(x * %.6g < %.6g ? x * %.6g : %.6g) with lines lw 2 lc rgb \"#000000\" title "
                "\"roof: FMA peak %.1f GFLOP/s, triad %.1f GB/s\"",
                bw, peak, bw, peak, peak, bw),
            terms++;
    else if (peak > 0)
        fprintf(f, "%.6g with lines lw 2 lc rgb \"#000000\" title \"FMA peak %.1f GFLOP/s\"", peak,
                peak),
            terms++;
    if (sgemm > 0)
        fprintf(f,
                "%s(x * %.6g < %.6g ? x * %.6g : %.6g) with lines dt 2 lw 2 lc rgb \"#606060\" "
                "title \"OpenBLAS sgemm %.1f GFLOP/s\"",
                terms++ ? ", \\\n     " : "", bw > 0 ? bw : 1e30, sgemm, bw > 0 ? bw : 1e30, sgemm,
                sgemm);
    for (int i = 0; i < nb; i++) {
        char clean[PLOT_LABEL_MAX];
        plot_clean(clean, sizeof clean, backends[i]);
        fprintf(f,
                "%s\"%s\" index %d using 1:2:3 with points pt variable ps 1.4 lc rgb \"%s\" "
                "notitle, \\\n     keyentry with boxes fs solid 0.9 lc rgb \"%s\" title \"%s\"",
                terms++ ? ", \\\n     " : "", data, i, plot_backend_colour(backends[i]),
                plot_backend_colour(backends[i]), clean);
    }
    for (int m = 0; m < s->nnames; m++) {
        char clean[PLOT_LABEL_MAX];
        plot_clean(clean, sizeof clean, s->names[m]);
        fprintf(f, ", \\\n     keyentry with points pt %d ps 1.4 lc rgb \"#000000\" title \"%s\"",
                shapes[m % 5], clean);
    }
    if (!s->model)
        fprintf(f, ", \\\n     keyentry with points pt 6 ps 0 lc rgb \"#000000\" title \"filled: "
                   "infer, open: train_step\"");
    for (int p = 0; s->model && p < np; p++) {
        char clean[PLOT_LABEL_MAX];
        plot_clean(clean, sizeof clean, passes[p]);
        fprintf(f, ", \\\n     keyentry with points pt %d ps 1.4 lc rgb \"#000000\" title \"%s\"",
                plot_pass_point(passes[p]), clean);
    }
    fprintf(f, "\n");
    if (!(peak > 0) || !(bw > 0))
        printf("note: %s: meta.json has no measured %s: drawn without it\n", name,
               !(peak > 0) ? "FMA peak" : "bandwidth (triad)");
    plot_chart_end(&c, CNN_OK);
}

void plot_roofline(plot_run *run)
{
    if (!run->res || run->rc.intensity < 0) {
        plot_skip(run, "roofline_*", "%s",
                  run->res ? "results.csv has no column intensity (an older results.csv?)"
                           : "no results.csv");
        return;
    }
    char models[64][PLOT_LABEL_MAX];
    int nm = plot_models_with_layers(run, models, 64);
    for (int m = 0; m < nm; m++)
        chart(run, &(rows){.model = models[m]});
    for (int r = 0; r < run->res->nrows; r++)
        if (plot_is_model_row(run, r)) {
            chart(run, &(rows){.model = NULL});
            break;
        }
}
