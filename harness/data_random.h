/* The data path's randomness: the epoch's shuffle and each image's flip are
 * pure functions of (seed, epoch, index), so a run is reproducible and a run
 * resumed at epoch k sees the same batches as one that ran through to k,
 * and the loader's thread may draw them in any order.
 *
 * Each value is a Philox4x32-10 block (kernels/philox.h) whose counter is
 * the index and whose key is a splitmix64 hash of (seed, stream, epoch):
 * streams keep the shuffle, the flips and the subset choice independent.
 * The shuffle is Fisher-Yates (Durstenfeld): for i = n-1 down to 1, swap
 * i with j uniform in [0, i], j drawn from the 64 bits of counter i as
 * floor(r * (i+1) / 2^64) (bias below n / 2^64). It is not torch's
 * randperm: the orders differ from PyTorch's, the distribution does not. */
#ifndef CNN_DATA_RANDOM_H
#define CNN_DATA_RANDOM_H

#include <stdbool.h>
#include <stdint.h>

typedef enum cnn_data_stream {
    CNN_STREAM_SHUFFLE = 1, /* the order of an epoch */
    CNN_STREAM_FLIP = 2,    /* RandomHorizontalFlip's coin per image */
    CNN_STREAM_SUBSET = 3,  /* cnn_dataset_limit's shuffled choice */
} cnn_data_stream;

/* 64 random bits for (seed, stream, epoch, index). */
uint64_t cnn_data_bits(uint64_t seed, cnn_data_stream stream, uint64_t epoch, uint64_t index);

/* perm[0..n) = a permutation of 0..n-1 for (seed, stream, epoch); n < 2^32. */
void cnn_data_shuffle(int64_t *perm, int64_t n, uint64_t seed, cnn_data_stream stream,
                      uint64_t epoch);

/* Whether image `index` (its place in the dataset, not in the batch) is
 * flipped in `epoch`: probability 1/2, as RandomHorizontalFlip(p=0.5). */
bool cnn_data_flip(uint64_t seed, uint64_t epoch, int64_t index);

#endif
