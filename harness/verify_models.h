/* cnnbench verify's model side: the distinct layer shapes of the six models
 * for the op sweep, and the whole-model cross-check (--models). */
#ifndef CNN_VERIFY_MODELS_H
#define CNN_VERIFY_MODELS_H

#include <stdbool.h>

#include "cli.h"
#include "ops.h"
#include "verify_run.h"

/* Every layer op of the six models (batch 2 for the ImageNet-sized ones),
 * or of model `only` alone (NULL: all six); with `cheap`, only the few
 * cheapest per model, for ctest. (*layers)[i] names op i's layer,
 * "MODEL/LAYER"; both arrays are malloc'd. */
cnn_status verify_model_layer_ops(bool cheap, const char *only, cnn_op **ops, verify_layer **layers,
                                  int *n);

/* Validate a --models list; returns -1 when valid, else the exit code. */
int verify_models_check_names(const cli_cmd *cmd, const char *list);

/* Each model forward and backward on each backend against naive, at
 * `batch`; image_size > 0 replaces the 224x224 input of the ImageNet-sized
 * models (their adaptive pooling takes any size), 0 keeps it. */
cnn_status verify_models_run(verify_run *run, const char *list, int batch, int image_size);

#endif
