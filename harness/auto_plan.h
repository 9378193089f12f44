/* Plans: the backend of every (layer, pass) of a model, for the executor's
 * cnn_exec_opts.plan (models/model.h).
 *
 * A plan is searched (auto_plan_search: cnnbench bench --backends auto,
 * the counterpart of cudnn.benchmark), read from a plan.csv (auto_plan_read:
 * --plan FILE, from a bench run's plan.csv or from the one `cnnbench run`
 * writes), or written to a bench run's plan.csv (auto_plan_csv_*). The
 * columns are in results/README.md. */
#ifndef CNN_AUTO_PLAN_H
#define CNN_AUTO_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "backend.h"
#include "model.h"
#include "report.h"

/* The most backends a search times (the registry has fewer). */
#define AUTO_MAX_CANDIDATES 16

typedef struct auto_plan_row {
    char layer[96];
    char op[32]; /* cnn_op_name */
    cnn_pass pass;
    char backend[32];
    char algorithm[128]; /* of the chosen backend ("" when read from a file without one) */
    double ms;           /* the chosen backend's time; NaN when read from a file */
    double cand_ms[AUTO_MAX_CANDIDATES]; /* each candidate's, NaN where it does not support it */
} auto_plan_row;

typedef struct auto_plan {
    char model[64];
    auto_plan_row *rows;
    int nrows;
    cnn_plan_entry *entries; /* one per row, pointing into rows: for cnn_exec_opts */
    /* the plan's backends in the order they first appear: the bind's
     * --backends list, for what the plan leaves out (the loss, gradient
     * sums) */
    char backends[256];
    char summary[256]; /* "12 im2col + 5 onednn + 3 winograd" layer passes */
    const cnn_backend *cand[AUTO_MAX_CANDIDATES]; /* searched: the backends timed */
    int ncand;
} auto_plan;

void auto_plan_free(auto_plan *p);
/* Once the rows are filled: entries, backends and summary from them. */
cnn_status auto_plan_finish(auto_plan *p);

/* The backends a search on `device` times: every one built and usable
 * here on that device but naive (the slow reference, never the fastest),
 * in registry order. Returns how many (at most max). */
int auto_plan_candidates(cnn_device device, const cnn_backend **out, int max);

typedef struct auto_search {
    const char *model;
    int batch, image_size; /* image_size 0: the model's usual one */
    int threads;
    cnn_device device;
} auto_search;

/* For every layer pass a training step or an eval forward of the model runs
 * (cnn_model_layer_runs), time each candidate once after a warm-up call
 * (those within 1.5x of the fastest, where two or more are, twice more,
 * keeping each one's least),
 * by the backend's timer (cnn_timer_start), on the inputs `cnnbench bench`
 * times a layer on (vcase_init with seed 1; a backward pass gets its
 * forward's outputs from naive, vcase_forward_inputs), and keep the
 * fastest (the first candidate on a tie). Layers of one shape share one
 * measurement. A pass no candidate runs has no row: the executor's own
 * rule places it. A one-line summary goes to out (NULL: none). */
cnn_status auto_plan_search(const auto_search *s, auto_plan *out, FILE *progress);

/* The search's retiming rule for one pass: retime[c] for each candidate
 * whose time ms[c] (NaN: it does not run the pass) is within close x the
 * fastest, when two or more are; otherwise none. Returns how many. */
int auto_plan_retime_set(const double *ms, int ncand, double close, bool *retime);

/* Read a plan.csv for model m (created, bound or not). The header must
 * name the columns layer, pass and backend (others are ignored); with a
 * model column only the rows of m's model are read, and a file without
 * rows for it is an error. Every error is CNN_ERR_INVALID_ARG naming the
 * file and, for a row, its line and value: no such file, no header, a
 * missing column, a row whose field count is not the header's, an
 * unterminated quote, an unknown pass, and what cnn_model_plan_check finds
 * (an unknown layer, a pass the layer does not have, an unknown or
 * unusable backend, backends on two devices, a (layer, pass) twice). */
cnn_status auto_plan_read(const char *path, const cnn_model *m, auto_plan *out);

/* auto_plan_read for the model called `name` at image size image_size
 * (0: the model's usual one). */
cnn_status auto_plan_read_named(const char *path, const char *name, int image_size,
                                auto_plan *out);
/* Can `cnnbench bench --models` take the plan in path for each of its
 * models? auto_plan_read's errors, and a file without a model column given
 * for several models. */
cnn_status auto_plan_check_file(const char *path, const char *const *models, int nmodels,
                                int image_size);

/* A bench run's plan.csv in folder dir, all or nothing (report_csv_open):
 * model,layer,op,pass,backend,algorithm,ms, then ms_<backend> for each
 * candidate on `device`. */
cnn_status auto_plan_csv_open(const char *dir, cnn_device device, report_csv **out);
/* The rows of a searched plan (its candidates must be the file's). */
cnn_status auto_plan_csv_write(report_csv *csv, const auto_plan *p);

/* Remove the pseudo-backend "auto" from a --backends list: the rest goes to
 * rest (the items in order, comma-separated; "" if auto was alone).
 * Returns how often auto was listed. */
int auto_plan_strip(const char *list, char *rest, size_t n);

#endif
