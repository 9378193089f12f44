/* Numerics under stress: activations that overflow float32 are reported
 * with the first layer where NaN or Inf appeared (models/finite.h), and
 * nothing computed from them is written.
 *   - `cnnbench run` on fashion_cnn with a --weights folder whose
 *     conv_layer2.0 and fc_layer.0 weights are scaled by 1e30: conv_layer2.0
 *     stays finite (~1e30), fc_layer.0 overflows. Forward only (the
 *     forward-only bind reuses activation memory: the forward runs again
 *     with a check per layer) and with --labels (every output kept): the
 *     same layer, exit 1, no logits.npy.
 *   - `cnnbench train` whose weights are scaled by 1e30 before step 20
 *     (test-only CNNBENCH_TEST_SCALE_WEIGHTS, harness/train_loop.c; 16
 *     steps an epoch here): it stops in epoch 2 naming conv_layer2.0, exit
 *     1, meta.json "failed", the epoch-1 checkpoint is the newest and
 *     resuming from it (without the hook) ends like a run never broken.
 * 77 without the Fashion-MNIST dataset (the train half only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_fmnist.h"
#include "npy.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

static char dir[] = "/tmp/cnn_test_faults_numerics_XXXXXX";
static char out_text[1 << 17], err_text[1 << 16];
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char *in_dir(const char *name)
{
    static char paths[8][600];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 600, "%s/%s", dir, name);
    return p;
}

/* cnnbench COMMAND ARGS (no --results: run takes none). */
static int cnnbench(const char *const *args)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)CNNBENCH_EXE;
    for (; *args && n < 63; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    return tu_run_process(CNNBENCH_EXE, argv, dir, out_text, sizeof out_text, err_text,
                          sizeof err_text);
}

static void scale_npy(const char *path, float factor)
{
    cnn_shape s;
    float *x = NULL;
    TU_EXPECT_OK(cnn_npy_read_f32(path, &s, &x));
    if (!x)
        return;
    for (int64_t i = 0; i < cnn_shape_numel(&s); i++)
        x[i] *= factor;
    TU_EXPECT_OK(cnn_npy_write_f32(path, &s, x));
    free(x);
}

static void test_run(void)
{
    cnn_shape xs = cnn_shape4(4, 1, 32, 32), ls = cnn_shape1(4);
    uint64_t seed = 12;
    float *x = tu_rand_buf(cnn_shape_numel(&xs), &seed, 0, 1);
    int64_t labels[4] = {1, 0, 9, 3};
    TU_EXPECT_OK(cnn_npy_write_f32(in_dir("x.npy"), &xs, x));
    TU_EXPECT_OK(cnn_npy_write(in_dir("y.npy"), CNN_DTYPE_I64, &ls, labels));
    free(x);
    int rc =
        cnnbench(ARGS("run", "--model", "fashion_cnn", "--backends", "naive", "--input",
                      in_dir("x.npy"), "--out", in_dir("good"), "--save-weights", in_dir("w")));
    TU_CHECK(rc == 0 && tu_exists(in_dir("good/logits.npy")), "seeded run: exit %d\n%s", rc,
             err_text);
    scale_npy(in_dir("w/conv_layer2.0.weight.npy"), 1e30f);
    scale_npy(in_dir("w/fc_layer.0.weight.npy"), 1e30f);
    const char *want = " of 40 values are NaN or Inf (first in layer fc_layer.0 (linear forward): ";
    const char *tail = " of 256 values; its input and weights are finite (float32 overflow))";
    for (int labelled = 0; labelled < 2; labelled++) {
        const char *out = in_dir(labelled ? "bad_labels" : "bad");
        rc = labelled
                 ? cnnbench(ARGS("run", "--model", "fashion_cnn", "--backends", "im2col", "--input",
                                 in_dir("x.npy"), "--labels", in_dir("y.npy"), "--weights",
                                 in_dir("w"), "--out", out))
                 : cnnbench(ARGS("run", "--model", "fashion_cnn", "--backends", "im2col", "--input",
                                 in_dir("x.npy"), "--weights", in_dir("w"), "--out", out));
        const char *at = strstr(err_text, "cnnbench run: logits: ");
        TU_CHECK(rc == 1 && at && strstr(at, want) && strstr(at, tail) &&
                     strstr(err_text, "hold NaN or Inf (listed above); nothing was written"),
                 "%s: exit %d, want 1 naming fc_layer.0:\n%s", labelled ? "--labels" : "forward",
                 rc, err_text);
        TU_CHECK(!tu_exists(out), "%s: %s was made", labelled ? "--labels" : "forward", out);
    }
}

static char ds_path[4096];

static int train(const char *root, const char *const *args)
{
    char results[600], *argv[64];
    snprintf(results, sizeof results, "%s/%s", dir, root);
    tu_cli_argv(argv, CNNBENCH_EXE, "train", args, results);
    return tu_run_process(CNNBENCH_EXE, argv, dir, out_text, sizeof out_text, err_text,
                          sizeof err_text);
}

#define TRAIN                                                                                      \
    "--model", "fashion_cnn", "--backends", "im2col", "--limit", "1024", "--batch", "64",          \
        "--threads", "1", "--epochs", "2"

static void test_train(void)
{
    setenv("CNNBENCH_TEST_SCALE_WEIGHTS", "20:1e30", 1);
    int rc = train("div", ARGS(TRAIN));
    unsetenv("CNNBENCH_TEST_SCALE_WEIGHTS");
    const char *want =
        "cnnbench train: invalid argument: model fashion_cnn: the training loss of step 20 is "
        "-nan (diverged): first in layer conv_layer2.0 (conv2d forward, with its ReLU conv_layer2.1 "
        "fused): ";
    const char *tail = " of 524288 values; its input and weights are finite (float32 overflow); "
                       "no checkpoint written\n";
    TU_CHECK(rc == 1 && strstr(err_text, want) && strstr(err_text, tail),
             "diverged in epoch 2: exit %d, want 1 naming conv_layer2.0:\n%s", rc, err_text);
    char names[4][256], run[600], path[900], meta[8192];
    if (tu_list_runs(in_dir("div"), names, 4) != 1)
        return;
    snprintf(run, sizeof run, "%s/%s", in_dir("div"), names[0]);
    snprintf(path, sizeof path, "%s/meta.json", run);
    tu_slurp(path, meta, sizeof meta);
    TU_CHECK(strstr(meta, "\"status\": \"failed\"") && strstr(meta, "conv_layer2.0"),
             "meta.json of the diverged run:\n%s", meta);
    snprintf(path, sizeof path, "%s/checkpoints/im2col", run);
    int k = tu_list_dir(path, names, 4);
    TU_CHECK(k == 1 && !strcmp(names[0], "epoch-0001"),
             "%d checkpoints after the divergence, the first %s (want only epoch-0001)", k,
             k > 0 ? names[0] : "none");
    rc = train("again", ARGS(TRAIN, "--resume", run, "--save-weights", in_dir("again_w")));
    TU_CHECK(rc == 0 && strstr(out_text, "im2col: resuming after epoch 1 (and 0 batches"),
             "resume from the kept checkpoint: exit %d\n%s%s", rc, out_text, err_text);
    rc = train("whole", ARGS(TRAIN, "--save-weights", in_dir("whole_w")));
    TU_CHECK(rc == 0, "the run never broken: exit %d\n%s", rc, err_text);
    char a[900], b[900];
    snprintf(a, sizeof a, "cmp -s %s/fc_layer.3.weight.npy %s/fc_layer.3.weight.npy",
             in_dir("again_w"), in_dir("whole_w"));
    snprintf(b, sizeof b, "cmp -s %s/conv_layer1.0.weight.npy %s/conv_layer1.0.weight.npy",
             in_dir("again_w"), in_dir("whole_w"));
    TU_CHECK(system(a) == 0 && system(b) == 0,
             "resumed after the divergence: weights differ from the run never broken");
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    test_run();
    bool have = cnn_fmnist_find(NULL, CNN_FMNIST_TRAIN, ds_path, sizeof ds_path) == CNN_OK;
    if (have)
        test_train();
    else
        printf("test_faults_numerics: train part skipped: %s\n", cnn_last_error());
    int rc = tu_finish("test_faults_numerics");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (rc == 0 && !getenv("KEEP") && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return rc;
}
