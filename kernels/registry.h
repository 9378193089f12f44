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

/* ---- backend lists: "winograd,im2col", as --backends gives them ---- */

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

/* ---- fallbacks: who runs what a run's own backends decline ---------- */

/* The default fallbacks of a device, most preferred first: registry names,
 * NULL-terminated (names this build lacks are skipped by the order below).
 * Host: onednn, then im2col, the faster first as measured over a whole
 * network on this project's machine (README, "Speed": VGG-16 at batch 4,
 * forward 685 ms against 780, backward-data 686 against 856; only
 * backward-weights is the other way, 949 against 813). Naive is never
 * among them: it is the last resort, after them. CUDA: cudnn. */
const char *const *cnn_default_fallbacks(cnn_device device);

/* The most backends an order holds: a list of CNN_BACKEND_LIST_MAX and as
 * many fallbacks. */
#define CNN_BACKEND_ORDER_MAX (2 * CNN_BACKEND_LIST_MAX)

/* The order in which a run tries backends for each case, the rule of the
 * model executor and of bench's totals: list[0..n) as given; then the
 * `fallback` each of them names, in list order; then the default
 * fallbacks of list[0]'s device; then naive (host only). Each backend
 * appears once; beyond the list only backends on list[0]'s device that are
 * usable here. Names are looked up as by cnn_backend_resolve (extra first);
 * one that matches nothing is skipped. Writes at most max to out and
 * returns the count. */
int cnn_backend_order(const cnn_backend *const *list, int n, const cnn_backend *const *extra,
                      const cnn_backend **out, int max);

/* Set the process's CPU thread count, at start-up (and, for bench --models
 * --threads LIST, again between models' binds): n > 0 sets it for every
 * threaded library this build links (the OpenMP runtime, which oneDNN
 * follows too, and OpenBLAS); 0 leaves their defaults. Returns the count
 * OpenMP will use. No backend changes these settings: a context's
 * opts.threads only sizes its own OpenMP teams. Not thread-safe; call it
 * when no context is in use. */
int cnn_set_process_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
