/* Reading the CSVs cnnbench writes (results.csv, verify.csv, plan.csv,
 * breakdown.csv) back, for plot, compare and plan reuse: RFC 4180 fields
 * (quoted fields may hold commas, doubled quotes and newlines), a header
 * line naming the columns, every row as many fields as the header.
 *
 * Files come from other people and other tools, so every problem is an
 * error naming the file and line: a missing or unreadable file, an empty
 * file, a row with the wrong number of fields, an unterminated quote, a
 * NUL byte, a file past the size limit, a column a caller needs missing
 * (csv_need). Nothing is guessed. */
#ifndef CNN_CSV_READ_H
#define CNN_CSV_READ_H

#include <stddef.h>

#include "status.h"

/* Larger files are refused (results of any real run are far smaller). */
#define CSV_READ_MAX_BYTES ((size_t)256 << 20)

typedef struct csv_table {
    char *path;
    int ncols, nrows;  /* nrows: data rows, the header not counted */
    char **header;     /* [ncols] */
    char ***rows;      /* [nrows][ncols] */
    int *line;         /* [nrows]: the line each row starts on, for messages */
    char *text;        /* the fields' storage */
} csv_table;

/* Parse a whole file. On error *out is NULL and cnn_last_error() says
 * "FILE:LINE: what". */
cnn_status csv_read(const char *path, csv_table **out);
/* The same from a buffer (n bytes; need not end in a newline); `name`
 * stands for the file in messages. The fuzz target's entry point. */
cnn_status csv_parse(const char *name, const char *buf, size_t n, csv_table **out);
void csv_free(csv_table *t);

/* A whole file into a new buffer (*n bytes, not NUL-terminated), refusing
 * one of more than about `max` bytes; errors name the file. */
cnn_status read_file_bounded(const char *path, size_t max, char **buf, size_t *n);

/* The index of a column, or -1. */
int csv_col(const csv_table *t, const char *name);
/* Every column of the NULL-terminated list must be present: else
 * CNN_ERR_INVALID_ARG "FILE: no column NAME (this is not a WHAT file?)". */
cnn_status csv_need(const csv_table *t, const char *what, const char *const *names);
/* A field by column index (-1 gives ""). */
const char *csv_cell(const csv_table *t, int row, int col);
/* A field as a number: NaN when empty, "nan" or not a number. */
double csv_num(const csv_table *t, int row, int col);

#endif
