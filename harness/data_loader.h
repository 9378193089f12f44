/* Batches of a dataset for training or evaluation, prepared on a thread of
 * their own while the caller works on the previous one (two buffers).
 *
 *   cnn_loader *l;
 *   cnn_loader_opts o = cnn_loader_defaults(128, true, seed, 32, 32);
 *   cnn_loader_create(&train_set, &o, &l);
 *   for (epoch = start; epoch < epochs; epoch++) {
 *       cnn_loader_begin(l, epoch);
 *       cnn_batch b;
 *       while (cnn_loader_next(l, &b)) train_step(b.x, b.y, b.n);
 *       cnn_loader_stats s = cnn_loader_get_stats(l); // s.epoch_wait_s: time next() waited
 *   }
 *   cnn_loader_destroy(l);
 *
 * An epoch visits every image once: in file order for evaluation (train
 * false: no shuffle, no flip), or for training in the order of
 * cnn_data_shuffle(seed, epoch) with each image flipped when
 * cnn_data_flip(seed, epoch, image index) says so (data_random.h). So the
 * batches of epoch k are a pure function of (dataset, options, k): a run
 * resumed at epoch k gets the same batches as one that ran through to k.
 * The last batch holds the remainder when the batch size does not divide
 * the dataset (PyTorch's DataLoader default, drop_last=False): an epoch has
 * ceil(n / batch) batches.
 *
 * Each batch is NCHW float32 (C = 1) after cnn_transform_image, labels
 * int32. It stays valid until the next cnn_loader_next, cnn_loader_begin or
 * cnn_loader_destroy. A loader is used from one thread (its own worker
 * aside); cnn_loader_begin abandons an unfinished epoch, and
 * cnn_loader_destroy may be called at any point (mid-epoch too): it stops
 * the worker after at most the batch it is preparing. */
#ifndef CNN_DATA_LOADER_H
#define CNN_DATA_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "data_fmnist.h"
#include "data_transform.h"
#include "status.h"

typedef struct cnn_loader_opts {
    int batch;  /* images per batch, >= 1 */
    bool train; /* shuffle and flip each epoch */
    uint64_t seed;
    cnn_transform_opts transform;
} cnn_loader_opts;

/* The seed's pipeline (tensor resize to out_h x out_w, Normalize((0.286,),
 * (0.353,))): out = the dataset's 28x28 for lenet5 (no resize), 32x32 for
 * the seed's CNN. */
cnn_loader_opts cnn_loader_defaults(int batch, bool train, uint64_t seed, int out_h, int out_w);

typedef struct cnn_batch {
    int n, c, h, w;         /* n <= batch: the last one of an epoch may be short */
    const float *x;         /* n*c*h*w */
    const int32_t *y;       /* n labels */
    const int64_t *index;   /* n: each image's index in the dataset */
    const uint8_t *flipped; /* n: 1 where the image was mirrored */
    int64_t number;         /* 0, 1, ... within the epoch */
    int64_t epoch;
} cnn_batch;

typedef struct cnn_loader_stats {
    double epoch_wait_s;    /* this epoch: time cnn_loader_next blocked for a batch */
    double total_wait_s;    /* every epoch since create */
    double epoch_prep_s;    /* this epoch: the worker's time preparing batches */
    double epoch_elapsed_s; /* since cnn_loader_begin: the share waited is wait / elapsed */
    int64_t batches;        /* handed out this epoch */
} cnn_loader_stats;

typedef struct cnn_loader cnn_loader;

/* `data` is borrowed: it must outlive the loader. Errors name the option. */
cnn_status cnn_loader_create(const cnn_dataset *data, const cnn_loader_opts *o, cnn_loader **out);

/* Start epoch `epoch` (>= 0): the worker begins on its first
 * batch at once. */
cnn_status cnn_loader_begin(cnn_loader *l, int64_t epoch);

/* The epoch's next batch into *b; false at the end of the epoch (or before
 * any cnn_loader_begin). Blocks until the worker has it ready. */
bool cnn_loader_next(cnn_loader *l, cnn_batch *b);

int64_t cnn_loader_batches_per_epoch(const cnn_loader *l);
cnn_loader_stats cnn_loader_get_stats(const cnn_loader *l);

/* Stop the worker (mid-epoch or not) and free everything; NULL is a no-op. */
void cnn_loader_destroy(cnn_loader *l);

/* Batch `number` of `epoch` computed on the calling thread, no worker: the
 * loader's reference. x: batch*c*h*w floats, y, index, flipped: batch each.
 * Returns the batch's size (0 past the end). `t` must be planned for the
 * dataset's image size and o->transform. */
int cnn_loader_fill(const cnn_dataset *data, const cnn_loader_opts *o, cnn_transform *t,
                    const int64_t *order, int64_t epoch, int64_t number, float *x, int32_t *y,
                    int64_t *index, uint8_t *flipped);

#endif
