/* cnnbench op relu | sigmoid: element-wise activations on a tensor of any
 * shape, and their gradients (computed from y, as the backends do). */
#include "dispatch.h"
#include "op_run.h"

static cnn_status run(op_session *s, const op_args *a, cnn_act_mode m)
{
    cnn_shape xs, dys;
    const float *x, *dy = NULL;
    OP_TRY(op_input(s, "x", a->x, &xs, &x));
    if (a->dy)
        OP_TRY(op_input(s, "dy", a->dy, &dys, &dy));
    cnn_op op = {.kind = CNN_OP_ACT};
    op.act.mode = m;
    op.act.count = cnn_shape_numel(&xs);
    OP_TRY(cnn_act_init(&op.act));
    if (dy)
        OP_TRY(op_want_shape(s, "dy", &dys, &xs, "the shape of y"));
    cnn_pass passes[] = {CNN_FWD, CNN_BWD_DATA};
    OP_TRY(op_prepare(s, &op, passes, dy ? 2 : 1));

    float *y, *dx;
    OP_TRY(op_output_new(s, "y", xs, NULL, &y));
    OP_PASS(s, 0, cnn_act_fwd(s->ctx, &op.act, x, y));
    if (dy) {
        OP_TRY(op_output_new(s, "dx", xs, NULL, &dx));
        OP_PASS(s, 1, cnn_act_bwd(s->ctx, &op.act, y, dy, dx));
    }
    return op_finish(s, a->out);
}

static int act_main(int argc, char **argv, cnn_act_mode m)
{
    op_args a = {0};
    cli_opt opts[] = {OP_OPTS_HEAD(a), OP_OPTS_TAIL(a)};
    cli_cmd cmd = {
        .name = m == CNN_ACT_RELU ? "op relu" : "op sigmoid",
        .summary = m == CNN_ACT_RELU ? "torch.nn.functional.relu on a tensor of any shape."
                                     : "torch.sigmoid on a tensor of any shape.",
        .details = "Writes DIR/y.npy; with --dy also dx.npy.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    op_session s;
    int rc = op_begin(&s, m == CNN_ACT_RELU ? "relu" : "sigmoid", &cmd, argc, argv, &a);
    if (rc >= 0)
        return rc;
    return op_end(&s, run(&s, &a, m));
}

int op_relu(int argc, char **argv)
{
    return act_main(argc, argv, CNN_ACT_RELU);
}

int op_sigmoid(int argc, char **argv)
{
    return act_main(argc, argv, CNN_ACT_SIGMOID);
}
