/* cnnbench op batchnorm2d: torch.nn.functional.batch_norm in training mode,
 * with the running statistics starting from PyTorch's defaults (mean 0,
 * variance 1) after one update, and the gradients. */
#include <stdlib.h>

#include "dispatch.h"
#include "op_run.h"

typedef struct bn_args {
    const char *gamma, *beta;
    double eps, momentum;
} bn_args;

static cnn_status run(op_session *s, const op_args *a, const bn_args *b)
{
    cnn_shape xs, gs, bs, dys;
    const float *x, *gamma, *beta, *dy = NULL;
    char what[128], xb[64];
    OP_TRY(op_input(s, "x", a->x, &xs, &x));
    OP_TRY(op_input(s, "gamma", b->gamma, &gs, &gamma));
    OP_TRY(op_input(s, "beta", b->beta, &bs, &beta));
    if (a->dy)
        OP_TRY(op_input(s, "dy", a->dy, &dys, &dy));
    OP_TRY(op_want_ndim(s, "x", &xs, 4, "[n][c][h][w]"));
    cnn_shape cs = cnn_shape1(xs.dim[1]);
    snprintf(what, sizeof what, "one per channel of --x %s", cnn_shape_str(&xs, xb, sizeof xb));
    OP_TRY(op_want_shape(s, "gamma", &gs, &cs, what));
    OP_TRY(op_want_shape(s, "beta", &bs, &cs, what));

    cnn_op op = {.kind = CNN_OP_BN};
    cnn_bn_desc *d = &op.bn;
    OP_TRY(op_nchw(s, &xs, &d->n, &d->c, &d->h, &d->w));
    d->eps = b->eps;
    d->momentum = b->momentum;
    OP_TRY(cnn_bn_init(d));
    if (dy)
        OP_TRY(op_want_shape(s, "dy", &dys, &xs, "the shape of y"));
    cnn_pass passes[] = {CNN_FWD, CNN_BWD_DATA};
    OP_TRY(op_prepare(s, &op, passes, dy ? 2 : 1));

    /* torch.nn.BatchNorm2d's initial running statistics. */
    float *init = calloc((size_t)d->c, sizeof *init);
    if (!init)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "batchnorm2d: no memory for %d channels", d->c);
    float *y, *rmean, *rvar, *smean, *sinvstd, *dx, *dgamma, *dbeta;
    cnn_status st = op_output_new(s, "running_mean", cs, init, &rmean);
    for (int i = 0; i < d->c; i++)
        init[i] = 1.0f;
    if (st == CNN_OK)
        st = op_output_new(s, "running_var", cs, init, &rvar);
    free(init);
    OP_TRY(st);
    OP_TRY(op_output_new(s, "y", xs, NULL, &y));
    OP_TRY(op_output_new(s, NULL, cs, NULL, &smean));
    OP_TRY(op_output_new(s, NULL, cs, NULL, &sinvstd));
    OP_PASS(s, 0,
            cnn_bn_fwd_train(s->ctx, d, x, gamma, beta, y, rmean, rvar, smean, sinvstd, s->ws,
                             s->ws_size));
    if (dy) {
        OP_TRY(op_output_new(s, "dx", xs, NULL, &dx));
        OP_TRY(op_output_new(s, "dgamma", cs, NULL, &dgamma));
        OP_TRY(op_output_new(s, "dbeta", cs, NULL, &dbeta));
        OP_PASS(s, 1,
                cnn_bn_bwd(s->ctx, d, x, NULL, dy, gamma, smean, sinvstd, dx, dgamma, dbeta, s->ws,
                           s->ws_size));
    }
    return op_finish(s, a->out);
}

int op_batchnorm2d(int argc, char **argv)
{
    op_args a = {0};
    bn_args b = {.eps = 1e-5, .momentum = 0.1};
    cli_opt opts[] = {
        OP_OPTS_HEAD(a),
        {"gamma", CLI_STRING, &b.gamma, "FILE", "scale [c], float32 .npy", true, false},
        {"beta", CLI_STRING, &b.beta, "FILE", "shift [c], float32 .npy", true, false},
        {"eps", CLI_DOUBLE, &b.eps, "E", "added to the variance (default 1e-5)", false, false},
        {"momentum", CLI_DOUBLE, &b.momentum, "M",
         "weight of the batch in the running statistics (default 0.1)", false, false},
        OP_OPTS_TAIL(a),
    };
    cli_cmd cmd = {
        .name = "op batchnorm2d",
        .summary = "Batch normalisation as torch.nn.functional.batch_norm, training mode.",
        .details = "Writes DIR/y.npy, running_mean.npy and running_var.npy (one update from "
                   "PyTorch's\ninitial 0 and 1); with --dy also dx.npy, dgamma.npy and "
                   "dbeta.npy.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    op_session s;
    int rc = op_begin(&s, "batchnorm2d", &cmd, argc, argv, &a);
    if (rc >= 0)
        return rc;
    return op_end(&s, run(&s, &a, &b));
}
