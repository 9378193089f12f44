/* plan.csv, read and written (auto_plan.h): one reader for the files of
 * `cnnbench bench --backends auto` and of `cnnbench run`. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "auto_plan.h"
#include "cli.h"

#define PLAN_HEADER "model,layer,op,pass,backend,algorithm,ms"
#define MAX_FIELDS 64

cnn_status auto_plan_finish(auto_plan *p)
{
    free(p->entries);
    p->entries = calloc((size_t)p->nrows + 1, sizeof *p->entries);
    if (!p->entries)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "plan: no memory");
    const char *names[AUTO_MAX_CANDIDATES * 2];
    int counts[AUTO_MAX_CANDIDATES * 2], n = 0;
    p->backends[0] = p->summary[0] = '\0';
    for (int i = 0; i < p->nrows; i++) {
        const auto_plan_row *r = &p->rows[i];
        p->entries[i] = (cnn_plan_entry){.layer = r->layer, .pass = r->pass, .backend = r->backend};
        int k = 0;
        while (k < n && strcmp(names[k], r->backend))
            k++;
        if (k == n && n < (int)(sizeof names / sizeof names[0])) {
            names[n] = r->backend;
            counts[n++] = 0;
            snprintf(p->backends + strlen(p->backends), sizeof p->backends - strlen(p->backends),
                     "%s%s", k ? "," : "", r->backend);
        }
        if (k < n)
            counts[k]++;
    }
    /* most used first; a stable insertion sort keeps first-seen order on ties */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && counts[j] > counts[j - 1]; j--) {
            int c = counts[j];
            const char *s = names[j];
            counts[j] = counts[j - 1];
            names[j] = names[j - 1];
            counts[j - 1] = c;
            names[j - 1] = s;
        }
    for (int i = 0; i < n; i++)
        snprintf(p->summary + strlen(p->summary), sizeof p->summary - strlen(p->summary),
                 "%s%d %s", i ? " + " : "", counts[i], names[i]);
    return CNN_OK;
}

/* ---- reading ------------------------------------------------------------- */

/* Split a line into fields in place (quotes removed, "" read as "); returns
 * the count (more than max: max + 1), -1 on an unterminated quote. */
static int split_line(char *line, char **field, int max)
{
    int n = 0;
    char *r = line, *w = line;
    for (;;) {
        if (n == max)
            return max + 1;
        field[n++] = w;
        if (*r == '"') {
            for (r++;; r++) {
                if (!*r)
                    return -1;
                if (*r == '"' && r[1] != '"')
                    break;
                r += *r == '"';
                *w++ = *r;
            }
            r++;
        }
        while (*r && *r != ',')
            *w++ = *r++;
        bool more = *r == ',';
        *w++ = '\0';
        if (!more)
            return n;
        r++;
    }
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

static int column(char *const *field, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(field[i], name))
            return i;
    return -1;
}

typedef struct reader {
    const char *path;
    FILE *f;
    char *line;
    size_t cap;
    int lineno;
    char *field[MAX_FIELDS];
    int nf;
} reader;

/* The next non-empty line split into fields; false at the end or on an
 * error (st set). */
static bool next_line(reader *rd, cnn_status *st)
{
    while (getline(&rd->line, &rd->cap, rd->f) > 0) {
        rd->lineno++;
        chomp(rd->line);
        if (!*rd->line)
            continue;
        rd->nf = split_line(rd->line, rd->field, MAX_FIELDS);
        if (rd->nf < 0)
            *st = cnn_fail(CNN_ERR_INVALID_ARG, "plan %s line %d: unterminated quote", rd->path,
                           rd->lineno);
        else if (rd->nf > MAX_FIELDS)
            *st = cnn_fail(CNN_ERR_INVALID_ARG, "plan %s line %d: more than %d fields", rd->path,
                           rd->lineno, MAX_FIELDS);
        return *st == CNN_OK;
    }
    return false;
}

/* Open the file and read its header line. */
static cnn_status open_reader(reader *rd, const char *path)
{
    memset(rd, 0, sizeof *rd);
    rd->path = path;
    rd->f = fopen(path, "r");
    if (!rd->f)
        return cnn_fail(CNN_ERR_INVALID_ARG, "plan %s: cannot open: %s", path, strerror(errno));
    cnn_status st = CNN_OK;
    if (!next_line(rd, &st) && st == CNN_OK)
        st = cnn_fail(CNN_ERR_INVALID_ARG, "plan %s is empty: no header line", path);
    return st;
}

static void close_reader(reader *rd)
{
    if (rd->f)
        fclose(rd->f);
    free(rd->line);
}

static cnn_status parse_pass(const reader *rd, const char *s, cnn_pass *out)
{
    for (int p = 0; p < CNN_PASS_COUNT; p++)
        if (!strcmp(s, cnn_pass_str((cnn_pass)p))) {
            *out = (cnn_pass)p;
            return CNN_OK;
        }
    return cnn_fail(CNN_ERR_INVALID_ARG,
                    "plan %s line %d: unknown pass '%s'; valid passes: fwd, fwd_infer, bwd_data, "
                    "bwd_weight, bwd_bias",
                    rd->path, rd->lineno, s);
}

/* The rows of model `model` into out, with each one's line in (*lines). */
static cnn_status read_rows(reader *rd, const char *model, auto_plan *out, int **lines)
{
    int c_layer = column(rd->field, rd->nf, "layer"), c_pass = column(rd->field, rd->nf, "pass");
    int c_backend = column(rd->field, rd->nf, "backend");
    int c_model = column(rd->field, rd->nf, "model"), c_op = column(rd->field, rd->nf, "op");
    int c_algo = column(rd->field, rd->nf, "algorithm"), ncols = rd->nf, cap = 0;
    const char *missing = c_layer < 0 ? "layer" : c_pass < 0 ? "pass" : "backend";
    if (c_layer < 0 || c_pass < 0 || c_backend < 0)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "plan %s: the header (line %d) has no '%s' column; a plan needs the "
                        "columns layer, pass and backend",
                        rd->path, rd->lineno, missing);
    char others[256] = "";
    cnn_status st = CNN_OK;
    while (next_line(rd, &st)) {
        if (rd->nf != ncols)
            return cnn_fail(CNN_ERR_INVALID_ARG, "plan %s line %d: %d fields, the header has %d",
                            rd->path, rd->lineno, rd->nf, ncols);
        if (c_model >= 0 && strcmp(rd->field[c_model], model)) {
            if (!cli_in_list(others, rd->field[c_model]))
                snprintf(others + strlen(others), sizeof others - strlen(others), "%s%s",
                         *others ? "," : "", rd->field[c_model]);
            continue;
        }
        if (out->nrows == cap) {
            cap = cap ? 2 * cap : 64;
            auto_plan_row *r = realloc(out->rows, (size_t)cap * sizeof *r);
            int *l = realloc(*lines, (size_t)cap * sizeof *l);
            out->rows = r ? r : out->rows;
            *lines = l ? l : *lines;
            if (!r || !l)
                return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "plan %s: no memory", rd->path);
        }
        auto_plan_row *r = &out->rows[out->nrows];
        memset(r, 0, sizeof *r);
        st = parse_pass(rd, rd->field[c_pass], &r->pass);
        if (st != CNN_OK)
            return st;
        snprintf(r->layer, sizeof r->layer, "%s", rd->field[c_layer]);
        snprintf(r->backend, sizeof r->backend, "%s", rd->field[c_backend]);
        snprintf(r->op, sizeof r->op, "%s", c_op >= 0 ? rd->field[c_op] : "");
        snprintf(r->algorithm, sizeof r->algorithm, "%s", c_algo >= 0 ? rd->field[c_algo] : "");
        r->ms = NAN;
        for (int c = 0; c < AUTO_MAX_CANDIDATES; c++)
            r->cand_ms[c] = NAN;
        (*lines)[out->nrows++] = rd->lineno;
    }
    if (st == CNN_OK && !out->nrows && c_model >= 0)
        return cnn_fail(CNN_ERR_INVALID_ARG, "plan %s has no rows for model %s (models there: %s)",
                        rd->path, model, *others ? others : "none");
    if (st == CNN_OK && !out->nrows)
        return cnn_fail(CNN_ERR_INVALID_ARG, "plan %s has no rows", rd->path);
    return st;
}

cnn_status auto_plan_read(const char *path, const cnn_model *m, auto_plan *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->model, sizeof out->model, "%s", cnn_model_name(m));
    reader rd;
    int *lines = NULL, bad = -1;
    cnn_status st = open_reader(&rd, path);
    if (st == CNN_OK)
        st = read_rows(&rd, cnn_model_name(m), out, &lines);
    close_reader(&rd);
    if (st == CNN_OK)
        st = auto_plan_finish(out);
    if (st == CNN_OK &&
        cnn_model_plan_check(m, out->entries, out->nrows, NULL, &bad) != CNN_OK) {
        char why[768];
        snprintf(why, sizeof why, "%s", cnn_last_error());
        st = cnn_fail(CNN_ERR_INVALID_ARG, "plan %s line %d: %s", path, lines[bad], why);
    }
    free(lines);
    if (st != CNN_OK)
        auto_plan_free(out);
    return st;
}

/* ---- writing ------------------------------------------------------------- */

cnn_status auto_plan_csv_open(const char *dir, cnn_device device, report_csv **out)
{
    const cnn_backend *cand[AUTO_MAX_CANDIDATES];
    int n = auto_plan_candidates(device, cand, AUTO_MAX_CANDIDATES);
    char header[1024] = PLAN_HEADER, path[4200];
    for (int c = 0; c < n; c++)
        snprintf(header + strlen(header), sizeof header - strlen(header), ",ms_%s", cand[c]->name);
    snprintf(path, sizeof path, "%s/plan.csv", dir);
    return report_csv_open(path, header, out);
}

cnn_status auto_plan_csv_write(report_csv *csv, const auto_plan *p)
{
    cnn_status st = CNN_OK;
    for (int i = 0; i < p->nrows && st == CNN_OK; i++) {
        const auto_plan_row *r = &p->rows[i];
        char ms[AUTO_MAX_CANDIDATES + 1][32];
        const char *f[7 + AUTO_MAX_CANDIDATES] = {
            p->model, r->layer, r->op, cnn_pass_str(r->pass), r->backend, r->algorithm, ms[0]};
        for (int c = 0; c <= p->ncand; c++) {
            double v = c ? r->cand_ms[c - 1] : r->ms;
            if (isnan(v))
                snprintf(ms[c], sizeof ms[c], "nan");
            else
                snprintf(ms[c], sizeof ms[c], "%.4f", v);
            f[6 + c] = ms[c];
        }
        st = report_csv_row(csv, 7 + p->ncand, f);
    }
    return st;
}

cnn_status auto_plan_read_named(const char *path, const char *name, int image_size,
                                auto_plan *out)
{
    cnn_model *m = NULL;
    cnn_model_opts mo = {.batch = 1, .h = image_size, .w = image_size};
    memset(out, 0, sizeof *out);
    cnn_status st = cnn_model_create(name, &mo, &m);
    if (st == CNN_OK)
        st = auto_plan_read(path, m, out);
    cnn_model_destroy(m);
    return st;
}

cnn_status auto_plan_check_file(const char *path, const char *const *models, int nmodels,
                                int image_size)
{
    reader rd;
    cnn_status st = open_reader(&rd, path);
    bool has_model = st == CNN_OK && column(rd.field, rd.nf, "model") >= 0;
    close_reader(&rd);
    if (st == CNN_OK && !has_model && nmodels > 1)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "plan %s has no model column, so it holds one model's plan: give one "
                        "model with --models",
                        path);
    for (int i = 0; i < nmodels && st == CNN_OK; i++) {
        auto_plan p;
        st = auto_plan_read_named(path, models[i], image_size, &p);
        if (st == CNN_OK)
            auto_plan_free(&p);
    }
    return st;
}
