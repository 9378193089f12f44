/* `cnnbench run --weights DIR` on hostile weight folders, as a process: NaN
 * and Inf values, dtypes other than float32, symlink loops (a key's file and
 * the folder itself), a key that differs from the model's only in case. Each
 * gets its exact message naming the folder, key and file, exit status 1, and
 * no --out folder. (test_weights_errors checks the library's reports.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "npy.h"
#include "test_hostile_util.h"

/* A copy of the good folder lenet5's weights are in, as SCRATCH/name. */
static const char *copy_good(const char *name)
{
    const char *dst = th_path(name);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", th_path("good"), dst);
    TU_CHECK(system(cmd) == 0, "%s", cmd);
    return dst;
}

/* `run` with weights dir: exit 1, every word on stderr, no output folder. */
static void refused(const char *what, const char *dir, const char *const *words)
{
    const char *out = th_path("never");
    int rc = th_run(ARGS("run", "--model", "lenet5", "--backends", "naive", "--input",
                         th_path("x.npy"), "--weights", dir, "--out", out, "--threads", "1"),
                    0);
    th_expect(what, rc, 1, words);
    TU_CHECK(!tu_exists(out), "%s: a refused run created %s", what, out);
}

/* A .npy of 'n' values whose header says descr (8-byte elements). */
static void write_f8(const char *path, const char *descr, int n)
{
    char h[128];
    int len = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (%d,), }",
                       descr, n);
    while ((10 + len + 1) % 64)
        h[len++] = ' ';
    h[len++] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)len, 0};
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(pre, 1, 10, f);
    fwrite(h, 1, (size_t)len, f);
    double v = 0.5;
    for (int i = 0; i < n; i++)
        fwrite(&v, sizeof v, 1, f);
    fclose(f);
}

static void set_value(const char *dir, const char *key, int index, float value)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s.npy", dir, key);
    cnn_shape s;
    float *x = NULL;
    TU_EXPECT_OK(cnn_npy_read_f32(p, &s, &x));
    if (!x)
        return;
    x[index] = value;
    TU_EXPECT_OK(cnn_npy_write_f32(p, &s, x));
    free(x);
}

int main(void)
{
    if (!th_init("hostile_weights"))
        return 2;
    cnn_model *m = NULL;
    cnn_model_opts o = {.batch = 2};
    cnn_exec_opts e = {.backends = "naive", .threads = 1};
    TU_EXPECT_OK(cnn_model_create("lenet5", &o, &m));
    TU_EXPECT_OK(cnn_model_bind(m, &e));
    TU_EXPECT_OK(cnn_model_init_params(m, 3));
    TU_EXPECT_OK(cnn_model_save_weights(m, th_path("good")));
    cnn_model_destroy(m);
    float x[2 * 28 * 28];
    uint64_t rng = 7;
    tu_fill(x, 2 * 28 * 28, &rng, 0, 1);
    TU_EXPECT_OK(cnn_npy_write_f32(th_path("x.npy"), &(cnn_shape){4, {2, 1, 28, 28}}, x));
    int rc = th_run(ARGS("run", "--model", "lenet5", "--backends", "naive", "--input",
                         th_path("x.npy"), "--weights", th_path("good"), "--out", th_path("ok")),
                    0);
    th_expect("the good folder", rc, 0, NULL);

    char msg[1400];
    const char *dir = copy_good("nan");
    set_value(dir, "conv1.bias", 2, NAN);
    snprintf(msg, sizeof msg,
             "cnnbench run: invalid argument: weights %s: 1 problem: key "
             "'conv1.bias' holds 1 NaN or Inf values of 6",
             dir);
    refused("a NaN", dir, ARGS(msg));

    dir = copy_good("inf");
    set_value(dir, "fc1.bias", 0, INFINITY);
    set_value(dir, "fc2.weight", 5, -INFINITY);
    snprintf(msg, sizeof msg, "weights %s: 2 problems: ", dir);
    refused("Inf and -Inf", dir,
            ARGS(msg, "key 'fc1.bias' holds 1 NaN or Inf values of 120",
                 "key 'fc2.weight' holds 1 NaN or Inf values of 10080"));

    dir = copy_good("f8");
    char file[1200];
    snprintf(file, sizeof file, "%s/conv1.bias.npy", dir);
    write_f8(file, "<f8", 6);
    snprintf(msg, sizeof msg,
             "key 'conv1.bias': %s: dtype '<f8' is not supported, expected float32 '<f4' "
             "(np.save(path, a.astype(np.float32)))",
             file);
    refused("float64", dir, ARGS(msg));
    int64_t ints[6] = {1, 2, 3, 4, 5, 6};
    TU_EXPECT_OK(cnn_npy_write(file, CNN_DTYPE_I64, &(cnn_shape){1, {6}}, ints));
    snprintf(msg, sizeof msg,
             "key 'conv1.bias': %s: dtype '<i8' is not supported, expected float32", file);
    refused("int64", dir, ARGS(msg));
    write_f8(file, ">f8", 6);
    snprintf(msg, sizeof msg, "key 'conv1.bias': %s: dtype '>f8' is not supported", file);
    refused("big-endian float64", dir, ARGS(msg));

    /* a key's file that is a symlink loop, a dangling link, the folder a loop */
    dir = copy_good("loop");
    snprintf(file, sizeof file, "%s/conv1.bias.npy", dir);
    unlink(file);
    TU_CHECK(symlink("conv1.bias.npy", file) == 0, "symlink %s", file);
    snprintf(msg, sizeof msg, "key 'conv1.bias': %s: Too many levels of symbolic links", file);
    refused("a key's file a symlink loop", dir, ARGS(msg));
    unlink(file);
    TU_CHECK(symlink("nowhere.npy", file) == 0, "symlink %s", file);
    snprintf(msg, sizeof msg, "key 'conv1.bias': %s: a symbolic link to nothing (nowhere.npy)",
             file);
    refused("a dangling link", dir, ARGS(msg));
    const char *a = th_path("dir_a"), *b = th_path("dir_b");
    TU_CHECK(symlink(b, a) == 0 && symlink(a, b) == 0, "symlinks %s %s", a, b);
    snprintf(msg, sizeof msg,
             "cnnbench run: invalid argument: weights %s: Too many levels of symbolic links "
             "(expected a folder of KEY.npy files)",
             a);
    refused("the folder a symlink loop", a, ARGS(msg));

    /* keys are case-sensitive: one that differs only in case gets the key it resembles */
    dir = copy_good("case");
    char to[1200];
    snprintf(file, sizeof file, "%s/conv1.bias.npy", dir);
    snprintf(to, sizeof to, "%s/Conv1.Bias.npy", dir);
    TU_CHECK(rename(file, to) == 0, "rename %s", file);
    snprintf(msg, sizeof msg, "weights %s: 2 problems: ", dir);
    refused("a key in another case", dir,
            ARGS(msg, "missing key 'conv1.bias' (model lenet5 expects shape 6)",
                 "extra key 'Conv1.Bias' (shape 6) is not a parameter or buffer of model lenet5 "
                 "(it differs only in case from 'conv1.bias'; keys are case-sensitive)"));
    return th_finish("test_hostile_weights");
}
