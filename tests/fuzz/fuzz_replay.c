/* fuzz_replay: every file of the fuzz corpus (tests/fuzz/corpus/<reader>/)
 * through its target's LLVMFuzzerTestOneInput, without libFuzzer, so that
 * each seed and each regression input runs in every ctest (and under the
 * sanitizers in the CI's ASan build). Each target's entry point is compiled
 * under the name fuzz_one_<reader> (tests/fuzz/CMakeLists.txt).
 *
 * Names state what the reader must do: a file named ok-* must be accepted,
 * bad-* (and crash-*, the inputs that once crashed a reader) refused with a
 * reason; any other name is only run. A missing or empty corpus folder
 * fails, as does a wrong verdict.
 *
 *   fuzz_replay CORPUS_DIR [READER [FILE...]]   (READER: only that target; FILEs: only those) */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

#define TARGET(name) int fuzz_one_##name(const uint8_t *data, size_t size);
TARGET(npy)
TARGET(idx)
TARGET(weights)
TARGET(csv)
TARGET(checkpoint)
TARGET(cli)

static const struct {
    const char *name;
    int (*one)(const uint8_t *, size_t);
} targets[] = {
    {"npy", fuzz_one_npy},         {"idx", fuzz_one_idx}, {"weights", fuzz_one_weights},
    {"csv", fuzz_one_csv},         {"checkpoint", fuzz_one_checkpoint},
    {"cli", fuzz_one_cli},
};

static int failures;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_file(const char *target, int (*one)(const uint8_t *, size_t), const char *path,
                     const char *base)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "FAIL %s: cannot open %s\n", target, path);
        failures++;
        return;
    }
    size_t cap = 1 << 16, n = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "FAIL %s: no memory for %s\n", target, path);
        failures++;
        return;
    }
    /* the exact size, so that ASan sees a read past the input */
    uint8_t *exact = malloc(n ? n : 1);
    if (exact)
        memcpy(exact, buf, n);
    free(buf);
    if (!exact)
        return;
    memset(&fuzz_last, 0, sizeof fuzz_last);
    cnn_clear_error();
    one(exact, n);
    free(exact);
    bool want_ok = !strncmp(base, "ok-", 3);
    bool want_bad = !strncmp(base, "bad-", 4) || !strncmp(base, "crash-", 6);
    const char *got_s = !fuzz_last.set ? "no verdict"
                        : fuzz_last.status == CNN_OK ? "accepted"
                                                     : "refused";
    if ((want_ok && (!fuzz_last.set || fuzz_last.status != CNN_OK)) ||
        (want_bad && (!fuzz_last.set || fuzz_last.status == CNN_OK || !*fuzz_last.reason))) {
        fprintf(stderr, "FAIL %s/%s: %s%s%s, expected %s\n", target, base, got_s,
                *fuzz_last.reason ? ": " : "", fuzz_last.reason,
                want_ok ? "accepted" : "refused with a reason");
        failures++;
    } else {
        printf("  %s/%s: %s%s%.200s\n", target, base, got_s, *fuzz_last.reason ? ": " : "",
               fuzz_last.reason);
    }
}

static void run_target(const char *root, int t, int nfiles, char **files)
{
    const char *name = targets[t].name;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    if (nfiles) {
        for (int i = 0; i < nfiles; i++) {
            const char *slash = strrchr(files[i], '/');
            run_file(name, targets[t].one, files[i], slash ? slash + 1 : files[i]);
        }
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "FAIL %s: no corpus folder %s\n", name, dir);
        failures++;
        return;
    }
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "FAIL %s: the corpus folder %s is empty\n", name, dir);
        failures++;
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    printf("%s: %d files\n", name, n);
    for (int i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        run_file(name, targets[t].one, path, names[i]);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fuzz_replay CORPUS_DIR [READER [FILE...]]\n");
        return 2;
    }
    int ran = 0;
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++)
        if (argc < 3 || !strcmp(argv[2], targets[t].name)) {
            run_target(argv[1], (int)t, argc > 3 ? argc - 3 : 0, argv + 3);
            ran++;
        }
    if (!ran) {
        fprintf(stderr, "fuzz_replay: unknown reader '%s'\n", argv[2]);
        return 2;
    }
    printf("fuzz_replay: %s\n", failures ? "FAILED" : "all corpus files as expected");
    return failures ? 1 : 0;
}
