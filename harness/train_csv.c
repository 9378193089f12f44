/* train.csv and confusion.csv of cnnbench train (train.h); the columns are
 * in results/README.md. */
#include <stdio.h>
#include <string.h>

#include "csv_read.h"
#include "train.h"

#define NFIXED 15
static const char *const fixed[NFIXED] = {
    "backend",  "epoch",         "train_loss",  "train_acc",       "test_loss",
    "test_acc", "test_macro_f1", "epoch_s",     "train_s",         "eval_s",
    "images",   "images_per_s",  "data_wait_s", "data_wait_share", "step"};
#define NCOLS (NFIXED + 3 * CNN_FMNIST_CLASSES)

/* The header's column names in order. */
static void column_names(char names[NCOLS][32])
{
    for (int i = 0; i < NFIXED; i++)
        snprintf(names[i], 32, "%s", fixed[i]);
    const char *per[3] = {"precision", "recall", "f1"};
    for (int k = 0; k < 3; k++)
        for (int c = 0; c < CNN_FMNIST_CLASSES; c++)
            snprintf(names[NFIXED + k * CNN_FMNIST_CLASSES + c], 32, "%s_%d", per[k], c);
}

cnn_status train_csv_open(const char *run_path, report_csv **out)
{
    char names[NCOLS][32], header[NCOLS * 32] = "", path[4200];
    column_names(names);
    for (int i = 0; i < NCOLS; i++)
        snprintf(header + strlen(header), sizeof header - strlen(header), "%s%s", i ? "," : "",
                 names[i]);
    snprintf(path, sizeof path, "%s/train.csv", run_path);
    return report_csv_stream(path, header, out);
}

cnn_status train_csv_row(report_csv *csv, const char *tag, const train_epoch *e)
{
    char f[NCOLS][32];
    const char *row[NCOLS];
    snprintf(f[0], 32, "%s", tag);
    snprintf(f[1], 32, "%d", e->epoch);
    const double v[] = {e->train_loss, e->train_acc, e->test_loss, e->test_acc,
                        e->macro_f1,   e->epoch_s,   e->train_s,   e->eval_s};
    for (int i = 0; i < 8; i++)
        snprintf(f[2 + i], 32, "%.6g", v[i]);
    snprintf(f[10], 32, "%lld", (long long)e->images);
    snprintf(f[11], 32, "%.1f", e->images_per_s);
    snprintf(f[12], 32, "%.4g", e->wait_s);
    snprintf(f[13], 32, "%.4g", e->wait_share);
    snprintf(f[14], 32, "%lld", (long long)e->step);
    for (int c = 0; c < CNN_FMNIST_CLASSES; c++) {
        snprintf(f[NFIXED + c], 32, "%.6g", e->per[c].precision);
        snprintf(f[NFIXED + CNN_FMNIST_CLASSES + c], 32, "%.6g", e->per[c].recall);
        snprintf(f[NFIXED + 2 * CNN_FMNIST_CLASSES + c], 32, "%.6g", e->per[c].f1);
    }
    for (int i = 0; i < NCOLS; i++)
        row[i] = f[i];
    return report_csv_row(csv, NCOLS, row);
}

/* Rows of t (train.csv's columns, by name) re-emitted with backend `tag`;
 * only those of backend `only` (NULL: all) with epoch <= upto (< 0: all). */
static cnn_status copy_rows(report_csv *csv, const csv_table *t, const char *tag, const char *only,
                            int upto)
{
    char names[NCOLS][32];
    column_names(names);
    int col[NCOLS];
    for (int i = 0; i < NCOLS; i++)
        col[i] = csv_col(t, names[i]);
    if (col[1] < 0)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: no column epoch (this is not a train.csv?)",
                        t->path);
    cnn_status st = CNN_OK;
    for (int r = 0; r < t->nrows && st == CNN_OK; r++) {
        if (only && strcmp(csv_cell(t, r, col[0]), only) != 0)
            continue;
        if (upto >= 0 && !(csv_num(t, r, col[1]) <= upto))
            continue;
        const char *row[NCOLS];
        for (int i = 0; i < NCOLS; i++)
            row[i] = csv_cell(t, r, col[i]);
        row[0] = tag;
        st = report_csv_row(csv, NCOLS, row);
    }
    return st;
}

cnn_status train_csv_copy(report_csv *csv, const char *resume, const char *tag, int upto)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/train.csv", resume);
    csv_table *t = NULL;
    cnn_status st = csv_read(path, &t);
    if (st != CNN_OK)
        return st;
    st = copy_rows(csv, t, tag, tag, upto);
    csv_free(t);
    return st;
}

cnn_status train_csv_append_file(report_csv *csv, const char *path, const char *tag)
{
    csv_table *t = NULL;
    cnn_status st = csv_read(path, &t);
    if (st != CNN_OK)
        return st;
    st = copy_rows(csv, t, tag, NULL, -1);
    csv_free(t);
    return st;
}

cnn_status train_confusion_write(const char *run_path, const train_job *jobs, int njobs,
                                 int classes)
{
    char path[4200], header[16384] = "backend,true_class";
    snprintf(path, sizeof path, "%s/confusion.csv", run_path);
    for (int c = 0; c < classes; c++) {
        char name[32];
        snprintf(name, sizeof name, "class %d", c);
        snprintf(header + strlen(header), sizeof header - strlen(header), ",%s",
                 c < CNN_FMNIST_CLASSES ? cnn_fmnist_class_names[c] : name);
    }
    report_csv *csv = NULL;
    cnn_status st = report_csv_open(path, header, &csv);
    const char *row[2 + TRAIN_MAX_CLASSES];
    static char cells[2 + TRAIN_MAX_CLASSES][24];
    for (int j = 0; j < njobs && st == CNN_OK; j++) {
        if (!jobs[j].confusion)
            continue;
        for (int t = 0; t < classes && st == CNN_OK; t++) {
            row[0] = jobs[j].tag;
            row[1] = t < CNN_FMNIST_CLASSES ? cnn_fmnist_class_names[t] : "";
            for (int p = 0; p < classes; p++) {
                snprintf(cells[p], sizeof cells[p], "%lld",
                         (long long)jobs[j].confusion[(int64_t)t * classes + p]);
                row[2 + p] = cells[p];
            }
            st = report_csv_row(csv, 2 + classes, row);
        }
    }
    if (csv) {
        cnn_status cst = report_csv_close(csv, st == CNN_OK);
        st = st == CNN_OK ? cst : st;
    }
    return st;
}
