#include "test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dispatch.h"

int tu_failures;
int tu_checks;

void tu_fail_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    tu_failures++;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int tu_finish(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, tu_checks, tu_failures);
    if (tu_checks == 0) {
        fprintf(stderr, "%s: no checks ran\n", name);
        return 1;
    }
    return tu_failures ? 1 : 0;
}

uint64_t tu_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float tu_uniform(uint64_t *state, float lo, float hi)
{
    return lo + (hi - lo) * (float)((tu_next(state) >> 40) * (1.0 / 16777216.0));
}

void tu_fill(float *x, int64_t n, uint64_t *state, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = tu_uniform(state, lo, hi);
}

void *tu_xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

float *tu_nan_buf(int64_t n)
{
    float *p = tu_xmalloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        p[i] = NAN;
    return p;
}

float *tu_rand_buf(int64_t n, uint64_t *state, float lo, float hi)
{
    float *p = tu_xmalloc(sizeof(float) * (size_t)n);
    tu_fill(p, n, state, lo, hi);
    return p;
}

void *tu_ws_for(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass, size_t *size)
{
    *size = cnn_workspace_size(ctx, op, pass);
    return *size ? tu_xmalloc(*size) : NULL;
}

static cnn_status fake_alloc(cnn_ctx *ctx, size_t bytes, void **out)
{
    (void)ctx;
    *out = malloc(bytes ? bytes : 1);
    return *out ? CNN_OK : CNN_ERR_OUT_OF_MEMORY;
}

static void fake_free(cnn_ctx *ctx, void *p)
{
    (void)ctx;
    free(p);
}

cnn_backend tu_fake_cuda_backend(void)
{
    return (cnn_backend){.name = "fakecuda",
                         .about = "test",
                         .device = CNN_DEVICE_CUDA,
                         .mem_alloc = fake_alloc,
                         .mem_free = fake_free};
}

cnn_op tu_conv_op(const tu_conv_case *cc)
{
    cnn_op op = {.kind = CNN_OP_CONV};
    op.conv = (cnn_conv_desc){.n = cc->n,
                              .c = cc->c,
                              .h = cc->h,
                              .w = cc->w,
                              .k = cc->k,
                              .r = cc->r,
                              .s = cc->s,
                              .stride_h = cc->sh,
                              .stride_w = cc->sw,
                              .pad_h = cc->ph,
                              .pad_w = cc->pw,
                              .has_bias = cc->bias};
    return op;
}

int64_t tu_conv_out_size(const cnn_conv_desc *d, cnn_pass pass)
{
    switch (pass) {
    case CNN_FWD: return (int64_t)d->n * d->k * d->p * d->q;
    case CNN_BWD_DATA: return (int64_t)d->n * d->c * d->h * d->w;
    case CNN_BWD_WEIGHT: return (int64_t)d->k * d->c * d->r * d->s;
    default: return d->k;
    }
}

cnn_status tu_conv_pass(cnn_ctx *ctx, const cnn_conv_desc *d, const tu_conv_io *io, cnn_pass pass,
                        float *out, void *ws, size_t ws_size)
{
    switch (pass) {
    case CNN_FWD: return cnn_conv_fwd(ctx, d, io->x, io->w, io->b, out, ws, ws_size);
    case CNN_BWD_DATA: return cnn_conv_bwd_data(ctx, d, io->dy, io->w, out, ws, ws_size);
    case CNN_BWD_WEIGHT: return cnn_conv_bwd_filter(ctx, d, io->x, io->dy, out, ws, ws_size);
    default: return cnn_conv_bwd_bias(ctx, d, NULL, io->dy, out, NULL, ws, ws_size);
    }
}

cnn_pool_desc tu_pool(cnn_pool_mode mode, int n, int c, int h, int w, int kh, int kw, int sh,
                      int sw, int ph, int pw, bool ceil_mode)
{
    return (cnn_pool_desc){.mode = mode,
                           .n = n,
                           .c = c,
                           .h = h,
                           .w = w,
                           .kh = kh,
                           .kw = kw,
                           .stride_h = sh,
                           .stride_w = sw,
                           .pad_h = ph,
                           .pad_w = pw,
                           .ceil_mode = ceil_mode};
}

double tu_norm2(const float *a, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * a[i];
    return sqrt(s);
}

double tu_rel_l2(const float *a, const float *ref, int64_t n)
{
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * (double)ref[i];
    }
    if (isnan(num))
        return NAN;
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

double tu_max_abs_diff(const float *a, const float *ref, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        if (isnan(d))
            return NAN;
        if (d > m)
            m = d;
    }
    return m;
}

void tu_slurp(const char *path, char *buf, size_t n)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = '\0';
    fclose(f);
}

bool tu_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

int tu_list_dir(const char *dir, char names[][256], int max)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (n < max)
            snprintf(names[n], 256, "%s", e->d_name);
        n++;
    }
    closedir(d);
    qsort(names, (size_t)(n < max ? n : max), 256, cmp_name);
    return n;
}

int tu_list_runs(const char *root, char names[][256], int max)
{
    char index[4096];
    snprintf(index, sizeof index, "%s/index.csv", root);
    bool indexed = tu_exists(index);
    int n = tu_list_dir(root, names, max);
    if (n <= 0 || !indexed)
        return n;
    for (int i = 0; i < n && i < max; i++)
        if (!strcmp(names[i], "index.csv")) {
            memmove(names[i], names[i + 1], (size_t)((n < max ? n : max) - i - 1) * 256);
            break;
        }
    return n - 1;
}

pid_t tu_start_process(const char *exe, char *const *argv, const char *out_path,
                       const char *err_path)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
            _exit(126);
        execv(exe, argv);
        _exit(127);
    }
    return pid;
}

int tu_wait_process(pid_t pid)
{
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int tu_run_process(const char *exe, char *const *argv, const char *dir, char *out, size_t nout,
                   char *err, size_t nerr)
{
    char out_path[4096], err_path[4096];
    snprintf(out_path, sizeof out_path, "%s/stdout.txt", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
    int rc = tu_wait_process(tu_start_process(exe, argv, out_path, err_path));
    if (rc < 0)
        return -1;
    tu_slurp(out_path, out, nout);
    tu_slurp(err_path, err, nerr);
    return rc;
}

void tu_cli_argv(char *argv[64], const char *exe, const char *command, const char *const *args,
                 const char *results)
{
    int n = 0;
    argv[n++] = (char *)exe;
    argv[n++] = (char *)command;
    for (; *args && n < 60; args++)
        argv[n++] = (char *)*args;
    argv[n++] = (char *)"--results";
    argv[n++] = (char *)results;
    argv[n] = NULL;
}

void tu_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}
