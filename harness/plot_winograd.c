/* cnnbench plot: Winograd's trade, per layer and tile size: the error it
 * measured (verify.csv rel_l2 of the winograd backends) against its
 * speed-up over im2col (results.csv). A point needs both files in one
 * folder (a sweep's, or one made by hand): each Winograd row of
 * results.csv is matched to the verify.csv row of the same backend, pass
 * and tile whose shape is the same, else whose layer (MODEL/LAYER) is. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

static const char *const tiles[2] = {"F(2x2,3x3)", "F(4x4,3x3)"};
static const char *const tile_backend[2] = {"winograd_f2x3", "winograd_f4x3"}; /* its colour */

/* 0 or 1 for an algorithm that names a tile, else -1. */
static int tile_of(const char *algorithm)
{
    for (int t = 0; t < 2; t++)
        if (strstr(algorithm, tiles[t]))
            return t;
    return -1;
}

/* A results.csv row Winograd timed with a tile of its own (not delegated), or -1. */
static int winograd_row(const plot_run *run, int r)
{
    if (!plot_is_layer_row(run, r) || strncmp(plot_cell(run, r, run->rc.backend), "winograd", 8) ||
        !plot_row_ok(run, r))
        return -1;
    return tile_of(plot_cell(run, r, run->rc.algorithm));
}

static bool winograd_rows(const plot_run *run, int r, const void *arg)
{
    (void)arg;
    return winograd_row(run, r) >= 0;
}

/* The verify.csv row measuring results.csv row r (same backend, pass, tile; same shape,
 * else same layer), or -1. */
static int verify_row(const plot_run *run, int r, int tile)
{
    const csv_table *v = run->ver;
    const plot_ver_cols *c = &run->vc;
    char layer[2 * PLOT_LABEL_MAX];
    snprintf(layer, sizeof layer, "%s/%s", plot_cell(run, r, run->rc.model),
             plot_cell(run, r, run->rc.layer));
    int by_layer = -1;
    for (int i = 0; i < v->nrows; i++) {
        if (strcmp(csv_cell(v, i, c->backend), plot_cell(run, r, run->rc.backend)) ||
            strcmp(csv_cell(v, i, c->pass), plot_cell(run, r, run->rc.pass)) ||
            tile_of(csv_cell(v, i, c->algorithm)) != tile || !(csv_num(v, i, c->rel_l2) > 0))
            continue;
        if (!strcmp(csv_cell(v, i, c->shape), plot_cell(run, r, run->rc.shape)))
            return i;
        if (by_layer < 0 && !strcmp(csv_cell(v, i, c->layer), layer))
            by_layer = i;
    }
    return by_layer;
}

/* The point of results.csv row r with tile t: speed-up over im2col and the verify.csv error.
 * A row of `winograd` (the tile picked per layer) is left out where the backend of that tile
 * alone has the same layer and pass: the same algorithm, drawn once. */
static bool point(const plot_run *run, int r, int t, double *speedup, double *err)
{
    if (winograd_row(run, r) != t)
        return false;
    if (!strcmp(plot_cell(run, r, run->rc.backend), "winograd")) {
        int fixed = plot_find_row(run, r, tile_backend[t]);
        if (fixed >= 0 && winograd_row(run, fixed) == t)
            return false;
    }
    int im2col = plot_find_row(run, r, "im2col");
    int v = im2col >= 0 && plot_row_ok(run, im2col) ? verify_row(run, r, t) : -1;
    if (v < 0)
        return false;
    *speedup = plot_num(run, im2col, run->rc.median) / plot_num(run, r, run->rc.median);
    *err = csv_num(run->ver, v, run->vc.rel_l2);
    return true;
}

#define MAX_POINTS 512

typedef struct wino_point {
    double speedup, err;
    int tile;
    char label[2 * PLOT_LABEL_MAX], backend[PLOT_LABEL_MAX], pass[PLOT_LABEL_MAX];
} wino_point;

typedef struct wino_points {
    wino_point p[MAX_POINTS];
    plot_label l[MAX_POINTS];
    int n, ntile[2];
    char pass[4][PLOT_LABEL_MAX]; /* the passes that have points: one panel each */
    int npass;
    double x0, x1, y0, y1; /* the axes (powers of 2 and of 10 around the points) */
} wino_points;

static void collect(const plot_run *run, wino_points *w)
{
    char models[64][PLOT_LABEL_MAX];
    bool many_models = plot_distinct(run, run->rc.model, winograd_rows, NULL, models, 64) > 1;
    double lo = 1, hi = 1, elo = INFINITY, ehi = 0;
    for (int t = 0; t < 2; t++)
        for (int r = 0; r < run->res->nrows && w->n < MAX_POINTS; r++) {
            wino_point *q = &w->p[w->n];
            if (!point(run, r, t, &q->speedup, &q->err))
                continue;
            char label[2 * PLOT_LABEL_MAX];
            plot_fmt(label, sizeof label, "%s%s%s",
                     many_models ? plot_cell(run, r, run->rc.model) : "", many_models ? "/" : "",
                     plot_cell(run, r, run->rc.layer));
            plot_clean(q->label, sizeof q->label, label);
            plot_clean(q->backend, sizeof q->backend, plot_cell(run, r, run->rc.backend));
            plot_clean(q->pass, sizeof q->pass, plot_cell(run, r, run->rc.pass));
            q->tile = t;
            int p = 0;
            while (p < w->npass && strcmp(w->pass[p], q->pass))
                p++;
            if (p == w->npass && p < 4)
                memcpy(w->pass[w->npass++], q->pass, PLOT_LABEL_MAX);
            w->l[w->n] = (plot_label){q->speedup, q->err, q->label, p, q->err, 1};
            lo = fmin(lo, q->speedup);
            hi = fmax(hi, q->speedup);
            elo = fmin(elo, q->err);
            ehi = fmax(ehi, q->err);
            w->ntile[t]++;
            w->n++;
        }
    int k0 = (int)floor(log2(lo)), k1 = (int)ceil(log2(hi));
    if (k1 - k0 < 2)
        k0--, k1++;
    w->x0 = ldexp(1, k0);
    w->x1 = ldexp(1, k1);
    w->y0 = elo / 1.6;
    w->y1 = ehi * 8; /* room above the points for the key */
}

static cnn_status write_data(plot_chart *c, char *data, size_t n, wino_points *w)
{
    /* the plot area of a panel, about: the chart less margins, title, key and labels */
    plot_frame fr = {
        log10(w->x0),   log10(w->x1), log10(w->y0), log10(w->y1), c->width / (double)w->npass - 110,
        c->height - 150};
    plot_place_labels(w->l, w->n, &fr);
    cnn_atomic_file af;
    cnn_status st = plot_data_open(c, &af, data, n);
    if (st != CNN_OK)
        return st;
    fprintf(af.f, "# one block per tile: speed-up over im2col, rel_l2 (verify.csv), layer, "
                  "backend, pass, the label's side (1 right, -1 left) and height\n");
    for (int t = 0; t < 2; t++) {
        fprintf(af.f, "%s# %s\n", t ? "\n\n" : "", tiles[t]);
        for (int i = 0; i < w->n; i++)
            if (w->p[i].tile == t)
                fprintf(af.f, "%.6g %.6g \"%s\" \"%s\" \"%s\" %d %.6g\n", w->p[i].speedup,
                        w->p[i].err, w->p[i].label, w->p[i].backend, w->p[i].pass, w->l[i].side,
                        w->l[i].ly);
        if (!w->ntile[t])
            fprintf(af.f, "NaN NaN \"-\" \"-\" \"-\" 1 NaN\n");
    }
    return cnn_atomic_finish(&af, CNN_OK);
}

/* One panel: pass p's points of both tiles, labelled with their layers. */
static void panel(FILE *f, const char *data, const wino_points *w, int p)
{
    static const int shape[2] = {7, 9};
    fprintf(f, "set title \"pass %s\"\nplot ", w->pass[p]);
    bool first = true;
    for (int t = 0; t < 2; t++) {
        if (!w->ntile[t])
            continue;
        const char *col = plot_backend_colour(tile_backend[t]);
        char in[128];
        snprintf(in, sizeof in, "strcol(5) eq \"%s\"", w->pass[p]);
        fprintf(
            f,
            "%s\"%s\" index %d using 1:(%s ? $2 : NaN) with points pt %d ps 1.5 lc rgb \"%s\" "
            "notitle, \\\n     \"\" index %d using 1:(%s && $6 > 0 ? $7 : NaN):3 with labels "
            "left offset 0.9,0 font \",7\" tc rgb \"#404040\" notitle, \\\n     \"\" index %d "
            "using 1:(%s && $6 < 0 ? $7 : NaN):3 with labels right offset -0.9,0 font \",7\" "
            "tc rgb \"#404040\" notitle, \\\n     keyentry with points pt %d ps 1.5 lc rgb \"%s\" "
            "title \"%s\"",
            first ? "" : ", \\\n     ", data, t, in, shape[t], col, t, in, t, in, shape[t], col,
            tiles[t]);
        first = false;
    }
    fprintf(f, "\n");
}

void plot_winograd(plot_run *run)
{
    const char *name = "winograd_error_speedup";
    if (!run->res || !run->ver) {
        plot_skip(run, name, "needs results.csv and verify.csv in one folder (this one has no %s)",
                  run->res ? "verify.csv" : "results.csv");
        return;
    }
    int nrows = 0, nim2col = 0;
    for (int r = 0; r < run->res->nrows; r++)
        if (winograd_row(run, r) >= 0) {
            nrows++;
            nim2col += plot_find_row(run, r, "im2col") >= 0;
        }
    if (!nrows || !nim2col) {
        plot_skip(run, name, "%s",
                  !nrows ? "results.csv has no layer Winograd ran with a tile"
                         : "results.csv has no im2col rows to compare with");
        return;
    }
    wino_points *w = calloc(1, sizeof *w);
    if (!w) {
        run->nerrors++;
        return;
    }
    collect(run, w);
    if (w->n == 0) {
        plot_skip(run, name,
                  "no Winograd row of results.csv has a verify.csv row (same backend, "
                  "pass and tile; same shape or layer) and an im2col time");
        free(w);
        return;
    }
    char t2[320], data[PLOT_NAME_MAX + 16];
    plot_setting_line(run, winograd_rows, NULL, t2, sizeof t2);
    plot_chart c;
    cnn_status st = plot_chart_begin(&c, run, name,
                                     "Winograd: measured error against speed-up over im2col, per "
                                     "layer and tile",
                                     t2, 160 + 760 * w->npass, 720);
    if (st == CNN_OK)
        st = write_data(&c, data, sizeof data, w);
    if (st == CNN_OK) {
        FILE *f = c.body;
        fprintf(f, "set multiplot layout 1,%d title \"%s\"\n", w->npass, c.title);
        fprintf(f, "set logscale x 2\nset xrange [%g:%g]\nset xtics (", w->x0, w->x1);
        for (double x = w->x0; x <= w->x1 * 1.0001; x *= 2)
            fprintf(f, x < 1 ? "%s\"1/%gx\" %g" : "%s\"%gx\" %g", x == w->x0 ? "" : ", ",
                    x < 1 ? 1 / x : x, x);
        fprintf(f,
                ")\nset logscale y\nset yrange [%g:%g]\nset format y \"%%.0e\"\n"
                "set xlabel \"speed-up over im2col (im2col's time / Winograd's; > 1x: "
                "faster)\"\n"
                "set ylabel \"relative L2 error against the naive reference (verify.csv)\"\n"
                "set grid xtics ytics lc rgb \"#e4e4e4\"\nset key top left Left reverse\n"
                "set arrow 1 from 1, graph 0 to 1, graph 1 nohead dt 2 lw 1.5 lc rgb "
                "\"#606060\"\n",
                w->y0, w->y1);
        for (int p = 0; p < w->npass; p++)
            panel(f, data, w, p);
        fprintf(f, "unset multiplot\n");
    }
    plot_chart_end(&c, st);
    if (st == CNN_OK && w->n < nrows)
        printf("note: %s: %d of %d Winograd rows of results.csv drawn (the others lack a "
               "verify.csv row or an im2col time, or repeat a fixed-tile backend's)\n",
               name, w->n, nrows);
    free(w);
}
