/* cnnbench run: one forward (and, with labels, one backward) of a whole
 * model on a chosen backend list, from .npy files, to .npy files.
 *
 * Everything is computed and checked before anything is written: a run
 * whose logits, loss or gradients hold NaN or Inf reports which tensors and
 * how many values, and writes none of its outputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "finite.h"
#include "auto_plan.h"
#include "cli.h"
#include "clock.h"
#include "commands.h"
#include "model.h"
#include "npy.h"
#include "registry.h"
#include "report.h"

typedef struct run_args {
    const char *model, *backends, *overrides, *weights, *input, *labels, *mode, *save_weights, *out;
    const char *plan;
    uint64_t seed;
    int threads, classes;
    bool progress, no_fuse;
} run_args;

/* The backend list parses and every backend the overrides name exists;
 * cnn_model_bind checks the rest of the overrides. */
static int check_backends(const cli_cmd *cmd, const run_args *a)
{
    const cnn_backend *list[CNN_BACKEND_LIST_MAX], *be;
    int n;
    if (!a->backends && !a->plan)
        return cli_usage_error(cmd, "give --backends, --plan FILE or both");
    if (a->backends &&
        cnn_backend_list_parse(a->backends, NULL, CNN_BACKEND_LIST_MAX, list, &n) != CNN_OK)
        return cli_usage_error(cmd, "--backends: %s", cnn_last_error());
    if (!a->overrides)
        return -1;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", a->overrides);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *name = strchr(tok, '=');
        if (!name)
            return cli_usage_error(cmd, "--override '%s' is not LAYER_GLOB=BACKEND", tok);
        name++;
        while (*name == ' ')
            name++;
        char *end = name + strlen(name);
        while (end > name && end[-1] == ' ')
            *--end = '\0';
        if (*name && cnn_backend_resolve(name, NULL, &be) != CNN_OK)
            return cli_usage_error(cmd, "--override '%s': %s", tok, cnn_last_error());
    }
    return -1;
}

/* Download every trainable gradient once to check it; returns how many
 * tensors hold non-finite values, naming each on stderr. */
static int check_grads(cnn_model *m, cnn_status *st)
{
    int bad_tensors = 0;
    for (int t = 0; t < cnn_model_tensor_count(m) && *st == CNN_OK; t++) {
        cnn_tensor_info ti;
        cnn_model_tensor(m, t, &ti);
        if (!ti.trainable)
            continue;
        int64_t n = cnn_shape_numel(&ti.shape);
        float *g = malloc((size_t)n * sizeof *g);
        if (!g) {
            *st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "no memory for gradient %s", ti.key);
            break;
        }
        *st = cnn_model_get_grad(m, ti.key, g, n);
        int64_t bad = *st == CNN_OK ? cnn_count_nonfinite(g, n) : 0;
        if (bad) {
            fprintf(stderr, "cnnbench run: gradient %s: %lld of %lld values are NaN or Inf\n",
                    ti.key, (long long)bad, (long long)n);
            bad_tensors++;
        }
        free(g);
    }
    return bad_tensors;
}

static cnn_status write_grads(cnn_model *m, const char *out)
{
    char dir[4096], path[sizeof dir + 256];
    snprintf(dir, sizeof dir, "%s/grad", out);
    cnn_status st = report_mkdirs(dir);
    for (int t = 0; t < cnn_model_tensor_count(m) && st == CNN_OK; t++) {
        cnn_tensor_info ti;
        cnn_model_tensor(m, t, &ti);
        if (!ti.trainable)
            continue;
        int64_t n = cnn_shape_numel(&ti.shape);
        float *g = malloc((size_t)n * sizeof *g);
        if (!g)
            return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "no memory for gradient %s", ti.key);
        st = cnn_model_get_grad(m, ti.key, g, n);
        snprintf(path, sizeof path, "%s/%s.npy", dir, ti.key);
        if (st == CNN_OK)
            st = cnn_npy_write_f32(path, &ti.shape, g);
        free(g);
    }
    return st;
}

/* plan.csv: every layer pass that ran, where, and how; the fallback column
 * says whether that was the backend asked for first. */
static cnn_status write_plan(cnn_model *m, const char *out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/plan.csv", out);
    report_csv *csv = NULL;
    cnn_status st = report_csv_open(path, "layer,op,pass,backend,algorithm,fallback", &csv);
    for (int l = 0; l < cnn_model_layer_count(m) && st == CNN_OK; l++) {
        cnn_layer_info li;
        cnn_model_layer(m, l, &li);
        for (int p = 0; p < CNN_PASS_COUNT && st == CNN_OK; p++) {
            const char *alg = NULL, *be = cnn_model_layer_backend(m, l, (cnn_pass)p, &alg);
            if (!be || cnn_model_layer_calls(m, l, (cnn_pass)p) == 0)
                continue;
            bool fell = false;
            for (int f = 0; f < cnn_model_fallback_count(m); f++) {
                cnn_fallback fb;
                if (cnn_model_fallback(m, f, &fb) == CNN_OK && fb.pass == (cnn_pass)p &&
                    strcmp(fb.layer, li.name) == 0)
                    fell = true;
            }
            const char *row[6] = {li.name, cnn_op_name(li.op), cnn_pass_str((cnn_pass)p),
                                  be,      alg ? alg : be,     fell ? "yes" : "no"};
            st = report_csv_row(csv, 6, row);
        }
    }
    if (csv) {
        cnn_status cst = report_csv_close(csv, st == CNN_OK);
        st = st == CNN_OK ? cst : st;
    }
    return st;
}

static cnn_status write_loss(const char *out, float loss)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/loss.txt", out);
    cnn_atomic_file af;
    cnn_status st = cnn_atomic_open(&af, path);
    if (st != CNN_OK)
        return st;
    fprintf(af.f, "%.9g\n", loss);
    return cnn_atomic_commit(&af);
}

/* Read x.npy and build the model for its shape: batch from dimension 0,
 * channels and image size from the rest. */
static cnn_status load_model(const run_args *a, cnn_shape *xs, float **x, cnn_model **m)
{
    cnn_status st = cnn_npy_read_f32(a->input, xs, x);
    if (st != CNN_OK)
        return st;
    const cnn_model_desc *d = cnn_model_find(a->model);
    if (xs->ndim != 4) {
        char s[64];
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "input %s has shape %s, model %s expects a 4-d batch N x %d x %d x %d",
                        a->input, cnn_shape_str(xs, s, sizeof s), a->model, d->c, d->h, d->w);
    }
    cnn_model_opts o = {.batch = (int)xs->dim[0],
                        .classes = a->classes,
                        .c = (int)xs->dim[1],
                        .h = (int)xs->dim[2],
                        .w = (int)xs->dim[3]};
    st = cnn_model_create(a->model, &o, m);
    if (st != CNN_OK)
        return st;
    /* the plan's own backends stand in for a missing --backends */
    auto_plan plan = {0};
    if (a->plan && (st = auto_plan_read(a->plan, *m, &plan)) != CNN_OK)
        return st;
    cnn_exec_opts e = {.backends = a->backends ? a->backends : plan.backends,
                       .overrides = a->overrides,
                       .plan = plan.entries,
                       .nplan = plan.nrows,
                       .threads = a->threads,
                       .seed = a->seed,
                       .forward_only = a->labels == NULL,
                       .no_fuse = a->no_fuse};
    st = cnn_model_bind(*m, &e);
    auto_plan_free(&plan);
    if (st == CNN_OK)
        st = a->weights ? cnn_model_load_weights(*m, a->weights)
                        : cnn_model_init_params(*m, a->seed);
    if (st == CNN_OK && a->progress) {
        cnn_model_mem mem;
        cnn_model_memory(*m, &mem);
        fprintf(stderr,
                "%s: device memory: parameters %.1f MiB, gradients %.1f MiB, activations %.1f "
                "MiB, workspace %.1f MiB\n",
                a->model, mem.params / 1048576.0, mem.grads / 1048576.0,
                mem.activations / 1048576.0, mem.workspace / 1048576.0);
        cnn_model_set_hook(*m, cnn_model_progress_hook, stderr, false);
    }
    return st;
}

static cnn_status read_labels(const run_args *a, cnn_model *m, int32_t **labels)
{
    cnn_shape ys = cnn_model_output_shape(m);
    int64_t count = 0;
    cnn_status st = cnn_npy_read_labels(a->labels, (int)ys.dim[1], &count, labels);
    if (st == CNN_OK && count != ys.dim[0])
        st = cnn_fail(CNN_ERR_INVALID_ARG, "labels %s hold %lld labels, the input batch is %lld",
                      a->labels, (long long)count, (long long)ys.dim[0]);
    return st;
}

/* What ran, where, how long, and which files were written, on stdout. */
static void print_summary(const run_args *a, cnn_model *m, const cnn_shape *xs, float loss,
                          double t_fwd, double t_bwd)
{
    char in[64];
    printf("%s %s on %s%s%s%s, input %s (%s)\n", cnn_model_name(m), a->mode,
           a->plan ? "plan " : "", a->plan ? a->plan : "", a->plan && a->backends ? ", then " : "",
           a->backends ? a->backends : "", cnn_shape_str(xs, in, sizeof in),
           a->weights ? a->weights : "seeded init");
    /* Layer passes per backend that ran them. */
    const char *names[16];
    int counts[16], nnames = 0, total = 0;
    for (int l = 0; l < cnn_model_layer_count(m); l++)
        for (int p = 0; p < CNN_PASS_COUNT; p++) {
            const char *be = cnn_model_layer_calls(m, l, (cnn_pass)p) > 0
                                 ? cnn_model_layer_backend(m, l, (cnn_pass)p, NULL)
                                 : NULL;
            if (!be)
                continue;
            int i = 0;
            while (i < nnames && strcmp(names[i], be) != 0)
                i++;
            if (i == nnames && nnames < 16) {
                names[nnames] = be;
                counts[nnames++] = 0;
            }
            if (i < nnames)
                counts[i]++;
            total++;
        }
    printf("  forward  %10.2f ms\n", t_fwd * 1e3);
    if (a->labels)
        printf("  backward %10.2f ms   loss %.6g\n", t_bwd * 1e3, loss);
    printf("  %d layer passes ran:", total);
    for (int i = 0; i < nnames; i++)
        printf(" %s %d%s", names[i], counts[i], i + 1 < nnames ? "," : "");
    printf(" (%d fallbacks; each layer's backend and algorithm in plan.csv)\n",
           cnn_model_fallback_count(m));
    printf("wrote to %s: logits.npy, plan.csv%s", a->out, a->labels ? ", loss.txt, grad/" : "");
    if (a->save_weights)
        printf("; weights to %s", a->save_weights);
    printf("\n(times: one pass each, wall clock, first-call set-up included; `cnnbench bench` "
           "times properly)\n");
}

static int run(const run_args *a)
{
    cnn_mode mode = strcmp(a->mode, "train") == 0 ? CNN_MODE_TRAIN : CNN_MODE_EVAL;
    cnn_shape xs;
    float *x = NULL, *logits = NULL, loss = NAN;
    int32_t *labels = NULL;
    cnn_model *m = NULL;
    int bad = 0;
    cnn_status st = load_model(a, &xs, &x, &m);
    cnn_shape ys = m ? cnn_model_output_shape(m) : cnn_shape1(0);
    int64_t ny = cnn_shape_numel(&ys);
    if (st == CNN_OK && a->labels)
        st = read_labels(a, m, &labels);
    if (st == CNN_OK)
        st = cnn_model_set_input(m, x, cnn_shape_numel(&xs));
    double t0 = cnn_wall_seconds(), t_fwd = 0.0, t_bwd = 0.0;
    if (st == CNN_OK)
        st = cnn_model_forward(m, mode);
    if (st == CNN_OK && !(logits = malloc((size_t)ny * sizeof *logits)))
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "no memory for logits");
    if (st == CNN_OK)
        st = cnn_model_get_logits(m, logits, ny);
    t_fwd = cnn_wall_seconds() - t0;
    char where[768] = "";
    if (st == CNN_OK && cnn_count_nonfinite(logits, ny)) {
        st = cnn_model_first_nonfinite(m, mode, where, sizeof where);
        fprintf(stderr, "cnnbench run: logits: %lld of %lld values are NaN or Inf (%s)\n",
                (long long)cnn_count_nonfinite(logits, ny), (long long)ny, where);
        bad++;
    }
    if (st == CNN_OK && labels) {
        st = cnn_model_set_labels(m, labels, ys.dim[0]);
        if (st == CNN_OK)
            st = cnn_model_loss(m, &loss);
        if (st == CNN_OK && !isfinite(loss)) {
            fprintf(stderr, "cnnbench run: loss is %g\n", loss);
            bad++;
        }
        t0 = cnn_wall_seconds();
        if (st == CNN_OK)
            st = cnn_model_backward(m);
        if (st == CNN_OK)
            st = cnn_sync(cnn_model_ctx(m, 0));
        t_bwd = cnn_wall_seconds() - t0;
        if (st == CNN_OK)
            bad += check_grads(m, &st);
    }
    if (m)
        cnn_model_print_fallbacks(m, stderr);
    if (st == CNN_OK && bad)
        st = cnn_fail(CNN_ERR_INVALID_ARG,
                      "%d output tensor(s) hold NaN or Inf (listed above); nothing was written",
                      bad);
    /* the weights' folder first: one that cannot be made stops the run before --out is written */
    if (st == CNN_OK && a->save_weights && (st = report_mkdirs(a->save_weights)) != CNN_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", cnn_last_error());
        st = cnn_fail(st, "--save-weights %s: %s", a->save_weights, why);
    }
    if (st == CNN_OK)
        st = report_mkdirs(a->out);
    if (st == CNN_OK) {
        char path[4096];
        snprintf(path, sizeof path, "%s/logits.npy", a->out);
        st = cnn_npy_write_f32(path, &ys, logits);
    }
    if (st == CNN_OK)
        st = write_plan(m, a->out);
    if (st == CNN_OK && labels)
        st = write_loss(a->out, loss);
    if (st == CNN_OK && labels)
        st = write_grads(m, a->out);
    if (st == CNN_OK && a->save_weights)
        st = cnn_model_save_weights(m, a->save_weights);
    if (st == CNN_OK)
        print_summary(a, m, &xs, loss, t_fwd, t_bwd);
    free(x);
    free(logits);
    free(labels);
    cnn_model_destroy(m);
    return st == CNN_OK ? CLI_EXIT_OK : cli_fail("run", st);
}

int cmd_run(int argc, char **argv)
{
    run_args a = {.mode = "eval"};
    cli_opt opts[] = {
        {"model", CLI_STRING, &a.model, "NAME", "model (see cnnbench models)", true, false},
        {"backends", CLI_STRING, &a.backends, "B[,B2...]",
         "backends in order of preference, per layer and pass; what none of them supports runs "
         "on a fallback (see cnnbench backends), naive the last resort (required without --plan)",
         false, false},
        {"plan", CLI_STRING, &a.plan, "FILE",
         "run each layer pass on the backend a plan.csv names (this command's own, or one of "
         "cnnbench bench --backends auto): see below",
         false, false},
        {"override", CLI_STRING, &a.overrides, "GLOB=B[,...]",
         "put backend B first for layers matching GLOB (e.g. 'layer4.*=onednn')", false, false},
        {"input", CLI_STRING, &a.input, "FILE", "float32 .npy, N x C x H x W", true, false},
        {"labels", CLI_STRING, &a.labels, "FILE",
         "int64/int32/uint8 .npy of N class indices: also loss and gradients", false, false},
        {"weights", CLI_STRING, &a.weights, "DIR",
         "load DIR/KEY.npy (PyTorch state_dict keys); default: seeded init", false, false},
        {"mode", CLI_STRING, &a.mode, "eval|train",
         "eval: running BN statistics, no dropout; train: batch statistics, dropout (default "
         "eval)",
         false, false},
        {"seed", CLI_U64, &a.seed, "S", "seed of the initial weights and dropout masks (0)", false,
         false},
        {"threads", CLI_INT, &a.threads, "N", "CPU threads (default: OpenMP's)", false, false},
        {"classes", CLI_INT, &a.classes, "N", "classes (default: the model's)", false, false},
        {"save-weights", CLI_STRING, &a.save_weights, "DIR",
         "write the weights after the run (train mode updates BN running statistics)", false,
         false},
        {"out", CLI_STRING, &a.out, "DIR", "where logits.npy, loss.txt, grad/KEY.npy go", true,
         false},
        {"progress", CLI_FLAG, &a.progress, "", "one line per layer on stderr, with its time",
         false, false},
        CLI_NO_FUSE_OPT(&a.no_fuse),
    };
    cli_cmd cmd = {
        .name = "run",
        .summary = "Run a whole model forward (and, with --labels, backward) on a backend list.\n"
                   "Writes DIR/logits.npy and DIR/plan.csv (the backend and algorithm of every\n"
                   "layer pass that ran); with --labels also DIR/loss.txt (mean cross-entropy)\n"
                   "and DIR/grad/KEY.npy, the gradient of the mean loss for every parameter.",
        .details = "The batch and image size come from --input. Layers or passes that run on a "
                   "backend other than\nthe one asked for are listed on stderr. Nothing is "
                   "written if any output holds NaN or Inf.\n"
                   "--plan FILE reads the columns layer, pass and backend of a plan.csv (others\n"
                   "are ignored; with a model column, the rows of --model): each of those layer\n"
                   "passes runs on its backend first, before --override and --backends, which\n"
                   "place the rest (the loss, gradient sums, layers it leaves out; without\n"
                   "--backends, the plan's backends in the order they first appear). So\n"
                   "`--plan OUT/plan.csv` replays the run that wrote OUT. A bad plan file is an\n"
                   "error naming its line and value (exit 1).\n"
                   "exit codes: 0 ok, 1 bad data or a failed run, 2 bad usage, 3 unsupported.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
        .aliases = (const cli_alias[]){{"backend", "backends"}, {NULL, NULL}},
    };
    int rc = cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    if (!cnn_model_find(a.model)) {
        char names[256];
        return cli_usage_error(&cmd, "unknown model '%s'; valid models: %s", a.model,
                               cnn_model_names(names, sizeof names));
    }
    rc = cli_check_choice(&cmd, "mode", a.mode, "eval,train");
    if (rc >= 0)
        return rc;
    rc = check_backends(&cmd, &a);
    if (rc >= 0)
        return rc;
    if (a.threads < 0 || a.classes < 0)
        return cli_usage_error(&cmd, "--threads and --classes must not be negative");
    cli_set_threads(a.threads);
    return run(&a);
}
