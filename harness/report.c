#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"

struct report_csv {
    cnn_atomic_file af; /* all or nothing */
    FILE *stream;       /* streamed: rows go straight to the file */
    char path[4096];
};

static FILE *csv_file(const report_csv *c)
{
    return c->stream ? c->stream : c->af.f;
}

cnn_status report_csv_open(const char *path, const char *header, report_csv **out)
{
    *out = NULL;
    report_csv *c = calloc(1, sizeof *c);
    if (!c)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", path);
    cnn_status st = cnn_atomic_open(&c->af, path);
    if (st != CNN_OK) {
        free(c);
        return st;
    }
    snprintf(c->path, sizeof c->path, "%s", path);
    fprintf(c->af.f, "%s\n", header);
    *out = c;
    return CNN_OK;
}

cnn_status report_csv_stream(const char *path, const char *header, report_csv **out)
{
    *out = NULL;
    report_csv *c = calloc(1, sizeof *c);
    if (!c)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", path);
    snprintf(c->path, sizeof c->path, "%s", path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0 || !(c->stream = fdopen(fd, "w"))) {
        cnn_status st = cnn_fail(CNN_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(c);
        return st;
    }
    /* whole rows: the buffer is empty when a row starts and flushed when it
     * ends, so each row reaches the file in one write */
    fprintf(c->stream, "%s\n", header);
    if (fflush(c->stream) != 0) {
        cnn_status st = cnn_fail(CNN_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        fclose(c->stream);
        free(c);
        return st;
    }
    *out = c;
    return CNN_OK;
}

static void put_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int report_csv_fields(FILE *f, int n, const char *const *fields)
{
    for (int i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        put_field(f, fields[i] ? fields[i] : "");
    }
    return fputc('\n', f);
}

cnn_status report_csv_row(report_csv *csv, int n, const char *const *fields)
{
    FILE *f = csv_file(csv);
    if (report_csv_fields(f, n, fields) == EOF || (csv->stream && fflush(f) != 0))
        return cnn_fail(CNN_ERR_IO, "%s: write failed: %s", csv->path, strerror(errno));
    return CNN_OK;
}

cnn_status report_csv_close(report_csv *csv, bool commit)
{
    if (!csv)
        return CNN_OK;
    cnn_status st = CNN_OK;
    if (csv->stream) {
        bool ok =
            fflush(csv->stream) == 0 && !ferror(csv->stream) && fsync(fileno(csv->stream)) == 0;
        int e = errno;
        if (fclose(csv->stream) != 0 || !ok)
            st = cnn_fail(CNN_ERR_IO, "%s: cannot write: %s", csv->path, strerror(ok ? errno : e));
    } else if (commit) {
        st = cnn_atomic_commit(&csv->af);
    } else {
        cnn_atomic_abort(&csv->af);
    }
    free(csv);
    return st;
}

/* ---- dimensions ---- */

void report_op_dims(const cnn_op *op, char f[REPORT_DIMS][24])
{
    long long v[REPORT_DIMS];
    for (int i = 0; i < REPORT_DIMS; i++)
        v[i] = -1;
    enum { N, C, H, W, K, R, S, P, Q, SH, SW, PH, PW };
    switch (op ? (int)op->kind : -1) {
    case CNN_OP_CONV: {
        const cnn_conv_desc *d = &op->conv;
        long long x[] = {d->n, d->c, d->h,        d->w,        d->k,     d->r,    d->s,
                         d->p, d->q, d->stride_h, d->stride_w, d->pad_h, d->pad_w};
        memcpy(v, x, sizeof x);
        break;
    }
    case CNN_OP_POOL: {
        const cnn_pool_desc *d = &op->pool;
        long long x[] = {d->n, d->c, d->h,        d->w,        -1,       d->kh,   d->kw,
                         d->p, d->q, d->stride_h, d->stride_w, d->pad_h, d->pad_w};
        memcpy(v, x, sizeof x);
        break;
    }
    case CNN_OP_ADAPOOL:
        v[N] = op->adapool.n, v[C] = op->adapool.c, v[H] = op->adapool.h, v[W] = op->adapool.w;
        v[P] = op->adapool.p, v[Q] = op->adapool.q;
        break;
    case CNN_OP_BN: v[N] = op->bn.n, v[C] = op->bn.c, v[H] = op->bn.h, v[W] = op->bn.w; break;
    case CNN_OP_LINEAR: v[N] = op->linear.n, v[C] = op->linear.in, v[K] = op->linear.out; break;
    case CNN_OP_XENT: v[N] = op->xent.n, v[C] = op->xent.classes; break;
    case CNN_OP_CONCAT:
        v[N] = op->concat.n, v[C] = op->concat.c_out, v[H] = op->concat.h, v[W] = op->concat.w;
        break;
    case CNN_OP_ACT: v[N] = op->act.count; break;
    case CNN_OP_DROPOUT: v[N] = op->dropout.count; break;
    case CNN_OP_ADD: v[N] = op->add.count; break;
    case CNN_OP_OPTIM: v[N] = op->optim.count; break;
    default: break;
    }
    for (int i = 0; i < REPORT_DIMS; i++) {
        f[i][0] = '\0';
        if (v[i] >= 0)
            snprintf(f[i], sizeof f[i], "%lld", v[i]);
    }
}

char *report_timestamp(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y%m%d-%H%M%S", &tm);
    return buf;
}

cnn_status report_mkdirs(const char *path)
{
    char buf[4096];
    if (!*path)
        return cnn_fail(CNN_ERR_INVALID_ARG, "empty folder name");
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            struct stat sb;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return cnn_fail(CNN_ERR_IO, "%s: cannot create folder: %s", buf, strerror(errno));
            if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
                return cnn_fail(CNN_ERR_IO, "%s: exists and is not a folder", buf);
            *p = c;
            if (!c)
                break;
        }
    }
    return CNN_OK;
}

/* ---- JSON ---- */

void report_json_string(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void report_json_key(report_json *j, const char *key)
{
    fputs(j->members++ ? ",\n  " : "", j->f);
    report_json_string(j->f, key);
    fputs(": ", j->f);
}

void report_json_str(report_json *j, const char *key, const char *value)
{
    report_json_key(j, key);
    report_json_string(j->f, value);
}

void report_json_raw(report_json *j, const char *key, const char *fmt, ...)
{
    report_json_key(j, key);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(j->f, fmt, ap);
    va_end(ap);
}
