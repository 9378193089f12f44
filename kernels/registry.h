/* The backends compiled into this build, looked up by name, and their tables.
 *
 * Each impl_* exports exactly one table per backend it provides; the build
 * defines CNN_HAVE_<NAME> (for users of the registry library) for each one
 * compiled in. The tables are declared here, whether built or not, so that a
 * backend that runs some passes on another's table (Winograd delegates to
 * im2col) names that table through this header, not the other's own
 * headers; its library links the other's. Everyone else looks backends up
 * by name. */
#ifndef CNN_REGISTRY_H
#define CNN_REGISTRY_H

#include <stddef.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const cnn_backend cnn_backend_naive;
extern const cnn_backend cnn_backend_im2col;
extern const cnn_backend cnn_backend_winograd, cnn_backend_winograd_f2x3, cnn_backend_winograd_f4x3;
extern const cnn_backend cnn_backend_onednn;
extern const cnn_backend cnn_backend_cudnn;

int cnn_backend_count(void);
const cnn_backend *cnn_backend_at(int i);
/* NULL when no backend has that name. */
const cnn_backend *cnn_backend_find(const char *name);
/* Comma-separated list of every name, for error messages; returns buf. */
char *cnn_backend_names(char *buf, size_t n);

/* ---- backend lists: "winograd,im2col", as --backend(s) gives them ---- */

/* The most names a list may hold (callers may allow fewer). */
#define CNN_BACKEND_LIST_MAX 16

/* The backend called `name`: the tables of `extra` (NULL-terminated, or
 * NULL for none: tests, backends built outside this tree) first, then the
 * registry. Otherwise CNN_ERR_INVALID_ARG "unknown backend 'NAME'; valid
 * backends: ..." listing them all. */
cnn_status cnn_backend_resolve(const char *name, const cnn_backend *const *extra,
                               const cnn_backend **out);

/* Parse a comma-separated list of backend names (looked up as by
 * cnn_backend_resolve) into out[0..*n), in the order given; white space
 * around a name is ignored. Errors are CNN_ERR_INVALID_ARG naming the list
 * and the problem: no name at all, an empty item (",," or a comma at an
 * end), an unknown name (listing the valid ones), a name given twice, more
 * than `max` names. On an error *n is 0. */
cnn_status cnn_backend_list_parse(const char *list, const cnn_backend *const *extra, int max,
                                  const cnn_backend **out, int *n);

/* Set the process's CPU thread count, once, at start-up: n > 0 sets it for
 * every threaded library this build links (the OpenMP runtime, which
 * oneDNN follows too, and OpenBLAS); 0 leaves their defaults. Returns the
 * count OpenMP will use. No backend changes these settings: a context's
 * opts.threads only sizes its own OpenMP teams. Not thread-safe; call it
 * before creating contexts. */
int cnn_set_process_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
