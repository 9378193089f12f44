#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void release(cnn_atomic_file *af)
{
    free(af->path);
    free(af->tmp);
    *af = (cnn_atomic_file){0};
}

/* The folder of `path` ("." for a bare name); malloc'd. */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    char *dir = malloc(dlen + 2);
    if (dir) {
        memcpy(dir, path, dlen);
        strcpy(dir + dlen, dlen ? "" : ".");
    }
    return dir;
}

cnn_status cnn_atomic_open(cnn_atomic_file *af, const char *path)
{
    *af = (cnn_atomic_file){0};
    if (!path || !*path)
        return cnn_fail(CNN_ERR_INVALID_ARG, "atomic write: empty file name");
    size_t plen = strlen(path);
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    af->path = malloc(plen + 1);
    af->tmp = malloc(plen + 16);
    if (!af->path || !af->tmp) {
        release(af);
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory for a file name", path);
    }
    memcpy(af->path, path, plen + 1);
    memcpy(af->tmp, path, dlen);
    snprintf(af->tmp + dlen, plen + 16 - dlen, ".%s.XXXXXX", path + dlen);
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        int e = errno;
        char *dir = folder_of(path);
        cnn_status st = cnn_fail(CNN_ERR_IO, "%s: cannot create a temporary file in '%s': %s", path,
                                 dir ? dir : "?", strerror(e));
        free(dir);
        release(af);
        return st;
    }
    /* mkstemp makes the file 0600; results are meant to be shared like any
     * file np.save or a shell redirection writes. The umask cannot be read
     * without changing it (a race with other threads), so use the common
     * default. */
    fchmod(fd, 0644);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        int e = errno;
        close(fd);
        unlink(af->tmp);
        cnn_status st =
            cnn_fail(CNN_ERR_IO, "%s: cannot open the temporary file: %s", path, strerror(e));
        release(af);
        return st;
    }
    return CNN_OK;
}

/* Make the rename durable too; a failure here loses nothing already
 * written, so it is not reported. */
static void sync_folder(const char *path)
{
    char *dir = folder_of(path);
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY) : -1;
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

cnn_status cnn_atomic_commit(cnn_atomic_file *af)
{
    if (!af->f) {
        release(af);
        return cnn_fail(CNN_ERR_INVALID_ARG, "atomic write: commit without an open file");
    }
    /* An earlier write error sets the stream's error flag, and the data it
     * lost is gone even if the final flush succeeds. */
    errno = 0;
    bool ok = fflush(af->f) == 0 && !ferror(af->f) && fsync(fileno(af->f)) == 0;
    int e = errno ? errno : EIO;
    if (fclose(af->f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    af->f = NULL;
    cnn_status st = CNN_OK;
    if (!ok)
        st = cnn_fail(CNN_ERR_IO, "%s: cannot write: %s", af->path, strerror(e));
    else if (rename(af->tmp, af->path) != 0)
        st = cnn_fail(CNN_ERR_IO, "%s: cannot rename the temporary file into place: %s", af->path,
                      strerror(errno));
    if (st == CNN_OK)
        sync_folder(af->path);
    else
        unlink(af->tmp);
    release(af);
    return st;
}

void cnn_atomic_abort(cnn_atomic_file *af)
{
    if (af->f) {
        fclose(af->f);
        unlink(af->tmp);
    }
    release(af);
}

cnn_status cnn_atomic_finish(cnn_atomic_file *af, cnn_status st)
{
    if (st == CNN_OK)
        return cnn_atomic_commit(af);
    cnn_atomic_abort(af);
    return st;
}
