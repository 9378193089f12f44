/* cnnbench op NAME: run one operation from .npy files on one backend. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "op_run.h"

typedef struct op_entry {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} op_entry;

static const op_entry ops[] = {
    {"conv2d", op_conv2d, "2-d convolution: --x --w [--bias] [--stride] [--pad]"},
    {"maxpool2d", op_maxpool2d, "max pooling: --x --kernel [--stride] [--pad] [--ceil]"},
    {"avgpool2d", op_avgpool2d, "average pooling: --x --kernel [--stride] [--pad] [--ceil]"},
    {"adaptive_avgpool2d", op_adaptive_avgpool2d, "adaptive average pooling: --x --output"},
    {"batchnorm2d", op_batchnorm2d,
     "batch norm, training: --x --gamma --beta [--eps] "
     "[--momentum]"},
    {"linear", op_linear, "fully connected: --x --w [--bias]"},
    {"relu", op_relu, "ReLU: --x"},
    {"sigmoid", op_sigmoid, "sigmoid: --x"},
    {"sgd", op_sgd, "torch.optim.SGD steps: --param --grad --lr [--momentum] [--weight-decay]"},
    {"adam", op_adam, "torch.optim.Adam steps: --param --grad [--lr] [--beta1] [--beta2] [--eps]"},
};
#define NOPS (sizeof ops / sizeof ops[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: cnnbench op NAME --backend B --x FILE [op options] [--dy FILE] --out DIR"
                 " [--threads N]\n\n"
                 "Runs one operation from .npy files (float32, NCHW) on one backend, with the\n"
                 "semantics of torch.nn.functional, and writes DIR/y.npy; with --dy also the\n"
                 "gradients. Nothing is written unless every pass succeeds and every result is\n"
                 "finite. The optimizers (sgd, adam) take --param and --grad instead of --x and\n"
                 "write the updated parameters and the optimizer's state.\n\n"
                 "operations (cnnbench op NAME --help for each):\n");
    for (size_t i = 0; i < NOPS; i++)
        fprintf(out, "  %-20s %s\n", ops[i].name, ops[i].summary);
    fprintf(out, "\nexit codes: 0 ok, 1 bad data or a failed run, 2 bad usage, 3 unsupported by "
                 "the backend\n");
}

static void list_ops(FILE *out)
{
    for (size_t i = 0; i < NOPS; i++)
        fprintf(out, "%s%s", i ? ", " : "", ops[i].name);
    fputc('\n', out);
}

int cmd_op(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "cnnbench op: missing the operation name; valid operations: ");
        list_ops(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") || !strcmp(argv[0], "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < NOPS; i++)
        if (!strcmp(argv[0], ops[i].name))
            return ops[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cnnbench op: unknown operation '%s'; valid operations: ", argv[0]);
    list_ops(stderr);
    return CLI_EXIT_USAGE;
}
