/* `cnnbench train` as a process on 2,000 real Fashion-MNIST images
 * (fashion_cnn, Adam, im2col, 1 thread):
 *   - 2 epochs learn (test accuracy > 0.5, chance is 0.1; the training loss
 *     falls) and write train.csv, confusion.csv, checkpoints, meta.json;
 *   - a run of 1 epoch resumed to 2 ends with the same weight files, byte for
 *     byte, as the uninterrupted run;
 *   - a run killed by SIGKILL during epoch 2 resumes from its epoch-1
 *     checkpoint and ends with the same bytes too; one stopped by SIGINT
 *     there exits 130 with a mid-epoch checkpoint and resumes to the same
 *     bytes and the same epoch-2 figures;
 *   - resuming with another model or optimizer, or from a truncated
 *     checkpoint, fails naming the file and what differs.
 * `test_train_cli --peer`: the PyTorch peer trains 1 epoch into the same
 * train.csv as backend pytorch (77 without torch).
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
#include "peer.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

static char dir[] = "/tmp/cnn_test_train_cli_XXXXXX";
static char out_text[1 << 17], err_text[1 << 16];
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define COMMON "--model", "fashion_cnn", "--backends", "im2col", "--limit", "2000", "--threads", "1"

/* `cnnbench train ARGS --results DIR/root`: its exit code. */
static int train(const char *root, const char *const *args)
{
    char results[512], *argv[64];
    snprintf(results, sizeof results, "%s/%s", dir, root);
    tu_cli_argv(argv, CNNBENCH_EXE, "train", args, results);
    return tu_run_process(CNNBENCH_EXE, argv, dir, out_text, sizeof out_text, err_text,
                          sizeof err_text);
}

/* The one run folder under DIR/root into path; false if not exactly one. */
static bool run_folder(const char *root, char *path, size_t n)
{
    char r[256], names[4][256];
    snprintf(r, sizeof r, "%s/%s", dir, root);
    int k = tu_list_runs(r, names, 4);
    if (k == 1)
        snprintf(path, n, "%.256s/%.256s", r, names[0]);
    return k == 1;
}

/* Every file of folder a has an identical file in b and vice versa. */
static void same_files(const char *a, const char *b, const char *what)
{
    static char na[256][256], nb[256][256];
    int ka = tu_list_dir(a, na, 256), kb = tu_list_dir(b, nb, 256);
    TU_CHECK(ka > 0 && ka == kb, "%s: %d files in %s, %d in %s", what, ka, a, kb, b);
    for (int i = 0; i < ka && ka == kb; i++) {
        char pa[1024], pb[1024];
        snprintf(pa, sizeof pa, "%s/%s", a, na[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, nb[i]);
        char *ta = NULL, *tb = NULL;
        size_t la = 0, lb = 0;
        read_file_bounded(pa, 1 << 26, &ta, &la);
        read_file_bounded(pb, 1 << 26, &tb, &lb);
        TU_CHECK(ta && tb && la == lb && memcmp(ta, tb, la) == 0, "%s: %s and %s differ", what, pa,
                 pb);
        free(ta);
        free(tb);
    }
}

/* DIR/name, for options that take a folder */
static const char *in_dir(const char *name)
{
    static char paths[8][600];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 600, "%s/%s", dir, name);
    return p;
}

static void test_learns(void)
{
    int rc = train("full", ARGS(COMMON, "--epochs", "2", "--save-weights", in_dir("full_w")));
    TU_CHECK(rc == 0, "2 epochs: exit %d\n%s", rc, err_text);
    char run[600], path[700];
    if (!run_folder("full", run, sizeof run))
        return;
    snprintf(path, sizeof path, "%s/train.csv", run);
    csv_table *t = NULL;
    TU_EXPECT_OK(csv_read(path, &t));
    if (!t)
        return;
    int ce = csv_col(t, "epoch"), cl = csv_col(t, "train_loss"), ca = csv_col(t, "test_acc"),
        cf = csv_col(t, "test_macro_f1"), cb = csv_col(t, "backend");
    TU_CHECK(t->nrows == 2 && csv_num(t, 1, ce) == 2 && !strcmp(csv_cell(t, 1, cb), "im2col"),
             "train.csv: %d rows", t->nrows);
    if (t->nrows == 2) {
        double acc = csv_num(t, 1, ca), f1 = csv_num(t, 1, cf);
        printf("2 epochs on 2000 images: train loss %g -> %g, test acc %g, macro-F1 %g\n",
               csv_num(t, 0, cl), csv_num(t, 1, cl), acc, f1);
        TU_CHECK(acc > 0.5 && acc <= 1, "test accuracy %g after 2 epochs (want > 0.5)", acc);
        TU_CHECK(f1 > 0.4 && f1 <= acc + 0.1, "macro-F1 %g", f1);
        TU_CHECK(csv_num(t, 1, cl) < csv_num(t, 0, cl), "training loss did not fall: %g -> %g",
                 csv_num(t, 0, cl), csv_num(t, 1, cl));
    }
    csv_free(t);
    snprintf(path, sizeof path, "%s/confusion.csv", run);
    TU_EXPECT_OK(csv_read(path, &t));
    if (t) {
        TU_CHECK(t->nrows == 10 && t->ncols == 12 && !strcmp(t->header[2], "T-shirt/top"),
                 "confusion.csv: %d x %d", t->nrows, t->ncols);
        long total = 0;
        for (int r = 0; r < t->nrows; r++)
            for (int c = 2; c < t->ncols; c++)
                total += (long)csv_num(t, r, c);
        TU_CHECK(total == 2000, "confusion.csv counts %ld test images, want 2000", total);
        csv_free(t);
    }
    snprintf(path, sizeof path, "%s/checkpoints/im2col/epoch-0002/checkpoint.json", run);
    TU_CHECK(tu_exists(path), "no %s", path);
    snprintf(path, sizeof path, "%s/checkpoints/im2col/epoch-0001", run);
    TU_CHECK(!tu_exists(path), "the older checkpoint %s stayed", path);
}

static void test_resume(void)
{
    int rc = train("one", ARGS(COMMON, "--epochs", "1"));
    TU_CHECK(rc == 0, "1 epoch: exit %d\n%s", rc, err_text);
    char run[600], w[600], fw[600], path[700];
    if (!run_folder("one", run, sizeof run))
        return;
    rc = train("one_more", ARGS(COMMON, "--epochs", "2", "--resume", run, "--save-weights",
                                in_dir("resumed_w")));
    TU_CHECK(rc == 0 && strstr(out_text, "resuming after epoch 1"), "resume: exit %d\n%s%s", rc,
             out_text, err_text);
    snprintf(w, sizeof w, "%s/resumed_w", dir);
    snprintf(fw, sizeof fw, "%s/full_w", dir);
    same_files(fw, w, "resumed after epoch 1");
    char run2[600];
    if (run_folder("one_more", run2, sizeof run2)) {
        snprintf(path, sizeof path, "%s/train.csv", run2);
        csv_table *t = NULL;
        TU_EXPECT_OK(csv_read(path, &t));
        TU_CHECK(t && t->nrows == 2, "resumed train.csv: %d rows, want 2", t ? t->nrows : -1);
        csv_free(t);
    }
    /* another model, another optimizer, a truncated file: exact errors */
    rc = train("bad", ARGS("--model", "lenet5", "--backends", "im2col", "--limit", "2000",
                           "--epochs", "2", "--resume", run));
    TU_CHECK(rc == 1 && strstr(err_text, "checkpoint.json is of model fashion_cnn, this run's "
                                         "model is lenet5"),
             "other model: exit %d\n%s", rc, err_text);
    rc = train("bad", ARGS(COMMON, "--optimizer", "sgd", "--epochs", "2", "--resume", run));
    TU_CHECK(rc == 1 && strstr(err_text, "is of optimizer adam, this run's optimizer is sgd"),
             "other optimizer: exit %d\n%s", rc, err_text);
    snprintf(path, sizeof path, "%s/checkpoints/im2col/epoch-0001/weights/fc_layer.3.weight.npy",
             run);
    TU_CHECK(truncate(path, 100) == 0, "cannot truncate %s", path);
    rc = train("bad", ARGS(COMMON, "--epochs", "2", "--resume", run));
    TU_CHECK(rc == 1 && strstr(err_text, path) &&
                 strstr(err_text, "is truncated or changed: 100 bytes"),
             "truncated weights: exit %d\n%s", rc, err_text);
    snprintf(path, sizeof path, "%s/checkpoints/im2col/epoch-0001/checkpoint.json", run);
    TU_CHECK(truncate(path, 40) == 0, "cannot truncate %s", path);
    rc = train("bad", ARGS(COMMON, "--epochs", "2", "--resume", run));
    TU_CHECK(rc == 1 && strstr(err_text, path), "truncated checkpoint.json: exit %d\n%s", rc,
             err_text);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The train_loss and test_acc cells of epoch 2 of the one run under root. */
static void epoch2(const char *root, char *cells, size_t n)
{
    char run[600], path[700];
    csv_table *t = NULL;
    cells[0] = '\0';
    if (!run_folder(root, run, sizeof run))
        return;
    snprintf(path, sizeof path, "%s/train.csv", run);
    if (csv_read(path, &t) != CNN_OK)
        return;
    for (int r = 0; r < t->nrows; r++)
        if (csv_num(t, r, csv_col(t, "epoch")) == 2)
            snprintf(cells, n, "%s %s %s", csv_cell(t, r, csv_col(t, "train_loss")),
                     csv_cell(t, r, csv_col(t, "train_acc")),
                     csv_cell(t, r, csv_col(t, "test_acc")));
    csv_free(t);
}

/* A run stopped by signal sig during epoch 2 (SIGKILL: outright; SIGINT:
 * it ends the batch, saves a mid-epoch checkpoint and exits 130) and
 * resumed ends with the uninterrupted run's weights and epoch-2 figures. */
static void test_stopped(int sig, const char *name)
{
    char results[512], *argv[64], out[600], err[600], run[600] = "", ck[700], ck2[700];
    char root[64], more[64], wname[64];
    snprintf(root, sizeof root, "%s", name);
    snprintf(more, sizeof more, "%s_more", name);
    snprintf(wname, sizeof wname, "%s_w", name);
    snprintf(results, sizeof results, "%s/%s", dir, root);
    snprintf(out, sizeof out, "%s/%s.out", dir, name);
    snprintf(err, sizeof err, "%s/%s.err", dir, name);
    tu_cli_argv(argv, CNNBENCH_EXE, "train", ARGS(COMMON, "--epochs", "2"), results);
    pid_t pid = tu_start_process(CNNBENCH_EXE, argv, out, err);
    bool seen = false;
    for (int i = 0; i < 12000 && !seen; i++) { /* 60 s at most */
        sleep_ms(5);
        if (!*run && !run_folder(root, run, sizeof run))
            continue;
        snprintf(ck, sizeof ck, "%s/checkpoints/im2col/epoch-0001", run);
        seen = tu_exists(ck);
    }
    sleep_ms(50); /* into epoch 2 (15 batches of some 20 ms each) */
    kill(pid, sig);
    int rc = tu_wait_process(pid);
    snprintf(ck2, sizeof ck2, "%s/checkpoints/im2col/epoch-0002", run);
    TU_CHECK(seen && rc == 128 + sig && !tu_exists(ck2),
             "%s: checkpoint 1 seen %d, exit %d, epoch-0002 there %d (epoch 2 ended before "
             "the signal?)",
             name, seen, rc, tu_exists(ck2));
    if (sig == SIGINT) {
        char names[4][256], d[700];
        snprintf(d, sizeof d, "%s/checkpoints/im2col", run);
        int k = tu_list_dir(d, names, 4);
        TU_CHECK(k == 1 && !strncmp(names[0], "epoch-0001-batch-", 17),
                 "%s: %d checkpoints, the first %s (want one epoch-0001-batch-N)", name, k,
                 k > 0 ? names[0] : "none");
    }
    rc = train(more,
               ARGS(COMMON, "--epochs", "2", "--resume", run, "--save-weights", in_dir(wname)));
    TU_CHECK(rc == 0 && strstr(out_text, "resuming after epoch 1"), "%s: resume: exit %d\n%s%s",
             name, rc, out_text, err_text);
    char fw[600], a[256], b[256];
    snprintf(fw, sizeof fw, "%s/full_w", dir);
    same_files(fw, in_dir(wname), name);
    epoch2("full", a, sizeof a);
    epoch2(more, b, sizeof b);
    TU_CHECK(*a && !strcmp(a, b), "%s: epoch 2 train loss, train acc, test acc: %s, resumed %s",
             name, a, b);
}

static int test_peer(void)
{
    char info[1024];
    if (!peer_probe(info, sizeof info)) {
        printf("test_train_cli --peer: skipped: %s\n", info);
        return 77;
    }
    int rc = train("peer", ARGS(COMMON, "--epochs", "1", "--peer", "pytorch"));
    TU_CHECK(rc == 0, "--peer pytorch: exit %d\n%s", rc, err_text);
    char run[600], path[700];
    if (!run_folder("peer", run, sizeof run))
        return tu_finish("test_train_cli --peer");
    snprintf(path, sizeof path, "%s/train.csv", run);
    csv_table *t = NULL;
    TU_EXPECT_OK(csv_read(path, &t));
    int found = 0;
    for (int r = 0; t && r < t->nrows; r++)
        if (!strcmp(csv_cell(t, r, csv_col(t, "backend")), "pytorch")) {
            found++;
            double acc = csv_num(t, r, csv_col(t, "test_acc"));
            TU_CHECK(acc > 0.3 && acc <= 1, "pytorch test accuracy %g after 1 epoch", acc);
        }
    TU_CHECK(found == 1, "train.csv has %d pytorch rows, want 1", found);
    csv_free(t);
    return tu_finish("test_train_cli --peer");
}

int main(int argc, char **argv)
{
    char found[4096];
    if (cnn_fmnist_find(NULL, CNN_FMNIST_TRAIN, found, sizeof found) != CNN_OK) {
        printf("test_train_cli: skipped: %s\n", cnn_last_error());
        return 77;
    }
    if (!mkdtemp(dir))
        return 2;
    int rc;
    if (argc > 1 && !strcmp(argv[1], "--peer")) {
        rc = test_peer();
    } else {
        test_learns();
        test_resume();
        test_stopped(SIGKILL, "killed");
        test_stopped(SIGINT, "interrupted");
        rc = tu_finish("test_train_cli");
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (rc == 0 && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return rc;
}
