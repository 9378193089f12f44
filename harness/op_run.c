#include "op_run.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npy.h"
#include "registry.h"
#include "report.h"

int op_begin(op_session *s, const char *name, cli_cmd *cmd, int argc, char **argv, const op_args *a)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    int rc = cli_parse(cmd, argc, argv);
    if (rc >= 0)
        return rc;
    const cnn_backend *be = cnn_backend_find(a->backend);
    if (!be) {
        char names[512];
        return cli_usage_error(cmd, "unknown backend '%s'; valid backends: %s", a->backend,
                               cnn_backend_names(names, sizeof names));
    }
    if (a->threads < 0)
        return cli_usage_error(cmd, "option --threads must be >= 0, got %d", a->threads);
    char why[256];
    if (!cnn_backend_available(be, why, sizeof why))
        return cli_fail("op", cnn_fail(CNN_ERR_UNSUPPORTED,
                                       "backend %s is not usable on this machine: %s", be->name,
                                       *why ? why : "no reason given"));
    cli_set_threads(a->threads);
    cnn_ctx_opts opts = {.threads = a->threads};
    cnn_status st = cnn_ctx_create(be, &opts, &s->ctx);
    if (st != CNN_OK)
        return op_end(s, st);
    return -1;
}

int op_end(op_session *s, cnn_status st)
{
    if (s->ctx) {
        cnn_mem_free(s->ctx, s->ws);
        for (int i = 0; i < s->ndev; i++)
            cnn_mem_free(s->ctx, s->dev[i]);
        cnn_ctx_destroy(s->ctx);
    }
    for (int i = 0; i < s->nhost; i++)
        free(s->host[i]);
    memset(s, 0, sizeof *s);
    return st == CNN_OK ? CLI_EXIT_OK : cli_fail("op", st);
}

/* Every buffer is recorded before anything can fail, so op_end frees it. */
static cnn_status dev_alloc(op_session *s, size_t bytes, void **dev)
{
    *dev = NULL;
    if (s->ndev == OP_MAX_BUFS)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: too many buffers", s->name);
    OP_TRY(cnn_mem_alloc(s->ctx, bytes, dev));
    s->dev[s->ndev++] = *dev;
    return CNN_OK;
}

static cnn_status host_keep(op_session *s, float *p)
{
    if (s->nhost == OP_MAX_BUFS) {
        free(p);
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: too many buffers", s->name);
    }
    s->host[s->nhost++] = p;
    return CNN_OK;
}

static size_t numel_bytes(const cnn_shape *sh)
{
    return (size_t)cnn_shape_numel(sh) * sizeof(float);
}

cnn_status op_input(op_session *s, const char *opt, const char *path, cnn_shape *shape,
                    const float **dev)
{
    float *host = NULL;
    cnn_status st = cnn_npy_read_f32(path, shape, &host);
    if (st != CNN_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", cnn_last_error());
        return cnn_fail(st, "%s: --%s: %s", s->name, opt, why);
    }
    OP_TRY(host_keep(s, host));
    if (cnn_shape_numel(shape) == 0) {
        char buf[64];
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s: --%s: %s has shape %s, no elements (every dimension must be >= 1)",
                        s->name, opt, path, cnn_shape_str(shape, buf, sizeof buf));
    }
    s->nonfinite_inputs += cnn_count_nonfinite(host, cnn_shape_numel(shape));
    void *d;
    OP_TRY(dev_alloc(s, numel_bytes(shape), &d));
    OP_TRY(cnn_mem_upload(s->ctx, d, host, numel_bytes(shape)));
    *dev = d;
    return CNN_OK;
}

cnn_status op_output_new(op_session *s, const char *name, cnn_shape shape, const float *init,
                         float **dev)
{
    if (s->nouts == OP_MAX_BUFS)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: too many outputs", s->name);
    /* Options alone (a huge padding or adaptive output size) can ask for
     * more than the machine holds, or more than size_t counts; refuse that
     * instead of overflowing or being killed while filling it with NaN. The
     * size is computed in double, which cannot overflow here. */
    double want = sizeof(float);
    for (int i = 0; i < shape.ndim; i++)
        want *= (double)shape.dim[i];
    double total = (double)s->out_bytes + want, avail = cnn_host_memory_available();
    if (total > (avail > 0 ? avail : 0x1p62)) {
        char buf[64];
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY,
                        "%s: output %s of shape %s would bring the outputs to %.1f GiB, more "
                        "than the %.1f GiB available (MemAvailable in /proc/meminfo); nothing "
                        "was allocated",
                        s->name, name ? name : "scratch", cnn_shape_str(&shape, buf, sizeof buf),
                        total / (1 << 30), avail / (1 << 30));
    }
    size_t bytes = numel_bytes(&shape);
    s->out_bytes += bytes;
    float *host = malloc(bytes ? bytes : 1);
    if (!host)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory for %zu bytes", s->name, bytes);
    OP_TRY(host_keep(s, host));
    int64_t n = cnn_shape_numel(&shape);
    for (int64_t i = 0; i < n; i++)
        host[i] = init ? init[i] : NAN;
    void *d;
    OP_TRY(dev_alloc(s, bytes, &d));
    OP_TRY(cnn_mem_upload(s->ctx, d, host, bytes));
    s->outs[s->nouts++] = (op_output){name, shape, d, host};
    *dev = d;
    return CNN_OK;
}

cnn_status op_output_view(op_session *s, const char *name, cnn_shape shape, float *dev)
{
    if (s->nouts == OP_MAX_BUFS)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: too many outputs", s->name);
    size_t bytes = numel_bytes(&shape);
    float *host = malloc(bytes ? bytes : 1);
    if (!host)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory for %zu bytes", s->name, bytes);
    OP_TRY(host_keep(s, host));
    s->out_bytes += bytes;
    s->outs[s->nouts++] = (op_output){name, shape, dev, host};
    return CNN_OK;
}

cnn_status op_prepare(op_session *s, const cnn_op *op, const cnn_pass *passes, int npasses)
{
    s->op = *op;
    s->npasses = npasses;
    for (int i = 0; i < npasses; i++)
        s->passes[i] = passes[i];
    size_t need = 0;
    for (int i = 0; i < npasses; i++) {
        if (!cnn_supports(s->ctx, op, passes[i])) {
            char desc[256];
            return cnn_fail(CNN_ERR_UNSUPPORTED, "backend %s does not support %s %s (%s)",
                            s->ctx->backend->name, cnn_op_name(op), cnn_pass_str(passes[i]),
                            cnn_op_str(op, desc, sizeof desc));
        }
        size_t ws = cnn_workspace_size(s->ctx, op, passes[i]);
        if (ws > need)
            need = ws;
    }
    if (need) {
        OP_TRY(cnn_mem_alloc(s->ctx, need, &s->ws));
        s->ws_size = need;
    }
    return CNN_OK;
}

/* What ran and where the files went, on stdout. */
static void print_summary(op_session *s, const char *dir)
{
    char desc[256], shape[64];
    printf("%s on %s: %s\n", s->name, s->ctx->backend->name, cnn_op_str(&s->op, desc, sizeof desc));
    for (int i = 0; i < s->npasses; i++)
        printf("  %-10s %-32s %10.3f ms\n", cnn_pass_str(s->passes[i]),
               cnn_algorithm(s->ctx, &s->op, s->passes[i]), s->seconds[i] * 1e3);
    printf("wrote to %s:", dir);
    for (int i = 0; i < s->nouts; i++)
        if (s->outs[i].name)
            printf(" %s.npy (%s)", s->outs[i].name,
                   cnn_shape_str(&s->outs[i].shape, shape, sizeof shape));
    printf("\n(times: one call each, wall clock, first-call set-up included; "
           "`cnnbench bench` times properly)\n");
}

cnn_status op_finish(op_session *s, const char *dir)
{
    OP_TRY(cnn_sync(s->ctx));
    for (int i = 0; i < s->nouts; i++) {
        op_output *o = &s->outs[i];
        OP_TRY(cnn_mem_download(s->ctx, o->host, o->dev, numel_bytes(&o->shape)));
    }
    for (int i = 0; i < s->nouts; i++) {
        const op_output *o = &s->outs[i];
        if (!o->name)
            continue;
        int64_t n = cnn_shape_numel(&o->shape), bad = cnn_count_nonfinite(o->host, n);
        if (bad) {
            char shape[64], what[256];
            snprintf(what, sizeof what,
                     "%s: %lld of %lld values of %s (shape %s) are not finite (NaN or Inf), "
                     "nothing was written",
                     s->name, (long long)bad, (long long)n, o->name,
                     cnn_shape_str(&o->shape, shape, sizeof shape));
            if (s->nonfinite_inputs)
                return cnn_fail(CNN_ERR_INVALID_ARG, "%s; the inputs hold %lld non-finite values",
                                what, (long long)s->nonfinite_inputs);
            return cnn_fail(
                CNN_ERR_BACKEND,
                "%s; the inputs are finite, so the result overflowed float32 or backend %s has "
                "a bug",
                what, s->ctx->backend->name);
        }
    }
    cnn_status st = report_mkdirs(dir);
    if (st != CNN_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", cnn_last_error());
        return cnn_fail(st, "%s: --out: %s", s->name, why);
    }
    for (int i = 0; i < s->nouts; i++) {
        const op_output *o = &s->outs[i];
        if (!o->name)
            continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s.npy", dir, o->name) >= (int)sizeof path)
            return cnn_fail(CNN_ERR_INVALID_ARG, "--out: folder name is too long");
        OP_TRY(cnn_npy_write_f32(path, &o->shape, o->host));
    }
    print_summary(s, dir);
    return CNN_OK;
}

cnn_status op_want_ndim(const op_session *s, const char *opt, const cnn_shape *sh, int ndim,
                        const char *layout)
{
    if (sh->ndim == ndim)
        return CNN_OK;
    char buf[64];
    return cnn_fail(CNN_ERR_INVALID_ARG, "%s: --%s must be %d-d %s, got shape %s (%d-d)", s->name,
                    opt, ndim, layout, cnn_shape_str(sh, buf, sizeof buf), sh->ndim);
}

cnn_status op_want_shape(const op_session *s, const char *opt, const cnn_shape *got,
                         const cnn_shape *want, const char *what)
{
    if (cnn_shape_eq(got, want))
        return CNN_OK;
    char g[64], w[64];
    return cnn_fail(CNN_ERR_INVALID_ARG, "%s: --%s has shape %s, expected %s (%s)", s->name, opt,
                    cnn_shape_str(got, g, sizeof g), cnn_shape_str(want, w, sizeof w), what);
}

cnn_status op_dim(const op_session *s, const char *opt, const cnn_shape *sh, int i, int *out)
{
    if (sh->dim[i] > INT_MAX) {
        char buf[64];
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: --%s dimension %d of shape %s is too large",
                        s->name, opt, i, cnn_shape_str(sh, buf, sizeof buf));
    }
    *out = (int)sh->dim[i];
    return CNN_OK;
}

cnn_status op_nchw(const op_session *s, const cnn_shape *xs, int *n, int *c, int *h, int *w)
{
    OP_TRY(op_dim(s, "x", xs, 0, n));
    OP_TRY(op_dim(s, "x", xs, 1, c));
    OP_TRY(op_dim(s, "x", xs, 2, h));
    return op_dim(s, "x", xs, 3, w);
}

cnn_status op_layer_inputs(op_session *s, const op_args *a, const char *w, const char *bias,
                           const op_layer_names *names, op_layer_in *in)
{
    *in = (op_layer_in){0};
    /* Every file is read before any shape is checked: the order decides
     * which error a run with several bad options reports. */
    OP_TRY(op_input(s, "x", a->x, &in->xs, &in->x));
    OP_TRY(op_input(s, "w", w, &in->ws, &in->w));
    if (bias)
        OP_TRY(op_input(s, "bias", bias, &in->bs, &in->b));
    if (a->dy)
        OP_TRY(op_input(s, "dy", a->dy, &in->dys, &in->dy));
    OP_TRY(op_want_ndim(s, "x", &in->xs, names->ndim, names->x_layout));
    OP_TRY(op_want_ndim(s, "w", &in->ws, names->ndim, names->w_layout));
    char xb[64], wb[64];
    if (in->ws.dim[1] != in->xs.dim[1])
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: --w has %lld %s but --x has %lld (x %s, w %s)",
                        s->name, (long long)in->ws.dim[1], names->in, (long long)in->xs.dim[1],
                        cnn_shape_str(&in->xs, xb, sizeof xb),
                        cnn_shape_str(&in->ws, wb, sizeof wb));
    if (in->b) {
        cnn_shape want = cnn_shape1(in->ws.dim[0]);
        char what[64];
        snprintf(what, sizeof what, "one per %s of --w %s", names->out,
                 cnn_shape_str(&in->ws, wb, sizeof wb));
        OP_TRY(op_want_shape(s, "bias", &in->bs, &want, what));
    }
    return CNN_OK;
}
