/* `cnnbench op` end to end: random inputs written as .npy, the command run
 * as a separate process, its outputs compared bit for bit with the naive
 * backend called directly through dispatch (the same code must give the same
 * bits); and every kind of bad input answered with the documented exit code
 * and a message holding the key words. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "dispatch.h"
#include "npy.h"
#include "registry.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

static const char *exe = CNNBENCH_EXE;
static char dir[256];
static char out_text[1 << 16], err_text[1 << 16];
static uint64_t rng = 12345;

static const char *tmp(const char *name)
{
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* Run cnnbench with the NULL-terminated arguments; stdout and stderr land in
 * out_text and err_text. Returns the exit code, or 128 + signal. */
static int run_argv(char **args)
{
    return tu_run_process(exe, args, dir, out_text, sizeof out_text, err_text, sizeof err_text);
}

/* run("op", "conv2d", ..., NULL) */
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
    return run_argv(args);
}

static void expect_exit(int got, int want, const char *what, const char *words[])
{
    TU_CHECK(got == want, "%s: exit %d, expected %d; stderr: %s", what, got, want, err_text);
    const char *text = want == 0 ? out_text : err_text;
    for (int i = 0; words && words[i]; i++)
        TU_CHECK(strstr(text, words[i]) != NULL, "%s: output lacks '%s': %s", what, words[i], text);
}
#define WORDS(...) ((const char *[]){__VA_ARGS__, NULL})

/* A random float32 .npy of the given shape; returns its data (free()). */
static float *random_npy(const char *name, cnn_shape s, float lo, float hi)
{
    int64_t n = cnn_shape_numel(&s);
    float *x = malloc((size_t)n * sizeof *x);
    tu_fill(x, n, &rng, lo, hi);
    if (cnn_npy_write_f32(tmp(name), &s, x) != CNN_OK) {
        fprintf(stderr, "%s\n", cnn_last_error());
        exit(1);
    }
    return x;
}

static float *alloc_f(cnn_shape s)
{
    return malloc((size_t)cnn_shape_numel(&s) * sizeof(float));
}

/* DIR/name.npy must hold exactly ref (bit for bit) with shape s. */
static void expect_npy(const char *out, const char *name, const float *ref, cnn_shape s)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s.npy", out, name);
    cnn_shape got;
    float *data = NULL;
    cnn_status st = cnn_npy_read_f32(path, &got, &data);
    TU_CHECK(st == CNN_OK, "%s: %s", path, cnn_last_error());
    if (st != CNN_OK)
        return;
    char a[64], b[64];
    TU_CHECK(cnn_shape_eq(&got, &s), "%s: shape %s, expected %s", path,
             cnn_shape_str(&got, a, sizeof a), cnn_shape_str(&s, b, sizeof b));
    if (cnn_shape_eq(&got, &s)) {
        int64_t n = cnn_shape_numel(&s), i = 0;
        while (i < n && memcmp(&data[i], &ref[i], sizeof(float)) == 0)
            i++;
        TU_CHECK(i == n, "%s: element %lld is %.9g, direct call gave %.9g", path, (long long)i,
                 i < n ? data[i] : 0.0, i < n ? ref[i] : 0.0);
    }
    free(data);
}

static cnn_ctx *ctx;
static void *ws;
static size_t ws_size;

/* The workspace the direct calls pass, as large as any pass asks for. */
static void want_ws(const cnn_op *op, cnn_pass pass)
{
    size_t need = cnn_workspace_size(ctx, op, pass);
    if (need > ws_size) {
        free(ws);
        ws = malloc(need);
        ws_size = need;
    }
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        cnn_status st_ = (call);                                                                   \
        TU_CHECK(st_ == CNN_OK, "%s: %s", #call, cnn_last_error());                                \
    } while (0)

/* ---- every op, through the command and directly ------------------------ */

static void test_conv(bool bias)
{
    cnn_op op = {.kind = CNN_OP_CONV};
    cnn_conv_desc *d = &op.conv;
    *d = (cnn_conv_desc){.n = 2,
                         .c = 3,
                         .h = 7,
                         .w = 6,
                         .k = 4,
                         .r = 3,
                         .s = 2,
                         .stride_h = 2,
                         .stride_w = 1,
                         .pad_h = 1,
                         .pad_w = 0,
                         .has_bias = bias};
    OK(cnn_conv_init(d));
    cnn_shape xs = cnn_shape4(2, 3, 7, 6), ws4 = cnn_shape4(4, 3, 3, 2), bs = cnn_shape1(4);
    cnn_shape ys = cnn_op_y_shape(&op);
    float *x = random_npy("x.npy", xs, -1, 1), *w = random_npy("w.npy", ws4, -1, 1);
    float *b = random_npy("b.npy", bs, -1, 1), *dy = random_npy("dy.npy", ys, -1, 1);
    const char *out = tmp(bias ? "conv_bias" : "conv");
    int rc = bias ? run("op", "conv2d", "--backend", "naive", "--x", tmp("x.npy"), "--w",
                        tmp("w.npy"), "--bias", tmp("b.npy"), "--stride", "2,1", "--pad", "1,0",
                        "--dy", tmp("dy.npy"), "--out", out, "--threads", "1", NULL)
                  : run("op", "conv2d", "--backend", "naive", "--x", tmp("x.npy"), "--w",
                        tmp("w.npy"), "--stride=2,1", "--pad", "1,0", "--dy", tmp("dy.npy"),
                        "--out", out, "--threads", "1", NULL);
    /* It says what ran: the algorithm of each pass, and the files written. */
    expect_exit(rc, 0, "conv2d",
                WORDS("conv2d on naive", "fwd ", "bwd_data", "bwd_weight", "wrote to", "y.npy (",
                      "dw.npy ("));

    float *y = alloc_f(ys), *dx = alloc_f(xs), *dw = alloc_f(ws4), *db = alloc_f(bs);
    for (cnn_pass p = CNN_FWD; p <= CNN_BWD_BIAS; p++)
        if (p != CNN_FWD_INFER)
            want_ws(&op, p);
    OK(cnn_conv_fwd(ctx, d, x, w, bias ? b : NULL, y, ws, ws_size));
    OK(cnn_conv_bwd_data(ctx, d, dy, w, dx, ws, ws_size));
    OK(cnn_conv_bwd_filter(ctx, d, x, dy, dw, ws, ws_size));
    expect_npy(out, "y", y, ys);
    expect_npy(out, "dx", dx, xs);
    expect_npy(out, "dw", dw, ws4);
    if (bias) {
        OK(cnn_conv_bwd_bias(ctx, d, NULL, dy, db, NULL, ws, ws_size));
        expect_npy(out, "db", db, bs);
    } else {
        char p[600];
        snprintf(p, sizeof p, "%s/db.npy", out);
        TU_CHECK(!tu_exists(p), "conv2d without --bias wrote db.npy");
    }
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db);
}

static void test_pool(cnn_pool_mode m)
{
    cnn_op op = {.kind = CNN_OP_POOL};
    cnn_pool_desc *d = &op.pool;
    /* max: 3x3 stride 2 pad 1 ceil; avg: 2x3, stride defaulting to the
     * kernel, padding 1. */
    if (m == CNN_POOL_MAX)
        *d = (cnn_pool_desc){CNN_POOL_MAX, 2, 3, 8, 7, 3, 3, 2, 2, 1, 1, true, 0, 0};
    else
        *d = (cnn_pool_desc){CNN_POOL_AVG, 2, 2, 6, 5, 2, 3, 2, 3, 1, 1, false, 0, 0};
    OK(cnn_pool_init(d));
    cnn_shape xs = cnn_op_x_shape(&op), ys = cnn_op_y_shape(&op);
    float *x = random_npy("x.npy", xs, -1, 1), *dy = random_npy("dy.npy", ys, -1, 1);
    const char *out = tmp(m == CNN_POOL_MAX ? "maxpool" : "avgpool");
    int rc = m == CNN_POOL_MAX ? run("op", "maxpool2d", "--backend", "naive", "--x", tmp("x.npy"),
                                     "--kernel", "3", "--stride", "2", "--pad", "1", "--ceil",
                                     "--dy", tmp("dy.npy"), "--out", out, "--threads", "1", NULL)
                               : run("op", "avgpool2d", "--backend", "naive", "--x", tmp("x.npy"),
                                     "--kernel", "2,3", "--pad", "1", "--dy", tmp("dy.npy"),
                                     "--out", out, "--threads", "1", NULL);
    expect_exit(rc, 0, cnn_op_name(&op), NULL);
    float *y = alloc_f(ys), *dx = alloc_f(xs);
    want_ws(&op, CNN_FWD);
    want_ws(&op, CNN_BWD_DATA);
    OK(cnn_pool_fwd(ctx, d, x, y, ws, ws_size));
    OK(cnn_pool_bwd(ctx, d, x, y, dy, dx, ws, ws_size));
    expect_npy(out, "y", y, ys);
    expect_npy(out, "dx", dx, xs);
    free(x), free(dy), free(y), free(dx);
}

static void test_adapool(void)
{
    cnn_op op = {.kind = CNN_OP_ADAPOOL, .adapool = {2, 3, 7, 5, 3, 2}};
    OK(cnn_adapool_init(&op.adapool));
    cnn_shape xs = cnn_op_x_shape(&op), ys = cnn_op_y_shape(&op);
    float *x = random_npy("x.npy", xs, -1, 1), *dy = random_npy("dy.npy", ys, -1, 1);
    const char *out = tmp("adapool");
    int rc = run("op", "adaptive_avgpool2d", "--backend", "naive", "--x", tmp("x.npy"), "--output",
                 "3,2", "--dy", tmp("dy.npy"), "--out", out, "--threads", "1", NULL);
    expect_exit(rc, 0, "adaptive_avgpool2d", NULL);
    float *y = alloc_f(ys), *dx = alloc_f(xs);
    want_ws(&op, CNN_FWD);
    want_ws(&op, CNN_BWD_DATA);
    OK(cnn_adapool_fwd(ctx, &op.adapool, x, y, ws, ws_size));
    OK(cnn_adapool_bwd(ctx, &op.adapool, dy, dx, ws, ws_size));
    expect_npy(out, "y", y, ys);
    expect_npy(out, "dx", dx, xs);
    free(x), free(dy), free(y), free(dx);
}

static void test_bn(void)
{
    cnn_op op = {.kind = CNN_OP_BN, .bn = {4, 3, 5, 5, 1e-3, 0.2}};
    OK(cnn_bn_init(&op.bn));
    cnn_shape xs = cnn_op_x_shape(&op), cs = cnn_shape1(3);
    float *x = random_npy("x.npy", xs, -2, 3), *dy = random_npy("dy.npy", xs, -1, 1);
    float *g = random_npy("g.npy", cs, 0.5f, 1.5f), *b = random_npy("b.npy", cs, -1, 1);
    const char *out = tmp("bn");
    int rc = run("op", "batchnorm2d", "--backend", "naive", "--x", tmp("x.npy"), "--gamma",
                 tmp("g.npy"), "--beta", tmp("b.npy"), "--eps", "1e-3", "--momentum", "0.2", "--dy",
                 tmp("dy.npy"), "--out", out, "--threads", "1", NULL);
    expect_exit(rc, 0, "batchnorm2d", NULL);
    float *y = alloc_f(xs), *dx = alloc_f(xs), rm[3] = {0, 0, 0}, rv[3] = {1, 1, 1}, sm[3], si[3],
          dg[3], dbeta[3];
    want_ws(&op, CNN_FWD);
    want_ws(&op, CNN_BWD_DATA);
    OK(cnn_bn_fwd_train(ctx, &op.bn, x, g, b, y, rm, rv, sm, si, ws, ws_size));
    OK(cnn_bn_bwd(ctx, &op.bn, x, NULL, dy, g, sm, si, dx, dg, dbeta, ws, ws_size));
    expect_npy(out, "y", y, xs);
    expect_npy(out, "running_mean", rm, cs);
    expect_npy(out, "running_var", rv, cs);
    expect_npy(out, "dx", dx, xs);
    expect_npy(out, "dgamma", dg, cs);
    expect_npy(out, "dbeta", dbeta, cs);
    free(x), free(dy), free(g), free(b), free(y), free(dx);
}

static void test_linear(void)
{
    cnn_op op = {.kind = CNN_OP_LINEAR, .linear = {5, 7, 3, true}};
    OK(cnn_linear_init(&op.linear));
    cnn_shape xs = cnn_shape2(5, 7), ws2 = cnn_shape2(3, 7), bs = cnn_shape1(3),
              ys = cnn_shape2(5, 3);
    float *x = random_npy("x.npy", xs, -1, 1), *w = random_npy("w.npy", ws2, -1, 1);
    float *b = random_npy("b.npy", bs, -1, 1), *dy = random_npy("dy.npy", ys, -1, 1);
    const char *out = tmp("linear");
    int rc =
        run("op", "linear", "--backend", "naive", "--x", tmp("x.npy"), "--w", tmp("w.npy"),
            "--bias", tmp("b.npy"), "--dy", tmp("dy.npy"), "--out", out, "--threads", "1", NULL);
    expect_exit(rc, 0, "linear", NULL);
    float *y = alloc_f(ys), *dx = alloc_f(xs), *dw = alloc_f(ws2), db[3];
    want_ws(&op, CNN_FWD);
    want_ws(&op, CNN_BWD_DATA);
    want_ws(&op, CNN_BWD_WEIGHT);
    OK(cnn_linear_fwd(ctx, &op.linear, x, w, b, y, ws, ws_size));
    OK(cnn_linear_bwd_data(ctx, &op.linear, dy, w, dx, ws, ws_size));
    OK(cnn_linear_bwd_weight(ctx, &op.linear, x, dy, dw, db, ws, ws_size));
    expect_npy(out, "y", y, ys);
    expect_npy(out, "dx", dx, xs);
    expect_npy(out, "dw", dw, ws2);
    expect_npy(out, "db", db, bs);
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw);
}

static void test_act(cnn_act_mode m)
{
    cnn_shape xs = cnn_shape4(2, 3, 4, 5);
    cnn_op op = {.kind = CNN_OP_ACT, .act = {m, cnn_shape_numel(&xs)}};
    OK(cnn_act_init(&op.act));
    float *x = random_npy("x.npy", xs, -3, 3), *dy = random_npy("dy.npy", xs, -1, 1);
    const char *name = m == CNN_ACT_RELU ? "relu" : "sigmoid";
    const char *out = tmp(name);
    int rc = run("op", name, "--backend", "naive", "--x", tmp("x.npy"), "--dy", tmp("dy.npy"),
                 "--out", out, "--threads", "1", NULL);
    expect_exit(rc, 0, name, NULL);
    float *y = alloc_f(xs), *dx = alloc_f(xs);
    OK(cnn_act_fwd(ctx, &op.act, x, y));
    OK(cnn_act_bwd(ctx, &op.act, y, dy, dx));
    expect_npy(out, "y", y, xs);
    expect_npy(out, "dx", dx, xs);
    free(x), free(dy), free(y), free(dx);
}

/* Adam, two steps from a fresh state with one gradient per step; SGD, one
 * step after three taken, from a given momentum buffer. */
static void test_optim(void)
{
    cnn_shape ps = {3, {3, 5, 7}}, gs = cnn_shape2(2, 105);
    float *p = random_npy("p.npy", ps, -1, 1), *g = random_npy("g2.npy", gs, -1, 1);
    float *buf = random_npy("buf.npy", ps, -1, 1), *g1 = random_npy("g1.npy", ps, -1, 1);
    const char *out = tmp("adam");
    expect_exit(run("op", "adam", "--backend", "naive", "--param", tmp("p.npy"), "--grad",
                    tmp("g2.npy"), "--lr", "0.01", "--weight-decay", "0.1", "--out", out,
                    "--threads", "1", NULL),
                0, "adam", WORDS("param.npy", "exp_avg.npy", "exp_avg_sq.npy"));
    cnn_op op = {.kind = CNN_OP_OPTIM,
                 .optim = {CNN_OPTIM_ADAM, 105, .lr = 0.01, .beta1 = 0.9, .beta2 = 0.999,
                           .eps = 1e-8, .weight_decay = 0.1, .step = 1}};
    OK(cnn_op_init(&op));
    float *pa = alloc_f(ps), *state = calloc(210, sizeof *state);
    memcpy(pa, p, 105 * sizeof *pa);
    for (int k = 0; k < 2; k++) {
        op.optim.step = k + 1;
        OK(cnn_optim_step(ctx, &op.optim, pa, g + 105 * k, state));
    }
    expect_npy(out, "param", pa, ps);
    expect_npy(out, "exp_avg", state, ps);
    expect_npy(out, "exp_avg_sq", state + 105, ps);

    out = tmp("sgd");
    expect_exit(run("op", "sgd", "--backend", "naive", "--param", tmp("p.npy"), "--grad",
                    tmp("g1.npy"), "--lr", "0.1", "--momentum", "0.9", "--step", "3",
                    "--momentum-buffer", tmp("buf.npy"), "--out", out, "--threads", "1", NULL),
                0, "sgd", WORDS("param.npy", "momentum_buffer.npy"));
    op.optim = (cnn_optim_desc){CNN_OPTIM_SGD, 105, .lr = 0.1, .momentum = 0.9, .step = 4};
    memcpy(pa, p, 105 * sizeof *pa);
    OK(cnn_optim_step(ctx, &op.optim, pa, g1, buf));
    expect_npy(out, "param", pa, ps);
    expect_npy(out, "momentum_buffer", buf, ps);
    free(p), free(g), free(buf), free(g1), free(pa), free(state);
}

/* ---- usage, help and bad input ------------------------------------------ */

static void test_help_and_usage(void)
{
    expect_exit(run("--help", NULL), 0, "cnnbench --help", WORDS("op", "backends"));
    expect_exit(run("op", "--help", NULL), 0, "op --help",
                WORDS("conv2d", "batchnorm2d", "adaptive_avgpool2d", "sigmoid", "sgd", "adam"));
    expect_exit(run("op", "adam", "--help", NULL), 0, "op adam --help",
                WORDS("--param", "--grad", "--beta2", "--exp-avg-sq", "--step", "exp_avg.npy"));
    expect_exit(run("op", "conv2d", "--help", NULL), 0, "op conv2d --help",
                WORDS("--backend", "--w", "--bias", "--stride", "--pad", "--dy", "--out"));
    expect_exit(run("op", "maxpool2d", "--help", NULL), 0, "op maxpool2d --help",
                WORDS("--kernel", "--ceil"));
    expect_exit(run("backends", "--help", NULL), 0, "backends --help", WORDS("--backend"));
    expect_exit(run("backends", NULL), 0, "backends",
                WORDS("naive", "host", "usable", "conv", "concat", "bwd_weight", "yes"));
    expect_exit(run("backends", "--backend", "nosuch", NULL), 2, "backends --backend nosuch",
                WORDS("unknown backend 'nosuch'", "naive"));
    /* partial support shows as partial, with its note and where the rest runs */
#ifdef CNN_HAVE_WINOGRAD
    expect_exit(run("backends", "--backend", "winograd", NULL), 0, "backends --backend winograd",
                WORDS("conv     partial", "linear   yes*", "3x3 stride 1 only",
                      "linear fwd, bwd_data, bwd_weight: via im2col (delegated)",
                      "runs on the first of: im2col (its fallback)"));
#endif
    expect_exit(run("run", "--help", NULL), 0, "run --help",
                WORDS("--backends B[,B2...]", "(also --backend)"));

    expect_exit(run("op", NULL), 2, "op without a name", WORDS("conv2d", "linear"));
    expect_exit(run("op", "conv3d", NULL), 2, "unknown op",
                WORDS("unknown operation 'conv3d'", "conv2d", "maxpool2d", "relu"));
    expect_exit(run("op", "conv2d", "--bogus", "1", NULL), 2, "unknown option",
                WORDS("unknown option '--bogus'", "--backend", "--stride", "--threads"));
    expect_exit(
        run("op", "conv2d", "--backend", "naive", "--x", tmp("x.npy"), "--out", tmp("o"), NULL), 2,
        "missing --w", WORDS("missing required option --w"));
    expect_exit(run("op", "conv2d", "--backend", "nosuch", "--x", tmp("x.npy"), "--w", tmp("w.npy"),
                    "--out", tmp("o"), NULL),
                2, "unknown backend", WORDS("unknown backend 'nosuch'", "naive"));
    expect_exit(run("op", "conv2d", "--backend", "naive", "--x", tmp("x.npy"), "--w", tmp("w.npy"),
                    "--stride", "a", "--out", tmp("o"), NULL),
                2, "bad --stride", WORDS("--stride"));
    expect_exit(run("op", "relu", "--backend", "naive", "--x", tmp("x.npy"), "--threads", "-1",
                    "--out", tmp("o"), NULL),
                2, "negative --threads", WORDS("--threads"));
    expect_exit(
        run("op", "maxpool2d", "--backend", "naive", "--x", tmp("x.npy"), "--out", tmp("o"), NULL),
        2, "maxpool2d without --kernel", WORDS("--kernel"));
    TU_CHECK(!tu_exists(tmp("o")), "a usage error created the output folder");
}

/* `args` after "op": exit 1 (bad data), stderr holds the words, and the
 * output folder is not created. */
static void bad(const char *what, const char *words[], int want, ...)
{
    char *args[64];
    int n = 0;
    args[n++] = (char *)exe;
    args[n++] = "op";
    va_list ap;
    va_start(ap, want);
    for (const char *a = va_arg(ap, const char *); a && n < 60; a = va_arg(ap, const char *))
        args[n++] = (char *)a;
    va_end(ap);
    args[n++] = "--out";
    args[n++] = (char *)tmp("never");
    args[n] = NULL;
    expect_exit(run_argv(args), want, what, words);
    TU_CHECK(!tu_exists(tmp("never")), "%s: a failed run created its output folder", what);
}

static void test_bad_data(void)
{
    free(random_npy("x.npy", cnn_shape4(2, 3, 8, 8), -1, 1));
    cnn_shape x3d = {3, {3, 8, 8}};
    float v[192];
    tu_fill(v, 192, &rng, -1, 1);
    cnn_npy_write_f32(tmp("x3d.npy"), &x3d, v);
    free(random_npy("w_c4.npy", cnn_shape4(6, 4, 3, 3), -1, 1));
    free(random_npy("w.npy", cnn_shape4(6, 3, 3, 3), -1, 1));
    free(random_npy("w1.npy", cnn_shape4(6, 3, 1, 1), -1, 1));
    free(random_npy("w9.npy", cnn_shape4(6, 3, 9, 9), -1, 1));
    free(random_npy("b5.npy", cnn_shape1(5), -1, 1));
    free(random_npy("dy_bad.npy", cnn_shape4(2, 6, 7, 7), -1, 1));
    free(random_npy("c3.npy", cnn_shape1(3), -1, 1));
    free(random_npy("c4.npy", cnn_shape1(4), -1, 1));
    free(random_npy("l_x.npy", cnn_shape2(5, 7), -1, 1));
    free(random_npy("l_w.npy", cnn_shape2(3, 6), -1, 1));
    free(random_npy("one.npy", cnn_shape4(1, 3, 1, 1), -1, 1));
    double d64[4] = {1, 2, 3, 4};
    FILE *f = fopen(tmp("f8.npy"), "wb");
    const char *h = "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }";
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)strlen(h), 0};
    fwrite(pre, 1, 10, f), fwrite(h, 1, strlen(h), f), fwrite(d64, 8, 4, f), fclose(f);
    float nan_x[2 * 3 * 8 * 8];
    tu_fill(nan_x, 384, &rng, -1, 1);
    nan_x[17] = NAN;
    cnn_npy_write_f32(tmp("x_nan.npy"), &(cnn_shape){4, {2, 3, 8, 8}}, nan_x);

    const char *B = "--backend", *N = "naive";
    bad("channel mismatch", WORDS("--w has 4 input channels but --x has 3 (x 2x3x8x8, w 6x4x3x3)"),
        1, "conv2d", B, N, "--x", tmp("x.npy"), "--w", tmp("w_c4.npy"), NULL);
    bad("x not 4-d", WORDS("--x must be 4-d", "3x8x8"), 1, "conv2d", B, N, "--x", tmp("x3d.npy"),
        "--w", tmp("w.npy"), NULL);
    bad("bias length", WORDS("--bias has shape 5, expected 6"), 1, "conv2d", B, N, "--x",
        tmp("x.npy"), "--w", tmp("w.npy"), "--bias", tmp("b5.npy"), NULL);
    bad("kernel larger than input", WORDS("larger than the padded input"), 1, "conv2d", B, N, "--x",
        tmp("x.npy"), "--w", tmp("w9.npy"), NULL);
    bad("stride 0", WORDS("stride", "got 0"), 1, "conv2d", B, N, "--x", tmp("x.npy"), "--w",
        tmp("w.npy"), "--stride", "0", NULL);
    bad("negative padding", WORDS("padding", "got -1"), 1, "conv2d", B, N, "--x", tmp("x.npy"),
        "--w", tmp("w.npy"), "--pad", "1,-1", NULL);
    bad("dy shape", WORDS("--dy has shape 2x6x7x7, expected 2x6x8x8"), 1, "conv2d", B, N, "--x",
        tmp("x.npy"), "--w", tmp("w1.npy"), "--dy", tmp("dy_bad.npy"), NULL);
    bad("missing file", WORDS("--x", "missing.npy", "No such file"), 1, "conv2d", B, N, "--x",
        tmp("missing.npy"), "--w", tmp("w.npy"), NULL);
    bad("float64", WORDS("--w", "f8.npy", "'<f8'", "float32"), 1, "conv2d", B, N, "--x",
        tmp("x.npy"), "--w", tmp("f8.npy"), NULL);
    bad("NaN result", WORDS("non-finite", "y", "nothing was written"), 1, "conv2d", B, N, "--x",
        tmp("x_nan.npy"), "--w", tmp("w.npy"), NULL);
    bad("gamma length", WORDS("--gamma has shape 4, expected 3"), 1, "batchnorm2d", B, N, "--x",
        tmp("x.npy"), "--gamma", tmp("c4.npy"), "--beta", tmp("c3.npy"), NULL);
    bad("beta length", WORDS("--beta has shape 4, expected 3"), 1, "batchnorm2d", B, N, "--x",
        tmp("x.npy"), "--gamma", tmp("c3.npy"), "--beta", tmp("c4.npy"), NULL);
    bad("bn one value per channel", WORDS("more than one value per channel"), 1, "batchnorm2d", B,
        N, "--x", tmp("one.npy"), "--gamma", tmp("c3.npy"), "--beta", tmp("c3.npy"), NULL);
    bad("bn eps", WORDS("eps"), 1, "batchnorm2d", B, N, "--x", tmp("x.npy"), "--gamma",
        tmp("c3.npy"), "--beta", tmp("c3.npy"), "--eps", "0", NULL);
    bad("linear in_features", WORDS("--w has 6 in_features but --x has 7"), 1, "linear", B, N,
        "--x", tmp("l_x.npy"), "--w", tmp("l_w.npy"), NULL);
    bad("linear x 4-d", WORDS("--x must be 2-d"), 1, "linear", B, N, "--x", tmp("x.npy"), "--w",
        tmp("l_w.npy"), NULL);
    bad("pool padding", WORDS("at most half the kernel"), 1, "maxpool2d", B, N, "--x", tmp("x.npy"),
        "--kernel", "2", "--pad", "2", NULL);
    bad("pool kernel", WORDS("larger than the padded input"), 1, "avgpool2d", B, N, "--x",
        tmp("x.npy"), "--kernel", "9", NULL);
    bad("adaptive output 0", WORDS("output height"), 1, "adaptive_avgpool2d", B, N, "--x",
        tmp("x.npy"), "--output", "0,2", NULL);
    bad("relu dy shape", WORDS("--dy has shape 2x6x7x7, expected 2x3x8x8"), 1, "relu", B, N, "--x",
        tmp("x.npy"), "--dy", tmp("dy_bad.npy"), NULL);

    /* The output path exists as a file. */
    free(random_npy("a_file", cnn_shape1(1), 0, 1));
    expect_exit(
        run("op", "relu", "--backend", "naive", "--x", tmp("x.npy"), "--out", tmp("a_file"), NULL),
        1, "--out is a file", WORDS("--out", "not a folder"));

    /* Backends compiled in but not usable here (cudnn without a GPU). */
    for (int i = 0; i < cnn_backend_count(); i++) {
        const cnn_backend *be = cnn_backend_at(i);
        char why[256];
        if (cnn_backend_available(be, why, sizeof why))
            continue;
        bad(be->name, WORDS(be->name, "not usable"), 3, "relu", B, be->name, "--x", tmp("x.npy"),
            NULL);
    }
}

/* The optimizers' own bad input (test_optim wrote p.npy, g1.npy, buf.npy). */
static void test_optim_bad(void)
{
    const char *B = "--backend", *N = "naive", *P = "--param", *G = "--grad";
    free(random_npy("g_bad.npy", cnn_shape2(2, 104), -1, 1));
    free(random_npy("buf_bad.npy", cnn_shape1(105), -1, 1));
    bad("grad shape", WORDS("--grad has shape 2x104", "3x5x7", "[steps][105]"), 1, "sgd", B, N, P,
        tmp("p.npy"), G, tmp("g_bad.npy"), "--lr", "0.1", NULL);
    bad("state missing", WORDS("--step 2", "--momentum-buffer"), 1, "sgd", B, N, P, tmp("p.npy"), G,
        tmp("g1.npy"), "--lr", "0.1", "--momentum", "0.9", "--step", "2", NULL);
    bad("state at step 0", WORDS("--exp-avg is read only after earlier steps"), 1, "adam", B, N, P,
        tmp("p.npy"), G, tmp("g1.npy"), "--exp-avg", tmp("buf.npy"), NULL);
    bad("state without momentum", WORDS("--momentum-buffer", "--momentum > 0"), 1, "sgd", B, N, P,
        tmp("p.npy"), G, tmp("g1.npy"), "--lr", "0.1", "--step", "1", "--momentum-buffer",
        tmp("buf.npy"), NULL);
    bad("state shape", WORDS("--momentum-buffer has shape 105", "3x5x7"), 1, "sgd", B, N, P,
        tmp("p.npy"), G, tmp("g1.npy"), "--lr", "0.1", "--momentum", "0.5", "--step", "1",
        "--momentum-buffer", tmp("buf_bad.npy"), NULL);
    bad("negative lr", WORDS("sgd: lr must be finite and >= 0, got -1"), 1, "sgd", B, N, P,
        tmp("p.npy"), G, tmp("g1.npy"), "--lr", "-1", NULL);
    bad("beta2 1", WORDS("adam: beta2 must be in [0, 1), got 1"), 1, "adam", B, N, P, tmp("p.npy"),
        G, tmp("g1.npy"), "--beta2", "1", NULL);
    bad("eps 0", WORDS("adam: eps must be finite and > 0, got 0"), 1, "adam", B, N, P, tmp("p.npy"),
        G, tmp("g1.npy"), "--eps", "0", NULL);
    bad("negative step", WORDS("--step must be >= 0"), 1, "adam", B, N, P, tmp("p.npy"), G,
        tmp("g1.npy"), "--step", "-2", NULL);
    bad("sgd without lr", WORDS("missing required option --lr"), 2, "sgd", B, N, P, tmp("p.npy"), G,
        tmp("g1.npy"), NULL);
}

static void test_nested_out(void)
{
    free(random_npy("x.npy", cnn_shape2(3, 4), -1, 1));
    const char *out = tmp("deep/er/out");
    expect_exit(run("op", "sigmoid", "--backend", "naive", "--x", tmp("x.npy"), "--out", out, NULL),
                0, "nested --out", NULL);
    char p[600];
    snprintf(p, sizeof p, "%s/y.npy", out);
    TU_CHECK(tu_exists(p), "nested --out: %s not written", p);
    snprintf(p, sizeof p, "%s/dx.npy", out);
    TU_CHECK(!tu_exists(p), "dx.npy written without --dy");
}

static void remove_tree(const char *d)
{
    DIR *dp = opendir(d);
    if (!dp)
        return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        if (unlink(p) != 0)
            remove_tree(p);
    }
    closedir(dp);
    rmdir(d);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        exe = argv[1];
    if (access(exe, X_OK) != 0) {
        fprintf(stderr, "test_cli_op: cannot run %s\n", exe);
        return 1;
    }
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/test_cli_op.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    /* The command runs with --threads 1; so do the direct calls, so that
     * any reduction order that depends on the thread count is the same. */
    cli_set_threads(1);
    cnn_ctx_opts opts = {.threads = 1};
    if (cnn_ctx_create(cnn_backend_find("naive"), &opts, &ctx) != CNN_OK) {
        fprintf(stderr, "test_cli_op: naive backend: %s\n", cnn_last_error());
        return 1;
    }
    test_conv(true);
    test_conv(false);
    test_pool(CNN_POOL_MAX);
    test_pool(CNN_POOL_AVG);
    test_adapool();
    test_bn();
    test_linear();
    test_act(CNN_ACT_RELU);
    test_act(CNN_ACT_SIGMOID);
    test_optim();
    test_optim_bad();
    test_help_and_usage();
    test_bad_data();
    test_nested_out();
    cnn_ctx_destroy(ctx);
    free(ws);
    remove_tree(dir);
    return tu_finish("test_cli_op");
}
