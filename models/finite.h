/* Where NaN and Inf first appear in a model's forward pass (finite.c).
 *
 * Callers check only what they already read back (the logits, the loss);
 * when that is not finite, cnn_model_first_nonfinite walks the layers in
 * execution order to the first one whose output holds NaN or Inf. Nothing
 * is checked on the normal path, so the check costs nothing there. */
#ifndef CNN_MODELS_FINITE_H
#define CNN_MODELS_FINITE_H

#include <stddef.h>

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* After a forward in `mode` whose logits or loss are not finite: the first
 * layer whose output holds NaN or Inf, described into why (n bytes), e.g.
 * "first in layer conv1 (conv forward): 0 NaN, 4704 Inf of 4704 values;
 * its input and weights are finite (float32 overflow)". The outputs kept
 * since the forward are read back; when a forward-only bind reused some
 * layers' memory, the forward is run again with a check after each layer
 * (the model's step and batch-norm counts are restored). "the input" when
 * the input already holds them; "every layer's output is finite" when
 * none does (a non-finite loss of finite logits). CNN_OK unless reading
 * back failed. */
cnn_status cnn_model_first_nonfinite(cnn_model *m, cnn_mode mode, char *why, size_t n);

/* For tests only (CNNBENCH_TEST_SCALE_WEIGHTS in cnnbench train): multiply
 * every trainable tensor by factor. */
cnn_status cnn_model_scale_params(cnn_model *m, double factor);

#ifdef __cplusplus
}
#endif
#endif
