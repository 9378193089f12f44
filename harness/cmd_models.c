/* cnnbench models: the model catalogue, and one model's layer table. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "model.h"
#include "units.h"

static void print_catalogue(void)
{
    printf("%-12s %-12s %8s %14s %14s  %s\n", "model", "input", "classes", "parameters",
           "fwd GFLOP", "about");
    for (int i = 0; i < cnn_model_count(); i++) {
        const cnn_model_desc *d = cnn_model_at(i);
        cnn_model *m = NULL;
        if (cnn_model_create(d->name, NULL, &m) != CNN_OK) {
            printf("%-12s (cannot be built: %s)\n", d->name, cnn_last_error());
            continue;
        }
        char in[32];
        snprintf(in, sizeof in, "%dx%dx%d", d->c, d->h, d->w);
        printf("%-12s %-12s %8d %14lld %14.3f  %s\n", d->name, in, d->classes,
               (long long)cnn_model_param_count(m), cnn_model_flops(m) * 1e-9, d->about);
        cnn_model_destroy(m);
    }
    printf("\nFLOPs: forward at batch 1, inference passes; 2 per multiply-add for conv and linear, "
           "nominal\nper-element counts for the rest (kernels/ops.c).\n");
}

/* The shape of a layer's first input, and how many more it takes (concat,
 * add). */
static char *input_str(const cnn_model *m, const cnn_layer_info *li, char *buf, size_t n)
{
    cnn_shape in = cnn_model_input_shape(m);
    if (li->nin > 0 && li->in[0] >= 0) {
        cnn_layer_info src;
        if (cnn_model_layer(m, li->in[0], &src) == CNN_OK)
            in = src.y;
    }
    char s[64];
    cnn_shape_str(&in, s, sizeof s);
    if (li->nin > 1)
        snprintf(buf, n, "%s +%d", s, li->nin - 1);
    else
        snprintf(buf, n, "%s", s);
    return buf;
}

static void print_layers(const cnn_model *m)
{
    cnn_shape in = cnn_model_input_shape(m);
    char s[64], u[32];
    printf("model %s, input %s, %d layers\n\n", cnn_model_name(m), cnn_shape_str(&in, s, sizeof s),
           cnn_model_layer_count(m));
    printf("%4s  %-28s %-18s %-20s %-16s %12s %12s  %s\n", "#", "layer", "op", "input", "output",
           "parameters", "FLOPs", "descriptor");
    for (int i = 0; i < cnn_model_layer_count(m); i++) {
        cnn_layer_info li;
        if (cnn_model_layer(m, i, &li) != CNN_OK)
            continue;
        char desc[256], ins[80];
        printf("%4d  %-28s %-18s %-20s %-16s %12lld %12s  %s\n", i, li.name, cnn_op_name(li.op),
               input_str(m, &li, ins, sizeof ins), cnn_shape_str(&li.y, s, sizeof s),
               (long long)li.params, units_si(li.flops, "FLOP", u, sizeof u),
               cnn_op_str(li.op, desc, sizeof desc));
    }
    printf("\ntotal: %lld parameters, %s forward (%.0f FLOPs); an input '+N' takes N more "
           "inputs\n",
           (long long)cnn_model_param_count(m), units_si(cnn_model_flops(m), "FLOP", u, sizeof u),
           cnn_model_flops(m));
}

int cmd_models(int argc, char **argv)
{
    const char *layers = NULL;
    int batch = 1, classes = 0, channels = 0, size[2] = {0, 0};
    cli_opt opts[] = {
        {"layers", CLI_STRING, &layers, "MODEL", "print MODEL's layer table", false, false},
        {"batch", CLI_INT, &batch, "N", "batch size for the layer table (default 1)", false, false},
        {"classes", CLI_INT, &classes, "N", "classes (default: the model's)", false, false},
        {"channels", CLI_INT, &channels, "C", "input channels (default: the model's)", false,
         false},
        {"image-size", CLI_PAIR, size, "N|H,W", "input height and width (default: the model's)",
         false, false},
    };
    cli_cmd cmd = {
        .name = "models",
        .summary = "List the models: usual input, classes, parameter count and forward FLOPs at "
                   "batch 1;\nwith --layers, one model's layers: name, op, output shape, "
                   "parameters, FLOPs.",
        .details = "Parameter names and shapes are PyTorch's state_dict keys (torchvision for "
                   "alexnet, vgg16,\ngooglenet, resnet18).",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    int rc = cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    if (!layers) {
        print_catalogue();
        return CLI_EXIT_OK;
    }
    if (!cnn_model_find(layers)) {
        char names[256];
        return cli_usage_error(&cmd, "unknown model '%s'; valid models: %s", layers,
                               cnn_model_names(names, sizeof names));
    }
    if (batch < 1 || classes < 0 || channels < 0 || size[0] < 0 || size[1] < 0)
        return cli_usage_error(&cmd, "--batch must be >= 1 and --classes, --channels, "
                                     "--image-size positive");
    cnn_model_opts o = {
        .batch = batch, .classes = classes, .c = channels, .h = size[0], .w = size[1]};
    cnn_model *m = NULL;
    cnn_status st = cnn_model_create(layers, &o, &m);
    if (st != CNN_OK)
        return cli_fail("models", st);
    print_layers(m);
    cnn_model_destroy(m);
    return CLI_EXIT_OK;
}
