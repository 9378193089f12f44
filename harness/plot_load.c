/* cnnbench plot: reading a run folder (results.csv, verify.csv, train.csv,
 * meta.json) with the strict readers, and the row helpers the charts share. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plot.h"

/* The name is there, even as a link that loops or leads nowhere: reading it
 * then says so, instead of the file counting as absent. */
static bool exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* A column a chart reads: its name and where its index goes (offsetof the cols struct). */
typedef struct col_spec {
    const char *name;
    size_t at;
} col_spec;
#define RES(field, name)                                                                           \
    {                                                                                              \
        name, offsetof(plot_res_cols, field)                                                       \
    }
#define VER(field, name)                                                                           \
    {                                                                                              \
        name, offsetof(plot_ver_cols, field)                                                       \
    }

/* results.csv: the first RES_NEEDED are required (csv_need), the others optional (a chart
 * without its column is skipped, saying which). */
static const col_spec res_cols[] = {
    RES(model, "model"),         RES(layer, "layer"),
    RES(layers, "layers"),       RES(op, "op"),
    RES(pass, "pass"),           RES(backend, "backend"),
    RES(status, "status"),       RES(algorithm, "algorithm"),
    RES(batch, "batch"),         RES(threads, "threads"),
    RES(median, "median_ms"),    RES(gflops, "gflops"),
    RES(shape, "shape"),         RES(image_size, "image_size"),
    RES(intensity, "intensity"), RES(images_per_s, "images_per_s"),
    RES(params, "params_bytes"), RES(grads, "grads_bytes"),
    RES(act, "act_bytes"),       RES(ws, "ws_bytes"),
};
#define RES_NEEDED 13
static const col_spec ver_cols[] = {
    VER(backend, "backend"), VER(algorithm, "algorithm"), VER(op, "op"),
    VER(pass, "pass"),       VER(tensor, "tensor"),       VER(layer, "layer"),
    VER(shape, "shape"),     VER(rel_l2, "rel_l2"),       VER(tolerance, "tolerance"),
    VER(status, "status"),
};
static const col_spec train_cols[] = {
    {"epoch", 0}, {"train_loss", 0}, {"train_acc", 0}, {"test_loss", 0}, {"test_acc", 0},
};

/* Read DIR/name when it is there (*t stays NULL when it is not): its first `needed` columns of
 * specs must be there; each column's index (-1: absent) goes into cols (NULL: not wanted). */
static cnn_status read_csv(const char *dir, const char *name, const col_spec *specs, int nspecs,
                           int needed, void *cols, csv_table **t)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!exists(path))
        return CNN_OK;
    cnn_status st = csv_read(path, t);
    if (st != CNN_OK)
        return st;
    const char *need[32];
    for (int i = 0; i < needed && i < 31; i++)
        need[i] = specs[i].name;
    need[needed < 31 ? needed : 31] = NULL;
    if ((st = csv_need(*t, name, need)) != CNN_OK) {
        csv_free(*t);
        *t = NULL;
        return st;
    }
    for (int i = 0; cols && i < nspecs; i++)
        *(int *)((char *)cols + specs[i].at) = csv_col(*t, specs[i].name);
    return CNN_OK;
}

#define COUNT(a) ((int)(sizeof(a) / sizeof(a)[0]))

cnn_status plot_load(plot_run *run)
{
    struct stat sb;
    if (stat(run->dir, &sb) != 0)
        return cnn_fail(CNN_ERR_IO, "%s: %s", run->dir,
                        errno == ENOENT ? "no such folder" : strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: not a folder (give a run folder, RESULTS/<run-id>)", run->dir);
    cnn_status st;
    if ((st = read_csv(run->dir, "results.csv", res_cols, COUNT(res_cols), RES_NEEDED, &run->rc,
                       &run->res)) != CNN_OK ||
        (st = read_csv(run->dir, "verify.csv", ver_cols, COUNT(ver_cols), COUNT(ver_cols), &run->vc,
                       &run->ver)) != CNN_OK ||
        (st = read_csv(run->dir, "train.csv", train_cols, COUNT(train_cols), COUNT(train_cols),
                       NULL, &run->train)) != CNN_OK)
        return st;
    /* confusion.csv: backend, true_class, then one column per predicted class */
    char cpath[4096];
    snprintf(cpath, sizeof cpath, "%s/confusion.csv", run->dir);
    if (exists(cpath)) {
        static const char *const conf_cols[] = {"backend", "true_class", NULL};
        if ((st = csv_read(cpath, &run->conf)) != CNN_OK ||
            (st = csv_need(run->conf, "confusion", conf_cols)) != CNN_OK)
            return st;
    }
    if (!run->res && !run->ver && !run->train)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: no results.csv, verify.csv or train.csv: not a cnnbench run folder "
                        "(bench writes results.csv, verify writes verify.csv)",
                        run->dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", run->dir);
    if (!exists(path)) {
        printf("note: %s has no meta.json: the machine and its ceilings are unknown\n", run->dir);
        return CNN_OK;
    }
    if ((st = json_read(path, &run->meta)) != CNN_OK)
        return st;
    const char *status = json_str(run->meta, "status", NULL);
    if (status && strcmp(status, "complete") != 0) {
        char clean[64];
        plot_clean(clean, sizeof clean, status);
        snprintf(run->incomplete, sizeof run->incomplete, "incomplete run (status %s)", clean);
    }
    return CNN_OK;
}

void plot_unload(plot_run *run)
{
    csv_free(run->res);
    csv_free(run->ver);
    csv_free(run->train);
    csv_free(run->conf);
    json_free(run->meta);
    run->res = run->ver = run->train = run->conf = NULL;
    run->meta = NULL;
}

const char *plot_cell(const plot_run *run, int r, int col)
{
    return csv_cell(run->res, r, col);
}

double plot_num(const plot_run *run, int r, int col)
{
    return csv_num(run->res, r, col);
}

bool plot_is_model_row(const plot_run *run, int r)
{
    return !strcmp(plot_cell(run, r, run->rc.layer), "MODEL");
}

bool plot_is_total_row(const plot_run *run, int r)
{
    return !strcmp(plot_cell(run, r, run->rc.layer), "TOTAL");
}

bool plot_is_layer_row(const plot_run *run, int r)
{
    return !plot_is_model_row(run, r) && !plot_is_total_row(run, r);
}

bool plot_row_ok(const plot_run *run, int r)
{
    double ms = plot_num(run, r, run->rc.median);
    return !strcmp(plot_cell(run, r, run->rc.status), "OK") && isfinite(ms) && ms > 0;
}

int plot_distinct(const plot_run *run, int col, plot_row_filter keep, const void *arg,
                  char vals[][PLOT_LABEL_MAX], int max)
{
    int n = 0;
    for (int r = 0; run->res && r < run->res->nrows; r++) {
        if (keep && !keep(run, r, arg))
            continue;
        const char *v = plot_cell(run, r, col);
        int i = 0;
        while (i < n && strcmp(vals[i], v))
            i++;
        if (i == n && n < max)
            snprintf(vals[n++], PLOT_LABEL_MAX, "%s", v);
    }
    return n;
}

/* The smallest and largest positive number of column col over the kept rows; false when the
 * column is absent or holds none. */
static bool range(const plot_run *run, int col, plot_row_filter keep, const void *arg, double *lo,
                  double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int r = 0; col >= 0 && run->res && r < run->res->nrows; r++) {
        double v = plot_num(run, r, col);
        if ((keep && !keep(run, r, arg)) || !(v > 0))
            continue;
        *lo = fmin(*lo, v);
        *hi = fmax(*hi, v);
    }
    return *hi > 0;
}

/* Append ", " (unless out is empty) and the formatted text. */
static void append(char *out, size_t n, const char *fmt, double a, double b)
{
    size_t len = strlen(out);
    if (len + 3 < n)
        snprintf(out + len, n - len, "%s", len ? ", " : "");
    len = strlen(out);
    snprintf(out + len, n - len, fmt, a, b);
}

void plot_setting_line(const plot_run *run, plot_row_filter keep, const void *arg, char *out,
                       size_t n)
{
    out[0] = '\0';
    double lo, hi;
    if (range(run, run->rc.batch, keep, arg, &lo, &hi))
        append(out, n, lo == hi ? "batch %.0f" : "batch %.0f-%.0f", lo, hi);
    else if (!keep && run->meta && json_num(run->meta, "batch") > 0) /* the train chart */
        append(out, n, "batch %.0f", json_num(run->meta, "batch"), 0);
    if (range(run, run->rc.image_size, keep, arg, &lo, &hi))
        append(out, n, lo == hi ? "%.0f px input" : "%.0f-%.0f px input", lo, hi);
    if (range(run, run->rc.threads, keep, arg, &lo, &hi))
        append(out, n, lo == hi ? (lo == 1 ? "%.0f thread" : "%.0f threads") : "%.0f-%.0f threads",
               lo, hi);
    else if (run->meta && json_num(run->meta, "threads") > 0)
        append(out, n, json_num(run->meta, "threads") == 1 ? "%.0f thread" : "%.0f threads",
               json_num(run->meta, "threads"), 0);
    const char *cpu = run->meta ? json_str(run->meta, "cpu", NULL) : NULL;
    char clean[160];
    plot_clean(clean, sizeof clean, cpu ? cpu : "machine unknown (no meta.json)");
    size_t len = strlen(out);
    snprintf(out + len, n - len, "%s%s", len ? ", " : "", clean);
}

void plot_ceiling_lines(const plot_run *run, plot_hline lines[2], char *peak, char *sgemm)
{
    double p = run->meta ? json_num(run->meta, "ceilings.fma_peak_gflops") : NAN;
    double s = run->meta ? json_num(run->meta, "ceilings.sgemm_gflops") : NAN;
    char isa[64];
    plot_clean(isa, sizeof isa, run->meta ? json_str(run->meta, "ceilings.isa", "") : "");
    snprintf(peak, 128, "FMA peak %.1f GFLOP/s%s%s%s", p, *isa ? " (" : "", isa, *isa ? ")" : "");
    snprintf(sgemm, 128, "OpenBLAS sgemm %.1f GFLOP/s", s);
    lines[0] = (plot_hline){p, peak, "#000000"};
    lines[1] = (plot_hline){s, sgemm, "#606060"};
}

int plot_find_row(const plot_run *run, int like, const char *backend)
{
    const plot_res_cols *c = &run->rc;
    for (int r = 0; r < run->res->nrows; r++)
        if (!strcmp(plot_cell(run, r, c->backend), backend) &&
            !strcmp(plot_cell(run, r, c->model), plot_cell(run, like, c->model)) &&
            !strcmp(plot_cell(run, r, c->layer), plot_cell(run, like, c->layer)) &&
            !strcmp(plot_cell(run, r, c->pass), plot_cell(run, like, c->pass)))
            return r;
    return -1;
}

bool plot_model_rows_of(const plot_run *run, int r, const void *model)
{
    return plot_is_model_row(run, r) &&
           (!model || !strcmp(plot_cell(run, r, run->rc.model), model));
}

int plot_models_with_model_rows(plot_run *run, const char *chart, char models[][PLOT_LABEL_MAX],
                                int max)
{
    int n = run->res ? plot_distinct(run, run->rc.model, plot_model_rows_of, NULL, models, max) : 0;
    if (n == 0)
        plot_skip(run, chart, "%s",
                  run->res ? "results.csv has no MODEL rows (bench --models writes them)"
                           : "no results.csv");
    return n;
}
