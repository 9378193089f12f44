/* The shape sweeps of cnnbench verify.
 *
 * "edge": hand-picked cases that break careless kernels: 1x1, 5x5, 7x7/2,
 * 11x11/4, stride 3, odd and non-square sizes, C = 1, K = 1, padding > 1,
 * outputs smaller than a Winograd tile, ceil-mode pooling, non-divisible
 * adaptive pooling, one-class and many-class losses, SGD and Adam steps.
 * "models": every distinct layer of the six models (models/), at batch 2 for
 * the ImageNet-sized ones. "quick": the edge cases plus the cheapest model
 * layers, for ctest. "all": both. A model's name: that model's distinct
 * layers. Any comma-separated mix of these; a shape is swept once. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model.h"
#include "verify.h"
#include "verify_models.h"

typedef struct oplist {
    cnn_op *ops;
    verify_layer *layers; /* the layer each came from first, "" for none */
    int n, cap;
} oplist;

static cnn_status push_named(oplist *l, cnn_op op, const char *layer)
{
    cnn_status st = cnn_op_init(&op);
    if (st != CNN_OK)
        return st;
    char a[256], b[256];
    cnn_op_str(&op, a, sizeof a);
    for (int i = 0; i < l->n; i++)
        if (l->ops[i].kind == op.kind && strcmp(cnn_op_str(&l->ops[i], b, sizeof b), a) == 0 &&
            strcmp(cnn_op_name(&l->ops[i]), cnn_op_name(&op)) == 0)
            return CNN_OK; /* distinct shapes only */
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        cnn_op *ops = realloc(l->ops, (size_t)cap * sizeof *ops);
        l->ops = ops ? ops : l->ops;
        verify_layer *layers = ops ? realloc(l->layers, (size_t)cap * sizeof *layers) : NULL;
        if (!layers)
            return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "verify: no memory for the shape list");
        l->layers = layers;
        l->cap = cap;
    }
    snprintf(l->layers[l->n], sizeof l->layers[l->n], "%s", layer);
    l->ops[l->n++] = op;
    return CNN_OK;
}

static cnn_status push(oplist *l, cnn_op op)
{
    return push_named(l, op, "");
}

static cnn_op conv(int n, int c, int h, int w, int k, int r, int s, int sh, int sw, int ph, int pw,
                   bool bias)
{
    return (cnn_op){.kind = CNN_OP_CONV,
                    .conv = {.n = n,
                             .c = c,
                             .h = h,
                             .w = w,
                             .k = k,
                             .r = r,
                             .s = s,
                             .stride_h = sh,
                             .stride_w = sw,
                             .pad_h = ph,
                             .pad_w = pw,
                             .has_bias = bias}};
}

static cnn_op pool(cnn_pool_mode m, int n, int c, int h, int w, int k, int s, int p, bool ceil)
{
    return (cnn_op){.kind = CNN_OP_POOL,
                    .pool = {.mode = m,
                             .n = n,
                             .c = c,
                             .h = h,
                             .w = w,
                             .kh = k,
                             .kw = k,
                             .stride_h = s,
                             .stride_w = s,
                             .pad_h = p,
                             .pad_w = p,
                             .ceil_mode = ceil}};
}

/* Optimizer steps: one update from a state as after some steps (vcase_init
 * fills it), at step 1 (where the state must be ignored) and later ones,
 * with and without weight decay; SGD with and without momentum, Adam with
 * PyTorch's betas and with others, and an eps large enough to matter. */
static cnn_status optim_shapes(oplist *l)
{
    static const cnn_optim_desc ds[] = {
        {CNN_OPTIM_SGD, 1, .lr = 0.1, .step = 1},
        {CNN_OPTIM_SGD, 1031, .lr = 0.1, .weight_decay = 1e-2, .step = 3},
        {CNN_OPTIM_SGD, 1031, .lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4, .step = 1},
        {CNN_OPTIM_SGD, 1031, .lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4, .step = 4},
        {CNN_OPTIM_SGD, 517, .lr = 0.2, .momentum = 0.5, .step = 2},
        {CNN_OPTIM_ADAM, 1031, .lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .step = 1},
        {CNN_OPTIM_ADAM, 1031, .lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
         .weight_decay = 1e-2, .step = 7},
        {CNN_OPTIM_ADAM, 1031, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .step = 1000},
        {CNN_OPTIM_ADAM, 7, .lr = 0.1, .beta1 = 0.5, .beta2 = 0.9, .eps = 1e-2, .step = 2},
    };
    cnn_status st = CNN_OK;
    for (size_t i = 0; i < sizeof ds / sizeof ds[0] && st == CNN_OK; i++)
        st = push(l, (cnn_op){.kind = CNN_OP_OPTIM, .optim = ds[i]});
    return st;
}

/* Convolutions and batch norms with the ReLU fused in (kernels/ops.h): the
 * paths of each backend's epilogue (Winograd's 3x3 tiles with ragged edges,
 * im2col's 1x1 and strided GEMMs, no bias), and BN in both forms. */
static cnn_status fused_shapes(oplist *l)
{
    static const int convs[][12] = {
        /* n  c   h   w   k   r  s  sh sw ph pw bias */
        {2, 16, 10, 10, 16, 3, 3, 1, 1, 1, 1, 1},
        {2, 3, 8, 8, 4, 1, 1, 1, 1, 0, 0, 1},
        {2, 4, 17, 16, 6, 3, 3, 2, 2, 1, 1, 1},
        {2, 8, 9, 9, 8, 3, 3, 1, 1, 1, 1, 0},
    };
    cnn_status st = CNN_OK;
    for (size_t i = 0; i < sizeof convs / sizeof convs[0] && st == CNN_OK; i++) {
        const int *v = convs[i];
        cnn_op op = conv(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]);
        op.conv.fuse_relu = true;
        st = push(l, op);
    }
    static const bool frozen[] = {false, true};
    for (int i = 0; i < 2 && st == CNN_OK; i++)
        st = push(l, (cnn_op){.kind = CNN_OP_BN,
                              .bn = {2, 8, 14, 14, 1e-5, 0.1, frozen[i], .fuse_relu = true}});
    return st;
}

static cnn_status edge_shapes(oplist *l)
{
    static const int convs[][12] = {
        /* n  c   h   w   k   r  s  sh sw ph pw bias */
        {2, 3, 8, 8, 4, 1, 1, 1, 1, 0, 0, 1},     /* 1x1 */
        {2, 5, 9, 7, 3, 1, 1, 2, 2, 0, 0, 0},     /* 1x1 stride 2, no bias */
        {2, 3, 13, 11, 4, 5, 5, 1, 1, 2, 2, 1},   /* 5x5 */
        {1, 3, 23, 19, 5, 7, 7, 2, 2, 3, 3, 1},   /* 7x7 stride 2 */
        {1, 3, 35, 35, 4, 11, 11, 4, 4, 2, 2, 1}, /* 11x11 stride 4 */
        {2, 4, 17, 16, 6, 3, 3, 3, 3, 1, 1, 1},   /* stride 3 */
        {2, 1, 9, 9, 3, 3, 3, 1, 1, 1, 1, 1},     /* C = 1 */
        {2, 6, 9, 9, 1, 3, 3, 1, 1, 1, 1, 1},     /* K = 1 */
        {2, 5, 7, 11, 6, 3, 3, 1, 1, 0, 0, 1},    /* odd, non-square, pad 0 */
        {2, 5, 7, 11, 6, 3, 3, 1, 1, 2, 3, 1},    /* padding > 1, per axis */
        {1, 4, 6, 6, 5, 3, 3, 1, 1, 4, 4, 0},     /* padding > 2 (Winograd bwd) */
        {2, 3, 3, 3, 4, 3, 3, 1, 1, 0, 0, 1},     /* output 1x1 < a tile */
        {2, 3, 4, 5, 4, 3, 3, 1, 1, 0, 0, 1},     /* output 2x3 < an F(4x4) tile */
        {2, 16, 10, 10, 16, 3, 3, 1, 1, 1, 1, 1}, /* tiles with ragged edges */
        {1, 8, 5, 9, 6, 2, 4, 1, 2, 1, 0, 1},     /* rectangular kernel */
        {1, 6, 8, 8, 4, 3, 1, 2, 1, 1, 0, 1},     /* 3x1, per-axis stride */
        {2, 64, 12, 12, 64, 3, 3, 1, 1, 1, 1, 1}, /* C, K = 64 */
    };
    cnn_status st = CNN_OK;
    for (size_t i = 0; i < sizeof convs / sizeof convs[0] && st == CNN_OK; i++) {
        const int *v = convs[i];
        st =
            push(l, conv(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]));
    }
    for (int m = 0; m < CNN_POOL_MODE_COUNT && st == CNN_OK; m++) {
        cnn_pool_mode mode = (cnn_pool_mode)m;
        st = push(l, pool(mode, 2, 3, 8, 8, 2, 2, 0, false));
        if (st == CNN_OK)
            st = push(l, pool(mode, 2, 3, 9, 7, 3, 2, 1, false));
        if (st == CNN_OK) /* ceil mode with an overhanging last window */
            st = push(l, pool(mode, 2, 3, 10, 10, 3, 2, 0, true));
        if (st == CNN_OK)
            st = push(l, pool(mode, 1, 2, 5, 5, 2, 2, 1, true));
        if (st == CNN_OK)
            st = push(l, pool(mode, 1, 4, 7, 7, 3, 1, 1, true));
        if (st == CNN_OK)
            st = push(l, pool(mode, 2, 3, 11, 6, 3, 3, 0, false));
        if (st == CNN_OK) /* stride > kernel: rows and columns no window covers */
            st = push(l, pool(mode, 2, 3, 11, 10, 2, 3, 0, false));
    }
    /* the last has more cells than impl_cpu keeps on the stack */
    static const int adapools[][6] = {
        {2, 3, 7, 7, 1, 1}, {2, 3, 5, 5, 3, 3}, {1, 4, 13, 13, 6, 6},
        {1, 2, 4, 4, 7, 7}, {2, 3, 9, 6, 2, 4}, {1, 2, 131, 130, 67, 65},
    };
    for (size_t i = 0; i < sizeof adapools / sizeof adapools[0] && st == CNN_OK; i++) {
        const int *v = adapools[i];
        st = push(
            l, (cnn_op){.kind = CNN_OP_ADAPOOL, .adapool = {v[0], v[1], v[2], v[3], v[4], v[5]}});
    }
    static const int bns[][4] = {{2, 3, 5, 7}, {4, 16, 1, 1}, {1, 5, 3, 3}, {2, 8, 14, 14}};
    for (size_t i = 0; i < sizeof bns / sizeof bns[0] && st == CNN_OK; i++)
        st = push(l, (cnn_op){.kind = CNN_OP_BN,
                              .bn = {bns[i][0], bns[i][1], bns[i][2], bns[i][3], 1e-5, 0.1, false,
                                     false}});
    if (st == CNN_OK)
        st = push(l, (cnn_op){.kind = CNN_OP_BN, .bn = {3, 4, 2, 2, 1e-3, 0.1, false, false}});
    if (st == CNN_OK) /* frozen statistics: the eval-mode backward */
        st = push(l, (cnn_op){.kind = CNN_OP_BN, .bn = {2, 8, 5, 5, 1e-5, 0.1, true, false}});
    if (st == CNN_OK)
        st = fused_shapes(l);
    /* the last three: the CPU backends' batch-lane loops (9 to 32 rows):
     * one and two panels of 16 rows, column tails, row-tile remainders */
    static const int linears[][4] = {{2, 7, 5, 1},   {3, 1, 4, 1},     {1, 33, 1, 0},
                                     {5, 64, 10, 1}, {16, 300, 37, 1}, {32, 70, 290, 1},
                                     {9, 40, 17, 0}};
    for (size_t i = 0; i < sizeof linears / sizeof linears[0] && st == CNN_OK; i++) {
        const int *v = linears[i];
        st = push(l, (cnn_op){.kind = CNN_OP_LINEAR, .linear = {v[0], v[1], v[2], v[3] != 0}});
    }
    for (int m = 0; m < CNN_ACT_MODE_COUNT && st == CNN_OK; m++) {
        st = push(l, (cnn_op){.kind = CNN_OP_ACT, .act = {(cnn_act_mode)m, 1}});
        if (st == CNN_OK)
            st = push(l, (cnn_op){.kind = CNN_OP_ACT, .act = {(cnn_act_mode)m, 1037}});
    }
    static const double ps[] = {0.0, 0.2, 0.5, 1.0};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0] && st == CNN_OK; i++)
        st = push(l, (cnn_op){.kind = CNN_OP_DROPOUT, .dropout = {1031, ps[i], 42 + i}});
    static const int xents[][2] = {{1, 1}, {4, 10}, {3, 1000}};
    for (size_t i = 0; i < sizeof xents / sizeof xents[0] && st == CNN_OK; i++)
        st = push(l, (cnn_op){.kind = CNN_OP_XENT, .xent = {xents[i][0], xents[i][1]}});
    if (st == CNN_OK)
        st = push(l, (cnn_op){.kind = CNN_OP_CONCAT,
                              .concat = {.n = 2, .h = 3, .w = 5, .count = 4, .c = {1, 2, 3, 4}}});
    if (st == CNN_OK)
        st = push(l, (cnn_op){.kind = CNN_OP_CONCAT,
                              .concat = {.n = 1, .h = 1, .w = 1, .count = 1, .c = {7}}});
    if (st == CNN_OK)
        st = push(l, (cnn_op){.kind = CNN_OP_ADD, .add = {999}});
    return st == CNN_OK ? optim_shapes(l) : st;
}

static bool is_set(const char *item)
{
    return !strcmp(item, "edge") || !strcmp(item, "quick") || !strcmp(item, "models") ||
           !strcmp(item, "all") || cnn_model_find(item) != NULL;
}

int verify_shapes_check(const cli_cmd *cmd, const char *list)
{
    char item[64], names[256];
    int items = 0;
    for (const char *p = list; cli_next_item(&p, item, sizeof item); items++)
        if (!is_set(item))
            return cli_usage_error(cmd,
                                   "--shapes: unknown shape set '%s'; valid: edge, quick, models, "
                                   "all, or a model name (%s), comma-separated",
                                   item, cnn_model_names(names, sizeof names));
    return items ? -1 : cli_usage_error(cmd, "--shapes: empty list '%s'", list);
}

/* One item of a --shapes list: a named set or a model's layers. */
static cnn_status add_item(oplist *l, const char *item)
{
    bool edge = !strcmp(item, "edge") || !strcmp(item, "quick") || !strcmp(item, "all");
    bool models = !strcmp(item, "models") || !strcmp(item, "all");
    bool quick = !strcmp(item, "quick");
    const char *model = cnn_model_find(item) ? item : NULL;
    if (!is_set(item)) {
        char names[256];
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "unknown shape set '%s'; valid: edge, quick, models, all, or a model name "
                        "(%s), comma-separated",
                        item, cnn_model_names(names, sizeof names));
    }
    cnn_status st = edge ? edge_shapes(l) : CNN_OK;
    if (st == CNN_OK && (models || quick || model)) {
        cnn_op *mops = NULL;
        verify_layer *names = NULL;
        int mn = 0;
        st = verify_model_layer_ops(quick, model, &mops, &names, &mn);
        for (int i = 0; i < mn && st == CNN_OK; i++)
            st = push_named(l, mops[i], names[i]);
        free(mops);
        free(names);
    }
    return st;
}

cnn_status verify_shapes(const char *which, cnn_op **ops, int *n)
{
    verify_layer *layers = NULL;
    cnn_status st = verify_shapes_named(which, ops, &layers, n);
    free(layers);
    return st;
}

cnn_status verify_shapes_named(const char *which, cnn_op **ops, verify_layer **layers, int *n)
{
    oplist l = {0};
    cnn_status st = CNN_OK;
    char item[64];
    int items = 0;
    for (const char *p = which; st == CNN_OK && cli_next_item(&p, item, sizeof item); items++)
        st = add_item(&l, item);
    if (st == CNN_OK && items == 0)
        st = cnn_fail(CNN_ERR_INVALID_ARG, "empty shape set list '%s'", which);
    if (st != CNN_OK) {
        free(l.ops);
        free(l.layers);
        return st;
    }
    *ops = l.ops;
    *layers = l.layers;
    *n = l.n;
    return CNN_OK;
}
