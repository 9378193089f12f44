/* The .npy reader and writer: byte-exact headers as numpy writes them, round
 * trips for every dtype and rank, every malformed file rejected with a reason
 * that names the file, and writes that are atomic. Then the one atomic file
 * writer behind them and behind the CSV and JSON results: a commit puts the
 * whole file in place, an abort or a failure leaves the old file as it was
 * and no temporary file behind, and every error names the file. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "npy.h"
#include "report.h"
#include "test_util.h"

static char dir[256];

static const char *path_of(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static long read_all(const char *path, unsigned char *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    long got = (long)fread(buf, 1, n, f);
    fclose(f);
    return got;
}

static void write_raw(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

/* A hand-made .npy: preamble for `major`.0, the header text as given (no
 * padding added), then `data_bytes` bytes of 0x3f. */
static const char *craft(const char *name, int major, const char *header, size_t data_bytes)
{
    const char *path = path_of(name);
    size_t hlen = strlen(header), pre = major == 1 ? 10 : 12;
    unsigned char *buf = calloc(1, pre + hlen + data_bytes + 1);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + pre, header, hlen);
    memset(buf + pre + hlen, 0x3f, data_bytes);
    write_raw(path, buf, pre + hlen + data_bytes);
    free(buf);
    return path;
}

static void expect_fail(cnn_status got, cnn_status want, const char *path, const char *words,
                        const char *what)
{
    const char *msg = cnn_last_error();
    TU_CHECK(got == want, "%s: status %s, expected %s (%s)", what, cnn_status_str(got),
             cnn_status_str(want), msg);
    TU_CHECK(strstr(msg, path) != NULL, "%s: message does not name the file: %s", what, msg);
    TU_CHECK(strstr(msg, words) != NULL, "%s: message lacks '%s': %s", what, words, msg);
}

static void expect_read_fail(const char *path, cnn_status want, const char *words, const char *what)
{
    cnn_npy a = {0};
    cnn_status st = cnn_npy_read(path, &a);
    expect_fail(st, want, path, words, what);
    TU_CHECK(a.data == NULL, "%s: data left allocated after a failure", what);
    cnn_npy_free(&a);
}

/* ---- round trips --------------------------------------------------------- */

static void fill_pattern(void *data, size_t bytes, unsigned seed)
{
    unsigned char *p = data;
    for (size_t i = 0; i < bytes; i++)
        p[i] = (unsigned char)(i * 37u + seed * 11u + 5u);
}

static void check_header_bytes(const char *path, cnn_dtype t, const cnn_shape *s, size_t bytes)
{
    unsigned char buf[4096];
    long n = read_all(path, buf, sizeof buf);
    TU_CHECK(n >= 10 && memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0, "%s: magic or version", path);
    if (n < 10)
        return;
    size_t hlen = buf[8] | (size_t)buf[9] << 8;
    TU_CHECK((10 + hlen) % 64 == 0, "%s: preamble + header %zu is not a multiple of 64", path,
             10 + hlen);
    TU_CHECK((size_t)n == 10 + hlen + bytes, "%s: file is %ld bytes, expected %zu", path, n,
             10 + hlen + bytes);
    TU_CHECK(buf[10 + hlen - 1] == '\n', "%s: header does not end with a newline", path);
    char want[200], dims[100] = "";
    size_t used = 0;
    for (int i = 0; i < s->ndim; i++)
        used += (size_t)snprintf(dims + used, sizeof dims - used, "%s%lld", i ? ", " : "",
                                 (long long)s->dim[i]);
    snprintf(want, sizeof want, "{'descr': '%s', 'fortran_order': False, 'shape': (%s%s), }",
             cnn_dtype_str(t), dims, s->ndim == 1 ? "," : "");
    TU_CHECK(hlen >= strlen(want) && memcmp(buf + 10, want, strlen(want)) == 0,
             "%s: header is not %s", path, want);
    for (size_t i = 10 + strlen(want); i < 10 + hlen - 1; i++)
        if (buf[i] != ' ') {
            TU_CHECK(false, "%s: header padding has byte 0x%02x at %zu", path, buf[i], i);
            break;
        }
}

static void test_round_trips(void)
{
    static const cnn_shape shapes[] = {
        {0, {0}}, {1, {7}}, {2, {2, 3}}, {3, {2, 1, 5}}, {4, {1, 2, 3, 2}}, {2, {0, 5}},
    };
    for (int t = 0; t < CNN_DTYPE_COUNT; t++)
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
            const cnn_shape *s = &shapes[k];
            int64_t numel = cnn_shape_numel(s);
            size_t bytes = (size_t)numel * cnn_dtype_size((cnn_dtype)t);
            void *data = malloc(bytes + 1);
            fill_pattern(data, bytes, (unsigned)(t * 10 + k));
            char name[64];
            snprintf(name, sizeof name, "rt_%d_%zu.npy", t, k);
            const char *path = path_of(name);
            cnn_status st = cnn_npy_write(path, (cnn_dtype)t, s, data);
            TU_CHECK(st == CNN_OK, "write %s: %s", path, cnn_last_error());
            check_header_bytes(path, (cnn_dtype)t, s, bytes);
            cnn_npy a;
            st = cnn_npy_read(path, &a);
            TU_CHECK(st == CNN_OK, "read %s: %s", path, cnn_last_error());
            if (st == CNN_OK) {
                TU_CHECK(a.dtype == (cnn_dtype)t, "%s: dtype %d read back as %d", path, t,
                         (int)a.dtype);
                TU_CHECK(cnn_shape_eq(&a.shape, s), "%s: shape changed", path);
                TU_CHECK(bytes == 0 || memcmp(a.data, data, bytes) == 0, "%s: data changed", path);
                cnn_npy_free(&a);
            }
            free(data);
        }

    /* numpy's exact bytes for np.save(p, np.zeros((2, 3), np.int64)): a
     * 118-byte header (21 digits of room for the first dimension to grow). */
    int64_t zeros[6] = {0};
    const char *path = path_of("numpy_exact.npy");
    cnn_npy_write(path, CNN_DTYPE_I64, &(cnn_shape){2, {2, 3}}, zeros);
    unsigned char buf[256];
    long n = read_all(path, buf, sizeof buf);
    const char *dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }";
    TU_CHECK(n == 176 && buf[8] == 118 && buf[9] == 0, "numpy_exact: %ld bytes, header %d", n,
             buf[8]);
    TU_CHECK(n == 176 && memcmp(buf + 10, dict, strlen(dict)) == 0 && buf[127] == '\n',
             "numpy_exact: header text differs from numpy's");

    /* float32 through its own reader, and overwriting an existing file. */
    float x[4] = {1.5f, -2.0f, 0.25f, 3e-8f}, y[4] = {9, 9, 9, 9};
    path = path_of("f32.npy");
    TU_CHECK(cnn_npy_write_f32(path, &(cnn_shape){2, {2, 2}}, y) == CNN_OK, "write f32");
    TU_CHECK(cnn_npy_write_f32(path, &(cnn_shape){1, {4}}, x) == CNN_OK, "overwrite f32");
    cnn_shape s;
    float *got = NULL;
    TU_CHECK(cnn_npy_read_f32(path, &s, &got) == CNN_OK, "read f32: %s", cnn_last_error());
    TU_CHECK(got && s.ndim == 1 && s.dim[0] == 4 && memcmp(got, x, sizeof x) == 0,
             "f32 round trip after overwrite");
    free(got);
}

/* Format versions 2.0 and 3.0 use a 4-byte header length; key order,
 * quoting, whitespace and the trailing comma are free. */
static void test_header_variants(void)
{
    static const struct {
        int major;
        const char *header;
    } ok[] = {
        {2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n"},
        {3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n"},
        {1, "{\"shape\":(2,3),\"fortran_order\":False,\"descr\":\"<f4\"}"},
        {1, " {  'fortran_order' : False ,\n 'shape' : ( 2 , 3 , ) , 'descr' : '<f4' }  \n"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "variant%zu.npy", i);
        const char *path = craft(name, ok[i].major, ok[i].header, 24);
        cnn_npy a;
        cnn_status st = cnn_npy_read(path, &a);
        TU_CHECK(st == CNN_OK, "%s: %s", path, cnn_last_error());
        if (st == CNN_OK) {
            TU_CHECK(a.dtype == CNN_DTYPE_F32 && a.shape.ndim == 2 && a.shape.dim[0] == 2 &&
                         a.shape.dim[1] == 3,
                     "%s: wrong dtype or shape", path);
            cnn_npy_free(&a);
        }
    }
    const char *path =
        craft("u1.npy", 1, "{'descr': '<u1', 'fortran_order': False, 'shape': (3,)}", 3);
    cnn_npy a;
    TU_CHECK(cnn_npy_read(path, &a) == CNN_OK && a.dtype == CNN_DTYPE_U8, "'<u1' is uint8: %s",
             cnn_last_error());
    cnn_npy_free(&a);
}

static void test_bad_files(void)
{
    const char *H = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

    expect_read_fail(path_of("missing.npy"), CNN_ERR_IO, "No such file", "missing file");
    expect_read_fail(dir, CNN_ERR_IO, "directory", "a directory");

    const char *p = path_of("empty.npy");
    write_raw(p, "", 0);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "not a .npy", "empty file");
    p = path_of("text.npy");
    write_raw(p, "hello, world\n", 13);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "not a .npy", "bad magic");
    p = path_of("short_preamble.npy");
    write_raw(p, "\x93NUMPY\x01", 7);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "truncated", "preamble cut short");

    p = craft("v4.npy", 4, H, 24);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "unsupported .npy format version 4.0", "version 4");

    p = path_of("short_header.npy");
    write_raw(p, "\x93NUMPY\x01\x00\x76\x00{'descr'", 18);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "truncated", "header cut short");
    p = path_of("huge_header.npy");
    write_raw(p, "\x93NUMPY\x02\x00\xff\xff\xff\x7f{", 13);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "header length", "absurd header length");

    static const struct {
        const char *header, *words;
    } malformed[] = {
        {"'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", "malformed"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", "malformed"},
        {"{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3)}", "malformed"},
        {"{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"},
        {"{'descr': '<f4', 'shape': (6,)}", "missing key 'fortran_order'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", "unknown key 'x'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", "twice"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6)}", "tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-6,)}", "non-negative"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [6]}", "tuple"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (6,)}", "True or False"},
        {"{'descr': '<f4', 'fortran_order': Falsey, 'shape': (6,)}", "True or False"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,)}", "structured"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (6,)}", "expected ','"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} junk", "after the closing"},
        {"", "malformed"},
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "malformed%zu.npy", i);
        p = craft(name, 1, malformed[i].header, 24);
        expect_read_fail(p, CNN_ERR_INVALID_ARG, malformed[i].words, malformed[i].header);
    }

    p = craft("f8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 24);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "dtype '<f8' is not supported", "float64");
    cnn_shape s;
    float *data = (float *)1;
    expect_fail(cnn_npy_read_f32(p, &s, &data), CNN_ERR_INVALID_ARG, p,
                "dtype '<f8' is not supported, expected float32 '<f4' "
                "(np.save(path, a.astype(np.float32)))",
                "float64 as float32");
    TU_CHECK(data == NULL, "read_f32 leaves *data set after a failure");
    p = craft("i8.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", 24);
    expect_fail(cnn_npy_read_f32(p, &s, &data), CNN_ERR_INVALID_ARG, p, "'<i8'", "int64 as f32");
    p = craft("i1.npy", 1, "{'descr': '|i1', 'fortran_order': False, 'shape': (3,), }", 3);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "'|i1' is not supported", "int8");
    p = craft("be.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "big-endian", "big-endian");
    p = craft("fortran.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "fortran_order", "fortran order");
    p = craft("dims5.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,2)}", 8);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "5 dimensions, at most 4", "5 dims");

    p = craft("truncated.npy", 1, H, 20);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "truncated: expected 24 bytes of data, found 20",
                     "short body");
    p = craft("trailing.npy", 1, H, 25);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "trailing garbage", "long body");
    p = craft("no_body.npy", 1, H, 0);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "expected 24 bytes of data, found 0", "no body");

    /* Shapes whose size overflows, or that would ask for terabytes: rejected
     * before any allocation (ASan would report a failed huge malloc). */
    p = craft("overflow.npy", 1,
              "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 24);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "absurd", "size overflow");
    p = craft("digits.npy", 1,
              "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
              24);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "too large", "dimension overflow");
    p = craft("terabytes.npy", 1,
              "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }", 24);
    expect_read_fail(p, CNN_ERR_INVALID_ARG, "truncated: expected 4000000000000 bytes", "4 TB");
}

static void test_labels(void)
{
    int64_t i8[5] = {0, 9, 3, 3, 7};
    int32_t i4[3] = {2, 0, 1};
    uint8_t u1[4] = {5, 4, 0, 9};
    int64_t count;
    int32_t *lab = NULL;
    const char *p = path_of("lab_i8.npy");
    cnn_npy_write(p, CNN_DTYPE_I64, &(cnn_shape){1, {5}}, i8);
    TU_CHECK(cnn_npy_read_labels(p, 10, &count, &lab) == CNN_OK, "labels i8: %s", cnn_last_error());
    TU_CHECK(lab && count == 5 && lab[1] == 9 && lab[4] == 7, "labels i8 converted");
    free(lab);
    p = path_of("lab_i4.npy");
    cnn_npy_write(p, CNN_DTYPE_I32, &(cnn_shape){1, {3}}, i4);
    TU_CHECK(cnn_npy_read_labels(p, 3, &count, &lab) == CNN_OK && count == 3 && lab[0] == 2,
             "labels i4: %s", cnn_last_error());
    free(lab);
    p = path_of("lab_u1.npy");
    cnn_npy_write(p, CNN_DTYPE_U8, &(cnn_shape){1, {4}}, u1);
    TU_CHECK(cnn_npy_read_labels(p, 10, &count, &lab) == CNN_OK && count == 4 && lab[3] == 9,
             "labels u1: %s", cnn_last_error());
    free(lab);

    lab = (int32_t *)1;
    expect_fail(cnn_npy_read_labels(p, 9, &count, &lab), CNN_ERR_INVALID_ARG, p,
                "index 3 is 9, expected a class in [0, 9)", "label too large");
    TU_CHECK(lab == NULL && count == 0, "labels left set after a failure");
    int64_t neg[2] = {1, -1};
    p = path_of("lab_neg.npy");
    cnn_npy_write(p, CNN_DTYPE_I64, &(cnn_shape){1, {2}}, neg);
    expect_fail(cnn_npy_read_labels(p, 10, &count, &lab), CNN_ERR_INVALID_ARG, p, "index 1 is -1",
                "negative label");
    TU_CHECK(cnn_npy_read_labels(p, 0, &count, &lab) == CNN_OK && lab[1] == -1,
             "classes 0 skips the range check: %s", cnn_last_error());
    free(lab);
    int64_t big[1] = {(int64_t)1 << 40};
    p = path_of("lab_big.npy");
    cnn_npy_write(p, CNN_DTYPE_I64, &(cnn_shape){1, {1}}, big);
    expect_fail(cnn_npy_read_labels(p, 0, &count, &lab), CNN_ERR_INVALID_ARG, p, "int32",
                "label beyond int32");
    p = path_of("lab_2d.npy");
    cnn_npy_write(p, CNN_DTYPE_I64, &(cnn_shape){2, {1, 2}}, neg);
    expect_fail(cnn_npy_read_labels(p, 0, &count, &lab), CNN_ERR_INVALID_ARG, p, "1-d",
                "2-d labels");
    float f[2] = {0, 1};
    p = path_of("lab_f4.npy");
    cnn_npy_write_f32(p, &(cnn_shape){1, {2}}, f);
    expect_fail(cnn_npy_read_labels(p, 10, &count, &lab), CNN_ERR_INVALID_ARG, p,
                "'<f4' is not supported for labels", "float labels");
}

/* No temporary file may survive a write, successful or not. */
static int count_temp_files(const char *d)
{
    DIR *dp = opendir(d);
    if (!dp)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(dp);
    return n;
}

static void test_atomic_write(void)
{
    float x[2] = {1, 2};
    cnn_shape s = {1, {2}};
    TU_CHECK(count_temp_files(dir) == 0, "temporary files left after the writes above");

    const char *p = path_of("no_such_dir/x.npy");
    expect_fail(cnn_npy_write_f32(p, &s, x), CNN_ERR_IO, p, "No such file",
                "write into a missing folder");
    struct stat sb;
    TU_CHECK(stat(path_of("no_such_dir"), &sb) != 0, "a failing write created its folder");

    /* The target is a folder: rename fails after the data was written; the
     * temporary file must go and the folder stay as it was. */
    p = path_of("is_a_dir.npy");
    mkdir(p, 0755);
    expect_fail(cnn_npy_write_f32(p, &s, x), CNN_ERR_IO, p, "rename", "write over a folder");
    TU_CHECK(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode), "the folder was replaced");
    TU_CHECK(count_temp_files(dir) == 0, "a failing write left its temporary file behind");
    rmdir(p);

    p = path_of("bad_shape.npy");
    expect_fail(cnn_npy_write_f32(p, &(cnn_shape){1, {-2}}, x), CNN_ERR_INVALID_ARG, p, "negative",
                "negative dimension");
    expect_fail(cnn_npy_write_f32(p, &(cnn_shape){5, {1, 1, 1, 1}}, x), CNN_ERR_INVALID_ARG, p,
                "5 dimensions", "5 dimensions");
    TU_CHECK(stat(p, &sb) != 0, "an invalid write created its file");

    /* A file in the working directory (no folder in the name). */
    char cwd[512];
    if (getcwd(cwd, sizeof cwd) && chdir(dir) == 0) {
        TU_CHECK(cnn_npy_write_f32("plain.npy", &s, x) == CNN_OK, "write plain.npy: %s",
                 cnn_last_error());
        TU_CHECK(stat("plain.npy", &sb) == 0 && (sb.st_mode & 0777) == 0644,
                 "plain.npy missing or not 0644");
        TU_CHECK(chdir(cwd) == 0, "chdir back");
    }
    TU_CHECK(count_temp_files(dir) == 0, "temporary files left behind");
}

/* ---- the one atomic writer (atomic_file.h) and the result writers on it - */

/* The whole file, or "<missing>". */
static const char *contents(const char *path)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "<missing>");
    if (tu_exists(path))
        tu_slurp(path, buf, sizeof buf);
    return buf;
}

static cnn_status write_text(const char *path, const char *text)
{
    cnn_atomic_file af;
    cnn_status st = cnn_atomic_open(&af, path);
    if (st != CNN_OK)
        return st;
    fputs(text, af.f);
    return cnn_atomic_commit(&af);
}

static void test_writer_commit(void)
{
    const char *p = path_of("a.txt");
    cnn_atomic_file af;
    TU_EXPECT_OK(cnn_atomic_open(&af, p));
    TU_CHECK(af.f != NULL, "open gave no stream");
    fputs("first line\nsecond line\n", af.f);
    /* Until the commit the data sits in a temporary file, not the target. */
    TU_CHECK(!tu_exists(p), "the target exists before the commit");
    TU_CHECK(count_temp_files(dir) == 1, "%d temporary files while writing, expected 1",
             count_temp_files(dir));
    TU_EXPECT_OK(cnn_atomic_commit(&af));
    TU_CHECK(af.f == NULL && af.tmp == NULL && af.path == NULL, "commit did not release af");
    TU_CHECK(!strcmp(contents(p), "first line\nsecond line\n"), "committed file holds '%s'",
             contents(p));
    struct stat sb;
    TU_CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0644, "committed file is not 0644");
    TU_CHECK(count_temp_files(dir) == 0, "a commit left its temporary file behind");
}

static void test_writer_replace_and_abort(void)
{
    const char *p = path_of("r.txt");
    char longer[2048];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    TU_EXPECT_OK(write_text(p, longer));

    /* A reader that opened the old file keeps reading the old file: the new
     * one replaces it by rename, not by rewriting it in place. */
    FILE *reader = fopen(p, "rb");
    TU_EXPECT_OK(write_text(p, "short\n"));
    TU_CHECK(!strcmp(contents(p), "short\n"), "the replaced file holds '%.20s...', not 'short'",
             contents(p));
    struct stat sb;
    TU_CHECK(stat(p, &sb) == 0 && sb.st_size == 6, "the replaced file has %lld bytes, expected 6",
             (long long)sb.st_size);
    char old[16] = "";
    TU_CHECK(reader && fread(old, 1, 5, reader) == 5 && !strncmp(old, "xxxxx", 5),
             "a reader of the old file saw '%s'", old);
    if (reader)
        fclose(reader);

    cnn_atomic_file af;
    TU_EXPECT_OK(cnn_atomic_open(&af, p));
    fputs("half-written", af.f);
    cnn_atomic_abort(&af);
    TU_CHECK(af.f == NULL && af.tmp == NULL, "abort did not release af");
    TU_CHECK(!strcmp(contents(p), "short\n"), "abort changed the old file to '%s'", contents(p));
    TU_CHECK(count_temp_files(dir) == 0, "an abort left its temporary file behind");
    cnn_atomic_abort(&af); /* released: a no-op */

    /* finish: OK commits; anything else aborts and keeps the caller's reason. */
    TU_EXPECT_OK(cnn_atomic_open(&af, p));
    fputs("not kept\n", af.f);
    cnn_fail(CNN_ERR_INVALID_ARG, "the caller's reason");
    cnn_status st = cnn_atomic_finish(&af, CNN_ERR_INVALID_ARG);
    TU_CHECK(st == CNN_ERR_INVALID_ARG && !strcmp(cnn_last_error(), "the caller's reason"),
             "finish on a failure returned %s '%s'", cnn_status_str(st), cnn_last_error());
    TU_CHECK(!strcmp(contents(p), "short\n"), "a failed finish changed the file to '%s'",
             contents(p));
    TU_EXPECT_OK(cnn_atomic_open(&af, p));
    fputs("kept\n", af.f);
    TU_EXPECT_OK(cnn_atomic_finish(&af, CNN_OK));
    TU_CHECK(!strcmp(contents(p), "kept\n"), "finish on OK left '%s'", contents(p));
    TU_CHECK(count_temp_files(dir) == 0, "finish left a temporary file behind");
}

static void test_writer_failures(void)
{
    cnn_atomic_file af;
    const char *p = path_of("no_such_dir/x.txt");
    expect_fail(cnn_atomic_open(&af, p), CNN_ERR_IO, p, "No such file", "missing folder");
    TU_CHECK(af.f == NULL && af.tmp == NULL, "a failed open left af set");
    /* a failed open leaves af zeroed: abort and finish are harmless */
    cnn_atomic_abort(&af);
    TU_CHECK(cnn_atomic_finish(&af, CNN_ERR_IO) == CNN_ERR_IO, "finish changed the status");

    /* A folder that is a regular file. */
    TU_EXPECT_OK(write_text(path_of("plain"), "not a folder\n"));
    p = path_of("plain/x.txt");
    expect_fail(cnn_atomic_open(&af, p), CNN_ERR_IO, p, "Not a directory", "file as folder");

    /* A folder without write permission (root writes anyway: not checked). */
    const char *ro = path_of("ro");
    mkdir(ro, 0755);
    chmod(ro, 0555);
    if (access(ro, W_OK) != 0) {
        p = path_of("ro/x.txt");
        expect_fail(cnn_atomic_open(&af, p), CNN_ERR_IO, p, "Permission denied",
                    "read-only folder");
    } else {
        printf("  (running as root: the read-only folder check is skipped)\n");
    }
    chmod(ro, 0755);
    rmdir(ro);

    expect_fail(cnn_atomic_open(&af, ""), CNN_ERR_INVALID_ARG, "", "empty file name", "empty");
    TU_CHECK(cnn_atomic_commit(&af) != CNN_OK, "a commit without an open file succeeded");
}

/* An all-or-nothing CSV goes through the atomic writer; a streamed one has
 * each row in the file as soon as it is written, makes no temporary file,
 * and never writes over an existing file. */
static void test_result_writers(void)
{
    const char *p = path_of("r.csv");
    report_csv *csv = NULL;
    TU_EXPECT_OK(report_csv_open(p, "a,b", &csv));
    const char *row[2] = {"1", "x,y"};
    TU_EXPECT_OK(report_csv_row(csv, 2, row));
    TU_CHECK(!tu_exists(p), "the CSV exists before it is closed");
    TU_EXPECT_OK(report_csv_close(csv, true));
    TU_CHECK(!strcmp(contents(p), "a,b\n1,\"x,y\"\n"), "CSV holds '%s'", contents(p));
    TU_EXPECT_OK(report_csv_open(p, "c", &csv));
    TU_EXPECT_OK(report_csv_close(csv, false));
    TU_CHECK(!strcmp(contents(p), "a,b\n1,\"x,y\"\n"), "a discarded CSV changed the file");
    const char *bad = path_of("no_such_dir/r.csv");
    expect_fail(report_csv_open(bad, "a", &csv), CNN_ERR_IO, bad, "No such file", "CSV folder");
    TU_CHECK(csv == NULL, "a failed CSV open returned a handle");

    p = path_of("s.csv");
    TU_EXPECT_OK(report_csv_stream(p, "a,b", &csv));
    TU_CHECK(!strcmp(contents(p), "a,b\n"), "streamed CSV: header not written through: '%s'",
             contents(p));
    if (csv)
        TU_EXPECT_OK(report_csv_row(csv, 2, row));
    TU_CHECK(!strcmp(contents(p), "a,b\n1,\"x,y\"\n"),
             "streamed CSV: the row is not in the file before close: '%s'", contents(p));
    TU_CHECK(count_temp_files(dir) == 0, "a streamed CSV made a temporary file");
    TU_EXPECT_OK(report_csv_close(csv, false));
    TU_CHECK(!strcmp(contents(p), "a,b\n1,\"x,y\"\n"), "closing a streamed CSV lost rows");
    expect_fail(report_csv_stream(p, "c", &csv), CNN_ERR_IO, p, "File exists",
                "streamed CSV over an existing file");
    TU_CHECK(csv == NULL && !strcmp(contents(p), "a,b\n1,\"x,y\"\n"),
             "a refused stream changed the file");

    /* JSON strings: quotes, backslashes and control bytes escaped */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    report_json j = {.f = f};
    report_json_str(&j, "a", "q\"b\\n\nt\x01");
    report_json_raw(&j, "n", "%d", 2);
    report_json_str(&j, "z", NULL);
    fclose(f);
    TU_CHECK(buf &&
                 !strcmp(buf, "\"a\": \"q\\\"b\\\\n\\u000at\\u0001\",\n  \"n\": 2,\n  \"z\": null"),
             "JSON members: '%s'", buf ? buf : "");
    free(buf);
    TU_CHECK(count_temp_files(dir) == 0, "the result writers left temporary files behind");
}

static void remove_tree(const char *d)
{
    DIR *dp = opendir(d);
    if (!dp)
        return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        if (unlink(p) != 0)
            remove_tree(p);
    }
    closedir(dp);
    rmdir(d);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/test_npy.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trips();
    test_header_variants();
    test_bad_files();
    test_labels();
    test_atomic_write();
    test_writer_commit();
    test_writer_replace_and_abort();
    test_writer_failures();
    test_result_writers();
    remove_tree(dir);
    return tu_finish("test_npy");
}
