/* Result files: CSV written to a temporary file and renamed into place only
 * when the run finishes, so a crashed or interrupted run never leaves a
 * half-written result behind. */
#ifndef CNN_REPORT_H
#define CNN_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

typedef struct report_csv report_csv;

/* Start `path` (the folder must exist) with the given header line. */
cnn_status report_csv_open(const char *path, const char *header, report_csv **out);
/* One row of `n` fields; fields holding a comma, quote or newline are quoted. */
cnn_status report_csv_row(report_csv *csv, int n, const char *const *fields);
/* Flush, fsync and rename into place (commit) or discard the temporary file. */
cnn_status report_csv_close(report_csv *csv, bool commit);

/* UTC timestamp for file names: "20261125-201530". */
char *report_timestamp(char *buf, size_t n);

/* mkdir -p: create every missing folder of `path`. */
cnn_status report_mkdirs(const char *path);

#endif
