/* Checked calls into a backend: one wrapper cnn_ENTRY per entry of
 * cnn_backend, with the entry's arguments. Each returns CNN_ERR_UNSUPPORTED
 * (with a reason naming backend, op, pass and shape) when the entry is NULL
 * or supports() declines, and CNN_ERR_INVALID_ARG when the workspace is
 * smaller than workspace_size() asked for; otherwise it calls the entry. */
#ifndef CNN_DISPATCH_H
#define CNN_DISPATCH_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cnn_conv_fwd, cnn_conv_bwd_data, ... cnn_concat_bwd: the parameters of
 * each are those of its row in backend_ops.h (cnn_ENTRY_fn, backend.h). */
#define CNN_DISPATCH_DECL(ARG, ENTRY, ...) cnn_##ENTRY##_fn cnn_##ENTRY;
CNN_BACKEND_OPS(CNN_DISPATCH_DECL, )
#undef CNN_DISPATCH_DECL

#ifdef __cplusplus
}
#endif
#endif
