/* IDX files and the Fashion-MNIST folder (harness/data_idx.h, data_fmnist.h):
 * a synthetic set written here, gzip'd and plain, reads back byte for byte;
 * every kind of corrupt file (wrong magic, type code or rank, truncated
 * header or body, trailing bytes, sizes that overflow, a cut gzip stream,
 * empty, missing) and every bad pair (counts that differ, label 10) fails
 * with its exact reason and the file's name; every prefix and thousands of
 * random mutations of a valid buffer are parsed without reading outside it;
 * the folder search names where it looked; --limit subsets. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef CNN_HAVE_ZLIB
#include <zlib.h>
#endif

#include "data_fmnist.h"
#include "data_idx.h"
#include "test_util.h"

static char dir[256];

static const char *path_in(const char *folder, const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", folder, name);
    return p;
}

static void write_raw(const char *path, const uint8_t *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    fclose(f);
}

#ifdef CNN_HAVE_ZLIB
static void write_gz(const char *path, const uint8_t *bytes, size_t n)
{
    gzFile f = gzopen(path, "wb");
    if (!f || gzwrite(f, bytes, (unsigned)n) != (int)n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    gzclose(f);
}
#endif

/* An IDX file image: magic 0 0 type ndim, dims, then `body` bytes
 * (pattern i*7+3), malloc'd; *n its size. */
static uint8_t *make_idx(uint8_t type, int ndim, const uint32_t *dims, size_t body, size_t *n)
{
    *n = 4 + 4 * (size_t)ndim + body;
    uint8_t *b = tu_xmalloc(*n);
    b[0] = b[1] = 0;
    b[2] = type;
    b[3] = (uint8_t)ndim;
    for (int d = 0; d < ndim; d++)
        for (int k = 0; k < 4; k++)
            b[4 + 4 * d + k] = (uint8_t)(dims[d] >> (24 - 8 * k));
    for (size_t i = 0; i < body; i++)
        b[4 + 4 * (size_t)ndim + i] = (uint8_t)(i * 7 + 3);
    return b;
}

/* A labelled set of n images h x w (pixels from make_idx's pattern, label
 * i % 10, or `bad_label` at index 4 when >= 0) as split `prefix` in folder. */
static void write_set(const char *folder, const char *prefix, uint32_t n, uint32_t h, uint32_t w,
                      uint32_t nlabels, int bad_label, bool gz)
{
    uint32_t idims[3] = {n, h, w}, ldims[1] = {nlabels};
    size_t ni, nl;
    uint8_t *img = make_idx(0x08, 3, idims, (size_t)n * h * w, &ni);
    uint8_t *lbl = make_idx(0x08, 1, ldims, nlabels, &nl);
    for (uint32_t i = 0; i < nlabels; i++)
        lbl[8 + i] = (uint8_t)(i % 10);
    if (bad_label >= 0)
        lbl[8 + 4] = (uint8_t)bad_label;
    char ip[256], lp[256];
    snprintf(ip, sizeof ip, "%s-images-idx3-ubyte%s", prefix, gz ? ".gz" : "");
    snprintf(lp, sizeof lp, "%s-labels-idx1-ubyte%s", prefix, gz ? ".gz" : "");
#ifdef CNN_HAVE_ZLIB
    if (gz) {
        write_gz(path_in(folder, ip), img, ni);
        write_gz(path_in(folder, lp), lbl, nl);
    }
#endif
    if (!gz) {
        write_raw(path_in(folder, ip), img, ni);
        write_raw(path_in(folder, lp), lbl, nl);
    }
    free(img);
    free(lbl);
}

static void expect_error(cnn_status got, const char *name, const char *fragment, const char *what)
{
    const char *msg = cnn_last_error();
    TU_CHECK(got != CNN_OK, "%s: accepted", what);
    TU_CHECK(strstr(msg, name) != NULL, "%s: message does not name %s: %s", what, name, msg);
    TU_CHECK(strstr(msg, fragment) != NULL, "%s: message lacks '%s': %s", what, fragment, msg);
}

/* A file with these bytes, read as `ndim` dimensions, fails with fragment. */
static void expect_file_error(const char *name, const uint8_t *bytes, size_t n, int ndim,
                              const char *fragment)
{
    const char *path = path_in(dir, name);
    write_raw(path, bytes, n);
    cnn_idx a;
    expect_error(cnn_idx_read(path, ndim, &a), path, fragment, name);
    TU_CHECK(a.owned == NULL && a.data == NULL, "%s: failed read left data behind", name);
    /* The buffer parser says the same without the file. */
    uint8_t *copy = tu_xmalloc(n);
    memcpy(copy, bytes, n);
    expect_error(cnn_idx_parse(copy, n, name, ndim, &a), name, fragment, name);
    free(copy);
}

static void test_read_back(void)
{
    const uint32_t dims[3] = {5, 28, 28};
    size_t n;
    uint8_t *want = make_idx(0x08, 3, dims, 5 * 28 * 28, &n);
    const char *plain = path_in(dir, "plain-idx3");
    write_raw(plain, want, n);
    cnn_idx a;
    TU_EXPECT_OK(cnn_idx_read(plain, 3, &a));
    TU_CHECK(a.ndim == 3 && a.dims[0] == 5 && a.dims[1] == 28 && a.dims[2] == 28 &&
                 a.count == 5 * 28 * 28,
             "plain: ndim %d dims %u %u %u count %zu", a.ndim, a.dims[0], a.dims[1], a.dims[2],
             a.count);
    TU_CHECK(a.data && memcmp(a.data, want + 16, a.count) == 0, "plain: body differs");
    cnn_idx_free(&a);
    TU_CHECK(a.owned == NULL, "cnn_idx_free left the buffer");
#ifdef CNN_HAVE_ZLIB
    const char *gz = path_in(dir, "gz-idx3.gz");
    write_gz(gz, want, n);
    TU_EXPECT_OK(cnn_idx_read(gz, 3, &a));
    TU_CHECK(a.count == 5 * 28 * 28 && a.data && memcmp(a.data, want + 16, a.count) == 0,
             "gzip: body differs (count %zu)", a.count);
    cnn_idx_free(&a);
    TU_CHECK(cnn_idx_have_zlib(), "built with zlib but cnn_idx_have_zlib() is false");
#else
    /* Without zlib a gzip'd file is refused by name, not misread as IDX. */
    const uint8_t gz_bytes[] = {0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8};
    const char *gz = path_in(dir, "nozlib.gz");
    write_raw(gz, gz_bytes, sizeof gz_bytes);
    expect_error(cnn_idx_read(gz, 3, &a), gz, "this build has no zlib", "gzip without zlib");
#endif
    /* Parsing borrows the buffer: data points into it. */
    TU_EXPECT_OK(cnn_idx_parse(want, n, "buffer", 3, &a));
    TU_CHECK(a.data == want + 16 && a.owned == NULL, "parse copied the buffer");
    free(want);
}

static void test_corrupt_files(void)
{
    const uint32_t dims[3] = {2, 4, 5}, ldims[1] = {6};
    size_t n, nl;
    uint8_t *good = make_idx(0x08, 3, dims, 40, &n);
    uint8_t *lbl = make_idx(0x08, 1, ldims, 6, &nl);
    uint8_t *b = tu_xmalloc(n + 8);

    memcpy(b, good, n);
    b[0] = 0x01;
    expect_file_error("bad-magic", b, n, 3, "bad magic 0x01000803, expected 0x00000803");
    memcpy(b, good, n);
    b[2] = 0x0D;
    expect_file_error("float-type", b, n, 3,
                      "type code 0x0d (float32), expected 0x08 (unsigned byte)");
    b[2] = 0x42;
    expect_file_error("odd-type", b, n, 3, "type code 0x42 (not an IDX type)");
    expect_file_error("labels-as-images", lbl, nl, 3,
                      "magic 0x00000801 has 1 dimensions, expected 3 (magic 0x00000803)");
    expect_file_error("images-as-labels", good, n, 1,
                      "magic 0x00000803 has 3 dimensions, expected 1 (magic 0x00000801)");
    expect_file_error("short-body", good, n - 7, 3,
                      "truncated: the header says 40 bytes of data, the file has 33");
    expect_file_error("short-header", good, 10, 3,
                      "header truncated: 10 bytes, a 3-dimensional header is 16");
    expect_file_error("three-bytes", good, 3, 3,
                      "header truncated: 3 bytes, the IDX magic alone is 4");
    memcpy(b, good, n);
    memset(b + n, 0xEE, 3);
    expect_file_error("trailing", b, n + 3, 3,
                      "3 trailing bytes after the 40 bytes of data the header says");
    expect_file_error("empty", good, 0, 3, "empty file (0 bytes), expected an IDX header");
    /* 2^32-1 x 2^32-1 x 2: the product overflows 64 bits unless guarded. */
    uint32_t huge[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 2};
    size_t nh;
    uint8_t *hb = make_idx(0x08, 3, huge, 8, &nh);
    expect_file_error("overflow", hb, nh, 3, "dimensions exceed 268435456 elements");
    free(hb);

    cnn_idx a;
    const char *missing = path_in(dir, "no-such-file");
    expect_error(cnn_idx_read(missing, 3, &a), missing, "cannot open", "missing file");
    expect_error(cnn_idx_read(missing, 3, &a), missing, "No such file or directory",
                 "missing file");
#ifdef CNN_HAVE_ZLIB
    /* A gzip stream cut short: zlib's complaint, with the file's name. */
    const char *gz = path_in(dir, "whole.gz");
    write_gz(gz, good, n);
    FILE *f = fopen(gz, "rb");
    uint8_t z[256];
    size_t nz = fread(z, 1, sizeof z, f);
    fclose(f);
    const char *cut = path_in(dir, "cut.gz");
    write_raw(cut, z, nz / 2);
    expect_error(cnn_idx_read(cut, 3, &a), cut, "gzip data corrupt or truncated", "cut gzip");
#endif
    free(b);
    free(good);
    free(lbl);
}

/* Hostile buffers: every prefix, and random byte changes, of a valid file.
 * Each copy is exactly its size, so a read past the end trips ASan. */
static void test_hostile_buffers(void)
{
    const uint32_t dims[3] = {3, 5, 4};
    size_t n;
    uint8_t *good = make_idx(0x08, 3, dims, 60, &n);
    int prefix_ok = 0;
    for (size_t len = 0; len <= n; len++) {
        uint8_t *copy = tu_xmalloc(len);
        memcpy(copy, good, len);
        cnn_idx a;
        prefix_ok += cnn_idx_parse(copy, len, "prefix", 3, &a) == CNN_OK;
        free(copy);
    }
    TU_CHECK(prefix_ok == 1, "%d prefixes parsed, only the whole file should", prefix_ok);
    uint64_t rng = 42;
    int accepted = 0;
    for (int t = 0; t < 5000; t++) {
        /* Half keep the length; changes land in the header or anywhere. */
        size_t len = t % 2 ? n : n - 20 + tu_next(&rng) % 40;
        uint8_t *copy = tu_xmalloc(len);
        for (size_t i = 0; i < len; i++)
            copy[i] = i < n ? good[i] : (uint8_t)tu_next(&rng);
        size_t span = t % 4 < 2 ? 16 : len;
        for (int k = 0; k < 2; k++)
            copy[tu_next(&rng) % (len < span ? len : span)] = (uint8_t)tu_next(&rng);
        cnn_idx a;
        if (cnn_idx_parse(copy, len, "mutant", 3, &a) == CNN_OK) {
            accepted++;
            TU_CHECK(a.data + a.count == copy + len,
                     "accepted mutant: body does not end the buffer");
            TU_CHECK(a.count == (size_t)a.dims[0] * a.dims[1] * a.dims[2],
                     "accepted mutant: count %zu is not the product of its dims", a.count);
        } else {
            TU_CHECK(cnn_last_error()[0] != '\0', "rejected mutant without a reason");
        }
        free(copy);
    }
    TU_CHECK(accepted > 0 && accepted < 5000, "mutants accepted: %d of 5000", accepted);
    free(good);
}

static void test_fmnist_folder(void)
{
    char folder[300], found[512];
    snprintf(folder, sizeof folder, "%s/set", dir);
    TU_CHECK(mkdir(folder, 0700) == 0, "mkdir %s", folder);
    bool gz = cnn_idx_have_zlib();
    write_set(folder, "train", 13, 28, 28, 13, -1, gz);
    write_set(folder, "t10k", 7, 28, 28, 7, -1, false);
    cnn_dataset d;
    TU_EXPECT_OK(cnn_fmnist_load(folder, CNN_FMNIST_TRAIN, &d));
    TU_CHECK(d.n == 13 && d.h == 28 && d.w == 28, "train: %lld x %d x %d", (long long)d.n, d.h,
             d.w);
    bool same = d.pixels != NULL;
    for (size_t i = 0; same && i < 13 * 28 * 28; i++)
        same = d.pixels[i] == (uint8_t)(i * 7 + 3);
    TU_CHECK(same, "train pixels differ from what was written");
    for (int i = 0; i < 13; i++)
        TU_CHECK(d.labels[i] == i % 10, "train label %d: %u", i, d.labels[i]);
    TU_CHECK(strstr(d.images_path, gz ? "train-images-idx3-ubyte.gz" : "train-images-idx3-ubyte"),
             "images_path %s", d.images_path);
    int64_t hist[CNN_FMNIST_CLASSES];
    cnn_dataset_histogram(&d, hist);
    TU_CHECK(hist[0] == 2 && hist[2] == 2 && hist[3] == 1 && hist[9] == 1,
             "histogram %lld %lld %lld %lld", (long long)hist[0], (long long)hist[2],
             (long long)hist[3], (long long)hist[9]);

    /* --limit: the first N, or the first N of a seeded shuffle. */
    TU_EXPECT_OK(cnn_dataset_limit(&d, 20, false, 0));
    TU_CHECK(d.n == 13, "--limit above n changed n to %lld", (long long)d.n);
    expect_error(cnn_dataset_limit(&d, 0, false, 0), "--limit 0", "expected at least 1", "limit 0");
    cnn_dataset s;
    TU_EXPECT_OK(cnn_fmnist_load(folder, CNN_FMNIST_TRAIN, &s));
    TU_EXPECT_OK(cnn_dataset_limit(&s, 5, true, 7));
    TU_CHECK(s.n == 5, "shuffled --limit 5: n %lld", (long long)s.n);
    int64_t seen = 0;
    bool in_order = true;
    for (int i = 0; i < 5; i++) {
        /* Which source image is it? (make_idx's pattern makes the 13 differ.) */
        int src = -1;
        for (int j = 0; j < 13; j++)
            if (memcmp(s.pixels + i * 784, d.pixels + j * 784, 784) == 0)
                src = j;
        TU_CHECK(src >= 0 && s.labels[i] == src % 10, "subset image %d: source %d label %u", i, src,
                 s.labels[i]);
        if (src >= 0) {
            TU_CHECK(!(seen >> src & 1), "subset repeats image %d", src);
            seen |= (int64_t)1 << src;
        }
        in_order = in_order && src == i;
    }
    TU_CHECK(!in_order, "shuffled subset is the first 5 in order");
    TU_EXPECT_OK(cnn_dataset_limit(&d, 4, false, 0));
    TU_CHECK(d.n == 4 && d.labels[3] == 3, "first-4 subset: n %lld", (long long)d.n);
    cnn_dataset_free(&s);
    cnn_dataset_free(&d);

    TU_EXPECT_OK(cnn_fmnist_load(folder, CNN_FMNIST_TEST, &d));
    TU_CHECK(d.n == 7 && strstr(d.images_path, "t10k-images-idx3-ubyte"), "test: %lld from %s",
             (long long)d.n, d.images_path);
    cnn_dataset_free(&d);

    /* $CNNBENCH_DATA comes before the default folders; an explicit folder alone counts. */
    setenv("CNNBENCH_DATA", folder, 1);
    TU_EXPECT_OK(cnn_fmnist_find(NULL, CNN_FMNIST_TRAIN, found, sizeof found));
    TU_CHECK(strcmp(found, folder) == 0, "with $CNNBENCH_DATA found %s", found);
    const char *nowhere = path_in(dir, "nowhere");
    setenv("CNNBENCH_DATA", nowhere, 1);
    cnn_status st = cnn_fmnist_find(NULL, CNN_FMNIST_TRAIN, found, sizeof found);
    if (st != CNN_OK) { /* else the real set sits in a default folder */
        expect_error(st, nowhere, "($CNNBENCH_DATA)", "bad $CNNBENCH_DATA");
        expect_error(st, "/usr/share/datasets/fashion-mnist",
                     "apt-get install dataset-fashion-mnist", "bad $CNNBENCH_DATA");
    } else {
        TU_CHECK(strcmp(found, nowhere) != 0, "found the empty folder %s", found);
    }
    unsetenv("CNNBENCH_DATA");
    st = cnn_fmnist_load(nowhere, CNN_FMNIST_TEST, &d);
    expect_error(st, nowhere, "no t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]",
                 "explicit missing folder");
    expect_error(st, nowhere, "or pass --data DIR", "explicit missing folder");
    TU_CHECK(strstr(cnn_last_error(), "/usr/share") == NULL,
             "an explicit folder should be the only one tried: %s", cnn_last_error());
}

static void test_fmnist_bad_pairs(void)
{
    char folder[300];
    snprintf(folder, sizeof folder, "%s/bad", dir);
    TU_CHECK(mkdir(folder, 0700) == 0, "mkdir %s", folder);
    cnn_dataset d;
    write_set(folder, "train", 13, 28, 28, 12, -1, false);
    expect_error(cnn_fmnist_load(folder, CNN_FMNIST_TRAIN, &d), "train-images-idx3-ubyte",
                 "has 13 images but", "mismatched counts");
    TU_CHECK(strstr(cnn_last_error(), "train-labels-idx1-ubyte has 12 labels"),
             "mismatched counts: %s", cnn_last_error());
    write_set(folder, "train", 13, 28, 28, 13, 10, false);
    expect_error(cnn_fmnist_load(folder, CNN_FMNIST_TRAIN, &d), "train-labels-idx1-ubyte",
                 "label 10 at index 4; Fashion-MNIST's classes are 0 to 9", "label 10");
    write_set(folder, "train", 0, 28, 28, 0, -1, false);
    expect_error(cnn_fmnist_load(folder, CNN_FMNIST_TRAIN, &d), "train-images-idx3-ubyte",
                 "holds no pixels", "no images");
    TU_CHECK(d.pixels == NULL && d.labels == NULL, "failed load left buffers");
}

static void test_class_names(void)
{
    static const char *const want[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                         "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                         "Bag",         "Ankle boot"};
    for (int c = 0; c < CNN_FMNIST_CLASSES; c++)
        TU_CHECK(strcmp(cnn_fmnist_class_names[c], want[c]) == 0, "class %d: %s", c,
                 cnn_fmnist_class_names[c]);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/cnn_idx_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_read_back();
    test_corrupt_files();
    test_hostile_buffers();
    test_fmnist_folder();
    test_fmnist_bad_pairs();
    test_class_names();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_data_idx");
}
