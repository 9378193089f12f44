#include "csv_read.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void csv_free(csv_table *t)
{
    if (!t)
        return;
    for (int r = 0; r < t->nrows; r++)
        free(t->rows[r]);
    free(t->rows);
    free(t->header);
    free(t->line);
    free(t->text);
    free(t->path);
    free(t);
}

/* The parser's state: fields are unquoted in place into t->text. */
typedef struct parser {
    const char *buf;
    size_t n, at;
    int line;
    char *out;     /* next byte of t->text */
    char **fields; /* the current record's field starts */
    int nfields, cap;
} parser;

static cnn_status push_field(parser *p, char *start, const char *name)
{
    if (p->nfields == p->cap) {
        int cap = p->cap ? 2 * p->cap : 16;
        if (cap > 4096)
            return cnn_fail(CNN_ERR_INVALID_ARG, "%s:%d: more than 4096 fields in a row", name,
                            p->line);
        char **f = realloc(p->fields, (size_t)cap * sizeof *f);
        if (!f)
            return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", name);
        p->fields = f;
        p->cap = cap;
    }
    p->fields[p->nfields++] = start;
    *p->out++ = '\0';
    return CNN_OK;
}

/* One record (a line, or several when a quoted field holds newlines). */
static cnn_status read_record(parser *p, const char *name)
{
    p->nfields = 0;
    int start_line = p->line;
    for (;;) {
        char *field = p->out;
        if (p->at < p->n && p->buf[p->at] == '"') {
            p->at++;
            for (;;) {
                if (p->at >= p->n)
                    return cnn_fail(CNN_ERR_INVALID_ARG,
                                    "%s:%d: a quoted field is not closed before the end", name,
                                    start_line);
                char c = p->buf[p->at++];
                if (c == '"') {
                    if (p->at < p->n && p->buf[p->at] == '"') {
                        *p->out++ = '"';
                        p->at++;
                        continue;
                    }
                    break;
                }
                if (c == '\n')
                    p->line++;
                *p->out++ = c;
            }
            if (p->at < p->n && p->buf[p->at] != ',' && p->buf[p->at] != '\n' &&
                p->buf[p->at] != '\r')
                return cnn_fail(CNN_ERR_INVALID_ARG,
                                "%s:%d: text after a quoted field's closing quote", name, p->line);
        } else {
            while (p->at < p->n && p->buf[p->at] != ',' && p->buf[p->at] != '\n') {
                char c = p->buf[p->at++];
                if (c == '"')
                    return cnn_fail(CNN_ERR_INVALID_ARG,
                                    "%s:%d: a quote inside an unquoted field", name, p->line);
                if (c == '\r' && (p->at >= p->n || p->buf[p->at] == '\n'))
                    continue; /* CRLF line ends */
                *p->out++ = c;
            }
        }
        if (p->at < p->n && p->buf[p->at] == '\r')
            p->at++;
        cnn_status st = push_field(p, field, name);
        if (st != CNN_OK)
            return st;
        if (p->at >= p->n || p->buf[p->at] == '\n') {
            p->at++;
            p->line++;
            return CNN_OK;
        }
        p->at++; /* the comma */
    }
}

static char **copy_fields(const parser *p)
{
    char **f = malloc((size_t)p->nfields * sizeof *f);
    if (f)
        memcpy(f, p->fields, (size_t)p->nfields * sizeof *f);
    return f;
}

cnn_status csv_parse(const char *name, const char *buf, size_t n, csv_table **out)
{
    *out = NULL;
    if (n > CSV_READ_MAX_BYTES)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: %zu bytes, more than the %zu a results file may have",
                        name, n, CSV_READ_MAX_BYTES);
    if (memchr(buf, '\0', n))
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: a NUL byte: not a text CSV", name);
    if (n == 0)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: empty file (no header line)", name);
    csv_table *t = calloc(1, sizeof *t);
    parser p = {.buf = buf, .n = n, .line = 1};
    cnn_status st = t ? CNN_OK : cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", name);
    if (st == CNN_OK) {
        t->path = strdup(name);
        /* a field ends at a comma or line end: at most n + 1 fields, each with its NUL */
        t->text = malloc(2 * n + 2);
        if (!t->path || !t->text)
            st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", name);
        p.out = t->text;
    }
    if (st == CNN_OK)
        st = read_record(&p, name);
    if (st == CNN_OK) {
        t->ncols = p.nfields;
        t->header = copy_fields(&p);
        if (!t->header)
            st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", name);
    }
    int cap = 0;
    while (st == CNN_OK && p.at < n) {
        int line = p.line;
        st = read_record(&p, name);
        if (st != CNN_OK)
            break;
        if (p.nfields == 1 && !*p.fields[0] && p.at >= n)
            break; /* a blank last line */
        if (p.nfields != t->ncols) {
            st = cnn_fail(CNN_ERR_INVALID_ARG, "%s:%d: %d fields, the header has %d", name, line,
                          p.nfields, t->ncols);
            break;
        }
        if (t->nrows == cap) {
            cap = cap ? 2 * cap : 64;
            char ***rows = realloc(t->rows, (size_t)cap * sizeof *rows);
            int *lines = realloc(t->line, (size_t)cap * sizeof *lines);
            if (rows)
                t->rows = rows;
            if (lines)
                t->line = lines;
            if (!rows || !lines) {
                st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", name);
                break;
            }
        }
        t->rows[t->nrows] = copy_fields(&p);
        if (!t->rows[t->nrows]) {
            st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", name);
            break;
        }
        t->line[t->nrows++] = line;
    }
    free(p.fields);
    if (st != CNN_OK) {
        csv_free(t);
        return st;
    }
    *out = t;
    return CNN_OK;
}

cnn_status read_file_bounded(const char *path, size_t max, char **buf_out, size_t *n_out)
{
    *buf_out = NULL;
    *n_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cnn_fail(CNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    cnn_status st = buf ? CNN_OK : cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", path);
    while (st == CNN_OK) {
        if (n == cap) {
            if (cap > max) {
                st = cnn_fail(CNN_ERR_INVALID_ARG, "%s: more than the %zu bytes this file may have",
                              path, max);
                break;
            }
            char *b = realloc(buf, cap * 2);
            if (!b) {
                st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", path);
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                st = cnn_fail(CNN_ERR_IO, "%s: read failed: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st != CNN_OK) {
        free(buf);
        return st;
    }
    *buf_out = buf;
    *n_out = n;
    return CNN_OK;
}

cnn_status csv_read(const char *path, csv_table **out)
{
    *out = NULL;
    char *buf;
    size_t n;
    cnn_status st = read_file_bounded(path, CSV_READ_MAX_BYTES, &buf, &n);
    if (st == CNN_OK)
        st = csv_parse(path, buf, n, out);
    free(buf);
    return st;
}

int csv_col(const csv_table *t, const char *name)
{
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->header[c], name))
            return c;
    return -1;
}

cnn_status csv_need(const csv_table *t, const char *what, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (csv_col(t, names[i]) < 0)
            return cnn_fail(CNN_ERR_INVALID_ARG, "%s: no column %s (is this a %s file?)", t->path,
                            names[i], what);
    return CNN_OK;
}

const char *csv_cell(const csv_table *t, int row, int col)
{
    if (col < 0 || col >= t->ncols || row < 0 || row >= t->nrows)
        return "";
    return t->rows[row][col];
}

double csv_num(const csv_table *t, int row, int col)
{
    const char *s = csv_cell(t, row, col);
    if (!*s)
        return NAN;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    return *end || errno == ERANGE ? NAN : v;
}
