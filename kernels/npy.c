#include "npy.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"

static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* A header longer than this is not something numpy writes for <= 4 dims; the
 * cap keeps a corrupt length field from allocating gigabytes. */
#define HEADER_MAX (1 << 20)

const char *cnn_dtype_str(cnn_dtype t)
{
    static const char *const names[CNN_DTYPE_COUNT] = {
        [CNN_DTYPE_F32] = "<f4",
        [CNN_DTYPE_I64] = "<i8",
        [CNN_DTYPE_I32] = "<i4",
        [CNN_DTYPE_U8] = "|u1",
    };
    return (unsigned)t < CNN_DTYPE_COUNT ? names[t] : "?";
}

size_t cnn_dtype_size(cnn_dtype t)
{
    static const size_t sizes[CNN_DTYPE_COUNT] = {
        [CNN_DTYPE_F32] = 4, [CNN_DTYPE_I64] = 8, [CNN_DTYPE_I32] = 4, [CNN_DTYPE_U8] = 1};
    return (unsigned)t < CNN_DTYPE_COUNT ? sizes[t] : 0;
}

void cnn_npy_free(cnn_npy *a)
{
    if (!a)
        return;
    free(a->data);
    a->data = NULL;
}

/* ---- header parsing ----------------------------------------------------
 * The header is a Python dict literal as written by repr(): string keys in
 * single or double quotes, any order, any whitespace, optional trailing
 * comma. Only the three keys numpy defines are accepted. */

typedef struct parser {
    const char *p, *end;
    const char *path;
} parser;

typedef struct header {
    char descr[32];
    bool fortran;
    int ndim;
    int64_t dim[CNN_MAX_DIMS];
    bool seen_descr, seen_fortran, seen_shape;
} header;

static cnn_status malformed(const parser *ps, const char *what)
{
    return cnn_fail(CNN_ERR_INVALID_ARG, "%s: malformed .npy header: %s", ps->path, what);
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && isspace((unsigned char)*ps->p))
        ps->p++;
}

static bool eat(parser *ps, char c)
{
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return true;
    }
    return false;
}

static bool parse_string(parser *ps, char *out, size_t n)
{
    skip_ws(ps);
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"'))
        return false;
    char q = *ps->p++;
    size_t len = 0;
    while (ps->p < ps->end && *ps->p != q) {
        /* Keys and dtypes are plain ASCII; anything else is not echoed into
         * a message. */
        if (len + 1 >= n || *ps->p < 0x20 || *ps->p > 0x7e)
            return false;
        out[len++] = *ps->p++;
    }
    if (ps->p >= ps->end)
        return false;
    ps->p++;
    out[len] = '\0';
    return true;
}

static bool parse_word(parser *ps, const char *word)
{
    skip_ws(ps);
    size_t len = strlen(word);
    if ((size_t)(ps->end - ps->p) < len || strncmp(ps->p, word, len) != 0)
        return false;
    const char *after = ps->p + len;
    if (after < ps->end && (isalnum((unsigned char)*after) || *after == '_'))
        return false;
    ps->p = after;
    return true;
}

static cnn_status parse_shape(parser *ps, header *h)
{
    int64_t dims[CNN_MAX_DIMS + 1];
    int ndim = 0;
    if (!eat(ps, '('))
        return malformed(ps, "'shape' must be a tuple such as (2, 3) or ()");
    for (;;) {
        if (eat(ps, ')'))
            break;
        skip_ws(ps);
        if (ps->p >= ps->end || !isdigit((unsigned char)*ps->p))
            return malformed(ps, "'shape' must hold non-negative integers");
        int64_t v = 0;
        while (ps->p < ps->end && isdigit((unsigned char)*ps->p)) {
            int digit = *ps->p++ - '0';
            if (v > (INT64_MAX - digit) / 10)
                return cnn_fail(CNN_ERR_INVALID_ARG, "%s: shape dimension %d is too large",
                                ps->path, ndim);
            v = v * 10 + digit;
        }
        if (ps->p < ps->end && *ps->p == 'L') /* Python 2's long literals */
            ps->p++;
        if (ndim < CNN_MAX_DIMS + 1)
            dims[ndim] = v;
        ndim++;
        /* (3) is an int in Python, not a tuple: a 1-tuple needs its comma. */
        if (eat(ps, ','))
            continue;
        if (!eat(ps, ')') || ndim == 1)
            return malformed(ps, "'shape' must be a tuple such as (3,) or (2, 3)");
        break;
    }
    if (ndim > CNN_MAX_DIMS)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: array has %d dimensions, at most %d are supported", ps->path, ndim,
                        CNN_MAX_DIMS);
    h->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        h->dim[i] = dims[i];
    return CNN_OK;
}

static cnn_status parse_header(parser *ps, header *h)
{
    memset(h, 0, sizeof *h);
    if (!eat(ps, '{'))
        return malformed(ps, "expected a dict starting with '{'");
    for (;;) {
        if (eat(ps, '}'))
            break;
        char key[32];
        if (!parse_string(ps, key, sizeof key))
            return malformed(ps, "expected a quoted key");
        if (!eat(ps, ':'))
            return malformed(ps, "expected ':' after a key");
        if (strcmp(key, "descr") == 0) {
            if (h->seen_descr)
                return malformed(ps, "key 'descr' given twice");
            h->seen_descr = true;
            if (!parse_string(ps, h->descr, sizeof h->descr))
                return malformed(ps, "'descr' must be a simple dtype string such as '<f4' "
                                     "(structured arrays are not supported)");
        } else if (strcmp(key, "fortran_order") == 0) {
            if (h->seen_fortran)
                return malformed(ps, "key 'fortran_order' given twice");
            h->seen_fortran = true;
            if (parse_word(ps, "True"))
                h->fortran = true;
            else if (parse_word(ps, "False"))
                h->fortran = false;
            else
                return malformed(ps, "'fortran_order' must be True or False");
        } else if (strcmp(key, "shape") == 0) {
            if (h->seen_shape)
                return malformed(ps, "key 'shape' given twice");
            h->seen_shape = true;
            cnn_status st = parse_shape(ps, h);
            if (st != CNN_OK)
                return st;
        } else {
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "%s: malformed .npy header: unknown key '%s' (expected 'descr', "
                            "'fortran_order', 'shape')",
                            ps->path, key);
        }
        if (eat(ps, ','))
            continue;
        if (eat(ps, '}'))
            break;
        return malformed(ps, "expected ',' or '}' after a value");
    }
    skip_ws(ps);
    if (ps->p != ps->end)
        return malformed(ps, "unexpected text after the closing '}'");
    if (!h->seen_descr || !h->seen_fortran || !h->seen_shape)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: malformed .npy header: missing key '%s'",
                        ps->path,
                        !h->seen_descr     ? "descr"
                        : !h->seen_fortran ? "fortran_order"
                                           : "shape");
    return CNN_OK;
}

/* '|u1' is what numpy writes for uint8; '<u1' is the same dtype spelled with
 * an irrelevant byte order, so both are accepted. */
static bool dtype_from_descr(const char *descr, cnn_dtype *t)
{
    static const struct {
        const char *descr;
        cnn_dtype t;
    } known[] = {{"<f4", CNN_DTYPE_F32},
                 {"<i8", CNN_DTYPE_I64},
                 {"<i4", CNN_DTYPE_I32},
                 {"|u1", CNN_DTYPE_U8},
                 {"<u1", CNN_DTYPE_U8}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(descr, known[i].descr) == 0) {
            *t = known[i].t;
            return true;
        }
    return false;
}

/* What the caller wants, for the dtype error: any supported dtype, float32
 * only, or integer labels only. */
typedef enum want { WANT_ANY, WANT_F32, WANT_INT } want;

static cnn_status check_dtype(const char *path, const char *descr, want w, cnn_dtype *t)
{
    if (descr[0] == '>' && (strcmp(descr + 1, "f4") == 0 || strcmp(descr + 1, "i8") == 0 ||
                            strcmp(descr + 1, "i4") == 0))
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: dtype '%s' is big-endian, only little-endian is supported "
                        "(np.save(path, a.astype(a.dtype.newbyteorder('<'))))",
                        path, descr);
    bool ok = dtype_from_descr(descr, t);
    if (w == WANT_F32 && (!ok || *t != CNN_DTYPE_F32))
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: dtype '%s' is not supported, expected float32 '<f4' "
                        "(np.save(path, a.astype(np.float32)))",
                        path, descr);
    if (w == WANT_INT && (!ok || *t == CNN_DTYPE_F32))
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: dtype '%s' is not supported for labels, expected int64 '<i8', "
                        "int32 '<i4' or uint8 '|u1' (np.save(path, a.astype(np.int64)))",
                        path, descr);
    if (!ok)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: dtype '%s' is not supported, expected float32 '<f4', int64 '<i8', "
                        "int32 '<i4' or uint8 '|u1'",
                        path, descr);
    return CNN_OK;
}

/* ---- reading ------------------------------------------------------------ */

static cnn_status io_error(const char *path, const char *what, int err)
{
    return cnn_fail(CNN_ERR_IO, "%s: %s: %s", path, what, strerror(err));
}

/* Read the preamble and header; leaves f at the first byte of the data. */
static cnn_status read_header(FILE *f, const char *path, want w, cnn_dtype *dtype, cnn_shape *shape,
                              size_t *data_offset)
{
    unsigned char pre[12];
    size_t got = fread(pre, 1, 8, f);
    if (ferror(f))
        return io_error(path, "cannot read", errno);
    if (got < sizeof magic || memcmp(pre, magic, sizeof magic) != 0)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: not a .npy file (it does not start with \\x93NUMPY)", path);
    if (got < 8)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: truncated: the file ends inside the header",
                        path);
    int major = pre[6], minor = pre[7];
    size_t len_bytes;
    if (major == 1 && minor == 0)
        len_bytes = 2;
    else if ((major == 2 || major == 3) && minor == 0)
        len_bytes = 4;
    else
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: unsupported .npy format version %d.%d (expected 1.0, 2.0 or 3.0)",
                        path, major, minor);
    if (fread(pre + 8, 1, len_bytes, f) != len_bytes)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: truncated: the file ends inside the header",
                        path);
    uint32_t hlen = len_bytes == 2 ? (uint32_t)pre[8] | (uint32_t)pre[9] << 8
                                   : (uint32_t)pre[8] | (uint32_t)pre[9] << 8 |
                                         (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    if (hlen > HEADER_MAX)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: malformed .npy header: header length %u is larger than %d bytes", path,
                        (unsigned)hlen, HEADER_MAX);
    char *text = malloc(hlen ? hlen : 1);
    if (!text)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory for a %u-byte header", path,
                        (unsigned)hlen);
    if (fread(text, 1, hlen, f) != hlen) {
        free(text);
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: truncated: the file ends inside the %u-byte header", path,
                        (unsigned)hlen);
    }
    parser ps = {text, text + hlen, path};
    header h;
    cnn_status st = parse_header(&ps, &h);
    free(text);
    if (st != CNN_OK)
        return st;
    st = check_dtype(path, h.descr, w, dtype);
    if (st != CNN_OK)
        return st;
    if (h.fortran)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: fortran_order is True, only C order is supported "
                        "(np.save(path, np.ascontiguousarray(a)))",
                        path);
    shape->ndim = h.ndim;
    for (int i = 0; i < CNN_MAX_DIMS; i++)
        shape->dim[i] = i < h.ndim ? h.dim[i] : 0;
    *data_offset = 8 + len_bytes + hlen;
    return CNN_OK;
}

/* Bytes of data the shape implies, or an error when that overflows. */
static cnn_status data_bytes(const char *path, cnn_dtype t, const cnn_shape *s, size_t *bytes)
{
    size_t n = cnn_dtype_size(t);
    for (int i = 0; i < s->ndim; i++) {
        uint64_t d = (uint64_t)s->dim[i];
        if (d != 0 && n > (SIZE_MAX / 2) / d) {
            char buf[128];
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "%s: shape %s is absurd: its size in bytes overflows", path,
                            cnn_shape_str(s, buf, sizeof buf));
        }
        n *= (size_t)d;
    }
    /* Any zero dimension makes an empty array, whatever the others are. */
    for (int i = 0; i < s->ndim; i++)
        if (s->dim[i] == 0)
            n = 0;
    *bytes = n;
    return CNN_OK;
}

static cnn_status read_file(const char *path, want w, cnn_npy *out)
{
    memset(out, 0, sizeof *out);
    if (!path || !*path)
        return cnn_fail(CNN_ERR_INVALID_ARG, "npy: empty file name");
    FILE *f = fopen(path, "rb");
    if (!f)
        return io_error(path, "cannot open", errno);
    cnn_status st = CNN_OK;
    void *data = NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        st = io_error(path, "cannot stat", errno);
        goto done;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = cnn_fail(CNN_ERR_IO, "%s: is a directory, expected a .npy file", path);
        goto done;
    }
    size_t offset = 0, bytes = 0;
    st = read_header(f, path, w, &out->dtype, &out->shape, &offset);
    if (st == CNN_OK)
        st = data_bytes(path, out->dtype, &out->shape, &bytes);
    if (st != CNN_OK)
        goto done;
    /* For a regular file the size is known: check it before allocating, so
     * that a corrupt shape never asks for gigabytes. */
    if (S_ISREG(sb.st_mode)) {
        uint64_t have = (uint64_t)sb.st_size > offset ? (uint64_t)sb.st_size - offset : 0;
        if (have < bytes) {
            st = cnn_fail(CNN_ERR_INVALID_ARG,
                          "%s: truncated: expected %zu bytes of data, found %llu", path, bytes,
                          (unsigned long long)have);
            goto done;
        }
        if (have > bytes) {
            st =
                cnn_fail(CNN_ERR_INVALID_ARG,
                         "%s: %llu bytes of trailing garbage after the data (expected %zu "
                         "bytes of data, found %llu)",
                         path, (unsigned long long)(have - bytes), bytes, (unsigned long long)have);
            goto done;
        }
    }
    data = malloc(bytes ? bytes : 1);
    if (!data) {
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory for %zu bytes of data", path, bytes);
        goto done;
    }
    size_t got = fread(data, 1, bytes, f);
    if (got != bytes) {
        st = ferror(f) ? io_error(path, "cannot read", errno)
                       : cnn_fail(CNN_ERR_INVALID_ARG,
                                  "%s: truncated: expected %zu bytes of data, found %zu", path,
                                  bytes, got);
        goto done;
    }
    if (fgetc(f) != EOF) {
        st = cnn_fail(CNN_ERR_INVALID_ARG, "%s: trailing garbage after %zu bytes of data", path,
                      bytes);
        goto done;
    }
    out->data = data;
    data = NULL;
done:
    free(data);
    fclose(f);
    return st;
}

cnn_status cnn_npy_read(const char *path, cnn_npy *out)
{
    return read_file(path, WANT_ANY, out);
}

cnn_status cnn_npy_read_f32(const char *path, cnn_shape *shape, float **data)
{
    *data = NULL;
    cnn_npy a;
    cnn_status st = read_file(path, WANT_F32, &a);
    if (st != CNN_OK)
        return st;
    *shape = a.shape;
    *data = a.data;
    return CNN_OK;
}

cnn_status cnn_npy_read_labels(const char *path, int classes, int64_t *count, int32_t **labels)
{
    *count = 0;
    *labels = NULL;
    cnn_npy a;
    cnn_status st = read_file(path, WANT_INT, &a);
    if (st != CNN_OK)
        return st;
    if (a.shape.ndim != 1) {
        char buf[128];
        cnn_npy_free(&a);
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: labels must be a 1-d array, got shape %s", path,
                        cnn_shape_str(&a.shape, buf, sizeof buf));
    }
    int64_t n = a.shape.dim[0];
    int32_t *out = malloc(n ? (size_t)n * sizeof *out : 1);
    if (!out) {
        cnn_npy_free(&a);
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory for %lld labels", path, (long long)n);
    }
    int64_t lo = classes > 0 ? 0 : INT32_MIN, hi = classes > 0 ? classes - 1 : INT32_MAX;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = a.dtype == CNN_DTYPE_I64   ? ((const int64_t *)a.data)[i]
                    : a.dtype == CNN_DTYPE_I32 ? ((const int32_t *)a.data)[i]
                                               : ((const uint8_t *)a.data)[i];
        if (v < lo || v > hi) {
            free(out);
            cnn_npy_free(&a);
            if (classes > 0)
                return cnn_fail(CNN_ERR_INVALID_ARG,
                                "%s: label at index %lld is %lld, expected a class in [0, %d)",
                                path, (long long)i, (long long)v, classes);
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "%s: label at index %lld is %lld, which does not fit in int32", path,
                            (long long)i, (long long)v);
        }
        out[i] = (int32_t)v;
    }
    cnn_npy_free(&a);
    *count = n;
    *labels = out;
    return CNN_OK;
}

/* ---- writing ------------------------------------------------------------ */

/* The header exactly as numpy 1.24 writes it: the dict, spare room for the
 * first dimension to grow to 21 digits, spaces up to a 64-byte boundary of
 * the whole preamble, and '\n'. Returns the total length (preamble included)
 * or 0 when it does not fit. */
static size_t format_header(char *buf, size_t n, cnn_dtype t, const cnn_shape *s)
{
    char dict[256], dims[160] = "";
    size_t used = 0;
    for (int i = 0; i < s->ndim; i++)
        used += (size_t)snprintf(dims + used, sizeof dims - used, "%s%lld", i ? ", " : "",
                                 (long long)s->dim[i]);
    if (s->ndim == 1)
        snprintf(dims + used, sizeof dims - used, ",");
    int len =
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                 cnn_dtype_str(t), dims);
    if (s->ndim > 0) {
        char first[24];
        int digits = snprintf(first, sizeof first, "%lld", (long long)s->dim[0]);
        for (int i = digits; i < 21; i++)
            dict[len++] = ' ';
        dict[len] = '\0';
    }
    size_t hlen = (size_t)len + 1;
    size_t pad = 64 - (10 + hlen) % 64;
    size_t total = 10 + hlen + pad;
    if (total > n || total - 10 > 65535)
        return 0;
    memcpy(buf, magic, sizeof magic);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)((total - 10) & 0xff);
    buf[9] = (char)((total - 10) >> 8);
    memcpy(buf + 10, dict, (size_t)len);
    memset(buf + 10 + len, ' ', pad);
    buf[total - 1] = '\n';
    return total;
}

cnn_status cnn_npy_write(const char *path, cnn_dtype dtype, const cnn_shape *shape,
                         const void *data)
{
    if (!path || !*path)
        return cnn_fail(CNN_ERR_INVALID_ARG, "npy: empty file name");
    if ((unsigned)dtype >= CNN_DTYPE_COUNT)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: unknown dtype %d", path, (int)dtype);
    if (!shape || shape->ndim < 0 || shape->ndim > CNN_MAX_DIMS)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: %d dimensions, expected 0 to %d", path,
                        shape ? shape->ndim : -1, CNN_MAX_DIMS);
    for (int i = 0; i < shape->ndim; i++)
        if (shape->dim[i] < 0)
            return cnn_fail(CNN_ERR_INVALID_ARG, "%s: dimension %d is negative (%lld)", path, i,
                            (long long)shape->dim[i]);
    size_t bytes = 0;
    cnn_status st = data_bytes(path, dtype, shape, &bytes);
    if (st != CNN_OK)
        return st;
    if (bytes && !data)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: no data to write", path);
    char head[512];
    size_t hbytes = format_header(head, sizeof head, dtype, shape);
    if (!hbytes)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: header too long", path);

    cnn_atomic_file af;
    st = cnn_atomic_open(&af, path);
    if (st != CNN_OK)
        return st;
    if (fwrite(head, 1, hbytes, af.f) != hbytes || (bytes && fwrite(data, 1, bytes, af.f) != bytes))
        st = io_error(path, "cannot write", errno);
    return cnn_atomic_finish(&af, st);
}

cnn_status cnn_npy_write_f32(const char *path, const cnn_shape *shape, const float *data)
{
    return cnn_npy_write(path, CNN_DTYPE_F32, shape, data);
}
