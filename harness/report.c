#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "atomic_file.h"

struct report_csv {
    cnn_atomic_file af;
};

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
    fprintf(c->af.f, "%s\n", header);
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
    FILE *f = csv->af.f;
    for (int i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        put_field(f, fields[i] ? fields[i] : "");
    }
    if (fputc('\n', f) == EOF)
        return cnn_fail(CNN_ERR_IO, "%s: write failed: %s", csv->af.path, strerror(errno));
    return CNN_OK;
}

cnn_status report_csv_close(report_csv *csv, bool commit)
{
    if (!csv)
        return CNN_OK;
    cnn_status st = CNN_OK;
    if (commit)
        st = cnn_atomic_commit(&csv->af);
    else
        cnn_atomic_abort(&csv->af);
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
