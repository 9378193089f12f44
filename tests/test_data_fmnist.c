/* The real Fashion-MNIST (Debian's dataset-fashion-mnist, or $CNNBENCH_DATA):
 * 60000 train and 10000 test images of 28x28, 6000 and 1000 per class, the
 * first labels and the pixel sums numpy computes from the same files. Then,
 * reported and not asserted, how long one epoch of data preparation alone
 * takes at batch 128 (the "epoch time without the model's work"): on the
 * calling thread, and through the loader with a consumer that does nothing.
 * 77 (skipped) when the dataset is not installed, or is gzip'd and the
 * build has no zlib. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "data_loader.h"
#include "data_random.h"
#include "test_util.h"

static void check_split(const cnn_dataset *d, const char *name, int64_t n, const uint8_t first[10],
                        long long pixel_sum)
{
    TU_CHECK(d->n == n && d->h == 28 && d->w == 28, "%s: %lld x %d x %d, want %lld x 28 x 28", name,
             (long long)d->n, d->h, d->w, (long long)n);
    int64_t hist[CNN_FMNIST_CLASSES];
    cnn_dataset_histogram(d, hist);
    for (int c = 0; c < CNN_FMNIST_CLASSES; c++)
        TU_CHECK(hist[c] == n / 10, "%s: %lld images of class %d (%s), want %lld", name,
                 (long long)hist[c], c, cnn_fmnist_class_names[c], (long long)n / 10);
    for (int i = 0; i < 10 && i < d->n; i++)
        TU_CHECK(d->labels[i] == first[i], "%s: label %d is %u, numpy says %u", name, i,
                 d->labels[i], first[i]);
    long long sum = 0;
    for (size_t i = 0; i < (size_t)d->n * 784; i++)
        sum += d->pixels[i];
    TU_CHECK(sum == pixel_sum, "%s: pixel sum %lld, numpy says %lld", name, sum, pixel_sum);
}

/* This thread's CPU seconds: what the work costs on a busy machine. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One epoch at batch 128: prepared on this thread, then through the loader. */
static void time_epoch(const cnn_dataset *d, bool train, int size, cnn_resize_mode mode)
{
    cnn_loader_opts o = cnn_loader_defaults(128, train, 1, size, size);
    o.transform.resize = mode;
    cnn_transform t;
    TU_EXPECT_OK(cnn_transform_init(&t, d->h, d->w, &o.transform));
    float *x = tu_xmalloc(128 * (size_t)size * (size_t)size * sizeof *x);
    int32_t y[128];
    int64_t index[128];
    uint8_t flipped[128];
    int64_t *order = tu_xmalloc((size_t)d->n * sizeof *order);
    double t0 = cnn_wall_seconds(), c0 = cpu_seconds();
    if (train)
        cnn_data_shuffle(order, d->n, o.seed, CNN_STREAM_SHUFFLE, 0);
    int64_t images = 0;
    for (int64_t b = 0;; b++) {
        int n = cnn_loader_fill(d, &o, &t, train ? order : NULL, 0, b, x, y, index, flipped);
        if (n == 0)
            break;
        images += n;
    }
    double serial = cnn_wall_seconds() - t0, cpu = cpu_seconds() - c0;
    TU_CHECK(images == d->n, "serial epoch: %lld images", (long long)images);
    free(order);
    free(x);
    cnn_transform_free(&t);

    cnn_loader *l;
    TU_EXPECT_OK(cnn_loader_create(d, &o, &l));
    t0 = cnn_wall_seconds();
    TU_EXPECT_OK(cnn_loader_begin(l, 0));
    cnn_batch b;
    images = 0;
    while (cnn_loader_next(l, &b))
        images += b.n;
    double wall = cnn_wall_seconds() - t0;
    cnn_loader_stats s = cnn_loader_get_stats(l);
    TU_CHECK(images == d->n, "loader epoch: %lld images", (long long)images);
    printf("  %s %dx%d %-6s: %.3f s on one thread (%.3f s CPU, %.2f us/image); loader %.3f s, "
           "next() waited %.3f s (%.0f%%), worker busy %.3f s\n",
           train ? "train" : "test ", size, size, mode == CNN_RESIZE_PIL ? "pil" : "tensor", serial,
           cpu, 1e6 * cpu / (double)d->n, wall, s.epoch_wait_s,
           wall > 0 ? 100.0 * s.epoch_wait_s / wall : 0.0, s.epoch_prep_s);
    cnn_loader_destroy(l);
}

int main(void)
{
    char found[512];
    if (cnn_fmnist_find(NULL, CNN_FMNIST_TRAIN, found, sizeof found) != CNN_OK) {
        printf("test_data_fmnist: skipped: %s\n", cnn_last_error());
        return 77;
    }
    cnn_dataset train, test;
    cnn_status st = cnn_fmnist_load(NULL, CNN_FMNIST_TRAIN, &train);
    if (st == CNN_ERR_UNSUPPORTED) { /* gzip'd files, no zlib in this build */
        printf("test_data_fmnist: skipped: %s\n", cnn_last_error());
        return 77;
    }
    TU_EXPECT_OK(st);
    TU_EXPECT_OK(cnn_fmnist_load(NULL, CNN_FMNIST_TEST, &test));
    if (tu_failures)
        return tu_finish("test_data_fmnist");
    printf("Fashion-MNIST from %s\n", found);
    static const uint8_t train_first[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    static const uint8_t test_first[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    check_split(&train, "train", CNN_FMNIST_TRAIN_COUNT, train_first, 3431114169LL);
    check_split(&test, "test", CNN_FMNIST_TEST_COUNT, test_first, 573469082LL);
#ifndef NDEBUG
    /* Unoptimised (Debug, sanitizers): a tenth of the set keeps the test short. */
    TU_EXPECT_OK(cnn_dataset_limit(&train, CNN_FMNIST_TRAIN_COUNT / 10, false, 0));
    TU_EXPECT_OK(cnn_dataset_limit(&test, CNN_FMNIST_TEST_COUNT / 10, false, 0));
    printf("(unoptimised build: timing the first %lld and %lld images only)\n", (long long)train.n,
           (long long)test.n);
#endif
    printf("one epoch of data preparation alone, batch 128 (reported, not asserted):\n");
    time_epoch(&train, true, 32, CNN_RESIZE_TENSOR);
    time_epoch(&train, true, 32, CNN_RESIZE_PIL);
    time_epoch(&train, true, 28, CNN_RESIZE_TENSOR);
    time_epoch(&test, false, 32, CNN_RESIZE_TENSOR);
    cnn_dataset_free(&train);
    cnn_dataset_free(&test);
    return tu_finish("test_data_fmnist");
}
