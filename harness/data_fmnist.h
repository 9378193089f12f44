/* Fashion-MNIST (Xiao, Rasul, Vollgraf 2017) as four IDX files in a folder:
 * train-images-idx3-ubyte, train-labels-idx1-ubyte (60000 images),
 * t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (10000), each gzip'd
 * (".gz", as Debian's dataset-fashion-mnist ships them) or plain; where
 * both are there the .gz is read (the plain one in a build without zlib).
 *
 * Where it is looked for (cnn_fmnist_find):
 *   - the folder given (`--data DIR`), if any, and then only there;
 *   - otherwise $CNNBENCH_DATA when set, then CNN_FMNIST_DEFAULT_DIRS:
 *     /usr/share/datasets/fashion-mnist (Debian's package),
 *     /usr/local/share/datasets/fashion-mnist, and ./data/FashionMNIST/raw
 *     (where torchvision's datasets.FashionMNIST(root="./data") downloads).
 * Not found: an error listing every folder tried and saying
 * `apt-get install dataset-fashion-mnist` or `--data DIR`.
 *
 * A loaded split is checked: images 3-d, labels 1-d, the same count in
 * both, at least one image, labels below CNN_FMNIST_CLASSES; every error
 * names the file. Image sizes are whatever the files say (28x28 for the
 * real set), so tests may use small synthetic sets. */
#ifndef CNN_DATA_FMNIST_H
#define CNN_DATA_FMNIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define CNN_FMNIST_CLASSES 10
#define CNN_FMNIST_TRAIN_COUNT 60000
#define CNN_FMNIST_TEST_COUNT 10000
#define CNN_FMNIST_DEFAULT_DIRS                                                                    \
    "/usr/share/datasets/fashion-mnist", "/usr/local/share/datasets/fashion-mnist",                \
        "./data/FashionMNIST/raw"

/* torchvision.datasets.FashionMNIST.classes, in label order. */
extern const char *const cnn_fmnist_class_names[CNN_FMNIST_CLASSES];

typedef enum cnn_fmnist_split { CNN_FMNIST_TRAIN, CNN_FMNIST_TEST } cnn_fmnist_split;

/* A labelled set of 8-bit grey images, row-major, image i at pixels + i*h*w. */
typedef struct cnn_dataset {
    int64_t n;
    int h, w;
    uint8_t *pixels;                         /* n*h*w, malloc'd */
    uint8_t *labels;                         /* n, each < CNN_FMNIST_CLASSES, malloc'd */
    char images_path[512], labels_path[512]; /* the files it came from */
} cnn_dataset;

/* The folder holding `split`'s two files: dir itself if dir is non-NULL,
 * else the first of $CNNBENCH_DATA and CNN_FMNIST_DEFAULT_DIRS that has
 * them. Writes it to found (n bytes). */
cnn_status cnn_fmnist_find(const char *dir, cnn_fmnist_split split, char *found, size_t n);

/* Find (as above) and load one split into *out (free with cnn_dataset_free). */
cnn_status cnn_fmnist_load(const char *dir, cnn_fmnist_split split, cnn_dataset *out);

/* Keep `limit` images (a `--limit N` subset); limit >= n keeps all. With
 * shuffled false: the first `limit` in file order (torch's
 * Subset(ds, range(N)); the files are already in mixed class order). With
 * shuffled true: the first `limit` of a Fisher-Yates shuffle seeded by
 * `seed` (cnn_data_shuffle epoch 0 of stream "subset"), in shuffled order.
 * limit < 1 is an error. */
cnn_status cnn_dataset_limit(cnn_dataset *d, int64_t limit, bool shuffled, uint64_t seed);

/* Images per class: counts[c] for c < CNN_FMNIST_CLASSES. */
void cnn_dataset_histogram(const cnn_dataset *d, int64_t counts[CNN_FMNIST_CLASSES]);

void cnn_dataset_free(cnn_dataset *d);

#endif
