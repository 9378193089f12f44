/* fuzz_checkpoint: harness/train_checkpoint.c's reader on any bytes:
 * checkpoint.json (json_read, the run's identity, the files it lists with
 * their sizes and checksums, where the training stands), then the weights
 * folder and optimizer.npy. The input is a "files" container (fuzz_util.h)
 * unpacked into a private folder; the variant byte's low bit picks the run
 * it is checked against: lenet5, batch 2, 10 classes, seed 7, SGD lr 0.01
 * momentum 0.9 (its state in optimizer.npy), or Adam lr 0.001. A folder
 * holding checkpoints/t/epoch-NNNN... is searched for its newest one as
 * --resume does (train_checkpoint_find); any other is read as the
 * checkpoint itself. */
#include <stdio.h>

#include "fuzz_util.h"
#include "train.h"

static const cnn_optim_desc optims[2] = {
    {.mode = CNN_OPTIM_SGD, .lr = 0.01, .momentum = 0.9},
    {.mode = CNN_OPTIM_ADAM, .lr = 0.001, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cnn_model *models[2];
    if (!models[0]) {
        models[0] = fuzz_lenet5(1, 2, &optims[0]);
        models[1] = fuzz_lenet5(1, 2, &optims[1]);
    }
    char dir[4096], ck[4400];
    fuzz_mkdtemp(dir, sizeof dir);
    int v = fuzz_unpack(data, size, dir) & 1;
    train_cfg cfg = {.model = "lenet5", .epochs = 1, .batch = 2, .classes = 10, .image_size = 28,
                     .c = 1, .optim = optims[v], .seed = 7, .run_path = dir};
    if (train_checkpoint_find(dir, "t", ck, sizeof ck) != CNN_OK || !*ck)
        snprintf(ck, sizeof ck, "%s", dir);
    train_state ts;
    fuzz_note(train_checkpoint_load(models[v], &cfg, ck, &ts));
    fuzz_rmtree(dir);
    return 0;
}
