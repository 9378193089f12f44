/* The preprocessing, the data path's randomness and the threaded loader
 * (harness/data_transform.h, data_random.h, data_loader.h):
 *   - Resize + Normalize against values torchvision 0.14 computed for a fixed
 *     pattern (torch_data_check.py compares whole images when torch is
 *     installed; these numbers keep a check when it is not), the identity
 *     size, constant images, bad options;
 *   - shuffles are permutations, pure functions of (seed, epoch), that differ
 *     between epochs and seeds; flips come up about half the time;
 *   - every batch is exactly the transform of the images its index says, in
 *     the epoch's order, flipped as cnn_data_flip says, the last one short;
 *     two loaders with one seed agree bit for bit, a loader started at epoch
 *     k gives what one that ran to k gives; evaluation is in file order
 *     without flips; begin mid-epoch, destroy mid-epoch or before any epoch
 *     neither hang nor leak (ctest's timeout, ASan's leak check). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data_loader.h"
#include "data_random.h"
#include "test_util.h"

static const float mean = CNN_FMNIST_MEAN, stdv = CNN_FMNIST_STD;

static void pattern(uint8_t *img, int h, int w)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            img[y * w + x] = (uint8_t)((x * 37 + y * 11 + x * y) % 256);
}

/* A value torchvision computed at output pixel (y, x). */
typedef struct torch_point {
    int y, x;
    float v;
} torch_point;

/* pattern(28, 28) through `mode` to 32x32 into out; each point within 1e-6. */
static void check_points(cnn_resize_mode mode, bool flip, const torch_point *p, int n, float *out)
{
    uint8_t img[28 * 28];
    pattern(img, 28, 28);
    cnn_transform t;
    cnn_transform_opts o = cnn_fmnist_transform(32, 32);
    o.resize = mode;
    TU_EXPECT_OK(cnn_transform_init(&t, 28, 28, &o));
    cnn_transform_image(&t, img, flip, out);
    for (int i = 0; i < n; i++) {
        float got = out[p[i].y * 32 + p[i].x];
        TU_CHECK(fabsf(got - p[i].v) <= 1e-6f, "%s resize%s (%d,%d): %.9g, torch %.9g",
                 mode == CNN_RESIZE_PIL ? "PIL" : "tensor", flip ? ", flipped" : "", p[i].y, p[i].x,
                 (double)got, (double)p[i].v);
    }
    cnn_transform_free(&t);
}

static void test_transform_against_torch(void)
{
    /* torchvision 0.14.1 / torch 1.13 / Pillow 9.4 on pattern(28, 28):
     * Normalize(Resize((32, 32), antialias=False)(ToTensor(img))) and
     * Compose([RandomHorizontalFlip(p=1), Resize((32, 32)), ToTensor(), Normalize]). */
    static const torch_point tensor[] = {{0, 0, -0.810198367f},  {0, 31, 1.75604069f},
                                         {31, 0, -0.354718685f}, {31, 31, 1.77825928f},
                                         {5, 17, 0.827072203f},  {16, 16, 0.248002023f},
                                         {20, 3, 0.0264243614f}, {27, 29, 1.14698422f}};
    static const torch_point pil_flip[] = {{0, 0, 1.75604069f},    {0, 31, -0.810198367f},
                                           {31, 0, 1.77825928f},   {31, 31, -0.354718685f},
                                           {5, 17, -0.376937211f}, {16, 16, -0.243626103f},
                                           {20, 3, 0.634005487f},  {27, 29, 0.356273949f}};
    float out[32 * 32];
    check_points(CNN_RESIZE_TENSOR, false, tensor, 8, out);
    check_points(CNN_RESIZE_PIL, true, pil_flip, 8, out);
    /* Pillow rounds to 8 bits before ToTensor: every value is (k/255 - mean) / std. */
    int off_grid = 0;
    for (int i = 0; i < 32 * 32; i++) {
        double k = ((double)out[i] * stdv + mean) * 255.0;
        off_grid += fabs(k - floor(k + 0.5)) > 1e-3;
    }
    TU_CHECK(off_grid == 0, "PIL mode: %d values are not k/255 after Normalize", off_grid);
}

static void test_transform_properties(void)
{
    uint8_t img[28 * 28];
    pattern(img, 28, 28);
    float out[32 * 32], out2[32 * 32];
    cnn_transform t;
    /* lenet5's 28x28: no resize, just ToTensor + Normalize (+ the mirror). */
    cnn_transform_opts o = cnn_fmnist_transform(28, 28);
    TU_EXPECT_OK(cnn_transform_init(&t, 28, 28, &o));
    cnn_transform_image(&t, img, true, out);
    int bad = 0;
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++)
            bad += out[y * 28 + x] != ((float)img[y * 28 + 27 - x] / 255.0f - mean) / stdv;
    TU_CHECK(bad == 0, "28x28 identity (flipped): %d values differ from (x/255 - mean)/std", bad);
    cnn_transform_free(&t);

    /* A constant image stays constant at any size and in either mode. */
    memset(img, 200, sizeof img);
    float want = (200.0f / 255.0f - mean) / stdv;
    for (int mode = 0; mode < 2; mode++) {
        int sizes[][2] = {{32, 32}, {20, 20}, {17, 40}};
        for (int s = 0; s < 3; s++) {
            o = cnn_fmnist_transform(sizes[s][0], sizes[s][1]);
            o.resize = (cnn_resize_mode)mode;
            TU_EXPECT_OK(cnn_transform_init(&t, 28, 28, &o));
            float big[40 * 40];
            cnn_transform_image(&t, img, s == 1, big);
            double err = 0;
            for (int i = 0; i < sizes[s][0] * sizes[s][1]; i++)
                err = fmax(err, fabs((double)big[i] - want));
            TU_CHECK(err <= 1e-6, "constant 200, %s %dx%d: max error %g", mode ? "pil" : "tensor",
                     sizes[s][0], sizes[s][1], err);
            cnn_transform_free(&t);
        }
    }

    /* Flipping the source mirrors the 32x32 output (the filter is symmetric). */
    pattern(img, 28, 28);
    o = cnn_fmnist_transform(32, 32);
    TU_EXPECT_OK(cnn_transform_init(&t, 28, 28, &o));
    cnn_transform_image(&t, img, false, out);
    cnn_transform_image(&t, img, true, out2);
    double err = 0;
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++)
            err = fmax(err, fabs((double)out[y * 32 + x] - out2[y * 32 + 31 - x]));
    TU_CHECK(err <= 1e-6, "flip then resize vs resize then mirror: %g", err);
    cnn_transform_free(&t);

    /* Bad options, by name. */
    o = cnn_fmnist_transform(0, 32);
    TU_CHECK(cnn_transform_init(&t, 28, 28, &o) == CNN_ERR_INVALID_ARG &&
                 strstr(cnn_last_error(), "resize to 0x32"),
             "resize to 0x32: %s", cnn_last_error());
    o = cnn_fmnist_transform(32, 32);
    o.std = 0.0f;
    TU_CHECK(cnn_transform_init(&t, 28, 28, &o) == CNN_ERR_INVALID_ARG &&
                 strstr(cnn_last_error(), "std must be > 0"),
             "std 0: %s", cnn_last_error());
    o.std = stdv;
    o.resize = (cnn_resize_mode)7;
    TU_CHECK(cnn_transform_init(&t, 28, 28, &o) == CNN_ERR_INVALID_ARG &&
                 strstr(cnn_last_error(), "resize mode 7"),
             "resize mode 7: %s", cnn_last_error());
}

static void test_random(void)
{
    enum { N = 1000 };
    int64_t *p = tu_xmalloc(N * sizeof *p), *q = tu_xmalloc(N * sizeof *q);
    int *seen = tu_xmalloc(N * sizeof *seen);
    cnn_data_shuffle(p, N, 5, CNN_STREAM_SHUFFLE, 3);
    memset(seen, 0, N * sizeof *seen);
    bool perm = true;
    for (int i = 0; i < N; i++) {
        perm = perm && p[i] >= 0 && p[i] < N && !seen[p[i]];
        if (p[i] >= 0 && p[i] < N)
            seen[p[i]] = 1;
    }
    TU_CHECK(perm, "shuffle of %d is not a permutation", N);
    cnn_data_shuffle(q, N, 5, CNN_STREAM_SHUFFLE, 3);
    TU_CHECK(memcmp(p, q, N * sizeof *p) == 0, "shuffle(5, epoch 3) differs between calls");
    cnn_data_shuffle(q, N, 5, CNN_STREAM_SHUFFLE, 4);
    TU_CHECK(memcmp(p, q, N * sizeof *p) != 0, "epochs 3 and 4 have one order");
    cnn_data_shuffle(q, N, 6, CNN_STREAM_SHUFFLE, 3);
    TU_CHECK(memcmp(p, q, N * sizeof *p) != 0, "seeds 5 and 6 have one order");
    /* Each position is uniform: over 2000 epochs of 10, element 0 lands everywhere ~200 times. */
    int where[10] = {0};
    for (int e = 0; e < 2000; e++) {
        cnn_data_shuffle(q, 10, 9, CNN_STREAM_SHUFFLE, (uint64_t)e);
        for (int i = 0; i < 10; i++)
            if (q[i] == 0)
                where[i]++;
    }
    for (int i = 0; i < 10; i++)
        TU_CHECK(where[i] > 140 && where[i] < 260, "element 0 at position %d: %d of 2000", i,
                 where[i]);
    int flips = 0, same = 0;
    for (int i = 0; i < 20000; i++) {
        flips += cnn_data_flip(1, 0, i);
        same += cnn_data_flip(1, 0, i) == cnn_data_flip(1, 1, i);
    }
    TU_CHECK(flips > 9700 && flips < 10300, "flips: %d of 20000", flips);
    TU_CHECK(same > 9700 && same < 10300, "epochs 0 and 1 agree on %d of 20000 flips", same);
    free(p);
    free(q);
    free(seen);
}

/* n synthetic 28x28 images (pixels from a seeded generator, image 0 a pattern), label i % 10. */
static cnn_dataset synthetic(int64_t n)
{
    cnn_dataset d = {0};
    d.n = n;
    d.h = d.w = 28;
    d.pixels = tu_xmalloc((size_t)n * 784);
    d.labels = tu_xmalloc((size_t)n);
    uint64_t rng = 77;
    for (size_t i = 0; i < (size_t)n * 784; i++)
        d.pixels[i] = (uint8_t)(tu_next(&rng) >> 56);
    for (int64_t i = 0; i < n; i++)
        d.labels[i] = (uint8_t)(i % 10);
    return d;
}

/* All of an epoch's batches, concatenated (x, y, index); returns batches seen. */
typedef struct epoch_data {
    float *x;
    int32_t *y;
    int64_t *index;
    uint8_t *flipped;
    int sizes[64];
    int nb;
} epoch_data;

static void epoch_free(epoch_data *e)
{
    free(e->x);
    free(e->y);
    free(e->index);
    free(e->flipped);
}

static epoch_data run_epoch(cnn_loader *l, const cnn_dataset *d, int64_t epoch, int px)
{
    epoch_data e = {0};
    e.x = tu_xmalloc((size_t)d->n * (size_t)px * sizeof(float));
    e.y = tu_xmalloc((size_t)d->n * sizeof(int32_t));
    e.index = tu_xmalloc((size_t)d->n * sizeof(int64_t));
    e.flipped = tu_xmalloc((size_t)d->n);
    TU_EXPECT_OK(cnn_loader_begin(l, epoch));
    cnn_batch b;
    int64_t at = 0;
    while (cnn_loader_next(l, &b)) {
        TU_CHECK(b.number == e.nb && b.epoch == epoch && b.c == 1 && b.h * b.w == px,
                 "batch %d: number %lld epoch %lld shape %dx%dx%d", e.nb, (long long)b.number,
                 (long long)b.epoch, b.c, b.h, b.w);
        if (at + b.n > d->n || e.nb >= 64) {
            TU_CHECK(false, "epoch %lld: more images than the dataset", (long long)epoch);
            break;
        }
        memcpy(e.x + at * px, b.x, (size_t)b.n * (size_t)px * sizeof(float));
        memcpy(e.y + at, b.y, (size_t)b.n * sizeof(int32_t));
        memcpy(e.index + at, b.index, (size_t)b.n * sizeof(int64_t));
        memcpy(e.flipped + at, b.flipped, (size_t)b.n);
        e.sizes[e.nb++] = b.n;
        at += b.n;
    }
    TU_CHECK(at == d->n, "epoch %lld: %lld images, dataset has %lld", (long long)epoch,
             (long long)at, (long long)d->n);
    TU_CHECK(!cnn_loader_next(l, &b), "next() after the end of the epoch gave a batch");
    return e;
}

static bool same_epoch(const epoch_data *a, const epoch_data *b, int64_t n, int px)
{
    return a->nb == b->nb && memcmp(a->x, b->x, (size_t)n * (size_t)px * sizeof(float)) == 0 &&
           memcmp(a->y, b->y, (size_t)n * sizeof(int32_t)) == 0 &&
           memcmp(a->index, b->index, (size_t)n * sizeof(int64_t)) == 0;
}

static void test_loader_contents(void)
{
    enum { N = 300, BATCH = 32, PX = 32 * 32 };
    cnn_dataset d = synthetic(N);
    cnn_loader_opts o = cnn_loader_defaults(BATCH, true, 1234, 32, 32);
    cnn_loader *l;
    TU_EXPECT_OK(cnn_loader_create(&d, &o, &l));
    TU_CHECK(cnn_loader_batches_per_epoch(l) == 10, "batches per epoch: %lld, want 10",
             (long long)cnn_loader_batches_per_epoch(l));
    cnn_batch b;
    TU_CHECK(!cnn_loader_next(l, &b), "next() before begin() gave a batch");

    cnn_transform t;
    TU_EXPECT_OK(cnn_transform_init(&t, 28, 28, &o.transform));
    int64_t *order = tu_xmalloc(N * sizeof *order);
    float *ref = tu_xmalloc(PX * sizeof *ref);
    epoch_data e[3];
    for (int ep = 0; ep < 3; ep++) {
        e[ep] = run_epoch(l, &d, ep, PX);
        TU_CHECK(e[ep].nb == 10 && e[ep].sizes[0] == BATCH && e[ep].sizes[9] == N - 9 * BATCH,
                 "epoch %d: %d batches, first %d, last %d (want 10, 32, 12)", ep, e[ep].nb,
                 e[ep].sizes[0], e[ep].sizes[9]);
        cnn_data_shuffle(order, N, o.seed, CNN_STREAM_SHUFFLE, (uint64_t)ep);
        int wrong_index = 0, wrong_flip = 0, wrong_x = 0, wrong_y = 0, flips = 0;
        for (int i = 0; i < N; i++) {
            int64_t idx = e[ep].index[i];
            wrong_index += idx != order[i];
            if (idx < 0 || idx >= N)
                continue;
            bool flip = cnn_data_flip(o.seed, (uint64_t)ep, idx);
            flips += flip;
            wrong_flip += e[ep].flipped[i] != flip;
            wrong_y += e[ep].y[i] != d.labels[idx];
            cnn_transform_image(&t, d.pixels + idx * 784, flip, ref);
            wrong_x += memcmp(ref, e[ep].x + (size_t)i * PX, PX * sizeof(float)) != 0;
        }
        TU_CHECK(wrong_index == 0 && wrong_flip == 0 && wrong_x == 0 && wrong_y == 0,
                 "epoch %d: %d images out of order, %d flips, %d images, %d labels wrong", ep,
                 wrong_index, wrong_flip, wrong_x, wrong_y);
        TU_CHECK(flips > 100 && flips < 200, "epoch %d: %d of %d flipped", ep, flips, N);
    }
    TU_CHECK(memcmp(e[0].index, e[1].index, N * sizeof(int64_t)) != 0,
             "epochs 0 and 1 share an order");
    cnn_loader_stats s = cnn_loader_get_stats(l);
    TU_CHECK(s.batches == 10 && s.epoch_wait_s >= 0 && s.total_wait_s >= s.epoch_wait_s &&
                 s.epoch_prep_s > 0 && s.epoch_elapsed_s >= s.epoch_wait_s,
             "stats: %lld batches, wait %g (total %g), prep %g, elapsed %g", (long long)s.batches,
             s.epoch_wait_s, s.total_wait_s, s.epoch_prep_s, s.epoch_elapsed_s);
    cnn_loader_destroy(l);

    /* Same seed, another loader: the same three epochs bit for bit. Then one
     * started at epoch 2 (a resumed run): epoch 2 as the first loader saw it. */
    TU_EXPECT_OK(cnn_loader_create(&d, &o, &l));
    for (int ep = 0; ep < 3; ep++) {
        epoch_data again = run_epoch(l, &d, ep, PX);
        TU_CHECK(same_epoch(&again, &e[ep], N, PX), "second loader, epoch %d differs", ep);
        epoch_free(&again);
    }
    cnn_loader_destroy(l);
    TU_EXPECT_OK(cnn_loader_create(&d, &o, &l));
    epoch_data resumed = run_epoch(l, &d, 2, PX);
    TU_CHECK(same_epoch(&resumed, &e[2], N, PX), "a loader started at epoch 2 differs");
    epoch_free(&resumed);
    /* Abandon epoch 0 after two batches, then epoch 1 is still epoch 1. */
    TU_EXPECT_OK(cnn_loader_begin(l, 0));
    TU_CHECK(cnn_loader_next(l, &b) && cnn_loader_next(l, &b), "two batches of epoch 0");
    epoch_data after = run_epoch(l, &d, 1, PX);
    TU_CHECK(same_epoch(&after, &e[1], N, PX), "epoch 1 after an abandoned epoch 0 differs");
    epoch_free(&after);
    cnn_loader_destroy(l);

    /* Another seed: another order. */
    o.seed = 4321;
    TU_EXPECT_OK(cnn_loader_create(&d, &o, &l));
    epoch_data other = run_epoch(l, &d, 0, PX);
    TU_CHECK(memcmp(other.index, e[0].index, N * sizeof(int64_t)) != 0,
             "seeds 1234 and 4321 agree");
    epoch_free(&other);
    cnn_loader_destroy(l);
    for (int ep = 0; ep < 3; ep++)
        epoch_free(&e[ep]);

    /* Evaluation: file order, no flips, at lenet5's 28x28; batch 100 divides 300. */
    o = cnn_loader_defaults(100, false, 1, 28, 28);
    TU_EXPECT_OK(cnn_loader_create(&d, &o, &l));
    epoch_data ev = run_epoch(l, &d, 5, 28 * 28);
    int wrong = ev.nb != 3;
    for (int i = 0; i < N; i++) {
        wrong += ev.index[i] != i || ev.flipped[i] != 0;
        for (int k = 0; k < 784; k++)
            wrong +=
                ev.x[(size_t)i * 784 + k] != ((float)d.pixels[i * 784 + k] / 255.0f - mean) / stdv;
    }
    TU_CHECK(wrong == 0, "evaluation epoch: %d values out of place (%d batches)", wrong, ev.nb);
    epoch_free(&ev);
    cnn_loader_destroy(l);

    free(order);
    free(ref);
    cnn_transform_free(&t);
    cnn_dataset_free(&d);
}

static void test_loader_shutdown_and_errors(void)
{
    cnn_dataset d = synthetic(50);
    cnn_loader_opts o = cnn_loader_defaults(8, true, 3, 32, 32);
    cnn_loader *l;
    cnn_batch b;
    /* Destroyed before any epoch, right after begin, mid-epoch with a batch held. */
    TU_EXPECT_OK(cnn_loader_create(&d, &o, &l));
    cnn_loader_destroy(l);
    TU_EXPECT_OK(cnn_loader_create(&d, &o, &l));
    TU_EXPECT_OK(cnn_loader_begin(l, 0));
    cnn_loader_destroy(l);
    TU_EXPECT_OK(cnn_loader_create(&d, &o, &l));
    TU_EXPECT_OK(cnn_loader_begin(l, 0));
    TU_CHECK(cnn_loader_next(l, &b) && b.n == 8, "first batch of 8");
    cnn_loader_destroy(l);
    cnn_loader_destroy(NULL);
    /* A slow consumer: the worker has each batch ready before it is asked
     * for, so next() barely waits (the pause before the first one too). */
    TU_EXPECT_OK(cnn_loader_create(&d, &o, &l));
    TU_EXPECT_OK(cnn_loader_begin(l, 0));
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    int batches = 0;
    while (cnn_loader_next(l, &b)) {
        batches++;
        nanosleep(&pause, NULL);
    }
    cnn_loader_stats s = cnn_loader_get_stats(l);
    TU_CHECK(batches == 7 && s.batches == 7, "50 images in 8s: %d batches", batches);
    TU_CHECK(s.epoch_wait_s < 0.2, "slow consumer waited %g s for 7 prepared batches",
             s.epoch_wait_s);
    TU_CHECK(cnn_loader_begin(l, -1) == CNN_ERR_INVALID_ARG && strstr(cnn_last_error(), "epoch -1"),
             "epoch -1: %s", cnn_last_error());
    cnn_loader_destroy(l);

    o.batch = 0;
    TU_CHECK(cnn_loader_create(&d, &o, &l) == CNN_ERR_INVALID_ARG && l == NULL &&
                 strstr(cnn_last_error(), "batch size 0"),
             "batch 0: %s", cnn_last_error());
    o = cnn_loader_defaults(8, true, 3, 32, 0);
    TU_CHECK(cnn_loader_create(&d, &o, &l) == CNN_ERR_INVALID_ARG && l == NULL &&
                 strstr(cnn_last_error(), "resize to 32x0"),
             "width 0: %s", cnn_last_error());
    cnn_dataset empty = {0};
    o = cnn_loader_defaults(8, true, 3, 32, 32);
    TU_CHECK(cnn_loader_create(&empty, &o, &l) == CNN_ERR_INVALID_ARG &&
                 strstr(cnn_last_error(), "dataset is empty"),
             "empty dataset: %s", cnn_last_error());
    cnn_dataset_free(&d);
}

int main(void)
{
    test_transform_against_torch();
    test_transform_properties();
    test_random();
    test_loader_contents();
    test_loader_shutdown_and_errors();
    return tu_finish("test_data_loader");
}
