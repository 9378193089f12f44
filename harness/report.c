#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct report_csv {
    FILE *f;
    char path[4096];
    char tmp[4096];
};

cnn_status report_csv_open(const char *path, const char *header, report_csv **out)
{
    *out = NULL;
    report_csv *c = calloc(1, sizeof *c);
    if (!c)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", path);
    if (snprintf(c->path, sizeof c->path, "%s", path) >= (int)sizeof c->path ||
        snprintf(c->tmp, sizeof c->tmp, "%s.tmpXXXXXX", path) >= (int)sizeof c->tmp) {
        free(c);
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: path too long", path);
    }
    int fd = mkstemp(c->tmp);
    /* mkstemp makes the file 0600; a result is meant to be read by others */
    if (fd >= 0)
        fchmod(fd, 0644);
    if (fd < 0 || !(c->f = fdopen(fd, "w"))) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(c->tmp);
        }
        free(c);
        return cnn_fail(CNN_ERR_IO, "%s: cannot create: %s", path, strerror(e));
    }
    fprintf(c->f, "%s\n", header);
    *out = c;
    return CNN_OK;
}

static void put_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
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

cnn_status report_csv_row(report_csv *csv, int n, const char *const *fields)
{
    for (int i = 0; i < n; i++) {
        if (i)
            fputc(',', csv->f);
        put_field(csv->f, fields[i] ? fields[i] : "");
    }
    if (fputc('\n', csv->f) == EOF)
        return cnn_fail(CNN_ERR_IO, "%s: write failed: %s", csv->path, strerror(errno));
    return CNN_OK;
}

cnn_status report_csv_close(report_csv *csv, bool commit)
{
    if (!csv)
        return CNN_OK;
    cnn_status st = CNN_OK;
    bool ok = fflush(csv->f) == 0 && fsync(fileno(csv->f)) == 0;
    int e = errno;
    if (fclose(csv->f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (commit && ok && rename(csv->tmp, csv->path) != 0) {
        ok = false;
        e = errno;
    }
    if (!commit || !ok)
        unlink(csv->tmp);
    if (commit && !ok)
        st = cnn_fail(CNN_ERR_IO, "%s: cannot write: %s", csv->path, strerror(e));
    free(csv);
    return st;
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
