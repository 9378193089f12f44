/* Result files.
 *
 * CSVs come in two kinds. A result table of a run (verify.csv, results.csv)
 * is streamed: created in the run's own fresh folder, each row written and
 * flushed as it is produced, so a run that is stopped or killed keeps every
 * row it finished, and no temporary file is ever made. A file that is all
 * or nothing (run's plan.csv) goes to a temporary file renamed into place
 * only when it is complete (kernels/atomic_file.h), so a crashed run never
 * leaves half of it. meta.json is written the second way too. */
#ifndef CNN_REPORT_H
#define CNN_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ops.h"
#include "status.h"

typedef struct report_csv report_csv;

/* All or nothing: start `path` (the folder must exist) with the given
 * header line; it appears only when closed with commit. */
cnn_status report_csv_open(const char *path, const char *header, report_csv **out);
/* Streamed: create `path`, which must not exist yet, and write the header
 * line through; every row is written through as it comes. */
cnn_status report_csv_stream(const char *path, const char *header, report_csv **out);
/* One row of `n` fields; fields holding a comma, quote or newline are quoted. */
cnn_status report_csv_row(report_csv *csv, int n, const char *const *fields);
/* The same row as text on f (for a file written another way: the runs
 * index); returns fputc's result for the closing newline (EOF: failed). */
int report_csv_fields(FILE *f, int n, const char *const *fields);
/* All or nothing: flush, fsync and rename into place (commit) or discard the
 * temporary file. Streamed: flush, fsync and close; the rows stay either way. */
cnn_status report_csv_close(report_csv *csv, bool commit);

/* The dimensions of an operation as CSV columns beside its descriptor
 * string: REPORT_DIMS_HEADER names them, report_op_dims fills them ("" where
 * the op has no such dimension; op NULL: all ""). What each means per op is
 * in results/README.md: conv and pools as named (r, s: the kernel; p, q: the
 * output), linear c = in and k = out features, loss c = classes, concat
 * c = the output channels; element-wise ops only their count, in n. */
#define REPORT_DIMS_HEADER "n,c,h,w,k,r,s,p,q,stride_h,stride_w,pad_h,pad_w"
#define REPORT_DIMS 13
void report_op_dims(const cnn_op *op, char fields[REPORT_DIMS][24]);

/* UTC timestamp for file names: "20261125-201530". */
char *report_timestamp(char *buf, size_t n);

/* mkdir -p: create every missing folder of `path`. */
cnn_status report_mkdirs(const char *path);

/* ---- JSON objects, one member a line (meta.json) ---- */

typedef struct report_json {
    FILE *f;
    int members; /* written so far */
} report_json;

/* s as a JSON string (quotes, backslashes and control bytes escaped); NULL
 * as null. */
void report_json_string(FILE *f, const char *s);
/* Start the next member: the separator from the last one, then "key": */
void report_json_key(report_json *j, const char *key);
/* A string member (NULL: null). */
void report_json_str(report_json *j, const char *key, const char *value);
/* A member whose value is printed as is: a number, true, false, null. */
void report_json_raw(report_json *j, const char *key, const char *fmt, ...) CNN_PRINTF(3, 4);

#endif
