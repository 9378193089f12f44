/* cnnbench op linear: torch.nn.functional.linear and its gradients. */
#include "dispatch.h"
#include "op_run.h"

typedef struct linear_args {
    const char *w, *bias;
} linear_args;

static const op_layer_names linear_names = {2, "[n][in_features]", "[out_features][in_features]",
                                            "in_features", "output feature"};

static cnn_status run(op_session *s, const op_args *a, const linear_args *l)
{
    op_layer_in in;
    OP_TRY(op_layer_inputs(s, a, l->w, l->bias, &linear_names, &in));
    const float *x = in.x, *w = in.w, *b = in.b, *dy = in.dy;

    cnn_op op = {.kind = CNN_OP_LINEAR};
    cnn_linear_desc *d = &op.linear;
    OP_TRY(op_dim(s, "x", &in.xs, 0, &d->n));
    OP_TRY(op_dim(s, "x", &in.xs, 1, &d->in));
    OP_TRY(op_dim(s, "w", &in.ws, 0, &d->out));
    d->has_bias = b != NULL;
    OP_TRY(cnn_linear_init(d));
    cnn_shape ys = cnn_op_y_shape(&op);
    if (dy)
        OP_TRY(op_want_shape(s, "dy", &in.dys, &ys, "the shape of y"));
    cnn_pass passes[] = {CNN_FWD, CNN_BWD_DATA, CNN_BWD_WEIGHT};
    OP_TRY(op_prepare(s, &op, passes, dy ? 3 : 1));

    float *y, *dx, *dw, *db = NULL;
    OP_TRY(op_output_new(s, "y", ys, NULL, &y));
    OP_PASS(s, 0, cnn_linear_fwd(s->ctx, d, x, w, b, y, s->ws, s->ws_size));
    if (dy) {
        OP_TRY(op_output_new(s, "dx", in.xs, NULL, &dx));
        OP_TRY(op_output_new(s, "dw", in.ws, NULL, &dw));
        if (b)
            OP_TRY(op_output_new(s, "db", in.bs, NULL, &db));
        OP_PASS(s, 1, cnn_linear_bwd_data(s->ctx, d, dy, w, dx, s->ws, s->ws_size));
        OP_PASS(s, 2, cnn_linear_bwd_weight(s->ctx, d, x, dy, dw, db, s->ws, s->ws_size));
    }
    return op_finish(s, a->out);
}

int op_linear(int argc, char **argv)
{
    op_args a = {0};
    linear_args l = {0};
    cli_opt opts[] = {
        OP_OPTS_HEAD(a),
        {"w", CLI_STRING, &l.w, "FILE", "weight [out][in], float32 .npy", true, false},
        {"bias", CLI_STRING, &l.bias, "FILE", "bias [out], float32 .npy (default: none)", false,
         false},
        OP_OPTS_TAIL(a),
    };
    cli_cmd cmd = {
        .name = "op linear",
        .summary = "Fully connected layer as torch.nn.functional.linear: y = x w^T + b, x 2-d.",
        .details = "Writes DIR/y.npy; with --dy also dx.npy, dw.npy and (with --bias) db.npy.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    op_session s;
    int rc = op_begin(&s, "linear", &cmd, argc, argv, &a);
    if (rc >= 0)
        return rc;
    return op_end(&s, run(&s, &a, &l));
}
