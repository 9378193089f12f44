#include "data_idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CNN_HAVE_ZLIB
#include <zlib.h>
#endif

static const char *type_name(unsigned code)
{
    switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "not an IDX type";
    }
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

cnn_status cnn_idx_parse(const uint8_t *buf, size_t n, const char *name, int want_ndim,
                         cnn_idx *out)
{
    memset(out, 0, sizeof *out);
    if (want_ndim < 1 || want_ndim > CNN_IDX_MAX_DIMS)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: asked for %d dimensions; 1 to %d supported", name,
                        want_ndim, CNN_IDX_MAX_DIMS);
    uint32_t want_magic = 0x800u | (uint32_t)want_ndim;
    if (n == 0)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: empty file (0 bytes), expected an IDX header",
                        name);
    if (n < 4)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: header truncated: %zu bytes, the IDX magic alone is 4", name, n);
    uint32_t magic = be32(buf);
    if (buf[0] != 0 || buf[1] != 0)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: bad magic 0x%08x, expected 0x%08x (not an IDX file%s)", name, magic,
                        want_magic, buf[0] == 0x1f && buf[1] == 0x8b ? "; gzip'd?" : "");
    if (buf[2] != 0x08)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: type code 0x%02x (%s), expected 0x08 (unsigned byte)", name, buf[2],
                        type_name(buf[2]));
    if (buf[3] != want_ndim)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: magic 0x%08x has %u dimensions, expected %d (magic 0x%08x)", name,
                        magic, buf[3], want_ndim, want_magic);
    size_t header = 4 + 4 * (size_t)want_ndim;
    if (n < header)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: header truncated: %zu bytes, a %d-dimensional header is %zu", name, n,
                        want_ndim, header);
    uint64_t count = 1;
    for (int d = 0; d < want_ndim; d++) {
        out->dims[d] = be32(buf + 4 + 4 * d);
        /* count <= MAX_ELEMS (2^28) and dims < 2^32: the product fits in 64 bits. */
        count *= out->dims[d];
        if (count > CNN_IDX_MAX_ELEMS)
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "%s: dimensions exceed %llu elements (dimension %d is %u)", name,
                            (unsigned long long)CNN_IDX_MAX_ELEMS, d, out->dims[d]);
    }
    size_t body = n - header;
    if (body < count)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: truncated: the header says %llu bytes of data, the file has %zu", name,
                        (unsigned long long)count, body);
    if (body > count)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: %zu trailing bytes after the %llu bytes of data the header says", name,
                        body - (size_t)count, (unsigned long long)count);
    out->ndim = want_ndim;
    out->count = (size_t)count;
    out->data = buf + header;
    return CNN_OK;
}

/* The largest file worth reading: the biggest header and body, plus one
 * byte so that the parser sees (and names) bytes beyond that. */
#define IDX_MAX_FILE (4 + 4 * CNN_IDX_MAX_DIMS + CNN_IDX_MAX_ELEMS + 1)

/* An open file and its name, for the reader's messages. */
typedef struct source {
    void *f; /* gzFile or FILE * */
    const char *path;
} source;

/* Read up to n bytes (0 at the end; -1 after recording the reason). */
typedef long (*read_fn)(const source *src, uint8_t *dst, size_t n);

/* The whole file, up to IDX_MAX_FILE bytes, into a malloc'd *out. */
static cnn_status slurp(const source *src, read_fn rd, uint8_t **out, size_t *n)
{
    const char *path = src->path;
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path, cap);
    for (;;) {
        if (len == cap) {
            if (cap >= IDX_MAX_FILE)
                break;
            size_t ncap = cap * 2 > IDX_MAX_FILE ? IDX_MAX_FILE : cap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path, ncap);
            }
            buf = nb;
            cap = ncap;
        }
        long got = rd(src, buf + len, cap - len);
        if (got < 0) {
            free(buf);
            return CNN_ERR_IO; /* rd recorded the reason */
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    *out = buf;
    *n = len;
    return CNN_OK;
}

#ifdef CNN_HAVE_ZLIB
static long gz_read(const source *src, uint8_t *dst, size_t n)
{
    gzFile f = src->f;
    unsigned chunk = n > (1u << 30) ? 1u << 30 : (unsigned)n;
    int got = gzread(f, dst, chunk);
    if (got < 0) {
        int code;
        const char *why = gzerror(f, &code);
        cnn_fail(CNN_ERR_IO, "%s: gzip data corrupt or truncated: %s", src->path, why);
        return -1;
    }
    if (got == 0) {
        /* gzread returns 0 both at the end and after a truncated stream. */
        int code;
        const char *why = gzerror(f, &code);
        if (code != Z_OK) {
            cnn_fail(CNN_ERR_IO, "%s: gzip data corrupt or truncated: %s", src->path, why);
            return -1;
        }
    }
    return got;
}

bool cnn_idx_have_zlib(void)
{
    return true;
}

static cnn_status read_file(const char *path, uint8_t **buf, size_t *n)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return cnn_fail(CNN_ERR_IO, "cannot open %s: %s", path,
                        errno ? strerror(errno) : "out of memory");
    source src = {f, path};
    cnn_status st = slurp(&src, gz_read, buf, n);
    gzclose(f);
    return st;
}
#else
static long std_read(const source *src, uint8_t *dst, size_t n)
{
    size_t got = fread(dst, 1, n, src->f);
    if (got == 0 && ferror((FILE *)src->f)) {
        cnn_fail(CNN_ERR_IO, "cannot read %s: %s", src->path, strerror(errno));
        return -1;
    }
    return (long)got;
}

bool cnn_idx_have_zlib(void)
{
    return false;
}

static cnn_status read_file(const char *path, uint8_t **buf, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cnn_fail(CNN_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    source src = {f, path};
    cnn_status st = slurp(&src, std_read, buf, n);
    fclose(f);
    if (st == CNN_OK && *n >= 2 && (*buf)[0] == 0x1f && (*buf)[1] == 0x8b) {
        free(*buf);
        *buf = NULL;
        return cnn_fail(CNN_ERR_UNSUPPORTED,
                        "%s is gzip-compressed, but this build has no zlib (install zlib1g-dev "
                        "and configure with CNN_WITH_ZLIB=ON, or gunzip the file)",
                        path);
    }
    return st;
}
#endif

cnn_status cnn_idx_read(const char *path, int want_ndim, cnn_idx *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *buf = NULL;
    size_t n = 0;
    errno = 0;
    cnn_status st = read_file(path, &buf, &n);
    if (st != CNN_OK)
        return st;
    st = cnn_idx_parse(buf, n, path, want_ndim, out);
    if (st != CNN_OK) {
        free(buf);
        memset(out, 0, sizeof *out);
        return st;
    }
    out->owned = buf;
    return CNN_OK;
}

void cnn_idx_free(cnn_idx *a)
{
    free(a->owned);
    memset(a, 0, sizeof *a);
}
