/* fuzz_weights: models/weights.c's folder loader (key names, extra and
 * missing keys, dtypes, shapes, NaN/Inf values, the input blamed for a
 * shape that fits the usual input) on any bytes. The input is a "files"
 * container (fuzz_util.h) unpacked into a private folder; the variant
 * byte's low bit picks the model: lenet5 on its usual 1x28x28 input, or on
 * 3x28x28 (where a folder made for 1 channel blames the input). */

#include "fuzz_util.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cnn_model *models[2];
    if (!models[0]) {
        models[0] = fuzz_lenet5(1, 1, NULL);
        models[1] = fuzz_lenet5(3, 1, NULL);
    }
    char dir[4096];
    fuzz_mkdtemp(dir, sizeof dir);
    int variant = fuzz_unpack(data, size, dir);
    fuzz_note(cnn_model_load_weights(models[variant & 1], dir));
    fuzz_rmtree(dir);
    return 0;
}
