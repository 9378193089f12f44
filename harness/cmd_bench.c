/* cnnbench bench: time the layers of a model on several backends side by
 * side, through Google Benchmark.
 *
 * The machine is shared and noisy, so backends are compared within one run:
 * for each layer every backend is timed back to back before the next layer,
 * each case for `repetitions` repetitions of at least `min-time` seconds, and
 * the median per-iteration time is what is reported, with min and max as the
 * spread. Ratios are against the first backend listed: its time / the
 * backend's, so > 1 is faster. A model total charges a layer a backend does
 * not support at the backend that would run it instead, and says so.
 *
 * With --models it times whole networks instead (bench_models.c): infer and
 * train_step of each model on each backend alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auto_plan.h"
#include "bench.h"
#include "ceilings.h"
#include "cli.h"
#include "commands.h"
#include "gbench.h"
#include "model.h"
#include "peer.h"
#include "registry.h"
#include "report.h"
#include "run_dir.h"

static int check_backends(const cli_cmd *cmd, const char *list, bench_run *run)
{
    if (cnn_backend_list_parse(list, NULL, BENCH_MAX_BACKENDS, run->backends, &run->nbackends) !=
        CNN_OK)
        return cli_usage_error(cmd, "--backends: %s", cnn_last_error());
    return -1;
}

/* Every usable backend but naive, into all; "naive" in a build with the
 * reference only, so that it still times something. */
static const char *default_backends(char *all, size_t n)
{
    for (int i = 0; i < cnn_backend_count(); i++) {
        const cnn_backend *be = cnn_backend_at(i);
        char why[256];
        if (strcmp(be->name, "naive") && cnn_backend_available(be, why, sizeof why))
            snprintf(all + strlen(all), n - strlen(all), "%s%s", *all ? "," : "", be->name);
    }
    return *all ? all : "naive";
}

/* --ops: "all" or op names (CLI_OP_NAMES); NULL in *ops means every op. */
static int check_ops(const cli_cmd *cmd, const char **ops)
{
    char name[64];
    bool all = false;
    const char *p = *ops;
    if (!cli_next_item(&p, name, sizeof name))
        return cli_usage_error(cmd, "--ops is empty; valid values: all," CLI_OP_NAMES);
    for (p = *ops; cli_next_item(&p, name, sizeof name);) {
        int rc = cli_check_choice(cmd, "ops", name, "all," CLI_OP_NAMES);
        if (rc >= 0)
            return rc;
        all |= !strcmp(name, "all");
    }
    if (all)
        *ops = NULL;
    return -1;
}

/* The machine's ceilings, once, on the run's threads (about a second):
 * printed and put in meta.json; returns the FMA peak. */
static double measure_ceilings(run_dir *rd, double *triad_gbs)
{
    cnn_ceilings machine;
    cnn_ceilings_measure(&machine, 0);
    cnn_ceilings_print(stdout, &machine);
    cnn_ceilings_json(run_dir_settings(rd), &machine);
    *triad_gbs = machine.triad_gbs > 0 ? machine.triad_gbs : 0;
    return machine.fma_peak_gflops;
}

/* --models LIST: "all" or model names, into run->models. */
static int check_models(const cli_cmd *cmd, const char *list, bench_models_run *run)
{
    static char names[BENCH_MAX_MODELS][64];
    char item[64], valid[512];
    cnn_model_names(valid, sizeof valid);
    run->nmodels = 0;
    for (const char *p = list; cli_next_item(&p, item, sizeof item);) {
        bool all = !strcmp(item, "all");
        if (!all && !cnn_model_find(item))
            return cli_usage_error(cmd, "--models: unknown model '%s'; valid models: all, %s", item,
                                   valid);
        for (int i = 0; i < cnn_model_count(); i++) {
            const char *name = cnn_model_at(i)->name;
            bool dup = false;
            for (int k = 0; k < run->nmodels; k++)
                dup |= !strcmp(run->models[k], name);
            if ((all || !strcmp(item, name)) && !dup && run->nmodels < BENCH_MAX_MODELS) {
                snprintf(names[run->nmodels], sizeof names[0], "%s", name);
                run->models[run->nmodels] = names[run->nmodels];
                run->nmodels++;
            }
        }
    }
    if (!run->nmodels)
        return cli_usage_error(cmd, "--models is empty; valid models: all, %s", valid);
    return -1;
}

/* --peer: none, or pytorch when a python with torch is found (else one
 * line saying why, and the run goes on without it). */
static int check_peer(const cli_cmd *cmd, const char *name, bool *use, const char **note)
{
    static char info[512], line[600];
    *use = false;
    *note = NULL;
    if (!strcmp(name, "none"))
        return -1;
    if (strcmp(name, "pytorch"))
        return cli_usage_error(cmd, "unknown --peer '%s'; valid: pytorch, none", name);
    *use = peer_probe(info, sizeof info);
    snprintf(line, sizeof line, "pytorch %s: %s", *use ? "through" : "not usable", info);
    *note = line;
    if (!*use)
        printf("pytorch: not usable here (%s); the run goes on without it\n", info);
    return -1;
}

/* bench --models: whole networks (bench_models.c). */
static int bench_models(const cli_cmd *cmd, int argc, char **argv, const char *models, int batch,
                        int image_size, int reps, const char *threads, bool no_fuse,
                        const char *results, bench_run *layer_run, bool with_auto, const char *plan)
{
    static const char *const layer_only[] = {"model", "ops", "passes", "min-time", "cold"};
    for (size_t i = 0; i < sizeof layer_only / sizeof layer_only[0]; i++)
        if (cli_seen(cmd, layer_only[i]))
            return cli_usage_error(cmd, "--%s is for the per-layer bench (--model), not --models",
                                   layer_only[i]);
    bench_models_run run = {
        .batch = batch, .image_size = image_size, .repetitions = reps, .no_fuse = no_fuse};
    int rc = check_models(cmd, models, &run);
    if (rc >= 0)
        return rc;
    run.nbackends = layer_run->nbackends;
    memcpy(run.backends, layer_run->backends, sizeof run.backends);
    run.peer = layer_run->peer;
    run.peer_note = layer_run->peer_note;
    run.with_auto = with_auto;
    run.plan_file = plan;
    if (threads && (rc = cli_parse_thread_list(cmd, threads, run.thread_list, &run.nthreads)) >= 0)
        return rc;
    run.threads_list = threads;
    run.threads = cli_set_threads(run.nthreads ? run.thread_list[0] : 0);
    cnn_status st = bench_models_check(&run);
    if (st == CNN_ERR_INVALID_ARG)
        return cli_usage_error(cmd, "%s", cnn_last_error());
    /* a bad plan file is bad data (exit 1), found before the run folder exists */
    if (st == CNN_OK && plan)
        st = auto_plan_check_file(plan, run.models, run.nmodels, image_size);
    if (st != CNN_OK)
        return cli_fail("bench", st);
    run_dir rd;
    st = run_dir_init(&rd, "bench", argc, argv, 1, run.threads);
    if (st == CNN_OK) {
        bench_models_settings(&run, run_dir_settings(&rd));
        run.fma_peak_gflops = measure_ceilings(&rd, &run.triad_gbs);
        st = run_dir_create(&rd, results);
    }
    if (st != CNN_OK)
        return cli_fail("bench", st);
    snprintf(run.dir, sizeof run.dir, "%s", rd.path);
    st = bench_models_execute(&run, stdout);
    char files[128];
    snprintf(files, sizeof files, "results.csv, breakdown.csv, %s%smeta.json",
             with_auto ? "plan.csv, " : "", run.nthreads > 1 ? "scaling.csv, " : "");
    rc = run_dir_close(&rd, st, files);
    return rc >= 0 ? rc : CLI_EXIT_OK;
}

int cmd_bench(int argc, char **argv)
{
    const char *model = "vgg16", *ops = "conv2d", *passes = "fwd", *backends = NULL;
    const char *results = "results", *models = NULL, *peer = "none", *plan = NULL;
    const char *threads = NULL;
    int batch = 0, reps = 5, image_size = 0;
    double min_time = 0.2;
    bool cold = false, no_fuse = false;
    cli_opt opts[] = {
        {"model", CLI_STRING, &model, "M", "model whose layers to time (default vgg16)", false,
         false},
        {"models", CLI_STRING, &models, "LIST",
         "time whole models instead, or all: infer and train_step (see below)", false, false},
        {"batch", CLI_INT, &batch, "N",
         "batch size (default 4; with --models each model's own, see below)", false, false},
        {"image-size", CLI_INT, &image_size, "N",
         "N x N input for the model (default: the model's usual size)", false, false},
        {"ops", CLI_STRING, &ops, "LIST",
         "operations to time, or all (default conv2d): " CLI_OP_NAMES, false, false},
        {"passes", CLI_STRING, &passes, "LIST",
         "passes: fwd, fwd_infer, bwd_data, bwd_weight, bwd_bias (default fwd)", false, false},
        {"backends", CLI_STRING, &backends, "LIST",
         "backends, the first is the baseline of the ratios (default: every usable one but "
         "naive); with --models also auto (see below)",
         false, false},
        {"plan", CLI_STRING, &plan, "FILE",
         "with --models: time the plan in FILE (a plan.csv) as one more row, backend plan", false,
         false},
        {"repetitions", CLI_INT, &reps, "N", "repetitions per case (default 5)", false, false},
        {"min-time", CLI_DOUBLE, &min_time, "S", "seconds per repetition at least (default 0.2)",
         false, false},
        {"cold", CLI_FLAG, &cold, NULL,
         "evict the caches before every iteration (each repetition then runs as many as fill "
         "--min-time of wall clock, evictions included)",
         false, false},
        {"threads", CLI_STRING, &threads, "N|LIST",
         "CPU threads (default: OpenMP's); with --models a list, e.g. 1,2 (see below)", false,
         false},
        CLI_NO_FUSE_OPT(&no_fuse),
        {"results", CLI_STRING, &results, "DIR",
         "results root: the run writes DIR/<run-id>/ (default results)", false, false},
        {"peer", CLI_STRING, &peer, "NAME",
         "pytorch: time the same work in PyTorch too, in the same run (default none)", false,
         false},
    };
    cli_cmd cmd = {
        .name = "bench",
        /* the old spellings keep working */
        .aliases =
            (const cli_alias[]){{"backend", "backends"}, {"out-dir", "results"}, {NULL, NULL}},
        .summary = "Time each distinct layer of a model on several backends side by side.",
        .details = "Writes DIR/<run-id>/results.csv, each layer's rows once it is timed, and\n"
                   "meta.json (command line, settings, commit, machine and its measured\n"
                   "ceilings: FMA peak, sgemm, memory bandwidth; complete or not);\n"
                   "Ctrl-C stops after the layer at hand and marks the run interrupted.\n"
                   "Times are medians of the repetitions, wall clock, per call;\n"
                   "caches are warm unless --cold. Ratios are the first backend's time over\n"
                   "each backend's (> 1: faster). A model total charges a layer a backend\n"
                   "does not support at the backend that would run it instead in `cnnbench\n"
                   "run --backends B` (B's fallback, the default fallbacks, naive) and names it.\n"
                   "An op or pass that matches no layer of the model is a usage error.\n"
                   "\n"
                   "--models LIST times whole networks instead of --model's layers (giving\n"
                   "both, or --ops, --passes, --min-time, --cold with it, is a usage error):\n"
                   "each model on each backend alone (its unsupported layers where the\n"
                   "executor's fallback rule puts them), one warm-up, then --repetitions\n"
                   "steps of infer (forward in eval mode) and train_step (forward in train\n"
                   "mode, loss, backward with every parameter gradient), each timed to a\n"
                   "sync; median, min, max, images/s and ratio = images/s / the first\n"
                   "backend's. Default batches: fashion_cnn 128, lenet5 128, alexnet 16,\n"
                   "vgg16 4, googlenet 8, resnet18 8; naive runs the last four at batch 1;\n"
                   "--batch overrides both. Rows go to results.csv (layer MODEL), one more\n"
                   "step of each mode, synced after every layer, to breakdown.csv (each\n"
                   "layer and pass: backend, algorithm, ms, share of the step).\n"
                   "--threads LIST (e.g. 1,2) times each model on every backend at each\n"
                   "count in turn, rows carrying their count, and ends with each backend's\n"
                   "train_step speed-up over the first count (its median / the count's;\n"
                   "both modes in scaling.csv).\n"
                   "\n"
                   "--peer pytorch runs harness/peers/pytorch_peer.py (Debian's python3-torch;\n"
                   "never needed otherwise) on the same models or layer shapes, batch, input,\n"
                   "threads and repetitions, and puts its rows in results.csv as backend\n"
                   "pytorch. Without a python that imports torch it says so in one line\n"
                   "and the run goes on.\n"
                   "\n"

                   "auto in the --backends list of --models (e.g. auto,im2col,onednn) adds a\n"
                   "row per model timed on a plan of its own, the counterpart of\n"
                   "cudnn.benchmark: each layer pass a train_step or an infer runs, timed\n"
                   "once after a warm-up on every usable backend of the device but naive\n"
                   "(layers of one shape share the measurement), runs on the fastest.\n"
                   "The plans go to plan.csv (a model column, each candidate's ms_BACKEND\n"
                   "beside the chosen ms); the row's backend is auto, its algorithm the\n"
                   "plan's mix (plan: 40 im2col + 12 onednn). --plan FILE times a saved\n"
                   "plan instead of searching (a bench plan.csv, or the plan.csv of\n"
                   "`cnnbench run`, which has no model column: one model then), backend\n"
                   "plan; a bad plan file is an error naming its line, before anything is\n"
                   "written.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    int rc = cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    if (models && cli_seen(&cmd, "model"))
        return cli_usage_error(&cmd, "--model (per-layer) and --models (whole models): one or "
                                     "the other");
    if (!models && !cli_seen(&cmd, "batch"))
        batch = 4;
    bool use_peer = false;
    const char *peer_note = NULL;
    if ((rc = check_peer(&cmd, peer, &use_peer, &peer_note)) >= 0)
        return rc;
    if ((batch < 1 && cli_seen(&cmd, "batch")) || reps < 1 || reps > CNN_GBENCH_MAX_REPS ||
        !(min_time > 0) || image_size < 0)
        return cli_usage_error(&cmd,
                               "need --batch >= 1, --repetitions in [1, %d], --min-time > 0, "
                               "--image-size >= 1",
                               CNN_GBENCH_MAX_REPS);
    char rest[1024];
    int nauto = backends ? auto_plan_strip(backends, rest, sizeof rest) : 0;
    if (nauto && !models)
        return cli_usage_error(&cmd, "--backends auto is for whole models (--models)");
    if (plan && !models)
        return cli_usage_error(&cmd, "--plan is for whole models (--models)");
    if (no_fuse && !models)
        return cli_usage_error(&cmd, "--no-fuse is for whole models (--models)");
    if (nauto > 1 || (nauto && plan))
        return cli_usage_error(&cmd, nauto > 1 ? "--backends lists auto twice"
                                               : "--plan FILE replaces auto's search: give one "
                                                 "or the other");
    if (models) {
        char all[1024] = "";
        bench_run br = {0};
        const char *list = !backends ? default_backends(all, sizeof all) : nauto ? rest : backends;
        if ((!nauto || *list) && (rc = check_backends(&cmd, list, &br)) >= 0)
            return rc;
        br.peer = use_peer;
        br.peer_note = peer_note;
        return bench_models(&cmd, argc, argv, models, batch, image_size, reps, threads, no_fuse,
                            results, &br, nauto > 0, plan);
    }
#ifndef CNN_HAVE_BENCHMARK
    fprintf(stderr, "cnnbench bench: this build has no Google Benchmark (apt-get install "
                    "libbenchmark-dev, then reconfigure)\n");
    return CLI_EXIT_UNSUPPORTED;
#endif
    if (!cnn_model_find(model)) {
        char valid[512];
        return cli_usage_error(&cmd, "unknown model '%s'; valid models: %s", model,
                               cnn_model_names(valid, sizeof valid));
    }
    if ((rc = check_ops(&cmd, &ops)) >= 0)
        return rc;
    bench_run run = {.model = model,
                     .batch = batch,
                     .image_size = image_size,
                     .ops = ops,
                     .repetitions = reps,
                     .min_time = min_time,
                     .cold = cold,
                     .peer = use_peer,
                     .peer_note = peer_note};
    int counts[CLI_MAX_THREAD_COUNTS], ncounts = 0;
    if (threads && (rc = cli_parse_thread_list(&cmd, threads, counts, &ncounts)) >= 0)
        return rc;
    if (ncounts > 1)
        return cli_usage_error(&cmd, "--threads LIST (several counts) is for whole models "
                                     "(--models); the per-layer bench takes one");
    run.threads = cli_set_threads(ncounts ? counts[0] : 0);
    if ((rc = cli_parse_passes(&cmd, passes, run.passes)) >= 0)
        return rc;
    char all[1024] = "";
    if ((rc = check_backends(&cmd, backends ? backends : default_backends(all, sizeof all),
                             &run)) >= 0)
        return rc;

#ifdef CNN_HAVE_BENCHMARK
    /* what the selection matches, before anything is timed or written */
    cnn_status st = bench_select(&run);
    if (st == CNN_ERR_INVALID_ARG)
        return cli_usage_error(&cmd, "%s", cnn_last_error());
    if (st != CNN_OK)
        return cli_fail("bench", st);
    /* the inputs are those of seed 1 (bench_layer) */
    run_dir rd;
    st = run_dir_init(&rd, "bench", argc, argv, 1, run.threads);
    if (st == CNN_OK) {
        bench_settings(&run, run_dir_settings(&rd));
        run.fma_peak_gflops = measure_ceilings(&rd, &run.triad_gbs);
        st = run_dir_create(&rd, results);
    }
    if (st != CNN_OK) {
        bench_release(&run);
        return cli_fail("bench", st);
    }
    snprintf(run.dir, sizeof run.dir, "%s", rd.path);
    st = bench_execute(&run, stdout);
    bench_release(&run);
    rc = run_dir_close(&rd, st, "results.csv, meta.json; no totals if interrupted");
    return rc >= 0 ? rc : CLI_EXIT_OK;
#else
    (void)results;
    return CLI_EXIT_UNSUPPORTED;
#endif
}
