/* What `--weights` gets for each kind of bad folder: the exact reason, every
 * problem of a folder in one report, the input blamed when the input is at
 * fault, and a model left untouched by a refused load. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "npy.h"
#include "test_util.h"

static char root[] = "/tmp/cnn_test_weights_XXXXXX";

static const char *path(const char *rel)
{
    static char buf[4][1024];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", root, rel);
    return p;
}

static cnn_model *lenet(int c)
{
    cnn_model *m = NULL;
    cnn_model_opts o = {.batch = 2, .c = c};
    cnn_exec_opts e = {.backends = "naive", .threads = 1};
    cnn_status st = cnn_model_create("lenet5", &o, &m);
    if (st == CNN_OK)
        st = cnn_model_bind(m, &e);
    if (st == CNN_OK)
        st = cnn_model_init_params(m, 5);
    TU_CHECK(st == CNN_OK, "lenet5 c=%d: %s", c, cnn_last_error());
    return st == CNN_OK ? m : NULL;
}

/* The load fails with CNN_ERR_INVALID_ARG and the message holds every part. */
static void expect(cnn_model *m, const char *dir, const char *what, const char *const *parts)
{
    cnn_status st = cnn_model_load_weights(m, dir);
    TU_CHECK(st == CNN_ERR_INVALID_ARG, "%s: status %s, want invalid argument", what,
             cnn_status_str(st));
    for (; *parts; parts++)
        TU_CHECK(strstr(cnn_last_error(), *parts) != NULL, "%s: message '%s' lacks '%s'", what,
                 cnn_last_error(), *parts);
}
#define PARTS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void write_f32(const char *rel, cnn_shape s, float value)
{
    int64_t n = cnn_shape_numel(&s);
    float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = value;
    TU_EXPECT_OK(cnn_npy_write_f32(path(rel), &s, x));
    free(x);
}

static void touch(const char *rel)
{
    FILE *f = fopen(path(rel), "w");
    if (f)
        fclose(f);
}

int main(void)
{
    if (!mkdtemp(root))
        return 2;
    cnn_model *good = lenet(0), *m = lenet(0);
    if (!good || !m)
        return tu_finish("test_weights_errors");
    TU_EXPECT_OK(cnn_model_save_weights(good, path("lenet")));

    /* Not a folder: an archive gets its kind and the export recipe. */
    touch("w.npz");
    expect(m, path("w.npz"), ".npz file",
           PARTS("w.npz is a .npz file, not a folder of KEY.npy files", "np.load", "np.save"));
    touch("model.pt");
    expect(m, path("model.pt"), ".pt file", PARTS("model.pt is a .pt file", "torch.load"));
    touch("plain");
    expect(m, path("plain"), "plain file", PARTS("plain is not a folder of KEY.npy files"));
    expect(m, path("absent"), "missing folder",
           PARTS("absent: No such file or directory", "expected a folder of KEY.npy files"));

    /* Several problems: all of them in one report, counted. */
    mkdir(path("bad"), 0777);
    TU_EXPECT_OK(cnn_model_save_weights(good, path("bad")));
    remove(path("bad/fc3.bias.npy"));
    write_f32("bad/fc1.weight.npy", cnn_shape2(120, 399), 0.f);
    write_f32("bad/extra.weight.npy", cnn_shape1(3), 0.f);
    expect(m, path("bad"), "three problems",
           PARTS("3 problems", "missing key 'fc3.bias' (model lenet5 expects shape 10)",
                 "key 'fc1.weight' has shape 120x399 in the file, model lenet5 expects 120x400",
                 "extra key 'extra.weight' (shape 3)"));

    /* Non-finite values are refused, with the count. */
    mkdir(path("nan"), 0777);
    TU_EXPECT_OK(cnn_model_save_weights(good, path("nan")));
    write_f32("nan/conv1.bias.npy", cnn_shape1(6), NAN);
    expect(m, path("nan"), "NaN weights",
           PARTS("1 problem:", "key 'conv1.bias' holds 6 NaN or Inf values of 6"));

    /* DataParallel's prefix gets a hint. */
    mkdir(path("dp"), 0777);
    TU_EXPECT_OK(cnn_model_save_weights(good, path("dp")));
    char from[1024], to[1024];
    snprintf(from, sizeof from, "%s", path("dp/conv1.bias.npy"));
    snprintf(to, sizeof to, "%s", path("dp/module.conv1.bias.npy"));
    TU_CHECK(rename(from, to) == 0, "rename");
    expect(m, path("dp"), "module. prefix",
           PARTS("missing key 'conv1.bias'", "extra key 'module.conv1.bias'",
                 "DataParallel's 'module.' prefix"));

    /* The input is at fault: a 3-channel input to lenet5 with its 1-channel
     * weights names the input shapes, not the weight key. */
    cnn_model *rgb = lenet(3);
    if (rgb)
        expect(rgb, path("lenet"), "input channels",
               PARTS("input shape 2x3x28x28 does not fit the weights",
                     "model lenet5 with these weights expects input 2x1x28x28",
                     "key 'conv1.weight' is 6x1x5x5"));
    cnn_model_destroy(rgb);

    /* After every refusal the model still holds its own weights. */
    cnn_model *fresh = lenet(0);
    if (fresh) {
        float a[6], b[6];
        TU_EXPECT_OK(cnn_model_get_tensor(m, "conv1.bias", a, 6));
        TU_EXPECT_OK(cnn_model_get_tensor(fresh, "conv1.bias", b, 6));
        TU_CHECK(memcmp(a, b, sizeof a) == 0, "a refused load changed the model's weights");
    }
    TU_EXPECT_OK(cnn_model_load_weights(m, path("lenet")));
    cnn_model_destroy(fresh);
    cnn_model_destroy(good);
    cnn_model_destroy(m);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return tu_finish("test_weights_errors");
}
