/* The index of runs: ROOT/index.csv, one line per run folder under ROOT,
 * appended when the run ends (run_dir_finish). Its columns are
 * RUN_INDEX_HEADER; results/README.md says what each holds.
 *
 * Appends are whole and serialised between processes: the file is opened
 * with O_APPEND, locked (flock LOCK_EX), the line (and the header, when the
 * file is new or empty) goes out in one write(), then fsync and unlock. So
 * runs that end at the same moment never interleave their lines. A run
 * killed outright (SIGKILL, a crash) never appends: it is found by its
 * folder only. A field never holds a newline (a command line's newlines
 * are written as spaces; meta.json keeps it exactly), so a line of the
 * file is a record, and one damaged line costs that line only. */
#ifndef CNN_RUN_INDEX_H
#define CNN_RUN_INDEX_H

#include "run_dir.h"
#include "status.h"

#define RUN_INDEX_FILE "index.csv"
#define RUN_INDEX_HEADER "run_id,started,command,command_line,host,cpu,commit,dirty,status"
#define RUN_INDEX_COLS 9

/* Append one line (RUN_INDEX_COLS fields, in the header's order) to
 * ROOT/index.csv, creating it with its header. */
cnn_status run_index_append(const char *root, const char *const fields[RUN_INDEX_COLS]);

/* The line of a run that ended with `status` (run_dir.c's end names), into
 * the index of the root it was made under. A failure is a warning on
 * stderr, not the run's failure: its folder is whole either way. */
void run_index_add_run(const run_dir *rd, const char *status);

#endif
