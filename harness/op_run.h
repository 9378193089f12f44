/* Running one operation from .npy files (`cnnbench op NAME`): what every
 * operation shares.
 *
 * A session holds the backend context and every buffer. Inputs are read on
 * the host and uploaded into backend memory; outputs are allocated in backend
 * memory and filled with NaN first, so an element the backend forgets to
 * write shows up as non-finite; after every computation has succeeded the
 * outputs are downloaded, checked to be finite and only then written, so a
 * failed run leaves the output folder as it was. All buffers go through
 * cnn_mem_*, so the same code runs a host or a CUDA backend. */
#ifndef CNN_OP_RUN_H
#define CNN_OP_RUN_H

#include "backend.h"
#include "clock.h"
#include "cli.h"

/* Options every operation takes. */
typedef struct op_args {
    const char *backend, *x, *dy, *out;
    int threads;
} op_args;

#define OP_OPTS_HEAD(a)                                                                            \
    {"backend", CLI_STRING, &(a).backend, "NAME", "backend to run on (see: cnnbench backends)",    \
     true,      false},                                                                            \
    {                                                                                              \
        "x", CLI_STRING, &(a).x, "FILE", "input x, float32 .npy", true, false                      \
    }

#define OP_OPTS_TAIL(a)                                                                            \
    {                                                                                              \
        "dy",  CLI_STRING, &(a).dy, "FILE", "gradient of y: also run the backward pass",           \
        false, false},                                                                             \
        {"out", CLI_STRING, &(a).out, "DIR", "folder for the results (created if missing)",        \
         true,  false},                                                                            \
    {                                                                                              \
        "threads", CLI_INT, &(a).threads, "N", "CPU threads (default: the runtime's choice)",      \
            false, false                                                                           \
    }

#define OP_MAX_BUFS 24

typedef struct op_output {
    const char *name; /* "dx", written to DIR/dx.npy; NULL for scratch */
    cnn_shape shape;
    void *dev;
    float *host;
} op_output;

typedef struct op_session {
    const char *name; /* "conv2d", for messages */
    cnn_ctx *ctx;
    void *dev[OP_MAX_BUFS];
    int ndev;
    float *host[OP_MAX_BUFS];
    int nhost;
    op_output outs[OP_MAX_BUFS];
    int nouts;
    void *ws;
    size_t ws_size;
    int64_t nonfinite_inputs; /* to say why an output is not finite */
    size_t out_bytes;
    /* what ran, for the summary: the op, its passes, each call's seconds */
    cnn_op op;
    int npasses;
    cnn_pass passes[CNN_PASS_COUNT];
    double seconds[CNN_PASS_COUNT];
} op_session;

#define OP_TRY(call)                                                                               \
    do {                                                                                           \
        cnn_status st_ = (call);                                                                   \
        if (st_ != CNN_OK)                                                                         \
            return st_;                                                                            \
    } while (0)

/* Run pass number i of those given to op_prepare (a dispatch call) and
 * record its wall time, sync included, for the summary op_finish prints. */
#define OP_PASS(s, i, call)                                                                        \
    do {                                                                                           \
        double t0_ = cnn_wall_seconds();                                                           \
        OP_TRY(call);                                                                              \
        OP_TRY(cnn_sync((s)->ctx));                                                                \
        (s)->seconds[i] = cnn_wall_seconds() - t0_;                                                \
    } while (0)

/* Parse the command line into cmd's options, look the backend up (usage
 * error listing the valid names), apply --threads, check the backend is
 * usable here and create its context. Returns -1 on success, else the exit
 * code (the session is then closed). */
int op_begin(op_session *s, const char *name, cli_cmd *cmd, int argc, char **argv,
             const op_args *a);

/* Finish: report st if it is an error, free everything, return the exit
 * code. */
int op_end(op_session *s, cnn_status st);

/* Read float32 --opt from path and upload it; *dev is in backend memory. */
cnn_status op_input(op_session *s, const char *opt, const char *path, cnn_shape *shape,
                    const float **dev);

/* An output of `shape` in backend memory: NaN-filled, or a copy of init
 * (numel floats) when init is non-NULL. Written to DIR/<name>.npy by
 * op_finish, unless name is NULL (scratch such as saved batch-norm
 * statistics). */
cnn_status op_output_new(op_session *s, const char *name, cnn_shape shape, const float *init,
                         float **dev);

/* A named output that is part of another output's buffer (dev, in backend
 * memory, numel(shape) floats from there): written to DIR/<name>.npy like
 * any other, for an operation that keeps several results in one block
 * (Adam's two moments). */
cnn_status op_output_view(op_session *s, const char *name, cnn_shape shape, float *dev);

/* Check that the backend supports every pass of op (else
 * CNN_ERR_UNSUPPORTED) and allocate the largest workspace they ask for. */
cnn_status op_prepare(op_session *s, const cnn_op *op, const cnn_pass *passes, int npasses);

/* Wait for the backend, download every output, refuse non-finite values,
 * create dir and write the outputs. */
cnn_status op_finish(op_session *s, const char *dir);

/* Shape checks with messages naming the option and both shapes. */
cnn_status op_want_ndim(const op_session *s, const char *opt, const cnn_shape *sh, int ndim,
                        const char *layout);
cnn_status op_want_shape(const op_session *s, const char *opt, const cnn_shape *got,
                         const cnn_shape *want, const char *what);
/* sh->dim[i] as an int, or an error when it does not fit. */
cnn_status op_dim(const op_session *s, const char *opt, const cnn_shape *sh, int i, int *out);
/* op_dim of all four dimensions of an [n][c][h][w] --x. */
cnn_status op_nchw(const op_session *s, const cnn_shape *xs, int *n, int *c, int *h, int *w);

/* The inputs of a layer with weights (conv2d, linear); b and dy are NULL
 * when not given. */
typedef struct op_layer_in {
    cnn_shape xs, ws, bs, dys;
    const float *x, *w, *b, *dy;
} op_layer_in;

/* What the messages of op_layer_inputs call a layer's dimensions. */
typedef struct op_layer_names {
    int ndim;             /* of both x and w */
    const char *x_layout; /* "[n][c][h][w]" */
    const char *w_layout; /* "[k][c][r][s]" */
    const char *in;       /* what dim[1] of x and w count: "input channels" */
    const char *out;      /* what the bias has one value per: "output channel" */
} op_layer_names;

/* Read --x, --w, --bias and --dy (the last two only when given, from the
 * paths in a, w and bias), then check that x and w have ndim dimensions and
 * the same dim[1], and that the bias has one value per w.dim[0]. The shape
 * of dy depends on the layer's options, so the caller checks it. */
cnn_status op_layer_inputs(op_session *s, const op_args *a, const char *w, const char *bias,
                           const op_layer_names *names, op_layer_in *in);

/* The operations, one file each; argv holds the words after the op name. */
int op_conv2d(int argc, char **argv);
int op_maxpool2d(int argc, char **argv);
int op_avgpool2d(int argc, char **argv);
int op_adaptive_avgpool2d(int argc, char **argv);
int op_batchnorm2d(int argc, char **argv);
int op_linear(int argc, char **argv);
int op_relu(int argc, char **argv);
int op_sigmoid(int argc, char **argv);
int op_sgd(int argc, char **argv);
int op_adam(int argc, char **argv);

#endif
