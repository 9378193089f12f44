/* The table a sweep ends with, from the files it gathered. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "csv_read.h"
#include "sweep.h"

#define MAX_MODELS 16

typedef struct model_best {
    char model[32];
    double ips[2], torch[2], onednn[2]; /* [infer, train_step] images/s */
    char backend[2][32];
    int batch[2];
} model_best;

static int mode_index(const char *pass)
{
    return !strcmp(pass, "infer") ? 0 : !strcmp(pass, "train_step") ? 1 : -1;
}

static model_best *find_model(model_best *m, int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(m[i].model, name))
            return &m[i];
    if (*n >= MAX_MODELS)
        return NULL;
    model_best *b = &m[(*n)++];
    memset(b, 0, sizeof *b);
    snprintf(b->model, sizeof b->model, "%s", name);
    for (int k = 0; k < 2; k++)
        b->ips[k] = b->torch[k] = b->onednn[k] = NAN;
    return b;
}

/* Numerics of one model: "PASS", or the backends with FAIL/MISTRUSTED rows
 * (whole-model rows have the model in the op column), or "not checked". */
static void numerics(const csv_table *v, const char *model, char *out, size_t n)
{
    snprintf(out, n, "not checked");
    if (!v)
        return;
    int co = csv_col(v, "op"), cs = csv_col(v, "status"), cb = csv_col(v, "backend");
    bool seen = false;
    char bad[256] = "";
    for (int r = 0; r < v->nrows; r++) {
        if (strcmp(csv_cell(v, r, co), model))
            continue;
        seen = true;
        const char *st = csv_cell(v, r, cs), *be = csv_cell(v, r, cb);
        if ((!strcmp(st, "FAIL") || !strcmp(st, "MISTRUSTED")) && !strstr(bad, be))
            snprintf(bad + strlen(bad), sizeof bad - strlen(bad), "%s%s", *bad ? "," : "", be);
    }
    if (seen)
        snprintf(out, n, *bad ? "FAIL: %s" : "PASS", bad);
}

cnn_status sweep_summary(const char *dir, FILE *out, int *verify_failed)
{
    char path[4400];
    csv_table *res = NULL, *ver = NULL;
    *verify_failed = 0;
    snprintf(path, sizeof path, "%s/verify.csv", dir);
    if (access(path, F_OK) == 0 && csv_read(path, &ver) != CNN_OK)
        fprintf(out, "(verify.csv unreadable: %s)\n", cnn_last_error());
    if (ver) {
        int cs = csv_col(ver, "status");
        for (int r = 0; r < ver->nrows; r++)
            *verify_failed += !strcmp(csv_cell(ver, r, cs), "FAIL") ||
                              !strcmp(csv_cell(ver, r, cs), "MISTRUSTED");
    }
    snprintf(path, sizeof path, "%s/results.csv", dir);
    if (access(path, F_OK) == 0 && csv_read(path, &res) != CNN_OK)
        fprintf(out, "(results.csv unreadable: %s)\n", cnn_last_error());
    model_best m[MAX_MODELS];
    int nm = 0;
    if (res) {
        int cl = csv_col(res, "layer"), cp = csv_col(res, "pass"), cb = csv_col(res, "backend");
        int cs = csv_col(res, "status"), ci = csv_col(res, "images_per_s");
        int cm = csv_col(res, "model"), cn = csv_col(res, "batch");
        for (int r = 0; r < res->nrows; r++) {
            int k = mode_index(csv_cell(res, r, cp));
            if (k < 0 || strcmp(csv_cell(res, r, cl), "MODEL") ||
                strcmp(csv_cell(res, r, cs), "OK"))
                continue;
            model_best *b = find_model(m, &nm, csv_cell(res, r, cm));
            double ips = csv_num(res, r, ci);
            const char *be = csv_cell(res, r, cb);
            if (!b || isnan(ips))
                continue;
            if (!strcmp(be, "pytorch"))
                b->torch[k] = ips;
            else if (!strcmp(be, "onednn"))
                b->onednn[k] = ips;
            if (strcmp(be, "pytorch") && (isnan(b->ips[k]) || ips > b->ips[k])) {
                b->ips[k] = ips;
                snprintf(b->backend[k], sizeof b->backend[k], "%s", be);
                b->batch[k] = (int)csv_num(res, r, cn);
            }
        }
    }
    fprintf(out, "\nsummary: the fastest cnnbench configuration per model and mode (images/s), "
                 "its ratio to PyTorch and to oneDNN\n");
    fprintf(out, "  %-12s %-10s %-8s %6s %11s %9s %9s  %s\n", "model", "mode", "fastest", "batch",
            "images/s", "x pytorch", "x onednn", "numerics");
    for (int i = 0; i < nm; i++) {
        char num[300];
        numerics(ver, m[i].model, num, sizeof num);
        for (int k = 0; k < 2; k++) {
            if (isnan(m[i].ips[k]))
                continue;
            char rt[32] = "-", ro[32] = "-";
            if (!isnan(m[i].torch[k]))
                snprintf(rt, sizeof rt, "%.2f", m[i].ips[k] / m[i].torch[k]);
            if (!isnan(m[i].onednn[k]))
                snprintf(ro, sizeof ro, "%.2f", m[i].ips[k] / m[i].onednn[k]);
            fprintf(out, "  %-12s %-10s %-8s %6d %11.1f %9s %9s  %s\n", m[i].model,
                    k ? "train_step" : "infer", m[i].backend[k], m[i].batch[k], m[i].ips[k], rt,
                    ro, k ? "" : num);
        }
    }
    if (!nm)
        fprintf(out, "  (no whole-model rows)\n");
    if (ver)
        fprintf(out, "verify: %d rows, %s\n", ver->nrows,
                *verify_failed ? "some FAIL or MISTRUSTED (verify.csv)" : "every row PASS or SKIPPED");
    csv_free(res);
    csv_free(ver);
    return CNN_OK;
}
