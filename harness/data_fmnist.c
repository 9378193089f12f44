#include "data_fmnist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_idx.h"
#include "data_random.h"

const char *const cnn_fmnist_class_names[CNN_FMNIST_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};

static const char *const file_base[2][2] = {
    [CNN_FMNIST_TRAIN] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
    [CNN_FMNIST_TEST] = {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"},
};

/* dir/base.gz or dir/base, whichever exists, into path: .gz first, or the
 * plain file first in a build without zlib (a .gz alone is then found, and
 * reading it says why it cannot be read). */
static bool find_file(const char *dir, const char *base, char *path, size_t n)
{
    static const char *const ext[2][2] = {{"", ".gz"}, {".gz", ""}};
    for (int e = 0; e < 2; e++) {
        int len = snprintf(path, n, "%s/%s%s", dir, base, ext[cnn_idx_have_zlib()][e]);
        if (len > 0 && (size_t)len < n && access(path, R_OK) == 0)
            return true;
    }
    return false;
}

static bool has_split(const char *dir, cnn_fmnist_split split)
{
    char path[512];
    return find_file(dir, file_base[split][0], path, sizeof path) &&
           find_file(dir, file_base[split][1], path, sizeof path);
}

cnn_status cnn_fmnist_find(const char *dir, cnn_fmnist_split split, char *found, size_t n)
{
    static const char *const defaults[] = {CNN_FMNIST_DEFAULT_DIRS};
    const char *tried[8];
    int ntried = 0;
    bool from_env = false; /* tried[0] is $CNNBENCH_DATA */
    if (dir) {
        tried[ntried++] = dir;
    } else {
        const char *env = getenv("CNNBENCH_DATA");
        from_env = env && *env;
        if (from_env)
            tried[ntried++] = env;
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
            tried[ntried++] = defaults[i];
    }
    for (int i = 0; i < ntried; i++) {
        if (has_split(tried[i], split)) {
            if ((size_t)snprintf(found, n, "%s", tried[i]) >= n)
                return cnn_fail(CNN_ERR_INVALID_ARG, "data folder name too long: %s", tried[i]);
            return CNN_OK;
        }
    }
    char list[768] = "";
    size_t len = 0;
    for (int i = 0; i < ntried && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s%s", i ? ", " : "", tried[i],
                                from_env && i == 0 ? " ($CNNBENCH_DATA)" : "");
    return cnn_fail(CNN_ERR_IO,
                    "Fashion-MNIST not found: no %s[.gz] and %s[.gz] in %s; install it with "
                    "`apt-get install dataset-fashion-mnist` or pass --data DIR",
                    file_base[split][0], file_base[split][1], list);
}

static cnn_status load_files(const char *img_path, const char *lbl_path, cnn_dataset *out)
{
    cnn_idx img, lbl;
    cnn_status st = cnn_idx_read(img_path, 3, &img);
    if (st != CNN_OK)
        return st;
    st = cnn_idx_read(lbl_path, 1, &lbl);
    if (st != CNN_OK) {
        cnn_idx_free(&img);
        return st;
    }
    if (img.dims[0] != lbl.dims[0])
        st = cnn_fail(CNN_ERR_INVALID_ARG, "%s has %u images but %s has %u labels", img_path,
                      img.dims[0], lbl_path, lbl.dims[0]);
    else if (img.count == 0)
        st = cnn_fail(CNN_ERR_INVALID_ARG, "%s holds no pixels (%u x %u x %u)", img_path,
                      img.dims[0], img.dims[1], img.dims[2]);
    for (size_t i = 0; st == CNN_OK && i < lbl.count; i++)
        if (lbl.data[i] >= CNN_FMNIST_CLASSES)
            st = cnn_fail(CNN_ERR_INVALID_ARG,
                          "%s: label %u at index %zu; Fashion-MNIST's classes are 0 to %d",
                          lbl_path, lbl.data[i], i, CNN_FMNIST_CLASSES - 1);
    if (st == CNN_OK) {
        out->n = img.dims[0];
        out->h = (int)img.dims[1];
        out->w = (int)img.dims[2];
        out->pixels = malloc(img.count);
        out->labels = malloc(lbl.count);
        if (!out->pixels || !out->labels) {
            cnn_dataset_free(out);
            st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", img_path,
                          img.count);
        } else {
            memcpy(out->pixels, img.data, img.count);
            memcpy(out->labels, lbl.data, lbl.count);
        }
    }
    cnn_idx_free(&img);
    cnn_idx_free(&lbl);
    return st;
}

cnn_status cnn_fmnist_load(const char *dir, cnn_fmnist_split split, cnn_dataset *out)
{
    memset(out, 0, sizeof *out);
    if (split != CNN_FMNIST_TRAIN && split != CNN_FMNIST_TEST)
        return cnn_fail(CNN_ERR_INVALID_ARG, "Fashion-MNIST split %d: expected train or test",
                        (int)split);
    char folder[512];
    cnn_status st = cnn_fmnist_find(dir, split, folder, sizeof folder);
    if (st != CNN_OK)
        return st;
    find_file(folder, file_base[split][0], out->images_path, sizeof out->images_path);
    find_file(folder, file_base[split][1], out->labels_path, sizeof out->labels_path);
    return load_files(out->images_path, out->labels_path, out);
}

cnn_status cnn_dataset_limit(cnn_dataset *d, int64_t limit, bool shuffled, uint64_t seed)
{
    if (limit < 1)
        return cnn_fail(CNN_ERR_INVALID_ARG, "--limit %lld: expected at least 1 image",
                        (long long)limit);
    if (limit >= d->n)
        return CNN_OK;
    if (shuffled) {
        size_t px = (size_t)d->h * (size_t)d->w;
        int64_t *perm = malloc((size_t)d->n * sizeof *perm);
        uint8_t *pixels = malloc((size_t)limit * px), *labels = malloc((size_t)limit);
        if (!perm || !pixels || !labels) {
            free(perm);
            free(pixels);
            free(labels);
            return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "--limit %lld: out of memory", (long long)limit);
        }
        cnn_data_shuffle(perm, d->n, seed, CNN_STREAM_SUBSET, 0);
        for (int64_t i = 0; i < limit; i++) {
            memcpy(pixels + (size_t)i * px, d->pixels + (size_t)perm[i] * px, px);
            labels[i] = d->labels[perm[i]];
        }
        free(perm);
        free(d->pixels);
        free(d->labels);
        d->pixels = pixels;
        d->labels = labels;
    }
    /* In file order the first `limit` images are already in place; the
     * rest of the buffers is simply not used. */
    d->n = limit;
    return CNN_OK;
}

void cnn_dataset_histogram(const cnn_dataset *d, int64_t counts[CNN_FMNIST_CLASSES])
{
    for (int c = 0; c < CNN_FMNIST_CLASSES; c++)
        counts[c] = 0;
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels[i] < CNN_FMNIST_CLASSES)
            counts[d->labels[i]]++;
}

void cnn_dataset_free(cnn_dataset *d)
{
    free(d->pixels);
    free(d->labels);
    d->pixels = NULL;
    d->labels = NULL;
    d->n = 0;
}
