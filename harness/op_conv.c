/* cnnbench op conv2d: torch.nn.functional.conv2d and its gradients. */
#include "dispatch.h"
#include "op_run.h"

typedef struct conv_args {
    const char *w, *bias;
    int stride[2], pad[2];
} conv_args;

static const op_layer_names conv_names = {4, "[n][c][h][w]", "[k][c][r][s]", "input channels",
                                          "output channel"};

static cnn_status run(op_session *s, const op_args *a, const conv_args *c)
{
    op_layer_in in;
    OP_TRY(op_layer_inputs(s, a, c->w, c->bias, &conv_names, &in));
    const float *x = in.x, *w = in.w, *b = in.b, *dy = in.dy;

    cnn_op op = {.kind = CNN_OP_CONV};
    cnn_conv_desc *d = &op.conv;
    OP_TRY(op_nchw(s, &in.xs, &d->n, &d->c, &d->h, &d->w));
    OP_TRY(op_dim(s, "w", &in.ws, 0, &d->k));
    OP_TRY(op_dim(s, "w", &in.ws, 2, &d->r));
    OP_TRY(op_dim(s, "w", &in.ws, 3, &d->s));
    d->stride_h = c->stride[0];
    d->stride_w = c->stride[1];
    d->pad_h = c->pad[0];
    d->pad_w = c->pad[1];
    d->has_bias = b != NULL;
    OP_TRY(cnn_conv_init(d));
    cnn_shape ys = cnn_op_y_shape(&op);
    if (dy)
        OP_TRY(op_want_shape(s, "dy", &in.dys, &ys, "the shape of y"));

    cnn_pass passes[] = {CNN_FWD, CNN_BWD_DATA, CNN_BWD_WEIGHT, CNN_BWD_BIAS};
    int npasses = !dy ? 1 : b ? 4 : 3;
    OP_TRY(op_prepare(s, &op, passes, npasses));

    float *y, *dx, *dw, *db;
    OP_TRY(op_output_new(s, "y", ys, NULL, &y));
    OP_PASS(s, 0, cnn_conv_fwd(s->ctx, d, x, w, b, y, s->ws, s->ws_size));
    if (dy) {
        OP_TRY(op_output_new(s, "dx", in.xs, NULL, &dx));
        OP_TRY(op_output_new(s, "dw", in.ws, NULL, &dw));
        OP_PASS(s, 1, cnn_conv_bwd_data(s->ctx, d, dy, w, dx, s->ws, s->ws_size));
        OP_PASS(s, 2, cnn_conv_bwd_filter(s->ctx, d, x, dy, dw, s->ws, s->ws_size));
        if (b) {
            OP_TRY(op_output_new(s, "db", in.bs, NULL, &db));
            OP_PASS(s, 3, cnn_conv_bwd_bias(s->ctx, d, NULL, dy, db, NULL, s->ws, s->ws_size));
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
    op_session s;
    int rc = op_begin(&s, "conv2d", &cmd, argc, argv, &a);
    if (rc >= 0)
        return rc;
    return op_end(&s, run(&s, &a, &c));
}
