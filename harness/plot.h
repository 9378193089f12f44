/* cnnbench plot: charts of a run folder, drawn by gnuplot.
 *
 * The folder is read whole first (results.csv, verify.csv, train.csv,
 * meta.json; plot_load.c), and every chart family (plot_layers.c,
 * plot_models.c, plot_speedup.c, plot_winograd.c, plot_roofline.c,
 * plot_memory.c, plot_train.c, plot_verify.c) writes a gnuplot script and
 * its data files into a hidden temporary folder beside plots/; gnuplot
 * renders each script to PNG and SVG there, and the folder then replaces
 * RUN_DIR/plots/ in one rename (plot_gnuplot.c). A chart without its data
 * is skipped with a line saying why. */
#ifndef CNN_PLOT_H
#define CNN_PLOT_H

#include <stdbool.h>
#include <stdio.h>

#include "atomic_file.h"
#include "csv_read.h"
#include "json_read.h"
#include "status.h"

#define PLOT_MAX_CHARTS 256
#define PLOT_NAME_MAX 96
#define PLOT_LABEL_MAX 96
#define PLOT_MAX_GROUPS 512
#define PLOT_MAX_SERIES 24

/* A horizontal line across a chart (a ceiling, 1x), with its legend entry. */
typedef struct plot_hline {
    double y;
    const char *title;
    const char *colour;
} plot_hline;

/* The columns of results.csv the charts use (-1: absent; the first ones
 * are required, csv_need in plot_load.c). */
typedef struct plot_res_cols {
    int model, layer, layers, op, pass, backend, status, algorithm, batch, threads, median, gflops,
        shape;
    int image_size, intensity, images_per_s, params, grads, act, ws; /* optional */
} plot_res_cols;

typedef struct plot_ver_cols {
    int backend, algorithm, op, pass, tensor, layer, shape, rel_l2, tolerance, status;
} plot_ver_cols;

typedef struct plot_run {
    const char *dir;  /* RUN_DIR as given */
    char tmp[4096];   /* the temporary folder the files are written into */
    json_doc *meta;   /* NULL without meta.json */
    csv_table *res;   /* results.csv, or NULL */
    csv_table *ver;   /* verify.csv, or NULL */
    csv_table *train; /* train.csv, or NULL */
    csv_table *conf;  /* confusion.csv, or NULL */
    plot_res_cols rc;
    plot_ver_cols vc;
    char incomplete[160];           /* "" for a finished run, else "incomplete run (status ...)" */
    int ncharts, nskipped, nerrors; /* nerrors: charts that could not be written */
    char charts[PLOT_MAX_CHARTS][PLOT_NAME_MAX]; /* the scripts written, without ".gp" */
} plot_run;

/* ---- reading the folder (plot_load.c) ---- */

/* Read RUN_DIR's files into run (zeroed by the caller, dir set). Errors
 * (CNN_ERR_INVALID_ARG, CNN_ERR_IO) name the file and what is wrong. */
cnn_status plot_load(plot_run *run);
void plot_unload(plot_run *run);

/* Row kinds of results.csv. */
bool plot_is_layer_row(const plot_run *run, int r); /* a layer row (not TOTAL, not MODEL) */
bool plot_is_model_row(const plot_run *run, int r); /* layer=MODEL */
bool plot_is_total_row(const plot_run *run, int r); /* layer=TOTAL */
/* status OK and a finite, positive median */
bool plot_row_ok(const plot_run *run, int r);
const char *plot_cell(const plot_run *run, int r, int col); /* a results.csv cell */
double plot_num(const plot_run *run, int r, int col);

/* The distinct values of column col over the rows r where keep(run, r, arg) holds, in order of
 * first appearance, into vals (at most max); returns how many. */
typedef bool (*plot_row_filter)(const plot_run *run, int r, const void *arg);
int plot_distinct(const plot_run *run, int col, plot_row_filter keep, const void *arg,
                  char vals[][PLOT_LABEL_MAX], int max);

/* The row of the same model, layer and pass as row `like` on `backend`, or -1. */
int plot_find_row(const plot_run *run, int like, const char *backend);
/* The models that have layer rows, in order (at most max); the rows of one model. */
int plot_models_with_layers(const plot_run *run, char models[][PLOT_LABEL_MAX], int max);
bool plot_layer_rows_of(const plot_run *run, int r, const void *model);
/* MODEL rows (of one model; NULL: any). */
bool plot_model_rows_of(const plot_run *run, int r, const void *model);
/* The models that have MODEL rows; none: a skip line for `chart` saying so. */
int plot_models_with_model_rows(plot_run *run, const char *chart, char models[][PLOT_LABEL_MAX],
                                int max);
/* A bar cluster's label for a layer row ("features.12 x2"; "model total" on TOTAL rows). */
void plot_group_label(const plot_run *run, int r, char *out, size_t n);

/* meta.json's ceilings.fma_peak_gflops and ceilings.sgemm_gflops as two chart lines (y NaN
 * where not measured); the titles go into the two buffers of 128 bytes. */
void plot_ceiling_lines(const plot_run *run, plot_hline lines[2], char *peak, char *sgemm);

/* The second title line of a chart over the rows kept: "batch 1, 64x64 input, 2 threads,
 * AMD EPYC", from those rows' batch, image_size and threads and meta.json's cpu. */
void plot_setting_line(const plot_run *run, plot_row_filter keep, const void *arg, char *out,
                       size_t n);

/* ---- styles (plot_style.c) ---- */

/* The colour of a backend, "#rrggbb": a fixed table (naive, im2col, winograd, winograd_f2x3,
 * winograd_f4x3, onednn, cudnn, auto, plan, pytorch); any other name gets one of a spare
 * palette chosen by its name, so the same backend has the same colour in every chart. */
const char *plot_backend_colour(const char *backend);
/* Order of backends in legends: the table's order, then others by name. */
int plot_backend_cmp(const char *a, const char *b);
/* Sort backend names into that order. */
void plot_sort_backends(char names[][PLOT_LABEL_MAX], int n);
/* A gnuplot point type per pass (fwd, fwd_infer, bwd_data, ...; infer, train_step). */
int plot_pass_point(const char *pass);
/* Copy s for a gnuplot string or data-file label: quotes, backslashes, backquotes, '@' and
 * control characters replaced, so no text from a file can end a string or run a command. */
void plot_clean(char *out, size_t n, const char *s);
/* snprintf that may truncate (names and titles are cut at their buffers' sizes). */
void plot_fmt(char *out, size_t n, const char *fmt, ...) CNN_PRINTF(3, 4);
/* Copy s for a file name: [A-Za-z0-9._-] kept, anything else '_'. */
void plot_file_part(char *out, size_t n, const char *s);

/* ---- writing charts (plot_gnuplot.c) ---- */

typedef struct plot_chart {
    plot_run *run;
    char name[PLOT_NAME_MAX]; /* file stem */
    char title[1024];         /* both title lines, '\n' between */
    int width, height;        /* pixels of the PNG (the SVG the same) */
    FILE *body;               /* gnuplot commands, written once per output format */
    char *body_text;
    size_t body_len;
    int ndata;
} plot_chart;

/* Start chart `name` (made a file name by plot_file_part); title1 says what it shows, title2
 * the settings (plot_setting_line). The run's "incomplete run" note goes into the title. */
cnn_status plot_chart_begin(plot_chart *c, plot_run *run, const char *name, const char *title1,
                            const char *title2, int width, int height);
/* Open the chart's next data file (NAME.dat, then NAME.2.dat, ...) for writing; its file name
 * (for the script) goes to fname. */
cnn_status plot_data_open(plot_chart *c, cnn_atomic_file *af, char *fname, size_t n);
/* Write NAME.gp (the body once for PNG, once for SVG) and record the chart; on st != CNN_OK
 * nothing is recorded. Returns the status. */
cnn_status plot_chart_end(plot_chart *c, cnn_status st);
/* Drop a chart begun (its data files too), as if it had not been: nothing recorded. */
void plot_chart_abort(plot_chart *c);
/* Tics of a log axis ("x", "y") at 1, 2, 5 times the powers of ten between lo and hi. */
void plot_log_tics(FILE *f, const char *axis, double lo, double hi);
/* "skipped CHART: why" on stdout, counted. */
void plot_skip(plot_run *run, const char *chart, const char *fmt, ...) CNN_PRINTF(3, 4);

/* Make the temporary folder (and take SIGINT and SIGTERM: plot_stop_signal says which came,
 * after which nothing is put in place; plot_signals_give_back restores them); render every chart
 * with `gnuplot` (a program name or path); put the folder in place as RUN_DIR/plots/. Returns the
 * exit code: 0, or 1 with the reason on stderr (gnuplot missing: the scripts are still put in
 * place). */
cnn_status plot_tmp_make(plot_run *run);
void plot_tmp_remove(plot_run *run);
int plot_render_and_commit(plot_run *run, const char *gnuplot);
int plot_stop_signal(void);
void plot_signals_give_back(void);

/* ---- grouped bars (plot_bars.c) ---- */

typedef struct plot_bars {
    int ngroups, nseries;
    char group[PLOT_MAX_GROUPS][PLOT_LABEL_MAX];
    char series[PLOT_MAX_SERIES][PLOT_LABEL_MAX]; /* backends */
    double v[PLOT_MAX_GROUPS][PLOT_MAX_SERIES];   /* NaN: no bar */
} plot_bars;

plot_bars *plot_bars_new(void); /* NULL when out of memory (reason recorded) */
/* Set the value of (group, series), adding either in order of appearance (ignored past the
 * limits). */
void plot_bars_set(plot_bars *b, const char *group, const char *series, double v);
/* The value of (group, series), added (NaN) if new; NULL past the limits. */
double *plot_bars_at(plot_bars *b, const char *group, const char *series);
/* Does any bar have a finite value? */
bool plot_bars_any(const plot_bars *b);

typedef struct plot_bars_opts {
    const char *ylabel;
    int log_base; /* 2: a log2 axis labelled 0.5x, 1x, 2x (ratios); 10: powers of ten; 0: linear
                     from 0 */
    const plot_hline *lines;
    int nlines;
    const char *gap_note; /* what a missing bar means (NULL: no timing), shown if one is */
} plot_bars_opts;
/* Write the data file and the plot command of b into c: one colour per backend, x labels
 * turned when they would not fit, each bar's value on it where there is room. */
cnn_status plot_bars_write(plot_chart *c, plot_bars *b, const plot_bars_opts *o);
/* A width in pixels that gives each bar room. */
int plot_bars_width(const plot_bars *b);

/* ---- labels of scatter points (plot_labels.c) ---- */

typedef struct plot_label {
    double x, y; /* the point, in data units (both axes log) */
    const char *text;
    int group; /* the panel (0-8): labels of one panel keep apart */
    double ly; /* set: the label's height, in data units */
    int side;  /* set: 1 at the right of the point, -1 at its left */
} plot_label;
/* The plot area of a panel: log10 of the axes' ends, and its size in pixels. */
typedef struct plot_frame {
    double lx0, lx1, ly0, ly1, width, height;
} plot_frame;
/* Place each label beside its point where it covers no other label and no point. */
void plot_place_labels(plot_label *l, int n, const plot_frame *fr);

/* ---- the chart families ---- */
void plot_layers(plot_run *run);
void plot_models(plot_run *run);
void plot_speedup(plot_run *run);
void plot_winograd(plot_run *run);
void plot_roofline(plot_run *run);
void plot_memory(plot_run *run);
void plot_train(plot_run *run);
void plot_confusion(plot_run *run);
void plot_verify(plot_run *run);

#endif
