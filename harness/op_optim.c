/* cnnbench op sgd | adam: optimizer steps (kernels/ops.h, cnn_optim_desc)
 * on a parameter tensor of any shape, as torch.optim.SGD and
 * torch.optim.Adam take them: --grad holds one gradient (the parameter's
 * shape) or one per step ([steps] followed by that shape, or
 * [steps][numel]); --step says how many steps were taken before, and then
 * the state PyTorch keeps per parameter (momentum_buffer; exp_avg and
 * exp_avg_sq) is read from the files of those names. The updated parameter
 * and the state are written under the same names. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "npy.h"
#include "op_run.h"

typedef struct optim_args {
    const char *param, *grad;
    const char *state[2]; /* files of the state's parts, NULL when not given */
    cnn_optim_desc d;     /* hyperparameters; count and step set here */
    int taken;            /* steps taken before */
} optim_args;

/* The state's parts by PyTorch's names (their files) and their options,
 * each part the parameter's shape. */
static const char *const part_names[CNN_OPTIM_MODE_COUNT][2] = {
    [CNN_OPTIM_SGD] = {"momentum_buffer", NULL},
    [CNN_OPTIM_ADAM] = {"exp_avg", "exp_avg_sq"},
};
static const char *const part_opts[CNN_OPTIM_MODE_COUNT][2] = {
    [CNN_OPTIM_SGD] = {"momentum-buffer", NULL},
    [CNN_OPTIM_ADAM] = {"exp-avg", "exp-avg-sq"},
};

/* Parts the optimizer keeps: 0 for plain SGD. */
static int nparts(const cnn_optim_desc *d)
{
    return (int)(cnn_optim_state_count(d) / d->count);
}

/* Steps in --grad: 1 for the parameter's shape, S for [S] followed by it or
 * for [S][numel]. */
static cnn_status grad_steps(const op_session *s, const cnn_shape *ps, const cnn_shape *gs,
                             int64_t *steps)
{
    int64_t n = cnn_shape_numel(ps);
    *steps = 1;
    if (cnn_shape_eq(gs, ps))
        return CNN_OK;
    bool stacked = gs->ndim == ps->ndim + 1;
    for (int i = 0; stacked && i < ps->ndim; i++)
        stacked = gs->dim[i + 1] == ps->dim[i];
    bool flat = gs->ndim == 2 && gs->dim[1] == n;
    if ((stacked || flat) && gs->dim[0] >= 1) {
        *steps = gs->dim[0];
        return CNN_OK;
    }
    char g[64], p[64];
    return cnn_fail(CNN_ERR_INVALID_ARG,
                    "%s: --grad has shape %s; expected the shape of --param %s (one step), or "
                    "[steps] followed by it, or [steps][%lld] (one gradient per step)",
                    s->name, cnn_shape_str(gs, g, sizeof g), cnn_shape_str(ps, p, sizeof p),
                    (long long)n);
}

/* Read a float32 file of the parameter's shape into host memory owned by
 * the caller; counted among the inputs for non-finite values. */
static cnn_status read_like(op_session *s, const char *opt, const char *path, const cnn_shape *ps,
                            float **out)
{
    cnn_shape sh;
    float *h = NULL;
    cnn_status st = cnn_npy_read_f32(path, &sh, &h);
    if (st != CNN_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", cnn_last_error());
        return cnn_fail(st, "%s: --%s: %s", s->name, opt, why);
    }
    st = op_want_shape(s, opt, &sh, ps, "the shape of --param");
    if (st != CNN_OK) {
        free(h);
        return st;
    }
    s->nonfinite_inputs += cnn_count_nonfinite(h, cnn_shape_numel(&sh));
    *out = h;
    return CNN_OK;
}

/* The parameter as an output initialised from --param. */
static cnn_status param_output(op_session *s, const optim_args *o, cnn_shape *ps, float **dev)
{
    float *h = NULL;
    cnn_status st = cnn_npy_read_f32(o->param, ps, &h);
    if (st != CNN_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", cnn_last_error());
        return cnn_fail(st, "%s: --param: %s", s->name, why);
    }
    s->nonfinite_inputs += cnn_count_nonfinite(h, cnn_shape_numel(ps));
    st = op_output_new(s, "param", *ps, h, dev);
    free(h);
    return st;
}

/* The state as one block, each part a named view of it: read from its
 * file after earlier steps, NaN before the first (which must not read it). */
static cnn_status state_output(op_session *s, const optim_args *o, const cnn_optim_desc *d,
                               const cnn_shape *ps, float **dev)
{
    const int64_t n = d->count, total = cnn_optim_state_count(d);
    *dev = NULL;
    if (!total)
        return CNN_OK;
    float *init = malloc((size_t)total * sizeof *init);
    if (!init)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory for the state", s->name);
    cnn_status st = CNN_OK;
    for (int i = 0; i < nparts(d) && st == CNN_OK; i++) {
        float *h = NULL;
        if (!o->state[i]) {
            for (int64_t j = 0; j < n; j++)
                init[i * n + j] = NAN;
            continue;
        }
        st = read_like(s, part_opts[d->mode][i], o->state[i], ps, &h);
        if (st == CNN_OK)
            memcpy(init + i * n, h, (size_t)n * sizeof *h);
        free(h);
    }
    if (st == CNN_OK)
        st = op_output_new(s, NULL, cnn_shape1(total), init, dev);
    free(init);
    for (int i = 0; i < nparts(d) && st == CNN_OK; i++)
        st = op_output_view(s, part_names[d->mode][i], *ps, *dev + i * n);
    return st;
}

/* The state files go with --step: before the first step PyTorch has no
 * state, after one it has all of it. */
static cnn_status check_state_files(const op_session *s, const optim_args *o,
                                    const cnn_optim_desc *d)
{
    for (int i = 0; i < 2 && part_opts[d->mode][i]; i++) {
        bool wanted = i < nparts(d) && o->taken > 0;
        if (o->state[i] && !wanted)
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "%s: --%s is read only after earlier steps (--step > 0%s)", s->name,
                            part_opts[d->mode][i],
                            d->mode == CNN_OPTIM_SGD ? " and --momentum > 0" : "");
        if (!o->state[i] && wanted)
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "%s: --step %d says steps were taken before: give their --%s", s->name,
                            o->taken, part_opts[d->mode][i]);
    }
    return CNN_OK;
}

static cnn_status run(op_session *s, const op_args *a, const optim_args *o)
{
    cnn_shape ps, gs;
    float *param, *state;
    const float *grad;
    OP_TRY(param_output(s, o, &ps, &param));
    OP_TRY(op_input(s, "grad", o->grad, &gs, &grad));
    int64_t steps;
    OP_TRY(grad_steps(s, &ps, &gs, &steps));
    if (o->taken < 0)
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: --step must be >= 0, got %d", s->name, o->taken);
    cnn_op op = {.kind = CNN_OP_OPTIM, .optim = o->d};
    cnn_optim_desc *d = &op.optim;
    d->count = cnn_shape_numel(&ps);
    d->step = (int64_t)o->taken + 1;
    OP_TRY(cnn_optim_init(d));
    OP_TRY(check_state_files(s, o, d));
    OP_TRY(state_output(s, o, d, &ps, &state));
    const cnn_pass pass = CNN_FWD;
    OP_TRY(op_prepare(s, &op, &pass, 1));
    for (int64_t k = 0; k < steps; k++) {
        d->step = (int64_t)o->taken + 1 + k;
        OP_PASS(s, 0, cnn_optim_step(s->ctx, d, param, grad + k * d->count, state));
    }
    s->op = op; /* the summary names the last step */
    return op_finish(s, a->out);
}

static int optim_main(int argc, char **argv, cnn_optim_mode mode)
{
    const bool adam = mode == CNN_OPTIM_ADAM;
    op_args a = {0};
    optim_args o = {
        .d = {.mode = mode, .lr = adam ? 1e-3 : 0.0, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8}};
    cli_opt common[] = {
        {"backend", CLI_STRING, &a.backend, "NAME", "backend to run on (see: cnnbench backends)",
         true, false},
        {"param", CLI_STRING, &o.param, "FILE", "the parameter, float32 .npy of any shape", true,
         false},
        {"grad", CLI_STRING, &o.grad, "FILE",
         "its gradient, or one per step: [steps] + the shape, or [steps][numel]", true, false},
        {"weight-decay", CLI_DOUBLE, &o.d.weight_decay, "W",
         "L2 penalty added to the gradient (default 0)", false, false},
        {"step", CLI_INT, &o.taken, "K", "steps taken before (default 0: a fresh optimizer)", false,
         false},
        {"out", CLI_STRING, &a.out, "DIR", "folder for the results (created if missing)", true,
         false},
        {"threads", CLI_INT, &a.threads, "N", "CPU threads (default: the runtime's choice)", false,
         false},
    };
    cli_opt sgd_opts[] = {
        {"lr", CLI_DOUBLE, &o.d.lr, "LR", "learning rate", true, false},
        {"momentum", CLI_DOUBLE, &o.d.momentum, "M", "momentum factor (default 0)", false, false},
        {"momentum-buffer", CLI_STRING, &o.state[0], "FILE",
         "the momentum buffer after --step steps", false, false},
    };
    cli_opt adam_opts[] = {
        {"lr", CLI_DOUBLE, &o.d.lr, "LR", "learning rate (default 1e-3)", false, false},
        {"beta1", CLI_DOUBLE, &o.d.beta1, "B", "decay of the first moment (default 0.9)", false,
         false},
        {"beta2", CLI_DOUBLE, &o.d.beta2, "B", "decay of the second moment (default 0.999)", false,
         false},
        {"eps", CLI_DOUBLE, &o.d.eps, "E", "added to the denominator (default 1e-8)", false, false},
        {"exp-avg", CLI_STRING, &o.state[0], "FILE", "the first moment after --step steps", false,
         false},
        {"exp-avg-sq", CLI_STRING, &o.state[1], "FILE", "the second moment after --step steps",
         false, false},
    };
    const size_t ncommon = sizeof common / sizeof common[0];
    const size_t nown =
        adam ? sizeof adam_opts / sizeof adam_opts[0] : sizeof sgd_opts / sizeof sgd_opts[0];
    cli_opt opts[16];
    memcpy(opts, common, 3 * sizeof *opts);
    memcpy(opts + 3, adam ? adam_opts : sgd_opts, nown * sizeof *opts);
    memcpy(opts + 3 + nown, common + 3, (ncommon - 3) * sizeof *opts);
    cli_cmd cmd = {
        .name = adam ? "op adam" : "op sgd",
        .summary = adam ? "torch.optim.Adam steps (L2 weight decay, no AMSGrad) on one parameter."
                        : "torch.optim.SGD steps (no dampening, no Nesterov) on one parameter.",
        .details = adam ? "Writes DIR/param.npy, exp_avg.npy and exp_avg_sq.npy (the state "
                          "PyTorch keeps)."
                        : "Writes DIR/param.npy, and with --momentum also momentum_buffer.npy "
                          "(the state\nPyTorch keeps).",
        .opts = opts,
        .nopts = (int)(ncommon + nown),
    };
    op_session s;
    int rc = op_begin(&s, adam ? "adam" : "sgd", &cmd, argc, argv, &a);
    if (rc >= 0)
        return rc;
    return op_end(&s, run(&s, &a, &o));
}

int op_sgd(int argc, char **argv)
{
    return optim_main(argc, argv, CNN_OPTIM_SGD);
}

int op_adam(int argc, char **argv)
{
    return optim_main(argc, argv, CNN_OPTIM_ADAM);
}
