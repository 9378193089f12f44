/* The backends compiled into this build, looked up by name. */
#ifndef CNN_REGISTRY_H
#define CNN_REGISTRY_H

#include <stddef.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

int cnn_backend_count(void);
const cnn_backend *cnn_backend_at(int i);
/* NULL when no backend has that name. */
const cnn_backend *cnn_backend_find(const char *name);
/* Comma-separated list of every name, for error messages; returns buf. */
char *cnn_backend_names(char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
