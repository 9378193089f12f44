#include "run_index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

/* The line as CSV text (quoted where a field needs it), newlines in the
 * fields written as spaces. NULL when out of memory. */
static char *format_line(const char *const fields[RUN_INDEX_COLS], size_t *len)
{
    char *clean[RUN_INDEX_COLS] = {0};
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    bool ok = f != NULL;
    for (int i = 0; i < RUN_INDEX_COLS && ok; i++) {
        ok = (clean[i] = strdup(fields[i] ? fields[i] : "")) != NULL;
        for (char *c = clean[i]; ok && *c; c++)
            if (*c == '\n' || *c == '\r')
                *c = ' ';
    }
    if (ok)
        ok = report_csv_fields(f, RUN_INDEX_COLS, (const char *const *)clean) != EOF;
    if (f && fclose(f) != 0)
        ok = false;
    for (int i = 0; i < RUN_INDEX_COLS; i++)
        free(clean[i]);
    if (!ok) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static cnn_status write_all(int fd, const char *buf, size_t n, const char *path)
{
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return cnn_fail(CNN_ERR_IO, "%s: write failed: %s", path,
                            w < 0 ? strerror(errno) : "nothing written");
        buf += w;
        n -= (size_t)w;
    }
    return CNN_OK;
}

cnn_status run_index_append(const char *root, const char *const fields[RUN_INDEX_COLS])
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/" RUN_INDEX_FILE, root) >= (int)sizeof path)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: results folder name too long", root);
    size_t len = 0, hl = strlen(RUN_INDEX_HEADER "\n");
    char *line = format_line(fields, &len);
    /* the header, a newline ending a cut last line, the line */
    char *buf = line ? malloc(hl + 1 + len) : NULL;
    if (!buf) {
        free(line);
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory for the run's line", path);
    }
    cnn_status st = CNN_OK;
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        st = cnn_fail(CNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    while (st == CNN_OK && flock(fd, LOCK_EX) != 0)
        if (errno != EINTR)
            st = cnn_fail(CNN_ERR_IO, "%s: cannot lock: %s", path, strerror(errno));
    struct stat sb;
    if (st == CNN_OK && fstat(fd, &sb) != 0)
        st = cnn_fail(CNN_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    if (st == CNN_OK) {
        /* under the lock: no other process writes between the look and the write */
        size_t n = 0;
        char last = '\n';
        if (sb.st_size == 0) {
            memcpy(buf, RUN_INDEX_HEADER "\n", hl);
            n = hl;
        } else if (pread(fd, &last, 1, sb.st_size - 1) == 1 && last != '\n') {
            buf[n++] = '\n'; /* a line cut short (a full disk) stays alone on its line */
        }
        memcpy(buf + n, line, len);
        st = write_all(fd, buf, n + len, path);
    }
    if (st == CNN_OK && fsync(fd) != 0)
        st = cnn_fail(CNN_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd); /* and the lock with it */
    free(buf);
    free(line);
    return st;
}

void run_index_add_run(const run_dir *rd, const char *status)
{
    /* rd->path is ROOT/<id> */
    size_t lp = strlen(rd->path), li = strlen(rd->id);
    char root[sizeof rd->path];
    if (lp <= li || rd->path[lp - li - 1] != '/')
        return;
    snprintf(root, sizeof root, "%.*s", (int)(lp - li - 1), rd->path);
    const char *fields[RUN_INDEX_COLS] = {
        rd->id,           rd->started,
        rd->command,      rd->command_line,
        rd->machine.host, rd->machine.cpu,
        rd->build.commit, rd->build.dirty > 0 ? "true" : rd->build.dirty == 0 ? "false" : "unknown",
        status,
    };
    /* the caller may still report the error it had before */
    char before[1024];
    snprintf(before, sizeof before, "%s", cnn_last_error());
    if (run_index_append(*root ? root : "/", fields) != CNN_OK) {
        fprintf(stderr, "cnnbench: warning: the run is not in the index: %s\n", cnn_last_error());
        cnn_fail(CNN_OK, "%s", before);
    }
}
