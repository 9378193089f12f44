/* compare: matching the rows of two results.csv and judging each pair. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The median of v[0..n), sorting v. */
static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

bool compare_spread(const char *reps_ms, double *spread)
{
    *spread = NAN;
    int n = 0, cap = 0;
    double *v = NULL;
    for (const char *p = reps_ms; *p;) {
        char *end;
        errno = 0;
        double x = strtod(p, &end);
        if (end == p || errno || !(x > 0) || !isfinite(x) || (*end && *end != ';')) {
            free(v);
            return false;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            double *w = realloc(v, (size_t)cap * sizeof *w);
            if (!w) {
                free(v);
                return false;
            }
            v = w;
        }
        v[n++] = x;
        p = *end ? end + 1 : end;
    }
    if (n) {
        double m = median_of(v, n);
        for (int i = 0; i < n; i++)
            v[i] = fabs(v[i] - m);
        *spread = median_of(v, n) / m;
    }
    free(v);
    return true;
}

const char *compare_flag_name(compare_flag f)
{
    static const char *const names[CMP_FLAGS] = {
        [CMP_SAME] = "same",     [CMP_SLOWER] = "SLOWER", [CMP_FASTER] = "FASTER",
        [CMP_LOST] = "LOST",     [CMP_NEW] = "NEW",       [CMP_UNTIMED] = "untimed",
        [CMP_ONLY_A] = "only_a", [CMP_ONLY_B] = "only_b",
    };
    return (unsigned)f < CMP_FLAGS ? names[f] : "?";
}

/* ---- keys ---- */

typedef struct keyed {
    char *key; /* the key columns joined by \x1f */
    int row;
} keyed;

static int cmp_keyed(const void *x, const void *y)
{
    const keyed *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    return c ? c : (a->row > b->row) - (a->row < b->row);
}

static void free_keys(keyed *k, int n)
{
    for (int i = 0; k && i < n; i++)
        free(k[i].key);
    free(k);
}

/* Every row's key, sorted; a key twice is an error naming both lines. */
static cnn_status make_keys(const compare_run *r, keyed **out)
{
    const csv_table *t = r->rows;
    keyed *k = calloc((size_t)t->nrows + 1, sizeof *k);
    cnn_status st = k ? CNN_OK : cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", t->path);
    for (int i = 0; st == CNN_OK && i < t->nrows; i++) {
        size_t len = 0;
        for (int c = 0; c < COMPARE_KEYS; c++)
            len += strlen(csv_cell(t, i, r->key[c])) + 1;
        k[i].row = i;
        if (!(k[i].key = malloc(len))) {
            st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", t->path);
            break;
        }
        char *p = k[i].key;
        for (int c = 0; c < COMPARE_KEYS; c++)
            p += sprintf(p, c ? "\x1f%s" : "%s", csv_cell(t, i, r->key[c]));
    }
    if (st == CNN_OK)
        qsort(k, (size_t)t->nrows, sizeof *k, cmp_keyed);
    for (int i = 1; st == CNN_OK && i < t->nrows; i++)
        if (!strcmp(k[i - 1].key, k[i].key))
            st = cnn_fail(CNN_ERR_INVALID_ARG,
                          "%s:%d: the same case as line %d (backend %s, model %s, layer %s, pass "
                          "%s): compare needs one row per case",
                          t->path, t->line[k[i].row], t->line[k[i - 1].row],
                          csv_cell(t, k[i].row, r->key[0]), csv_cell(t, k[i].row, r->key[1]),
                          csv_cell(t, k[i].row, r->key[2]), csv_cell(t, k[i].row, r->key[4]));
    if (st != CNN_OK) {
        free_keys(k, t->nrows);
        return st;
    }
    *out = k;
    return CNN_OK;
}

/* B's row with A's row's key, or -1. */
static int find(const keyed *kb, int nb, const char *key)
{
    int lo = 0, hi = nb - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(kb[mid].key, key);
        if (!c)
            return kb[mid].row;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* ---- one side of a row ---- */

/* The row's median (NaN unless its status is OK and it has a time) and
 * spread; an error naming the line for a reps_ms that is not a list. */
static cnn_status side(const compare_run *r, int row, double *ms, double *spread)
{
    const csv_table *t = r->rows;
    *ms = NAN;
    *spread = NAN;
    if (row < 0)
        return CNN_OK;
    double m = csv_num(t, row, r->median);
    if (!strcmp(csv_cell(t, row, r->status), "OK") && m > 0 && isfinite(m))
        *ms = m;
    if (!compare_spread(csv_cell(t, row, r->reps), spread))
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s:%d: reps_ms '%.60s' is not a ';'-separated list of positive times",
                        t->path, t->line[row], csv_cell(t, row, r->reps));
    return CNN_OK;
}

static void judge(compare_row *c, double floor)
{
    double s = 0;
    if (isfinite(c->a_spread))
        s = c->a_spread;
    if (isfinite(c->b_spread) && c->b_spread > s)
        s = c->b_spread;
    c->threshold = fmax(floor, COMPARE_SPREAD_FACTOR * s);
    bool ta = !isnan(c->a_ms), tb = !isnan(c->b_ms);
    if (c->b < 0)
        c->flag = CMP_ONLY_A;
    else if (c->a < 0)
        c->flag = CMP_ONLY_B;
    else if (ta && tb)
        c->flag = c->b_ms / c->a_ms > 1 + c->threshold   ? CMP_SLOWER
                  : c->a_ms / c->b_ms > 1 + c->threshold ? CMP_FASTER
                                                         : CMP_SAME;
    else
        c->flag = ta ? CMP_LOST : tb ? CMP_NEW : CMP_UNTIMED;
}

cnn_status compare_rows(const compare_run *a, const compare_run *b, double floor_pct,
                        compare_table *out)
{
    memset(out, 0, sizeof *out);
    keyed *ka = NULL, *kb = NULL;
    int na = a->rows->nrows, nb = b->rows->nrows;
    cnn_status st = make_keys(a, &ka);
    if (st == CNN_OK)
        st = make_keys(b, &kb);
    bool *matched = st == CNN_OK ? calloc((size_t)nb + 1, sizeof *matched) : NULL;
    out->rows = matched ? calloc((size_t)(na + nb) + 1, sizeof *out->rows) : NULL;
    if (st == CNN_OK && !out->rows)
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "compare: no memory");
    /* A's rows in A's order: ka sorted holds each row's key once */
    char **key_of = st == CNN_OK ? calloc((size_t)na + 1, sizeof *key_of) : NULL;
    if (st == CNN_OK && !key_of)
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "compare: no memory");
    for (int i = 0; st == CNN_OK && i < na; i++)
        key_of[ka[i].row] = ka[i].key;
    for (int i = 0; st == CNN_OK && i < na; i++) {
        compare_row *c = &out->rows[out->n++];
        c->a = i;
        c->b = find(kb, nb, key_of[i]);
        if (c->b >= 0)
            matched[c->b] = true;
    }
    for (int j = 0; st == CNN_OK && j < nb; j++)
        if (!matched[j])
            out->rows[out->n++] = (compare_row){.a = -1, .b = j};
    for (int i = 0; st == CNN_OK && i < out->n; i++) {
        compare_row *c = &out->rows[i];
        st = side(a, c->a, &c->a_ms, &c->a_spread);
        if (st == CNN_OK)
            st = side(b, c->b, &c->b_ms, &c->b_spread);
        judge(c, floor_pct / 100);
        out->count[c->flag]++;
    }
    free(key_of);
    free(matched);
    free_keys(ka, na);
    free_keys(kb, nb);
    if (st != CNN_OK)
        compare_table_free(out);
    return st;
}

void compare_table_free(compare_table *t)
{
    free(t->rows);
    memset(t, 0, sizeof *t);
}
