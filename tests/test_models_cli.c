/* `cnnbench run` and `cnnbench models` end to end, as separate processes:
 * outputs equal the library's for the same model, weights and input (the
 * same code must give the same bits), and every kind of bad input gets the
 * documented exit code, a message with the key words, and no output files. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "model.h"
#include "npy.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

static const char *exe = CNNBENCH_EXE;
static char dir[] = "/tmp/cnn_test_models_cli_XXXXXX";
static char out_text[1 << 17], err_text[1 << 16];

static const char *tmp(const char *name)
{
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* run("run", "--model", ..., NULL): stdout and stderr land in out_text and
 * err_text; returns the exit code, or 128 + signal. */
static int run(const char *first, ...)
{
    char *args[64];
    int n = 0;
    args[n++] = (char *)exe;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 63; a = va_arg(ap, const char *))
        args[n++] = (char *)a;
    va_end(ap);
    args[n] = NULL;
    return tu_run_process(exe, args, dir, out_text, sizeof out_text, err_text, sizeof err_text);
}

static void expect_exit(int got, int want, const char *what, const char *words[])
{
    TU_CHECK(got == want, "%s: exit %d, expected %d; stderr: %s", what, got, want, err_text);
    const char *text = want == 0 ? out_text : err_text;
    for (int i = 0; words && words[i]; i++)
        TU_CHECK(strstr(text, words[i]) != NULL, "%s: output lacks '%s': %s", what, words[i], text);
}
#define WORDS(...) ((const char *[]){__VA_ARGS__, NULL})

static float *write_input(const char *name, cnn_shape s, uint64_t seed)
{
    int64_t n = cnn_shape_numel(&s);
    float *x = malloc((size_t)n * sizeof *x);
    uint64_t rng = seed;
    tu_fill(x, n, &rng, -1.0f, 1.0f);
    TU_CHECK(cnn_npy_write_f32(tmp(name), &s, x) == CNN_OK, "write %s: %s", name, cnn_last_error());
    return x;
}

/* The run's files equal the library's results for the same inputs. */
static void test_run_matches_library(void)
{
    cnn_shape xs = cnn_shape4(3, 1, 32, 32);
    float *x = write_input("x.npy", xs, 1);
    int64_t labels64[3] = {4, 0, 9};
    int32_t labels[3] = {4, 0, 9};
    cnn_shape ls = cnn_shape1(3);
    TU_CHECK(cnn_npy_write(tmp("y.npy"), CNN_DTYPE_I64, &ls, labels64) == CNN_OK, "write labels");

    cnn_model *m = NULL;
    cnn_exec_opts e = {.backends = "naive", .seed = 5};
    TU_CHECK(cnn_model_create("fashion_cnn", &(cnn_model_opts){.batch = 3}, &m) == CNN_OK &&
                 cnn_model_bind(m, &e) == CNN_OK && cnn_model_init_params(m, 17) == CNN_OK &&
                 cnn_model_save_weights(m, tmp("w")) == CNN_OK,
             "library model: %s", cnn_last_error());
    float loss = NAN, logits[30];
    TU_CHECK(cnn_model_set_input(m, x, cnn_shape_numel(&xs)) == CNN_OK &&
                 cnn_model_set_labels(m, labels, 3) == CNN_OK &&
                 cnn_model_forward(m, CNN_MODE_TRAIN) == CNN_OK &&
                 cnn_model_get_logits(m, logits, 30) == CNN_OK &&
                 cnn_model_loss(m, &loss) == CNN_OK && cnn_model_backward(m) == CNN_OK,
             "library run: %s", cnn_last_error());

    expect_exit(run("run", "--model", "fashion_cnn", "--backends", "naive", "--weights", tmp("w"),
                    "--input", tmp("x.npy"), "--labels", tmp("y.npy"), "--mode", "train", "--seed",
                    "5", "--out", tmp("out"), NULL),
                0, "fashion_cnn train run",
                WORDS("fashion_cnn train on naive, input 3x1x32x32", "forward", "backward",
                      "layer passes ran: naive", "0 fallbacks", "logits.npy, plan.csv, loss.txt"));
    cnn_shape s;
    float *got = NULL;
    TU_CHECK(cnn_npy_read_f32(tmp("out/logits.npy"), &s, &got) == CNN_OK, "logits.npy: %s",
             cnn_last_error());
    if (got)
        TU_CHECK(s.ndim == 2 && s.dim[0] == 3 && s.dim[1] == 10 &&
                     memcmp(got, logits, sizeof logits) == 0,
                 "logits.npy differs from the library's logits");
    free(got);
    char text[64], want[64];
    tu_slurp(tmp("out/loss.txt"), text, sizeof text);
    snprintf(want, sizeof want, "%.9g\n", loss);
    TU_CHECK(strcmp(text, want) == 0, "loss.txt '%s', library '%s'", text, want);
    for (int t = 0; t < cnn_model_tensor_count(m); t++) {
        cnn_tensor_info ti;
        cnn_model_tensor(m, t, &ti);
        char path[256];
        snprintf(path, sizeof path, "out/grad/%s.npy", ti.key);
        int64_t n = cnn_shape_numel(&ti.shape);
        float *ref = malloc((size_t)n * sizeof *ref);
        cnn_model_get_grad(m, ti.key, ref, n);
        got = NULL;
        TU_CHECK(cnn_npy_read_f32(tmp(path), &s, &got) == CNN_OK, "%s: %s", path, cnn_last_error());
        if (got)
            TU_CHECK(cnn_shape_eq(&s, &ti.shape) && memcmp(got, ref, (size_t)n * sizeof *ref) == 0,
                     "%s differs from the library's gradient", path);
        free(got);
        free(ref);
    }
    /* Eval mode without labels: only logits. */
    expect_exit(run("run", "--model", "fashion_cnn", "--backend", "naive", "--weights", tmp("w"),
                    "--input", tmp("x.npy"), "--out", tmp("out_eval"), NULL),
                0, "fashion_cnn eval run", NULL);
    TU_CHECK(tu_exists(tmp("out_eval/logits.npy")) && !tu_exists(tmp("out_eval/loss.txt")) &&
                 !tu_exists(tmp("out_eval/grad")),
             "eval run without labels wrote more than logits");
    free(x);
    cnn_model_destroy(m);
}

static void test_bad_runs(void)
{
    free(write_input("x28.npy", cnn_shape4(2, 1, 28, 28), 2));
    free(write_input("x3d.npy", cnn_shape2(28, 28), 3));
    free(write_input("xr.npy", cnn_shape4(2, 3, 16, 16), 4));
    cnn_shape xs = cnn_shape4(2, 1, 28, 28);
    float *xn = write_input("xnan.npy", xs, 5);
    xn[17] = NAN;
    cnn_npy_write_f32(tmp("xnan.npy"), &xs, xn);
    free(xn);
    int64_t three[3] = {1, 2, 3}, two[2] = {1, 12};
    cnn_shape s3 = cnn_shape1(3), s2 = cnn_shape1(2);
    cnn_npy_write(tmp("y3.npy"), CNN_DTYPE_I64, &s3, three);
    cnn_npy_write(tmp("ybad.npy"), CNN_DTYPE_I64, &s2, two);
    cnn_npy_write(tmp("y2.npy"), CNN_DTYPE_I64, &s2, three);

    expect_exit(run("run", "--model", "nosuchnet", "--backend", "naive", "--input", tmp("x28.npy"),
                    "--out", tmp("bad"), NULL),
                CLI_EXIT_USAGE, "unknown model", WORDS("nosuchnet", "resnet18", "lenet5"));
    expect_exit(run("run", "--model", "lenet5", "--backends", "naive,nosuch", "--input",
                    tmp("x28.npy"), "--out", tmp("bad"), NULL),
                CLI_EXIT_USAGE, "unknown backend", WORDS("nosuch", "naive"));
    expect_exit(run("run", "--model", "lenet5", "--backend", "naive", "--override", "conv1=nosuch",
                    "--input", tmp("x28.npy"), "--out", tmp("bad"), NULL),
                CLI_EXIT_USAGE, "unknown override backend", WORDS("nosuch"));
    expect_exit(run("run", "--model", "lenet5", "--backend", "naive", "--mode", "test", "--input",
                    tmp("x28.npy"), "--out", tmp("bad"), NULL),
                CLI_EXIT_USAGE, "bad mode", WORDS("eval", "train"));
    expect_exit(run("run", "--model", "fashion_cnn", "--backend", "naive", "--input",
                    tmp("x28.npy"), "--out", tmp("bad"), NULL),
                CLI_EXIT_FAIL, "fashion_cnn on 28x28",
                WORDS("fc_layer.0", "2048", "2x1x28x28", "2x1x32x32"));
    expect_exit(run("run", "--model", "lenet5", "--backend", "naive", "--input", tmp("x3d.npy"),
                    "--out", tmp("bad"), NULL),
                CLI_EXIT_FAIL, "2-d input", WORDS("28x28", "N x 1 x 28 x 28"));
    expect_exit(run("run", "--model", "lenet5", "--backend", "naive", "--input", tmp("x28.npy"),
                    "--labels", tmp("y3.npy"), "--out", tmp("bad"), NULL),
                CLI_EXIT_FAIL, "3 labels for 2 images", WORDS("3 labels", "batch is 2"));
    expect_exit(run("run", "--model", "lenet5", "--backend", "naive", "--input", tmp("x28.npy"),
                    "--labels", tmp("ybad.npy"), "--out", tmp("bad"), NULL),
                CLI_EXIT_FAIL, "label out of range", WORDS("12"));
    expect_exit(run("run", "--model", "lenet5", "--backend", "naive", "--input", tmp("x28.npy"),
                    "--weights", tmp("nowhere"), "--out", tmp("bad"), NULL),
                CLI_EXIT_FAIL, "missing weights", WORDS("nowhere: No such file or directory", "expected a folder of KEY.npy files"));
    expect_exit(run("run", "--model", "lenet5", "--backend", "naive", "--input", tmp("xnan.npy"),
                    "--labels", tmp("y2.npy"), "--out", tmp("bad"), NULL),
                CLI_EXIT_FAIL, "NaN input", WORDS("logits", "NaN", "nothing was written"));
    TU_CHECK(!tu_exists(tmp("bad")), "a failed run left %s behind", tmp("bad"));
    /* eval-mode gradients go through batch norm with frozen statistics */
    expect_exit(run("run", "--model", "resnet18", "--backend", "naive", "--classes", "4", "--input",
                    tmp("xr.npy"), "--labels", tmp("y2.npy"), "--out", tmp("evalgrad"), NULL),
                0, "eval gradients through BN", NULL);
    TU_CHECK(tu_exists(tmp("evalgrad/grad/layer1.0.bn1.weight.npy")),
             "eval-mode run wrote no batch-norm gradient");
}

/* plan.csv rows "layer,op,pass,backend,...": how many conv2d fwd rows ran on
 * `on`, and whether any row ran on naive. */
static int plan_conv_rows(const char *plan, const char *on, bool *naive)
{
    static char text[1 << 16];
    tu_slurp(plan, text, sizeof text);
    int n = 0;
    *naive = false;
    char want[64];
    snprintf(want, sizeof want, ",conv2d,fwd,%s,", on);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        n += strstr(line, want) != NULL;
        *naive |= strstr(line, ",naive,") != NULL;
    }
    return n;
}

/* ResNet-18 at 32x32 on Winograd: conv1 (7x7 stride 2), the stride-2 3x3
 * convolutions and the 1x1 downsamples run on im2col, the fallback Winograd
 * names, never on naive, and stderr lists each fallback; with
 * "winograd,onednn" the list comes first and they run on onednn. The old
 * spelling --backend is the same option. */
static void test_run_fallbacks(void)
{
    free(write_input("x32.npy", cnn_shape4(1, 3, 32, 32), 6));
    const char *lists[2] = {"winograd", "winograd,onednn"};
    const char *used[2] = {"im2col", "onednn"};
    const char *opt[2] = {"--backends", "--backend"};
    for (int k = 0; k < 2; k++) {
        char out[32], plan[64], conv1[128];
        snprintf(out, sizeof out, "fallbacks%d", k);
        snprintf(plan, sizeof plan, "%s/plan.csv", out);
        snprintf(conv1, sizeof conv1, "conv1,conv2d,fwd,%s,", used[k]);
        snprintf(err_text, sizeof err_text, "(not run)");
        int rc = run("run", "--model", "resnet18", opt[k], lists[k], "--input", tmp("x32.npy"),
                     "--threads", "1", "--out", tmp(out), NULL);
        if (k == 1 && rc == CLI_EXIT_USAGE && strstr(err_text, "unknown backend 'onednn'")) {
            printf("(onednn not built: the list-first case is not checked)\n");
            continue;
        }
        expect_exit(rc, 0, lists[k], WORDS("(7 fallbacks; each layer's backend"));
        const char *line = strstr(err_text, "fallback: conv1 ");
        const char *end = line ? strchr(line, '\n') : NULL;
        char want[64];
        snprintf(want, sizeof want, "used %s ", used[k]);
        const char *at = line ? strstr(line, want) : NULL;
        TU_CHECK(at && (!end || at < end), "%s: stderr does not list conv1's fallback to %s: %s",
                 lists[k], used[k], err_text);
        bool naive = true;
        int n = plan_conv_rows(tmp(plan), used[k], &naive);
        char text[1 << 12];
        tu_slurp(tmp(plan), text, sizeof text);
        TU_CHECK(strstr(text, conv1) != NULL, "%s: plan.csv has no row '%s'", lists[k], conv1);
        TU_CHECK(n == 7 && !naive, "%s: %d conv forwards on %s (want 7), %s on naive", lists[k], n,
                 used[k], naive ? "some" : "none");
    }
}

static void test_models_command(void)
{
    expect_exit(run("models", NULL), 0, "models",
                WORDS("resnet18", "11689512", "138357544", "61100840", "6624904", "3x224x224"));
    expect_exit(
        run("models", "--layers", "googlenet", NULL), 0, "models --layers googlenet",
        WORDS("inception4e.branch4.1.conv", "inception5b.cat", "concat", "1x1024x1x1", "6624904"));
    /* FLOPs in readable units, and each layer's input shape beside its output:
     * lenet5's fc3 takes 1x84 and makes 1x10 with 2*84*10 FLOPs. */
    expect_exit(run("models", "--layers", "lenet5", NULL), 0, "models --layers lenet5",
                WORDS("input", "1x84                 1x10", "1.68 kFLOP", "865 kFLOP forward"));
    expect_exit(run("models", "--layers", "alexnet", "--image-size", "64", "--classes", "7", NULL),
                0, "alexnet at 64x64", WORDS("1x3x64x64", "1x7"));
    expect_exit(run("models", "--layers", "nosuchnet", NULL), CLI_EXIT_USAGE, "unknown model",
                WORDS("nosuchnet", "vgg16"));
    expect_exit(run("models", "--layers", "lenet5", "--image-size", "32", NULL), CLI_EXIT_FAIL,
                "lenet5 at 32x32", WORDS("fc1", "400"));
    /* the image size is --image-size in every command (issue 13) */
    expect_exit(run("models", "--layers", "alexnet", "--size", "64", NULL), CLI_EXIT_USAGE,
                "the old --size", WORDS("unknown option '--size'", "--image-size"));
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_run_matches_library();
    test_bad_runs();
    test_run_fallbacks();
    test_models_command();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_models_cli");
}
