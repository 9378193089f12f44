/* cnnbench train: a model trained on Fashion-MNIST on one backend list
 * after another, evaluated on the test set after every epoch, with a
 * checkpoint after every epoch that --resume continues from bit for bit.
 *
 *   cmd_train.c         options, the run folder, one training per backend,
 *                       the summary, the PyTorch peer
 *   train_loop.c        one backend's training: epochs, batches, evaluation
 *   train_metrics.c     confusion matrix, per-class precision/recall/F1,
 *                       macro-F1, host cross-entropy of logits
 *   train_checkpoint.c  checkpoints written whole or not at all, and read
 *                       back with every mismatch named
 *   train_csv.c         train.csv and confusion.csv (columns in
 *                       results/README.md)
 *
 * Reproducibility: the initial weights come from (seed, tensor key), the
 * batches of epoch e from (seed, e) (data_loader.h), dropout masks from
 * (seed, layer, step) (cnn_model_set_step). A checkpoint holds the
 * weights (batch-norm statistics included), the optimizer's state and
 * step, and the model's step, so a run resumed after epoch k computes what
 * a run never stopped computes from there: the same bits on the same
 * backend and thread count.
 *
 * Batches: the training set is cut into floor(n / batch) full batches an
 * epoch (DataLoader's drop_last=True: the model's batch is fixed; the
 * images of the short remainder differ each epoch as the shuffle does);
 * evaluation sees every test image (the short last batch is padded and the
 * padding's logits ignored: eval mode is per image). */
#ifndef CNN_TRAIN_H
#define CNN_TRAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "data_fmnist.h"
#include "model.h"
#include "ops.h"
#include "report.h"
#include "status.h"

#define TRAIN_MAX_CLASSES 1000

/* What every backend's training shares. */
typedef struct train_cfg {
    const char *model;
    int epochs, batch, classes, image_size; /* image_size: the square input side */
    int c;                                  /* the model's input channels (1 or 3) */
    cnn_optim_desc optim;                   /* mode, lr, momentum, betas, eps, weight_decay */
    uint64_t seed;
    int threads;
    bool no_fuse; /* --no-fuse: cnn_exec_opts.no_fuse */
    const cnn_dataset *train, *test;
    const char *run_path; /* the run folder: checkpoints/ goes there */
    const char *resume;   /* NULL, or the run folder to continue */
    bool save_weights;    /* write the final weights to each job's save_dir */
} train_cfg;

/* One backend's training: its name in the rows ("im2col", "auto", "plan"),
 * the --backends list it binds (or a plan), and what it ended with. */
typedef struct train_job {
    char tag[64];
    char backends[256];
    const cnn_plan_entry *plan; /* NULL, or nplan entries */
    int nplan;
    char save_dir[4096]; /* --save-weights: DIR, or DIR/TAG with several backends */
    /* results */
    int epochs_done;
    bool interrupted;
    double final_test_acc, final_macro_f1, total_s;
    int64_t *confusion; /* classes x classes of the last evaluation, malloc'd */
} train_job;

/* ---- metrics (train_metrics.c) ---- */

typedef struct train_class_metrics {
    double precision, recall, f1;
    int64_t support; /* true images of the class */
} train_class_metrics;

/* From a classes x classes confusion matrix (rows: true class, columns:
 * predicted): per class TP = C[i][i], FP = column sum - TP, FN = row sum -
 * TP; precision TP/(TP+FP), recall TP/(TP+FN), F1 their harmonic mean,
 * each 0 where its denominator is 0 (sklearn's zero_division=0). Returns
 * the macro-F1: the mean F1 over the classes that are some image's true or
 * predicted class (sklearn's f1_score(average="macro"): with all ten
 * Fashion-MNIST classes in the test set, every class; a class never
 * predicted counts with F1 0). per (classes entries) may be NULL. */
double train_macro_f1(const int64_t *confusion, int classes, train_class_metrics *per);
/* argmax of each of n rows of `classes` logits (the first on a tie). */
void train_predict(const float *logits, int n, int classes, int32_t *pred);
/* Sum over the n rows of -log softmax(logits)[label], in double. */
double train_xent_sum(const float *logits, const int32_t *labels, int n, int classes);

/* ---- one epoch's figures ---- */

typedef struct train_epoch {
    int epoch; /* 1-based */
    double train_loss, train_acc, test_loss, test_acc, macro_f1;
    double epoch_s, train_s, eval_s, images_per_s, wait_s, wait_share;
    int64_t images, step;
    train_class_metrics per[CNN_FMNIST_CLASSES];
} train_epoch;

/* ---- checkpoints (train_checkpoint.c) ---- */

/* Where a training stands: what a checkpoint stores besides the tensors.
 * After a complete epoch batches_done is 0; a Ctrl-C checkpoint holds the
 * batches of the next epoch already stepped on and their sums, so that the
 * resumed epoch's row is the one an uninterrupted run writes (times
 * aside). */
typedef struct train_state {
    int epochs_done; /* complete epochs */
    int64_t optim_step, model_step;
    int64_t batches_done, correct; /* in epoch epochs_done + 1 */
    double loss_sum, train_s, wait_s;
} train_state;

/* Write RUN/checkpoints/TAG/epoch-NNNN (NNNN = st->epochs_done), or
 * epoch-NNNN-batch-BBBBBB mid-epoch: built in a hidden folder beside it
 * and renamed into place once every file in it is fsync'd, then older
 * checkpoints of TAG removed. */
cnn_status train_checkpoint_save(cnn_model *m, const train_cfg *cfg, const train_job *job,
                                 const train_state *st);
/* The newest complete checkpoint of TAG in run folder dir into path (n
 * bytes); path "" when there is none (hidden, half-built ones never
 * count). A folder without one that was itself resumed (meta.json
 * "resume": a run killed before its first checkpoint) hands on to the run
 * it resumed, back along the chain. */
cnn_status train_checkpoint_find(const char *dir, const char *tag, char *path, size_t n);
/* Check the checkpoint in folder path against this run (model, input,
 * classes, optimizer and its hyper-parameters, batch, seed; every file's
 * size and checksum) and load it into m (bound, optimizer set). Errors
 * name the file and what differs. */
cnn_status train_checkpoint_load(cnn_model *m, const train_cfg *cfg, const char *path,
                                 train_state *st);

/* ---- files (train_csv.c) ---- */

/* train.csv, streamed: a row per epoch and backend. */
cnn_status train_csv_open(const char *run_path, report_csv **out);
cnn_status train_csv_row(report_csv *csv, const char *tag, const train_epoch *e);
/* Copy the rows of `tag` with epoch <= upto from RESUME/train.csv (a run
 * being continued), so the new train.csv holds the whole history. */
cnn_status train_csv_copy(report_csv *csv, const char *resume, const char *tag, int upto);
/* Append the rows of a CSV with train.csv's columns (the PyTorch peer's),
 * tagged `tag`: columns it lacks are left empty. */
cnn_status train_csv_append_file(report_csv *csv, const char *path, const char *tag);
/* confusion.csv: for each job with a matrix, `classes` rows. */
cnn_status train_confusion_write(const char *run_path, const train_job *jobs, int njobs,
                                 int classes);

/* ---- one backend (train_loop.c) ---- */

/* Train job on cfg, writing rows to csv (and progress to stderr). A stop
 * request (run_dir_stopping) ends it after the batch at hand, CNN_OK with
 * job->interrupted set: the last complete epoch's checkpoint is where
 * --resume continues. */
cnn_status train_run(const train_cfg *cfg, train_job *job, report_csv *csv);

#endif
