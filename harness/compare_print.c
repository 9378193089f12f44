/* compare: the table of ratios, the rows of one run only, compare.csv. */
#include <math.h>
#include <string.h>

#include "compare.h"
#include "report.h"

/* The key columns the table shows (op is left to compare.csv: the layer names it). */
static const int shown_keys[] = {0, 1, 2, 4, 5, 6, 7, 8};
#define NSHOWN ((int)(sizeof shown_keys / sizeof shown_keys[0]))
#define NCOLS (NSHOWN + 8)
static const char *const heads[NCOLS] = {
    "backend", "model", "layer", "pass",     "batch",    "threads",  "size",      "cache",
    "A ms",    "B ms",  "B/A",   "speed-up", "spread A", "spread B", "threshold", "flag"};

/* The run that holds the row's key columns. */
static const compare_run *key_run(const compare_run *a, const compare_run *b, const compare_row *c,
                                  int *row)
{
    *row = c->a >= 0 ? c->a : c->b;
    return c->a >= 0 ? a : b;
}

/* A side's time, or its status where it was not timed. */
static void ms_cell(char *out, size_t n, const compare_run *r, int row, double ms)
{
    if (isnan(ms))
        snprintf(out, n, "%s", csv_cell(r->rows, row, r->status));
    else
        snprintf(out, n, "%#.4g", ms);
}

static void pct_cell(char *out, size_t n, double v)
{
    if (isnan(v))
        snprintf(out, n, "-");
    else
        snprintf(out, n, "%.1f%%", v * 100);
}

static void cells_of(const compare_run *a, const compare_run *b, const compare_row *c,
                     char cell[NCOLS][64])
{
    int row;
    const compare_run *r = key_run(a, b, c, &row);
    for (int k = 0; k < NSHOWN; k++)
        snprintf(cell[k], 64, "%s", csv_cell(r->rows, row, r->key[shown_keys[k]]));
    char *v[8];
    for (int i = 0; i < 8; i++)
        v[i] = cell[NSHOWN + i];
    ms_cell(v[0], 64, a, c->a, c->a_ms);
    ms_cell(v[1], 64, b, c->b, c->b_ms);
    if (!isnan(c->a_ms) && !isnan(c->b_ms)) {
        snprintf(v[2], 64, "%.3f", c->b_ms / c->a_ms);
        snprintf(v[3], 64, "%.3fx", c->a_ms / c->b_ms);
    } else {
        snprintf(v[2], 64, "-");
        snprintf(v[3], 64, "-");
    }
    pct_cell(v[4], 64, c->a_spread);
    pct_cell(v[5], 64, c->b_spread);
    pct_cell(v[6], 64, c->flag <= CMP_FASTER ? c->threshold : NAN); /* judged rows only */
    snprintf(v[7], 64, "%s", c->flag == CMP_SAME ? "" : compare_flag_name(c->flag));
}

static void print_cells(FILE *out, const int width[NCOLS], const char *const *cell)
{
    for (int k = 0; k < NCOLS; k++)
        fprintf(out, k < NSHOWN ? "%-*s " : " %*s", width[k], cell[k]);
    fputc('\n', out);
}

/* The rows of one run only (flag CMP_ONLY_A or CMP_ONLY_B). */
static void print_only(FILE *out, const compare_run *a, const compare_run *b,
                       const compare_table *t, compare_flag which)
{
    if (!t->count[which])
        return;
    const compare_run *r = which == CMP_ONLY_A ? a : b;
    fprintf(out, "\nOnly in %s (%d rows, not compared):\n", which == CMP_ONLY_A ? "A" : "B",
            t->count[which]);
    for (int i = 0; i < t->n; i++) {
        const compare_row *c = &t->rows[i];
        if (c->flag != which)
            continue;
        int row = which == CMP_ONLY_A ? c->a : c->b;
        fprintf(out, "  %s %s %s %s, op %s, batch %s, threads %s, size %s, %s: ",
                csv_cell(r->rows, row, r->key[0]), csv_cell(r->rows, row, r->key[1]),
                csv_cell(r->rows, row, r->key[2]), csv_cell(r->rows, row, r->key[4]),
                csv_cell(r->rows, row, r->key[3]), csv_cell(r->rows, row, r->key[5]),
                csv_cell(r->rows, row, r->key[6]), csv_cell(r->rows, row, r->key[7]),
                csv_cell(r->rows, row, r->key[8]));
        double ms = which == CMP_ONLY_A ? c->a_ms : c->b_ms;
        if (isnan(ms))
            fprintf(out, "%s\n", csv_cell(r->rows, row, r->status));
        else
            fprintf(out, "%#.4g ms\n", ms);
    }
}

void compare_print(FILE *out, const compare_run *a, const compare_run *b, const compare_table *t)
{
    int width[NCOLS];
    char cell[NCOLS][64];
    for (int k = 0; k < NCOLS; k++)
        width[k] = (int)strlen(heads[k]);
    int both = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            print_cells(out, width, heads);
        for (int i = 0; i < t->n; i++) {
            const compare_row *c = &t->rows[i];
            if (c->flag == CMP_ONLY_A || c->flag == CMP_ONLY_B)
                continue;
            cells_of(a, b, c, cell);
            both += !pass;
            const char *p[NCOLS];
            for (int k = 0; k < NCOLS; k++) {
                int w = (int)strlen(cell[k]);
                width[k] = w > width[k] ? w : width[k];
                p[k] = cell[k];
            }
            if (pass)
                print_cells(out, width, p);
        }
    }
    if (!both)
        fprintf(out, "  (no row is in both runs)\n");
    print_only(out, a, b, t, CMP_ONLY_A);
    print_only(out, a, b, t, CMP_ONLY_B);
}

cnn_status compare_write_csv(const char *path, const compare_run *a, const compare_run *b,
                             const compare_table *t)
{
    report_csv *csv;
    cnn_status st = report_csv_open(path,
                                    "backend,model,layer,op,pass,batch,threads,image_size,cache,"
                                    "present,a_status,b_status,a_median_ms,b_median_ms,ratio,"
                                    "speedup,a_spread_pct,b_spread_pct,threshold_pct,flag",
                                    &csv);
    for (int i = 0; st == CNN_OK && i < t->n; i++) {
        const compare_row *c = &t->rows[i];
        int row;
        const compare_run *r = key_run(a, b, c, &row);
        char num[7][32];
        double v[7] = {c->a_ms,           c->b_ms,           c->b_ms / c->a_ms, c->a_ms / c->b_ms,
                       c->a_spread * 100, c->b_spread * 100, c->threshold * 100};
        const char *f[20];
        for (int k = 0; k < COMPARE_KEYS; k++)
            f[k] = csv_cell(r->rows, row, r->key[k]);
        f[9] = c->a < 0 ? "b_only" : c->b < 0 ? "a_only" : "both";
        f[10] = csv_cell(a->rows, c->a, a->status);
        f[11] = csv_cell(b->rows, c->b, b->status);
        for (int k = 0; k < 7; k++) {
            num[k][0] = '\0';
            if (!isnan(v[k]))
                snprintf(num[k], sizeof num[k], "%.6g", v[k]);
            f[12 + k] = num[k];
        }
        f[19] = compare_flag_name(c->flag);
        st = report_csv_row(csv, 20, f);
    }
    if (st == CNN_OK)
        return report_csv_close(csv, true);
    report_csv_close(csv, false);
    return st;
}
