/* Faults injected into a long `cnnbench train` (fashion_cnn, 4 epochs of
 * 16 batches of 64 on im2col, 1 thread), each attempt resuming the one
 * before (--resume the newest run folder) until one is left to finish:
 *   0. from scratch, killed (test-only CNNBENCH_TEST_KILL_IN_CHECKPOINT=2:json,
 *      harness/train_checkpoint.c) while checkpoint.json of epoch 2 is
 *      half written: the hidden folder stays, epoch-0001 is the newest;
 *   1. killed by =1:renamed just after its first checkpoint is renamed
 *      into place (before older ones would be removed);
 *   2. SIGKILL as soon as its run folder exists: no checkpoint in it, and
 *      --resume of it goes back along meta.json's "resume" chain;
 *   3-6. SIGKILL (and one SIGINT) at seeded random moments after its
 *      meta.json appears (CNN_FAULTS_SEED to change the seed; the moments,
 *      within a third of a whole run, are printed);
 *   7. resumed to the end.
 * Every attempt that got as far as resuming says "resuming after epoch K"
 * with K never going back, none says "training from the start" or reports
 * a bad checkpoint; exit 137 (SIGKILL), 130 (SIGINT) or 0 (done before the
 * signal). The end: the weight files of a run never stopped, byte for
 * byte, and train.csv has epochs 1-4 once each with its figures. A folder
 * without meta.json (killed between its mkdir and meta.json: the early
 * kill waits for meta.json) is refused by --resume (exit 2).
 * 77 when the dataset is not installed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csv_read.h"
#include "data_fmnist.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

static char dir[] = "/tmp/cnn_test_faults_train_XXXXXX";
static char out_text[1 << 17], err_text[1 << 16];
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define EPOCHS 4
#define TRAIN                                                                                      \
    "--model", "fashion_cnn", "--backends", "im2col", "--limit", "1024", "--batch", "64",          \
        "--threads", "1", "--epochs", "4"

static const char *in_dir(const char *name)
{
    static char paths[8][600];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 600, "%s/%s", dir, name);
    return p;
}

/* The one run folder of DIR/root into path; false if none. */
static bool run_folder(const char *root, char *path, size_t n)
{
    char names[4][256];
    if (tu_list_runs(in_dir(root), names, 4) != 1)
        return false;
    snprintf(path, n, "%s/%s/%s", dir, root, names[0]);
    return true;
}

/* Start `train TRAIN [--resume resume] [--save-weights DIR/w_root]` into
 * DIR/root with stdout and stderr in DIR/root.out and .err. */
static pid_t start(const char *root, const char *resume)
{
    char results[600], out[600], err[600], *argv[64], w[600];
    snprintf(results, sizeof results, "%s/%s", dir, root);
    snprintf(out, sizeof out, "%s/%s.out", dir, root);
    snprintf(err, sizeof err, "%s/%s.err", dir, root);
    snprintf(w, sizeof w, "%s/w_%s", dir, root);
    if (resume)
        tu_cli_argv(argv, CNNBENCH_EXE, "train",
                    ARGS(TRAIN, "--resume", resume, "--save-weights", w), results);
    else
        tu_cli_argv(argv, CNNBENCH_EXE, "train", ARGS(TRAIN, "--save-weights", w), results);
    return tu_start_process(CNNBENCH_EXE, argv, out, err);
}

static void slurp_logs(const char *root)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s.out", dir, root);
    tu_slurp(p, out_text, sizeof out_text);
    snprintf(p, sizeof p, "%s/%s.err", dir, root);
    tu_slurp(p, err_text, sizeof err_text);
}

/* Every file of a has an identical file in b and vice versa. */
static void same_files(const char *a, const char *b)
{
    static char na[64][256], nb[64][256];
    int ka = tu_list_dir(a, na, 64), kb = tu_list_dir(b, nb, 64);
    TU_CHECK(ka > 0 && ka == kb, "%d files in %s, %d in %s", ka, a, kb, b);
    for (int i = 0; i < ka && ka == kb; i++) {
        char cmd[1400];
        snprintf(cmd, sizeof cmd, "cmp -s '%s/%s' '%s/%s'", a, na[i], b, nb[i]);
        TU_CHECK(!strcmp(na[i], nb[i]) && system(cmd) == 0, "%s/%s and %s/%s differ", a, na[i], b,
                 nb[i]);
    }
}

/* "train_loss train_acc test_acc" of each epoch of run's train.csv;
 * returns the rows, -1 if unreadable; rows of one epoch twice count. */
static int epoch_cells(const char *run, char cells[EPOCHS + 1][256], int *dups)
{
    char path[700];
    csv_table *t = NULL;
    snprintf(path, sizeof path, "%s/train.csv", run);
    if (csv_read(path, &t) != CNN_OK)
        return -1;
    *dups = 0;
    for (int e = 0; e <= EPOCHS; e++)
        cells[e][0] = '\0';
    for (int r = 0; r < t->nrows; r++) {
        int e = (int)csv_num(t, r, csv_col(t, "epoch"));
        if (e < 1 || e > EPOCHS)
            continue;
        *dups += cells[e][0] != '\0';
        snprintf(cells[e], 256, "%s %s %s", csv_cell(t, r, csv_col(t, "train_loss")),
                 csv_cell(t, r, csv_col(t, "train_acc")), csv_cell(t, r, csv_col(t, "test_acc")));
    }
    int n = t->nrows;
    csv_free(t);
    return n;
}

typedef struct attempt {
    const char *hook; /* CNNBENCH_TEST_KILL_IN_CHECKPOINT, or NULL */
    int sig;          /* 0: let it finish */
    bool early;       /* the signal as soon as its run folder exists */
} attempt;

int main(void)
{
    char found[4096];
    if (cnn_fmnist_find(NULL, CNN_FMNIST_TRAIN, found, sizeof found) != CNN_OK) {
        printf("test_faults_train: skipped: %s\n", cnn_last_error());
        return 77;
    }
    if (!mkdtemp(dir))
        return 2;
    uint64_t seed =
        getenv("CNN_FAULTS_SEED") ? strtoull(getenv("CNN_FAULTS_SEED"), NULL, 10) : 20261201;
    /* the run never stopped, and how long it takes */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = tu_wait_process(start("whole", NULL));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long whole_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    TU_CHECK(rc == 0, "the run never stopped: exit %d", rc);
    printf("uninterrupted: %ld ms; kill seed %llu\n", whole_ms, (unsigned long long)seed);

    const attempt plan[] = {{"2:json", 0, false},   {"1:renamed", 0, false}, {NULL, SIGKILL, true},
                            {NULL, SIGKILL, false}, {NULL, SIGINT, false},   {NULL, SIGKILL, false},
                            {NULL, SIGKILL, false}, {NULL, 0, false}};
    const int nplan = (int)(sizeof plan / sizeof plan[0]);
    char latest[700] = "", run[700], root[32] = "";
    int resumed_epoch = 0;
    long long resumed_batches = 0;
    for (int i = 0; i < nplan; i++) {
        snprintf(root, sizeof root, "a%d", i);
        if (plan[i].hook)
            setenv("CNNBENCH_TEST_KILL_IN_CHECKPOINT", plan[i].hook, 1);
        pid_t pid = start(root, *latest ? latest : NULL);
        unsetenv("CNNBENCH_TEST_KILL_IN_CHECKPOINT");
        long at = 0;
        if (plan[i].sig) { /* counted from its meta.json (the data loaded) */
            char meta[800] = "";
            for (int k = 0; k < 6000 && !tu_exists(meta); k++) {
                tu_sleep_ms(5);
                if (run_folder(root, run, sizeof run))
                    snprintf(meta, sizeof meta, "%s/meta.json", run);
            }
            if (!plan[i].early)
                at = 50 + (long)(tu_next(&seed) % (uint64_t)(whole_ms / 3 + 1));
            tu_sleep_ms(at);
            kill(pid, plan[i].sig);
        }
        rc = tu_wait_process(pid);
        slurp_logs(root);
        printf("attempt %d: %s%s at %ld ms: exit %d\n", i, plan[i].hook ? "hook " : "",
               plan[i].hook            ? plan[i].hook
               : plan[i].sig == SIGINT ? "SIGINT"
               : plan[i].sig           ? "SIGKILL"
                                       : "none",
               at, rc);
        bool hooked = plan[i].hook != NULL;
        TU_CHECK(hooked ? rc == 128 + SIGKILL : rc == 0 || (plan[i].sig && rc == 128 + plan[i].sig),
                 "attempt %d: exit %d\n%s%s", i, rc, out_text, err_text);
        TU_CHECK(!strstr(err_text, "checkpoint") && !strstr(out_text, "training from the start"),
                 "attempt %d started over or met a bad checkpoint:\n%s%s", i, out_text, err_text);
        const char *res = strstr(out_text, "resuming after epoch ");
        if (res)
            printf("  %.*s\n", (int)strcspn(res, "\n"), res);
        if (res) {
            int k = -1;
            long long b = -1;
            sscanf(res, "resuming after epoch %d (and %lld", &k, &b);
            TU_CHECK(k > resumed_epoch || (k == resumed_epoch && b >= resumed_batches),
                     "attempt %d resumed after epoch %d batch %lld, an earlier one after %d/%lld",
                     i, k, b, resumed_epoch, resumed_batches);
            resumed_epoch = k;
            resumed_batches = b;
            /* after the early kill, the checkpoint is an older run's */
            char prev[16];
            snprintf(prev, sizeof prev, "/a%d/", i - 1);
            TU_CHECK(i == 0 || !plan[i - 1].early || !strstr(res, prev),
                     "attempt %d resumed from the early-killed run's folder: %s", i, res);
        }
        TU_CHECK(i == 0 || *latest == '\0' || res || !strstr(out_text, "im2col epoch"),
                 "attempt %d trained without resuming:\n%s", i, out_text);
        /* a folder killed between its mkdir and its meta.json is no run
         * folder (--resume refuses it): the one before stays the newest */
        char meta[800], text[8192];
        bool have = run_folder(root, run, sizeof run);
        snprintf(meta, sizeof meta, "%s/meta.json", run);
        if (have && tu_exists(meta)) {
            snprintf(latest, sizeof latest, "%s", run);
            tu_slurp(meta, text, sizeof text);
            bool complete = strstr(text, "\"status\": \"complete\"") != NULL;
            /* a signal that lands after the run wrote "complete" (it was
             * exiting) kills a finished run: complete, yet exit 128 + sig */
            bool late_signal = plan[i].sig && rc == 128 + plan[i].sig;
            TU_CHECK(rc == 0 ? complete : !complete || late_signal,
                     "attempt %d: exit %d, meta.json complete %d", i, rc, complete);
            snprintf(meta, sizeof meta, "%s/checkpoints", run);
            TU_CHECK(!plan[i].early || !tu_exists(meta), "attempt %d was killed after a checkpoint",
                     i);
        }
        if (i == 0) { /* the half-written checkpoint is there, hidden, and is not the newest */
            char ck[800], names[4][256];
            snprintf(ck, sizeof ck, "%s/checkpoints/im2col", run);
            int k = tu_list_dir(ck, names, 4);
            TU_CHECK(k == 2 && !strncmp(names[0], ".epoch-0002.tmp-", 16) &&
                         !strcmp(names[1], "epoch-0001"),
                     "after a kill inside checkpoint 2: %d entries, %s %s", k,
                     k > 0 ? names[0] : "", k > 1 ? names[1] : "");
            char part[1200];
            snprintf(part, sizeof part, "%s/%s", ck, names[0]);
            k = tu_list_dir(part, names, 4);
            TU_CHECK(k == 3 && !strncmp(names[0], ".checkpoint.json.", 17) &&
                         !strcmp(names[1], "optimizer.npy") && !strcmp(names[2], "weights"),
                     "the half-built checkpoint holds %d entries, the first %s", k,
                     k > 0 ? names[0] : "");
        }
    }
    TU_CHECK(rc == 0 && resumed_epoch >= 2, "the last attempt: exit %d, resumed after epoch %d", rc,
             resumed_epoch);
    char wa[600], wb[600];
    snprintf(wa, sizeof wa, "%s/w_whole", dir);
    snprintf(wb, sizeof wb, "%s/w_%s", dir, root);
    same_files(wa, wb);
    char whole[700], a[EPOCHS + 1][256], b[EPOCHS + 1][256];
    int da = 0, db = 0;
    if (run_folder("whole", whole, sizeof whole)) {
        int na = epoch_cells(whole, a, &da), nb = epoch_cells(latest, b, &db);
        TU_CHECK(na == EPOCHS && nb == EPOCHS && da == 0 && db == 0,
                 "train.csv: %d rows never stopped, %d at the end (%d epochs twice)", na, nb, db);
        for (int e = 1; e <= EPOCHS; e++)
            TU_CHECK(*a[e] && !strcmp(a[e], b[e]), "epoch %d: %s, after the faults %s", e, a[e],
                     b[e]);
    }
    /* a folder killed between its mkdir and its meta.json: refused, not
     * silently trained from the start */
    char empty[700], *argv[64];
    snprintf(empty, sizeof empty, "%s/no_meta", dir);
    mkdir(empty, 0777);
    tu_cli_argv(argv, CNNBENCH_EXE, "train", ARGS(TRAIN, "--resume", empty), in_dir("refused"));
    rc = tu_run_process(CNNBENCH_EXE, argv, dir, out_text, sizeof out_text, err_text,
                        sizeof err_text);
    char want[900];
    snprintf(want, sizeof want, "cnnbench train: --resume %s is not a run folder (no meta.json)\n",
             empty);
    TU_CHECK(rc == 2 && strstr(err_text, want),
             "--resume of a folder without meta.json: exit %d\n%s", rc, err_text);
    rc = tu_finish("test_faults_train");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (rc == 0 && !getenv("KEEP") && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return rc;
}
