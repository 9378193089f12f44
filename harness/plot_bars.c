/* cnnbench plot: grouped bar charts (one cluster per layer or model, one
 * bar per backend in its fixed colour), the shape most charts share. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

plot_bars *plot_bars_new(void)
{
    plot_bars *b = calloc(1, sizeof *b);
    if (!b) {
        cnn_fail(CNN_ERR_OUT_OF_MEMORY, "no memory for a chart");
        return NULL;
    }
    for (int g = 0; g < PLOT_MAX_GROUPS; g++)
        for (int s = 0; s < PLOT_MAX_SERIES; s++)
            b->v[g][s] = NAN;
    return b;
}

static int find_or_add(char names[][PLOT_LABEL_MAX], int *n, int max, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(names[i], name))
            return i;
    if (*n == max)
        return -1;
    snprintf(names[*n], PLOT_LABEL_MAX, "%s", name);
    return (*n)++;
}

double *plot_bars_at(plot_bars *b, const char *group, const char *series)
{
    char clean_g[PLOT_LABEL_MAX], clean_s[PLOT_LABEL_MAX];
    plot_clean(clean_g, sizeof clean_g, group);
    plot_clean(clean_s, sizeof clean_s, series);
    int g = find_or_add(b->group, &b->ngroups, PLOT_MAX_GROUPS, clean_g);
    int s = find_or_add(b->series, &b->nseries, PLOT_MAX_SERIES, clean_s);
    return g >= 0 && s >= 0 ? &b->v[g][s] : NULL;
}

void plot_bars_set(plot_bars *b, const char *group, const char *series, double v)
{
    double *at = plot_bars_at(b, group, series);
    if (at)
        *at = v;
}

bool plot_bars_any(const plot_bars *b)
{
    for (int g = 0; g < b->ngroups; g++)
        for (int s = 0; s < b->nseries; s++)
            if (isfinite(b->v[g][s]))
                return true;
    return false;
}

int plot_bars_width(const plot_bars *b)
{
    int w = 360 + b->ngroups * (b->nseries * 14 + 14); /* the key takes about 220 */
    return w < 820 ? 820 : w > 2400 ? 2400 : w;
}

static const plot_bars *sort_bars;
static int cmp_series(const void *a, const void *b)
{
    return plot_backend_cmp(sort_bars->series[*(const int *)a], sort_bars->series[*(const int *)b]);
}

/* The y axis: linear from 0, or log: a ratio on a log2 axis has its bars from 1x (up: faster,
 * down: slower); on a log10 axis the bars rise from the bottom (shift: the bottom's power). */
typedef struct axis {
    int base, shift;
    double span; /* the range, in powers of the base */
} axis;

/* Ticks of a log axis over the bars' range: 1/4x ... 8x (base 2), 0.001 ... 10 (base 10). */
static axis log_axis(FILE *f, const plot_bars *b, int base)
{
    double lo = 0, hi = 0;
    for (int g = 0; g < b->ngroups; g++)
        for (int s = 0; s < b->nseries; s++)
            if (isfinite(b->v[g][s]) && b->v[g][s] > 0) {
                lo = fmin(lo, log(b->v[g][s]) / log(base));
                hi = fmax(hi, log(b->v[g][s]) / log(base));
            }
    int k0 = (int)floor(lo), k1 = (int)ceil(hi);
    if (k1 - k0 < 2)
        k0--, k1++; /* room around bars that are all about 1x */
    int step = (k1 - k0) > 12 ? 2 : 1;
    if (step == 2 && k0 % 2)
        k0--; /* even powers: 1/4x, 1x, 4x */
    axis ax = {base, base == 10 ? k0 : 0, k1 - k0};
    fprintf(f, "set yrange [%d:%d]\nset ytics (", k0 - ax.shift, k1 - ax.shift);
    for (int k = k0; k <= k1; k += step) {
        char label[32];
        if (base == 2 && k < 0)
            snprintf(label, sizeof label, "1/%gx", ldexp(1, -k));
        else
            snprintf(label, sizeof label, base == 2 ? "%gx" : "%g", pow(base, k));
        fprintf(f, "%s\"%s\" %d", k == k0 ? "" : ", ", label, k - ax.shift);
    }
    fprintf(f, ")\n");
    return ax;
}

/* Column k of the data file on the axis, for gnuplot's `using`. */
static void y_expr(char *out, size_t n, const axis *ax, int k)
{
    if (ax->base)
        snprintf(out, n, "($%d > 0 ? log($%d)/log(%d) - %d : NaN)", k, k, ax->base, ax->shift);
    else
        snprintf(out, n, "$%d", k);
}

/* Each bar's value at its end, where the bars are wide enough for the text (gnuplot puts bar
 * s of n in cluster g at g + (s - (n - 1) / 2) / (n + gap), gap 1); on a log2 axis beyond the
 * bar's end, above it or below it. */
static void value_labels(plot_chart *c, const plot_bars *b, const axis *ax)
{
    double bar_px = (c->width - 380.0) / (b->ngroups * (b->nseries + 1.0));
    if (bar_px < 12)
        return;
    /* at most 5 characters ("41.4k", "8.46", "0.123"); turned upright where
     * a bar is narrower than that */
    const char *text = "($%d >= 1e3 ? sprintf(\"%%.3gk\", $%d / 1e3) : sprintf(\"%%.3g\", $%d))";
    bool upright = bar_px < 36;
    for (int s = 0; s < b->nseries; s++) {
        double dx = (s - (b->nseries - 1) / 2.0) / (b->nseries + 1.0);
        int k = s + 2;
        char y[160];
        y_expr(y, sizeof y, ax, k);
        if (ax->base == 2) {
            if (bar_px < 30)
                continue;
            fprintf(c->body,
                    ", \\\n     \"\" using ($0 + %.4f):(%s + ($%d >= 1 ? %.3f : -%.3f)):"
                    "(sprintf(\"%%.2f\", $%d)) with labels font \",8\" notitle",
                    dx, y, k, 0.035 * ax->span, 0.035 * ax->span, k);
        } else {
            char t[200];
            snprintf(t, sizeof t, text, k, k, k);
            fprintf(c->body,
                    ", \\\n     \"\" using ($0 + %.4f):(%s):%s with labels %s font \",8\" notitle",
                    dx, y, t, upright ? "rotate by 90 left offset 0,0.3" : "offset 0,0.6");
        }
    }
}

cnn_status plot_bars_write(plot_chart *c, plot_bars *b, const plot_bars_opts *o)
{
    int order[PLOT_MAX_SERIES];
    for (int s = 0; s < b->nseries; s++)
        order[s] = s;
    sort_bars = b;
    qsort(order, (size_t)b->nseries, sizeof order[0], cmp_series);

    cnn_atomic_file af;
    char data[PLOT_NAME_MAX + 16];
    cnn_status st = plot_data_open(c, &af, data, sizeof data);
    if (st != CNN_OK)
        return st;
    fprintf(af.f, "# %s; NaN: no bar (not run, or not supported)\n# group", o->ylabel);
    for (int s = 0; s < b->nseries; s++)
        fprintf(af.f, " %s", b->series[order[s]]);
    fprintf(af.f, "\n");
    size_t longest = 0;
    for (int g = 0; g < b->ngroups; g++) {
        fprintf(af.f, "\"%s\"", b->group[g]);
        longest = strlen(b->group[g]) > longest ? strlen(b->group[g]) : longest;
        for (int s = 0; s < b->nseries; s++)
            fprintf(af.f, isfinite(b->v[g][order[s]]) ? " %.6g" : " NaN", b->v[g][order[s]]);
        fprintf(af.f, "\n");
    }
    if ((st = cnn_atomic_finish(&af, CNN_OK)) != CNN_OK)
        return st;

    FILE *f = c->body;
    fprintf(f,
            "set style data histograms\nset style histogram clustered gap 1\n"
            "set style fill solid 0.9 border lc rgb \"#303030\"\n"
            "set key outside right top vertical Left reverse\n"
            "set ylabel \"%s\"\nset xtics scale 0\nset xrange [-0.6:%g]\n",
            o->ylabel, b->ngroups - 0.4);
    /* labels that would run into each other are turned */
    if (b->ngroups > 1 && (double)longest * 7.0 > 0.8 * (c->width - 380) / b->ngroups)
        fprintf(f, "set xtics rotate by 35 right\n");
    axis ax = {0, 0, 0};
    if (o->log_base) {
        ax = log_axis(f, b, o->log_base);
        fprintf(f, "set grid noxtics ytics\n");
    } else {
        fprintf(f, "set yrange [0:*]\n");
    }
    bool gap = false;
    for (int g = 0; g < b->ngroups; g++)
        for (int s = 0; s < b->nseries; s++)
            gap |= !isfinite(b->v[g][s]) || (o->log_base && !(b->v[g][s] > 0));
    if (gap)
        fprintf(f,
                "set label 101 \"no bar: %s\" at screen 0.005, screen 0.012 left font \",8\" "
                "textcolor rgb \"#707070\"\n",
                o->gap_note ? o->gap_note : "no timing (not supported, failed or not run)");
    fprintf(f, "plot ");
    for (int s = 0; s < b->nseries; s++) {
        const char *name = b->series[order[s]];
        char y[160];
        y_expr(y, sizeof y, &ax, s + 2);
        fprintf(f, "%s\"%s\" using (%s):xtic(1) title \"%s\" lc rgb \"%s\"", s ? ", \\\n     " : "",
                s ? "" : data, y, name, plot_backend_colour(name));
    }
    value_labels(c, b, &ax);
    for (int i = 0; i < o->nlines; i++) {
        const plot_hline *l = &o->lines[i];
        if (!isfinite(l->y) || (ax.base && !(l->y > 0)))
            continue;
        char t[160];
        plot_clean(t, sizeof t, l->title);
        fprintf(f, ", \\\n     %.6g with lines dt 2 lw 2 lc rgb \"%s\" title \"%s\"",
                ax.base ? log(l->y) / log(ax.base) - ax.shift : l->y, l->colour, t);
    }
    fprintf(f, "\n");
    return CNN_OK;
}
