/* cnnbench op maxpool2d | avgpool2d | adaptive_avgpool2d: the pooling
 * functions of torch.nn.functional and their gradients. */
#include "dispatch.h"
#include "op_run.h"

static cnn_status read_x_dy(op_session *s, const op_args *a, cnn_shape *xs, const float **x,
                            cnn_shape *dys, const float **dy)
{
    OP_TRY(op_input(s, "x", a->x, xs, x));
    if (a->dy)
        OP_TRY(op_input(s, "dy", a->dy, dys, dy));
    return op_want_ndim(s, "x", xs, 4, "[n][c][h][w]");
}

typedef struct pool_args {
    int kernel[2], stride[2], pad[2];
    bool stride_given, ceil;
} pool_args;

static cnn_status run_pool(op_session *s, const op_args *a, const pool_args *p, cnn_pool_mode m)
{
    cnn_shape xs, dys;
    const float *x, *dy = NULL;
    OP_TRY(read_x_dy(s, a, &xs, &x, &dys, &dy));
    cnn_op op = {.kind = CNN_OP_POOL};
    cnn_pool_desc *d = &op.pool;
    d->mode = m;
    OP_TRY(op_nchw(s, &xs, &d->n, &d->c, &d->h, &d->w));
    d->kh = p->kernel[0];
    d->kw = p->kernel[1];
    /* PyTorch: the stride defaults to the kernel size. */
    d->stride_h = p->stride_given ? p->stride[0] : p->kernel[0];
    d->stride_w = p->stride_given ? p->stride[1] : p->kernel[1];
    d->pad_h = p->pad[0];
    d->pad_w = p->pad[1];
    d->ceil_mode = p->ceil;
    OP_TRY(cnn_pool_init(d));
    cnn_shape ys = cnn_op_y_shape(&op);
    if (dy)
        OP_TRY(op_want_shape(s, "dy", &dys, &ys, "the shape of y"));
    cnn_pass passes[] = {CNN_FWD, CNN_BWD_DATA};
    OP_TRY(op_prepare(s, &op, passes, dy ? 2 : 1));

    float *y, *dx;
    OP_TRY(op_output_new(s, "y", ys, NULL, &y));
    OP_PASS(s, 0, cnn_pool_fwd(s->ctx, d, x, y, s->ws, s->ws_size));
    if (dy) {
        OP_TRY(op_output_new(s, "dx", xs, NULL, &dx));
        OP_PASS(s, 1, cnn_pool_bwd(s->ctx, d, x, y, dy, dx, s->ws, s->ws_size));
    }
    return op_finish(s, a->out);
}

static int pool_main(int argc, char **argv, cnn_pool_mode m)
{
    op_args a = {0};
    pool_args p = {{0, 0}, {0, 0}, {0, 0}, false, false};
    cli_opt opts[] = {
        OP_OPTS_HEAD(a),
        {"kernel", CLI_PAIR, p.kernel, "K|KH,KW", "window size", true, false},
        {"stride", CLI_PAIR, p.stride, "S|SH,SW", "stride (default: the kernel size)", false,
         false},
        {"pad", CLI_PAIR, p.pad, "P|PH,PW",
         m == CNN_POOL_MAX ? "implicit -inf padding on each side (default 0)"
                           : "zero padding on each side, counted in the divisor (default 0)",
         false, false},
        {"ceil", CLI_FLAG, &p.ceil, "", "ceil_mode=True: round the output size up", false, false},
        OP_OPTS_TAIL(a),
    };
    cli_cmd cmd = {
        .name = m == CNN_POOL_MAX ? "op maxpool2d" : "op avgpool2d",
        .summary = m == CNN_POOL_MAX ? "Max pooling as torch.nn.functional.max_pool2d (dilation=1)."
                                     : "Average pooling as torch.nn.functional.avg_pool2d "
                                       "(count_include_pad=True).",
        .details = "Writes DIR/y.npy; with --dy also dx.npy.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    op_session s;
    int rc = op_begin(&s, m == CNN_POOL_MAX ? "maxpool2d" : "avgpool2d", &cmd, argc, argv, &a);
    if (rc >= 0)
        return rc;
    for (int i = 0; i < cmd.nopts; i++)
        if (opts[i].dest == p.stride)
            p.stride_given = opts[i].seen;
    return op_end(&s, run_pool(&s, &a, &p, m));
}

int op_maxpool2d(int argc, char **argv)
{
    return pool_main(argc, argv, CNN_POOL_MAX);
}

int op_avgpool2d(int argc, char **argv)
{
    return pool_main(argc, argv, CNN_POOL_AVG);
}

static cnn_status run_adapool(op_session *s, const op_args *a, const int size[2])
{
    cnn_shape xs, dys;
    const float *x, *dy = NULL;
    OP_TRY(read_x_dy(s, a, &xs, &x, &dys, &dy));
    cnn_op op = {.kind = CNN_OP_ADAPOOL};
    cnn_adapool_desc *d = &op.adapool;
    OP_TRY(op_nchw(s, &xs, &d->n, &d->c, &d->h, &d->w));
    d->p = size[0];
    d->q = size[1];
    OP_TRY(cnn_adapool_init(d));
    cnn_shape ys = cnn_op_y_shape(&op);
    if (dy)
        OP_TRY(op_want_shape(s, "dy", &dys, &ys, "the shape of y"));
    cnn_pass passes[] = {CNN_FWD, CNN_BWD_DATA};
    OP_TRY(op_prepare(s, &op, passes, dy ? 2 : 1));

    float *y, *dx;
    OP_TRY(op_output_new(s, "y", ys, NULL, &y));
    OP_PASS(s, 0, cnn_adapool_fwd(s->ctx, d, x, y, s->ws, s->ws_size));
    if (dy) {
        OP_TRY(op_output_new(s, "dx", xs, NULL, &dx));
        OP_PASS(s, 1, cnn_adapool_bwd(s->ctx, d, dy, dx, s->ws, s->ws_size));
    }
    return op_finish(s, a->out);
}

int op_adaptive_avgpool2d(int argc, char **argv)
{
    op_args a = {0};
    int size[2] = {0, 0};
    cli_opt opts[] = {
        OP_OPTS_HEAD(a),
        {"output", CLI_PAIR, size, "N|H,W", "output size (1 = global average pooling)", true,
         false},
        OP_OPTS_TAIL(a),
    };
    cli_cmd cmd = {
        .name = "op adaptive_avgpool2d",
        .summary = "Adaptive average pooling as torch.nn.functional.adaptive_avg_pool2d.",
        .details = "Writes DIR/y.npy; with --dy also dx.npy.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    op_session s;
    int rc = op_begin(&s, "adaptive_avgpool2d", &cmd, argc, argv, &a);
    if (rc >= 0)
        return rc;
    return op_end(&s, run_adapool(&s, &a, size));
}
