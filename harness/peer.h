/* Peers: another framework timed on the same work, in its own process.
 *
 * The one peer is PyTorch: harness/peers/pytorch_peer.py (its docstring
 * says exactly what each model mode and layer pass times, and the columns
 * of its CSV). This side finds a python that imports torch and torchvision,
 * runs the script with posix_spawn (an argv, no shell), waits for it, and
 * reads its CSV back into rows.
 *
 * The python: $CNNBENCH_PYTHON if set (then only it), else /usr/bin/python3,
 * else python3 on PATH; the first whose `-c "import torch, torchvision"`
 * succeeds (probed once per process). The script: $CNNBENCH_PEERS_DIR/
 * pytorch_peer.py if set, else the source tree's harness/peers (CNN_PEERS_DIR).
 *
 * A run writes into opts->dir (which must exist): pytorch_peer_models.csv or
 * pytorch_peer_layers.csv (the script's output) with its stdout and stderr
 * beside it (.log), and for layers pytorch_peer_cases.csv (the cases handed
 * to it).
 *
 *     peer_rows rows;
 *     peer_models_request rq = {.opts = {.dir = rd.path, .repetitions = 5},
 *                               .models = "resnet18"};
 *     if (peer_run_models(&rq, &rows) == CNN_OK) { ... rows.rows[i] ... }
 *     peer_rows_free(&rows);
 *
 * Errors (cnn_last_error() names the problem): CNN_ERR_UNSUPPORTED no
 * python with torch and torchvision, or no script; CNN_ERR_INVALID_ARG a
 * bad request, or one the script refused (exit 2: its message); CNN_ERR_IO
 * a file could not be written or read; CNN_ERR_BACKEND the script failed
 * (its last line of output and the log's path), was interrupted (the run's
 * SIGINT or SIGTERM, run_dir_stopping(): the child is killed), or wrote a
 * malformed CSV (FILE:LINE and what is wrong). */
#ifndef CNN_PEER_H
#define CNN_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops.h"
#include "status.h"

/* One row of the peer's CSV: a model's mode, or a layer case's pass. */
typedef struct peer_row {
    char kind[8];   /* "model" or "layer" */
    char model[32]; /* models: the model's name */
    char id[64];    /* layers: the case's id */
    int case_index; /* layers: the case's index in the array given; models: -1 */
    char op[24];    /* layers: cnn_op_name of the case */
    char pass[16];  /* models: infer or train_step; layers: cnn_pass_str */
    /* models: the batch; layers: the case's n (the element count of
     * element-wise ops) */
    int64_t batch;
    int image_size;                   /* models: the input's side; layers: 0 */
    int classes;                      /* models; layers: 0 */
    int threads;                      /* torch.get_num_threads() during the run */
    int repetitions;                  /* timed repetitions: reps_ms has as many */
    int iterations;                   /* calls per repetition (models: 1) */
    double median_ms, min_ms, max_ms; /* per call, over the repetitions */
    double *reps_ms;                  /* per call, each repetition in order */
    double images_per_s;              /* models: batch / median; layers: 0 */
} peer_row;

/* The rows of one run and what the peer said of itself. */
typedef struct peer_rows {
    peer_row *rows;
    int count;
    char torch_version[32], torchvision_version[32];
    char cpu_capability[32];   /* the ISA torch dispatches to, e.g. AVX2 */
    char parallel_backend[32]; /* e.g. OpenMP */
    int torch_threads;         /* intra-op threads torch reports */
    char csv_path[4096];       /* the script's CSV */
} peer_rows;

/* What every run takes. */
typedef struct peer_opts {
    const char *dir; /* folder for the files above; must exist */
    int threads;     /* torch.set_num_threads; 0: torch's default */
    int repetitions; /* timed repetitions, >= 1 (one warm-up before them) */
    double min_time; /* layers: seconds each repetition lasts at least; 0: the
                        script's 0.05 */
} peer_opts;

/* Whole models, each mode timed step by step. */
typedef struct peer_models_request {
    peer_opts opts;
    const char *models; /* comma-separated names, as `cnnbench models` lists */
    const char *modes;  /* "infer", "train_step" or both; NULL: both */
    int batch;          /* 0: each model's bench default */
    int image_size;     /* 0: each model's usual input */
    int classes;        /* 0: each model's own */
} peer_models_request;

/* One layer case: an operation and one of its passes. Batch norm runs with
 * PyTorch's eps and momentum (1e-5, 0.1) whatever op.bn says: they do not
 * change the work. */
typedef struct peer_layer_case {
    const char *id; /* echoed in peer_row.id (no commas, < 64 bytes); NULL: the index */
    cnn_op op;      /* initialised by cnn_op_init */
    cnn_pass pass;  /* a pass the op has (cnn_op_has_pass) */
} peer_layer_case;

/* Is the peer usable? true: `info` gets "PYTHON, SCRIPT"; false: `info`
 * gets why not, one line. */
bool peer_probe(char *info, size_t n);

/* Time the request's models; out gets a row per model and mode, in order.
 * out is zeroed first, so peer_rows_free is safe after any return. */
cnn_status peer_run_models(const peer_models_request *rq, peer_rows *out);

/* A paced run of a models request: the peer builds and warms up each mode
 * of each model, says it is ready, then takes each timed step only when
 * told, so that its steps can interleave with cnnbench's own (bench
 * --models times every row and the peer round by round). Per model, in
 * the request's order, per mode: peer_paced_ready, then
 * opts.repetitions x peer_paced_step; then peer_paced_finish reads the CSV
 * (as peer_run_models would have written it) and frees the session.
 * peer_paced_abort stops the peer and frees it, after any error or
 * instead of finishing. Errors as for peer_run_models, plus CNN_ERR_BACKEND
 * when the peer says something other than what is expected (the line and
 * what was expected in the message). */
typedef struct peer_paced peer_paced;
cnn_status peer_paced_start(const peer_models_request *rq, peer_paced **out);
cnn_status peer_paced_ready(peer_paced *p, const char *model, const char *mode);
cnn_status peer_paced_step(peer_paced *p);
cnn_status peer_paced_finish(peer_paced *p, peer_rows *out);
void peer_paced_abort(peer_paced *p);

/* Time each of the n cases; out gets row i for cases[i] (case_index i). */
cnn_status peer_run_layers(const peer_layer_case *cases, int n, const peer_opts *opts,
                           peer_rows *out);

/* A training run of harness/peers/pytorch_train.py (the seed's training
 * program corrected; its docstring says what it does): the same data
 * files, model, optimizer, batch, epochs, seed and preprocessing as
 * `cnnbench train`. It writes DIR/pytorch_train.csv with train.csv's
 * columns (its path goes to csv, n bytes) and DIR/pytorch_train.log.
 * Errors as for the other runs. */
typedef struct peer_train_request {
    const char *dir;       /* must exist */
    const char *model;     /* fashion_cnn or lenet5 (seed_models.py) */
    const char *data_dir;  /* the folder holding the four IDX .gz files */
    const char *optimizer; /* "adam" or "sgd" */
    int threads;           /* 0: torch's default */
    int epochs, batch, image_size;
    double lr, momentum, weight_decay;
    uint64_t seed;
    int64_t limit; /* 0: every image */
} peer_train_request;
cnn_status peer_run_train(const peer_train_request *rq, char *csv, size_t n);

/* Read a CSV the script wrote (path) into out: cases NULL for models; for
 * layers, row i must be cases[i]'s and there must be n of them. On an
 * error out is left empty. */
cnn_status peer_read_csv(const char *path, const peer_layer_case *cases, int n, peer_rows *out);

/* Release the rows (and zero out). */
void peer_rows_free(peer_rows *rows);

#endif
