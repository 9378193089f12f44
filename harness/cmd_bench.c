/* cnnbench bench: time the layers of a model on several backends side by
 * side, through Google Benchmark.
 *
 * The machine is shared and noisy, so backends are compared within one run:
 * for each layer every backend is timed back to back before the next layer,
 * each case for `repetitions` repetitions of at least `min-time` seconds, and
 * the median per-iteration time is what is reported, with min and max as the
 * spread. Ratios are against the first backend listed: its time / the
 * backend's, so > 1 is faster. A model total charges a layer a backend does
 * not support at the backend that would run it instead, and says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ceilings.h"
#include "cli.h"
#include "commands.h"
#include "gbench.h"
#include "model.h"
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

int cmd_bench(int argc, char **argv)
{
    const char *model = "vgg16", *ops = "conv2d", *passes = "fwd", *backends = NULL;
    const char *results = "results";
    int batch = 4, reps = 5, threads = 0, image_size = 0;
    double min_time = 0.2;
    bool cold = false;
    cli_opt opts[] = {
        {"model", CLI_STRING, &model, "M", "model whose layers to time (default vgg16)", false,
         false},
        {"batch", CLI_INT, &batch, "N", "batch size (default 4)", false, false},
        {"image-size", CLI_INT, &image_size, "N",
         "N x N input for the model (default: the model's usual size)", false, false},
        {"ops", CLI_STRING, &ops, "LIST",
         "operations to time, or all (default conv2d): " CLI_OP_NAMES, false, false},
        {"passes", CLI_STRING, &passes, "LIST",
         "passes: fwd, fwd_infer, bwd_data, bwd_weight, bwd_bias (default fwd)", false, false},
        {"backends", CLI_STRING, &backends, "LIST",
         "backends, the first is the baseline of the ratios (default: every usable one but "
         "naive)",
         false, false},
        {"repetitions", CLI_INT, &reps, "N", "repetitions per case (default 5)", false, false},
        {"min-time", CLI_DOUBLE, &min_time, "S", "seconds per repetition at least (default 0.2)",
         false, false},
        {"cold", CLI_FLAG, &cold, NULL, "evict the caches before every iteration", false, false},
        {"threads", CLI_INT, &threads, "N", "CPU threads (default: OpenMP's)", false, false},
        {"results", CLI_STRING, &results, "DIR",
         "results root: the run writes DIR/<run-id>/ (default results)", false, false},
    };
    cli_cmd cmd = {
        .name = "bench",
        /* the old spellings keep working */
        .aliases =
            (const cli_alias[]){{"backend", "backends"}, {"out-dir", "results"}, {NULL, NULL}},
        .summary = "Time each distinct layer of a model on several backends side by side.",
        .details = "Writes DIR/<run-id>/bench.csv, each layer's rows once it is timed, and\n"
                   "meta.json (command line, settings, commit, machine and its measured\n"
                   "ceilings: FMA peak, sgemm, memory bandwidth; complete or not);\n"
                   "Ctrl-C stops after the layer at hand and marks the run interrupted.\n"
                   "Times are medians of the repetitions, wall clock, per call;\n"
                   "caches are warm unless --cold. Ratios are the first backend's time over\n"
                   "each backend's (> 1: faster). A model total charges a layer a backend\n"
                   "does not support at the backend that would run it instead in `cnnbench\n"
                   "run --backends B` (B's fallback, the default fallbacks, naive) and names it.\n"
                   "An op or pass that matches no layer of the model is a usage error.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    int rc = cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
#ifndef CNN_HAVE_BENCHMARK
    fprintf(stderr, "cnnbench bench: this build has no Google Benchmark (apt-get install "
                    "libbenchmark-dev, then reconfigure)\n");
    return CLI_EXIT_UNSUPPORTED;
#endif
    if (batch < 1 || reps < 1 || reps > CNN_GBENCH_MAX_REPS || !(min_time > 0) || image_size < 0)
        return cli_usage_error(&cmd,
                               "need --batch >= 1, --repetitions in [1, %d], --min-time > 0, "
                               "--image-size >= 1",
                               CNN_GBENCH_MAX_REPS);
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
                     .cold = cold};
    run.threads = cli_set_threads(threads);
    if ((rc = cli_parse_passes(&cmd, passes, run.passes)) >= 0)
        return rc;
    char all[1024] = "";
    if (!backends) {
        for (int i = 0; i < cnn_backend_count(); i++) {
            const cnn_backend *be = cnn_backend_at(i);
            char why[256];
            if (strcmp(be->name, "naive") && cnn_backend_available(be, why, sizeof why))
                snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", *all ? "," : "",
                         be->name);
        }
        /* a build with the reference only still times something */
        backends = *all ? all : "naive";
    }
    if ((rc = check_backends(&cmd, backends, &run)) >= 0)
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
        /* the machine's ceilings, once, on the run's threads (about a second) */
        cnn_ceilings machine;
        cnn_ceilings_measure(&machine, 0);
        cnn_ceilings_print(stdout, &machine);
        cnn_ceilings_json(run_dir_settings(&rd), &machine);
        run.fma_peak_gflops = machine.fma_peak_gflops;
        st = run_dir_create(&rd, results);
    }
    if (st != CNN_OK) {
        bench_release(&run);
        return cli_fail("bench", st);
    }
    snprintf(run.dir, sizeof run.dir, "%s", rd.path);
    st = bench_execute(&run, stdout);
    bench_release(&run);
    rc = run_dir_close(&rd, st, "bench.csv, meta.json; no totals if interrupted");
    return rc >= 0 ? rc : CLI_EXIT_OK;
#else
    (void)results;
    return CLI_EXIT_UNSUPPORTED;
#endif
}
