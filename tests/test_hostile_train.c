/* `cnnbench train` on hostile checkpoints and surroundings, on a small
 * synthetic Fashion-MNIST folder (plain IDX files, 256 + 64 images) so that
 * it runs where the real set is not installed:
 *   - --resume from a checkpoint of another model, another optimizer, one
 *     truncated in the middle (a weights file, the optimizer state,
 *     checkpoint.json) or a folder that is no run: the exact message naming
 *     the file and what differs, exit 1, the old run unchanged;
 *   - a full disk (RLIMIT_FSIZE) while the checkpoint is written: the file
 *     named, exit 1, no checkpoint half there, and a resumable older run
 *     untouched;
 *   - a batch whose memory plan is larger than MemAvailable: out of memory
 *     with both sizes before any allocation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "test_hostile_util.h"

static void write_idx(const char *rel, int ndim, const uint32_t *dims, const uint8_t *body,
                      size_t n)
{
    FILE *f = fopen(th_path(rel), "wb");
    TU_CHECK(f != NULL, "cannot write %s", rel);
    if (!f)
        return;
    unsigned char head[4] = {0, 0, 0x08, (unsigned char)ndim};
    fwrite(head, 1, 4, f);
    for (int d = 0; d < ndim; d++) {
        unsigned char b[4] = {(unsigned char)(dims[d] >> 24), (unsigned char)(dims[d] >> 16),
                              (unsigned char)(dims[d] >> 8), (unsigned char)dims[d]};
        fwrite(b, 1, 4, f);
    }
    fwrite(body, 1, n, f);
    fclose(f);
}

/* n images 28x28 whose brightness follows their label, so a model can learn them. */
static void write_split(const char *prefix, uint32_t n)
{
    uint8_t *img = tu_xmalloc((size_t)n * 784), *lbl = tu_xmalloc(n);
    uint64_t rng = 5;
    for (uint32_t i = 0; i < n; i++) {
        lbl[i] = (uint8_t)(i % 10);
        for (int p = 0; p < 784; p++)
            img[(size_t)i * 784 + p] = (uint8_t)(lbl[i] * 20 + (tu_next(&rng) & 31));
    }
    char ip[128], lp[128];
    snprintf(ip, sizeof ip, "data/%s-images-idx3-ubyte", prefix);
    snprintf(lp, sizeof lp, "data/%s-labels-idx1-ubyte", prefix);
    write_idx(ip, 3, (uint32_t[]){n, 28, 28}, img, (size_t)n * 784);
    write_idx(lp, 1, (uint32_t[]){n}, lbl, n);
    free(img);
    free(lbl);
}

/* `train --model M --backends naive --epochs E --batch 32 --data SCRATCH/data
 * --threads 1 [more...] --results SCRATCH/root`. */
static int train(const char *root, const char *model, const char *epochs, const char *const *more,
                 long limit)
{
    const char *argv[40] = {"train",         "--model",   model,     "--backends", "naive",
                            "--epochs",      epochs,      "--batch", "32",         "--data",
                            th_path("data"), "--threads", "1",       "--results",  th_path(root)};
    int n = 15;
    for (; more && *more && n < 38; more++)
        argv[n++] = *more;
    argv[n] = NULL;
    return th_run(argv, limit);
}

/* The one run folder under SCRATCH/root into path; false if not exactly one. */
static bool one_run(const char *root, char *path, size_t n)
{
    char names[4][256];
    int k = tu_list_runs(th_path(root), names, 4);
    if (k == 1)
        snprintf(path, n, "%.700s/%.255s", th_path(root), names[0]);
    return k == 1;
}

static char fp_before[1 << 15], fp_after[1 << 15];

static bool mkdir_p_ok(const char *dir)
{
    return mkdir(dir, 0777) == 0;
}

/* --resume from `run` with the other options: exit 1, stderr holds words, run unchanged. */
static void resume_refused(const char *what, const char *run, const char *model,
                           const char *const *more, const char *const *words)
{
    th_fingerprint(run, fp_before, sizeof fp_before);
    const char *argv[12] = {"--resume", run};
    int n = 2;
    for (; more && *more && n < 10; more++)
        argv[n++] = *more;
    argv[n] = NULL;
    th_expect(what, train("refused", model, "2", argv, 0), 1, words);
    th_fingerprint(run, fp_after, sizeof fp_after);
    TU_CHECK(!strcmp(fp_before, fp_after), "%s: the resumed-from run changed", what);
}

/* A copy of run as SCRATCH/name. */
static const char *copy_run(const char *run, const char *name)
{
    const char *dst = th_path(name);
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", run, dst);
    TU_CHECK(system(cmd) == 0, "%s", cmd);
    return dst;
}

static void cut_half(const char *path)
{
    FILE *f = fopen(path, "rb");
    long size = 0;
    if (f && fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (f)
        fclose(f);
    TU_CHECK(size > 1 && truncate(path, size / 2) == 0, "cannot cut %s (%ld bytes)", path, size);
}

int main(void)
{
    if (!th_init("hostile_train"))
        return 2;
    char d[1100];
    snprintf(d, sizeof d, "%s", th_path("data"));
    TU_CHECK(mkdir_p_ok(d), "mkdir %s", d);
    write_split("train", 256);
    write_split("t10k", 64);

    int rc = train("good", "lenet5", "1", NULL, 0);
    th_expect("one epoch", rc, 0, NULL);
    char run[1100], ck[1300], path[1400], msg[1600];
    if (!one_run("good", run, sizeof run))
        return th_finish("test_hostile_train");
    snprintf(ck, sizeof ck, "%s/checkpoints/naive/epoch-0001", run);
    TU_CHECK(tu_exists(ck), "no checkpoint %s", ck);

    snprintf(msg, sizeof msg,
             "checkpoint %s/checkpoint.json is of model lenet5, this run's model is fashion_cnn",
             ck);
    resume_refused("another model", run, "fashion_cnn", NULL, ARGS(msg));
    snprintf(msg, sizeof msg,
             "checkpoint %s/checkpoint.json is of optimizer adam, this run's optimizer is sgd", ck);
    resume_refused("another optimizer", run, "lenet5", ARGS("--optimizer", "sgd"), ARGS(msg));

    const char *cut = copy_run(run, "cut_weights");
    snprintf(path, sizeof path, "%s/checkpoints/naive/epoch-0001/weights/fc1.weight.npy", cut);
    cut_half(path);
    snprintf(msg, sizeof msg, "checkpoint file %s is truncated or changed: ", path);
    resume_refused("a weights file cut in half", cut, "lenet5", NULL, ARGS(msg));

    cut = copy_run(run, "cut_optim");
    snprintf(path, sizeof path, "%s/checkpoints/naive/epoch-0001/optimizer.npy", cut);
    cut_half(path);
    snprintf(msg, sizeof msg, "checkpoint file %s is truncated or changed: ", path);
    resume_refused("the optimizer state cut in half", cut, "lenet5", NULL, ARGS(msg));

    cut = copy_run(run, "cut_json");
    snprintf(path, sizeof path, "%s/checkpoints/naive/epoch-0001/checkpoint.json", cut);
    cut_half(path);
    snprintf(msg, sizeof msg, "cnnbench train: invalid argument: checkpoint: %s:", path);
    resume_refused("checkpoint.json cut in half", cut, "lenet5", NULL, ARGS(msg));

    /* a folder that is no run */
    const char *empty = th_path("empty");
    TU_CHECK(mkdir_p_ok(empty), "mkdir %s", empty);
    snprintf(msg, sizeof msg, "cnnbench train: --resume %s is not a run folder (no meta.json)",
             empty);
    th_expect("a folder that is no run",
              train("refused", "lenet5", "2", ARGS("--resume", empty), 0), 2, ARGS(msg));

    /* a full disk while epoch 1's checkpoint is written (fc1.weight is 188 KiB) */
    rc = train("full", "lenet5", "1", NULL, 64 << 10);
    th_expect("a full disk at the checkpoint", rc, 1, ARGS("cannot write: File too large"));
    char frun[1100];
    if (one_run("full", frun, sizeof frun)) {
        snprintf(path, sizeof path, "%s/checkpoints/naive/epoch-0001", frun);
        TU_CHECK(!tu_exists(path), "a checkpoint half written is there: %s", path);
    }
    /* resuming on a full disk: the old run stays whole and resumable */
    th_fingerprint(run, fp_before, sizeof fp_before);
    rc = train("full_resume", "lenet5", "2", ARGS("--resume", run), 64 << 10);
    th_expect("resume on a full disk", rc, 1, ARGS("cannot write: File too large"));
    th_fingerprint(run, fp_after, sizeof fp_after);
    TU_CHECK(!strcmp(fp_before, fp_after), "a failed resume changed the old run");
    rc = train("resumed", "lenet5", "2", ARGS("--resume", run), 0);
    th_expect("resume after the full disk", rc, 0, NULL);
    TU_CHECK(strstr(th_out, "resuming after epoch 1") != NULL, "no resume:\n%s", th_out);

    /* a batch of 32 at 4096x4096 (about 730 GiB) does not fit: no allocation is tried */
    if (cnn_host_memory_available() > 7e11) {
        printf("note: MemAvailable holds a 730 GiB plan; its out-of-memory error is not checked\n");
    } else {
        rc = train("oom", "resnet18", "1", ARGS("--image-size", "4096"), 0);
        th_expect("resnet18 at 32x3x4096x4096", rc, 1,
                  ARGS("cnnbench train: out of memory: model resnet18 at input 32x3x4096x4096 "
                       "needs ",
                       "available (MemAvailable in /proc/meminfo); nothing was allocated"));
    }
    rc = train("big", "lenet5", "1", ARGS("--image-size", "100000"), 0);
    th_expect("--image-size 100000", rc, 2,
              ARGS("cnnbench train: --image-size must be in [0, 4096] (0: the model's usual), got "
                   "100000"));
    TU_CHECK(!tu_exists(th_path("big")), "a refused --image-size made a results folder");
    return th_finish("test_hostile_train");
}
