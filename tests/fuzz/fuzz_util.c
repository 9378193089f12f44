#define _XOPEN_SOURCE 700
#include "fuzz_util.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

fuzz_verdict fuzz_last;

void fuzz_note(cnn_status st)
{
    fuzz_last.set = 1;
    fuzz_last.status = st;
    snprintf(fuzz_last.reason, sizeof fuzz_last.reason, "%s", st == CNN_OK ? "" : cnn_last_error());
}

void fuzz_mkdtemp(char *dir, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, n, "%s/cnn_fuzz_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "fuzz: cannot create a folder %s: %s\n", dir, strerror(errno));
        abort();
    }
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void fuzz_rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char scratch[4096];

static void remove_scratch(void)
{
    fuzz_rmtree(scratch);
}

const char *fuzz_scratch(void)
{
    if (!*scratch) {
        fuzz_mkdtemp(scratch, sizeof scratch);
        atexit(remove_scratch);
    }
    return scratch;
}

void fuzz_write(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
}

/* name (len bytes, not NUL-terminated) as a safe relative path into out:
 * printable characters, no empty, "." or ".." part. */
static int safe_name(const uint8_t *name, size_t len, char *out, size_t n)
{
    if (len == 0 || len >= n)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (name[i] < 0x20 || name[i] > 0x7e)
            return 0;
        out[i] = (char)name[i];
    }
    out[len] = '\0';
    for (char *part = out;;) {
        char *slash = strchr(part, '/');
        size_t plen = slash ? (size_t)(slash - part) : strlen(part);
        if (plen == 0 || (plen == 1 && part[0] == '.') ||
            (plen == 2 && part[0] == '.' && part[1] == '.'))
            return 0;
        if (!slash)
            return 1;
        part = slash + 1;
    }
}

int fuzz_unpack(const uint8_t *data, size_t size, const char *dir)
{
    if (size == 0)
        return 0;
    int variant = data[0];
    size_t at = 1;
    for (int files = 0; at < size && files < FUZZ_MAX_FILES; files++) {
        size_t nlen = data[at++];
        if (nlen > size - at)
            nlen = size - at;
        const uint8_t *name = data + at;
        at += nlen;
        uint32_t dlen = 0;
        for (int b = 0; b < 4 && at < size; b++)
            dlen |= (uint32_t)data[at++] << (8 * b);
        if (dlen > size - at)
            dlen = (uint32_t)(size - at);
        const uint8_t *body = data + at;
        at += dlen;
        char rel[256], path[4096];
        if (!safe_name(name, nlen, rel, sizeof rel))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        /* the parents of a name with '/' in it, then the file; a name that
         * collides with a folder (or a file with a folder's name) is skipped */
        for (char *s = path + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
            *s = '\0';
            mkdir(path, 0755);
            *s = '/';
        }
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            continue;
        FILE *f = fopen(path, "wb");
        if (!f)
            continue;
        if (dlen)
            fwrite(body, 1, dlen, f);
        fclose(f);
    }
    return variant;
}

cnn_model *fuzz_lenet5(int c, int batch, const cnn_optim_desc *d)
{
    cnn_model *m = NULL;
    cnn_model_opts o = {.batch = batch, .c = c};
    cnn_exec_opts e = {.backends = "naive", .threads = 1};
    cnn_status st = cnn_model_create("lenet5", &o, &m);
    if (st == CNN_OK)
        st = cnn_model_bind(m, &e);
    if (st == CNN_OK)
        st = cnn_model_init_params(m, 1);
    if (st == CNN_OK && d)
        st = cnn_model_optimizer_init(m, d);
    if (st != CNN_OK) {
        fprintf(stderr, "fuzz: lenet5 c=%d batch=%d: %s\n", c, batch, cnn_last_error());
        abort();
    }
    return m;
}
