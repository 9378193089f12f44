/* cnnbench op conv2d: torch.nn.functional.conv2d and its gradients. */
#include "dispatch.h"
#include "op_run.h"

typedef struct conv_args {
    const char *w, *bias;
    int stride[2], pad[2];
} conv_args;

static cnn_status run(op_session *s, const op_args *a, const conv_args *c)
{
    cnn_shape xs, ws, bs, dys;
    const float *x, *w, *b = NULL, *dy = NULL;
    char xb[64], wb[64];
    OP_TRY(op_input(s, "x", a->x, &xs, &x));
    OP_TRY(op_input(s, "w", c->w, &ws, &w));
    if (c->bias)
        OP_TRY(op_input(s, "bias", c->bias, &bs, &b));
    if (a->dy)
        OP_TRY(op_input(s, "dy", a->dy, &dys, &dy));
    OP_TRY(op_want_ndim(s, "x", &xs, 4, "[n][c][h][w]"));
    OP_TRY(op_want_ndim(s, "w", &ws, 4, "[k][c][r][s]"));
    if (ws.dim[1] != xs.dim[1])
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "conv2d: --w has %lld input channels but --x has %lld (x %s, w %s)",
                        (long long)ws.dim[1], (long long)xs.dim[1],
                        cnn_shape_str(&xs, xb, sizeof xb), cnn_shape_str(&ws, wb, sizeof wb));
    if (b) {
        cnn_shape want = cnn_shape1(ws.dim[0]);
        snprintf(xb, sizeof xb, "one per output channel of --w %s",
                 cnn_shape_str(&ws, wb, sizeof wb));
        OP_TRY(op_want_shape(s, "bias", &bs, &want, xb));
    }

    cnn_op op = {.kind = CNN_OP_CONV};
    cnn_conv_desc *d = &op.conv;
    OP_TRY(op_dim(s, "x", &xs, 0, &d->n));
    OP_TRY(op_dim(s, "x", &xs, 1, &d->c));
    OP_TRY(op_dim(s, "x", &xs, 2, &d->h));
    OP_TRY(op_dim(s, "x", &xs, 3, &d->w));
    OP_TRY(op_dim(s, "w", &ws, 0, &d->k));
    OP_TRY(op_dim(s, "w", &ws, 2, &d->r));
    OP_TRY(op_dim(s, "w", &ws, 3, &d->s));
    d->stride_h = c->stride[0];
    d->stride_w = c->stride[1];
    d->pad_h = c->pad[0];
    d->pad_w = c->pad[1];
    d->has_bias = b != NULL;
    OP_TRY(cnn_conv_init(d));
    cnn_shape ys = cnn_op_y_shape(&op);
    if (dy)
        OP_TRY(op_want_shape(s, "dy", &dys, &ys, "the shape of y"));

    cnn_pass passes[] = {CNN_FWD, CNN_BWD_DATA, CNN_BWD_WEIGHT, CNN_BWD_BIAS};
    int npasses = !dy ? 1 : b ? 4 : 3;
    OP_TRY(op_prepare(s, &op, passes, npasses));

    float *y, *dx, *dw, *db;
    OP_TRY(op_output_new(s, "y", ys, NULL, &y));
    OP_TRY(cnn_conv_fwd(s->ctx, d, x, w, b, y, s->ws, s->ws_size));
    if (dy) {
        OP_TRY(op_output_new(s, "dx", xs, NULL, &dx));
        OP_TRY(op_output_new(s, "dw", ws, NULL, &dw));
        OP_TRY(cnn_conv_bwd_data(s->ctx, d, dy, w, dx, s->ws, s->ws_size));
        OP_TRY(cnn_conv_bwd_filter(s->ctx, d, x, dy, dw, s->ws, s->ws_size));
        if (b) {
            OP_TRY(op_output_new(s, "db", bs, NULL, &db));
            OP_TRY(cnn_conv_bwd_bias(s->ctx, d, dy, db, s->ws, s->ws_size));
        }
    }
    return op_finish(s, a->out);
}

int op_conv2d(int argc, char **argv)
{
    op_args a = {0};
    conv_args c = {.stride = {1, 1}};
    cli_opt opts[] = {
        OP_OPTS_HEAD(a),
        {"w", CLI_STRING, &c.w, "FILE", "weight [k][c][r][s], float32 .npy", true, false},
        {"bias", CLI_STRING, &c.bias, "FILE", "bias [k], float32 .npy (default: none)", false,
         false},
        {"stride", CLI_PAIR, c.stride, "S|SH,SW", "stride (default 1)", false, false},
        {"pad", CLI_PAIR, c.pad, "P|PH,PW", "zero padding on each side (default 0)", false, false},
        OP_OPTS_TAIL(a),
    };
    cli_cmd cmd = {
        .name = "op conv2d",
        .summary = "2-d convolution (cross-correlation) as torch.nn.functional.conv2d, groups=1, "
                   "dilation=1.",
        .details = "Writes DIR/y.npy; with --dy also dx.npy, dw.npy and (with --bias) db.npy.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    int rc = cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    op_session s;
    rc = op_begin(&s, "conv2d", &cmd, &a);
    if (rc >= 0)
        return rc;
    return op_end(&s, run(&s, &a, &c));
}
