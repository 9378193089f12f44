/* A network description: named parameter tensors plus a graph of operations.
 *
 * Nodes are kept in topological order (each node's inputs come before it), so
 * forward is one pass over the list and backward one pass in reverse. A node
 * is one operation from kernels/ops.h with its descriptor already completed
 * for the batch size, the ids of the nodes it reads (CNN_NET_INPUT for the
 * image) and the tensors it owns. Flatten is free in NCHW: a linear layer
 * reads its input's c*h*w values per sample.
 *
 * Tensors are the model's state_dict entries in PyTorch's order, named
 * exactly as PyTorch names them. Trainable tensors are packed first in the
 * parameter block and buffers (batch-norm running statistics) after them, so
 * an optimizer can walk parameters and gradients as two flat arrays.
 *
 * The net_* builders record the first error and turn every later call into a
 * no-op, so a model family is written as straight-line code and checked once
 * at the end (net_finish). */
#ifndef CNN_MODELS_NET_H
#define CNN_MODELS_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"
#include "ops.h"
#include "status.h"
#include "tensor.h"

#define CNN_NET_INPUT (-1) /* node id of the network's input image */
#define CNN_NET_BAD (-2)   /* returned by a builder after an error */
#define CNN_NAME_MAX 80
#define CNN_KEY_MAX 112
/* Room for a name being composed; longer than any valid one, so a name that
 * is too long is caught by the builder instead of silently cut. */
#define CNN_NAME_BUF (2 * CNN_NAME_MAX)

/* Parameter tensors are aligned to 64 bytes inside the blocks, so a vector
 * backend never sees a tensor that starts mid-line. */
#define CNN_ALIGN_FLOATS 16

typedef enum cnn_init_kind {
    CNN_INIT_NORMAL = 0, /* N(0, arg^2): Kaiming normal, std = sqrt(2 / fan_out) */
    CNN_INIT_UNIFORM,    /* U(-arg, arg): PyTorch's linear default, arg = 1 / sqrt(fan_in) */
    CNN_INIT_ZEROS,
    CNN_INIT_ONES,
    CNN_INIT_KIND_COUNT
} cnn_init_kind;

typedef struct cnn_tensor_def {
    char key[CNN_KEY_MAX]; /* state_dict key, e.g. "layer1.0.bn1.running_mean" */
    cnn_shape shape;
    bool trainable;
    cnn_init_kind init;
    double init_arg;
    int node;       /* the node that owns it */
    int64_t offset; /* in floats from the start of the parameter block */
} cnn_tensor_def;

typedef struct cnn_node {
    char name[CNN_NAME_MAX]; /* module path: "features.0", "layer1.0.bn1" */
    cnn_op op;               /* completed descriptor at the net's batch size */
    cnn_shape y;             /* output shape (4-d, or [n][out] after a linear) */
    int nin;
    int in[CNN_MAX_CONCAT];
    /* tensor ids, -1 when absent: conv/linear weight and bias, batch norm
     * gamma (weight), beta (bias), running mean and variance */
    int weight, bias, mean, var;
    int bn;           /* index among the batch-norm nodes, -1 for others */
    double dropout_p; /* training-mode p of a dropout node */
} cnn_node;

typedef struct cnn_net {
    const char *model;   /* for error messages */
    cnn_shape input;     /* [n][c][h][w] */
    cnn_shape def_input; /* the model's usual input, for error messages */
    int classes;
    int nnodes, cap_nodes;
    cnn_node *nodes;
    int ntensors, cap_tensors;
    cnn_tensor_def *tensors;
    int nbn;
    int64_t trainable_floats; /* parameter count (sum of numel, trainable only) */
    int64_t block_floats;     /* trainable + buffers, with alignment padding */
    int64_t grad_floats;      /* the trainable part of the block, with padding */
    cnn_status err;
} cnn_net;

/* Start an empty net for an input [n][c][h][w]. */
void net_init(cnn_net *net, const char *model, cnn_shape input, cnn_shape def_input, int classes);
void net_free(cnn_net *net);
/* Check the build, lay the tensors out and return the first error. */
cnn_status net_finish(cnn_net *net);

/* The output shape of node id (the input image for CNN_NET_INPUT), its
 * element count and channels. */
cnn_shape net_shape(const cnn_net *net, int id);
int64_t net_numel(const cnn_net *net, int id);
int net_channels(const cnn_net *net, int id);

/* v rounded up to a whole number of CNN_ALIGN_FLOATS. */
static inline int64_t net_align(int64_t v)
{
    return (v + CNN_ALIGN_FLOATS - 1) / CNN_ALIGN_FLOATS * CNN_ALIGN_FLOATS;
}

/* "prefix.suffix" into buf[CNN_NAME_BUF]; returns buf. */
const char *net_join(char *buf, const char *prefix, const char *suffix);

/* Builders: each returns the new node's id, CNN_NET_BAD after any error.
 * `name` is the PyTorch module path; parameters are named name.weight etc. */
int net_conv(cnn_net *net, const char *name, int in, int k, int r, int stride, int pad, bool bias);
int net_bn(cnn_net *net, const char *name, int in, double eps);
int net_relu(cnn_net *net, const char *name, int in);
int net_sigmoid(cnn_net *net, const char *name, int in);
int net_maxpool(cnn_net *net, const char *name, int in, int k, int stride, int pad, bool ceil_mode);
int net_avgpool(cnn_net *net, const char *name, int in, int k, int stride, int pad, bool ceil_mode);
int net_adapool(cnn_net *net, const char *name, int in, int p, int q);
/* in_features 0: whatever the input flattens to; otherwise the input must
 * flatten to exactly that many (models whose classifier fixes the input size). */
int net_linear(cnn_net *net, const char *name, int in, int in_features, int out, bool bias);
int net_dropout(cnn_net *net, const char *name, int in, double p);
int net_concat(cnn_net *net, const char *name, const int *ins, int count);
int net_add(cnn_net *net, const char *name, int a, int b);

typedef void (*net_builder)(cnn_net *net);

/* A model from a builder of one's own (tests, experiments): desc names it and
 * gives its usual input and default classes, as the catalogue's entries do;
 * it must outlive the model. */
cnn_status cnn_model_create_net(const cnn_model_desc *desc, net_builder build,
                                const cnn_model_opts *opts, cnn_model **out);

/* The model families, one file each (net_*.c): build the layers for
 * net->input and net->classes; errors are left in net->err. */
void net_build_fashion_cnn(cnn_net *net);
void net_build_lenet5(cnn_net *net);
void net_build_alexnet(cnn_net *net);
void net_build_vgg16(cnn_net *net);
void net_build_googlenet(cnn_net *net);
void net_build_resnet18(cnn_net *net);

#endif
