/* The im2col backend's one public extra beside its table (cnn_backend_im2col,
 * in registry.h): convolution as im2col/col2im plus OpenBLAS sgemm, linear
 * layers as sgemm, and the shared CPU ops (impl_cpu/) for the rest.
 *
 * Other backends that delegate passes to im2col create an inner context on
 * its table, cnn_ctx_create(&cnn_backend_im2col, &opts, &inner), and call it
 * through dispatch.h; they never include this header. */
#ifndef CNN_IM2COL_H
#define CNN_IM2COL_H

#include "backend.h"

/* The most workspace a convolution asks for, unless a single output row's
 * column buffer (C*R*S*Q floats) is larger, which it then asks for alone.
 * The plan (im2col_plan.c) usually wants far less: column blocks of about
 * 2 MiB, or enough images per GEMM that large weights are packed rarely.
 * The cap bounds the second kind: VGG-16's conv4_2 takes two 28x28 images
 * per GEMM within 32 MiB (30.6 MiB), and no layer's lowering (conv1_2 at
 * 224x224: 115 MB per image) can ask for more. */
#define CNN_IM2COL_DEFAULT_WS_CAP ((size_t)32 << 20)

/* Change the cap of an im2col context, e.g. to force row tiling and batch
 * chunking in tests; later workspace_size() answers follow it. */
cnn_status cnn_im2col_set_workspace_cap(cnn_ctx *ctx, size_t bytes);

#endif
