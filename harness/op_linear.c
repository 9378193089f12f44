/* cnnbench op linear: torch.nn.functional.linear and its gradients. */
#include "dispatch.h"
#include "op_run.h"

typedef struct linear_args {
    const char *w, *bias;
} linear_args;

static cnn_status run(op_session *s, const op_args *a, const linear_args *l)
{
    cnn_shape xs, ws, bs, dys;
    const float *x, *w, *b = NULL, *dy = NULL;
    char xb[64], wb[64];
    OP_TRY(op_input(s, "x", a->x, &xs, &x));
    OP_TRY(op_input(s, "w", l->w, &ws, &w));
    if (l->bias)
        OP_TRY(op_input(s, "bias", l->bias, &bs, &b));
    if (a->dy)
        OP_TRY(op_input(s, "dy", a->dy, &dys, &dy));
    OP_TRY(op_want_ndim(s, "x", &xs, 2, "[n][in_features]"));
    OP_TRY(op_want_ndim(s, "w", &ws, 2, "[out_features][in_features]"));
    if (ws.dim[1] != xs.dim[1])
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "linear: --w has %lld in_features but --x has %lld (x %s, w %s)",
                        (long long)ws.dim[1], (long long)xs.dim[1],
                        cnn_shape_str(&xs, xb, sizeof xb), cnn_shape_str(&ws, wb, sizeof wb));
    if (b) {
        cnn_shape want = cnn_shape1(ws.dim[0]);
        snprintf(xb, sizeof xb, "one per output feature of --w %s",
                 cnn_shape_str(&ws, wb, sizeof wb));
        OP_TRY(op_want_shape(s, "bias", &bs, &want, xb));
    }

    cnn_op op = {.kind = CNN_OP_LINEAR};
    cnn_linear_desc *d = &op.linear;
    OP_TRY(op_dim(s, "x", &xs, 0, &d->n));
    OP_TRY(op_dim(s, "x", &xs, 1, &d->in));
    OP_TRY(op_dim(s, "w", &ws, 0, &d->out));
    d->has_bias = b != NULL;
    OP_TRY(cnn_linear_init(d));
    cnn_shape ys = cnn_op_y_shape(&op);
    if (dy)
        OP_TRY(op_want_shape(s, "dy", &dys, &ys, "the shape of y"));
    cnn_pass passes[] = {CNN_FWD, CNN_BWD_DATA, CNN_BWD_WEIGHT};
    OP_TRY(op_prepare(s, &op, passes, dy ? 3 : 1));

    float *y, *dx, *dw, *db = NULL;
    OP_TRY(op_output_new(s, "y", ys, NULL, &y));
    OP_TRY(cnn_linear_fwd(s->ctx, d, x, w, b, y, s->ws, s->ws_size));
    if (dy) {
        OP_TRY(op_output_new(s, "dx", xs, NULL, &dx));
        OP_TRY(op_output_new(s, "dw", ws, NULL, &dw));
        if (b)
            OP_TRY(op_output_new(s, "db", bs, NULL, &db));
        OP_TRY(cnn_linear_bwd_data(s->ctx, d, dy, w, dx, s->ws, s->ws_size));
        OP_TRY(cnn_linear_bwd_weight(s->ctx, d, x, dy, dw, db, s->ws, s->ws_size));
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
    int rc = cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    op_session s;
    rc = op_begin(&s, "linear", &cmd, &a);
    if (rc >= 0)
        return rc;
    return op_end(&s, run(&s, &a, &l));
}
