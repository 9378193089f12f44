/* Atomic file writes, for every result file (.npy, CSV, JSON, text).
 *
 * The data goes to a hidden temporary file beside the target (".NAME.XXXXXX"
 * in the same folder, so on the same file system) and is renamed over the
 * target only once it is flushed and fsync'd: a reader sees the old file or
 * the whole new one, never half of it. On any failure, and on abort, the
 * temporary file is removed and the target is left as it was.
 *
 *     cnn_atomic_file af;
 *     cnn_status st = cnn_atomic_open(&af, path);
 *     if (st != CNN_OK) return st;
 *     fprintf(af.f, ...);
 *     return cnn_atomic_finish(&af, CNN_OK);  // commit; abort if not OK
 *
 * Errors are CNN_ERR_IO (or CNN_ERR_OUT_OF_MEMORY) with a reason that names
 * the target file and the system's reason (strerror). */
#ifndef CNN_ATOMIC_FILE_H
#define CNN_ATOMIC_FILE_H

#include <stdio.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnn_atomic_file {
    FILE *f;    /* write here between open and commit or abort */
    char *path; /* the target (a copy) */
    char *tmp;  /* the temporary file beside it */
} cnn_atomic_file;

/* Create the temporary file (mode 0644) for `path`; its folder must exist.
 * On failure nothing is created and af is left zeroed, so that commit, abort
 * and finish on it are harmless. */
cnn_status cnn_atomic_open(cnn_atomic_file *af, const char *path);

/* fflush + fsync + fclose, then rename into place (and fsync the folder).
 * Any failure, including an earlier write error on af->f, removes the
 * temporary file and is reported. af is released either way. */
cnn_status cnn_atomic_commit(cnn_atomic_file *af);

/* fclose and remove the temporary file; the target is untouched. af is
 * released; a zeroed or already released af is a no-op. */
void cnn_atomic_abort(cnn_atomic_file *af);

/* Commit when st is CNN_OK (returning the commit's status), otherwise abort
 * and return st unchanged, so that the reason already recorded stays. */
cnn_status cnn_atomic_finish(cnn_atomic_file *af, cnn_status st);

#ifdef __cplusplus
}
#endif
#endif
