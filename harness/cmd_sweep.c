/* cnnbench sweep: verify, bench, plot in one run folder (sweep.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ceilings.h"
#include "cli.h"
#include "commands.h"
#include "model.h"
#include "peer.h"
#include "registry.h"
#include "run_dir.h"
#include "child.h"
#include "sweep.h"

typedef enum sweep_size { SWEEP_QUICK, SWEEP_DEFAULT, SWEEP_FULL } sweep_size;

/* The models of `list` that the sweep's --models keeps (all when NULL),
 * comma-separated into out; false when none is left. */
static bool keep(const char *list, const char *only, char *out, size_t n)
{
    out[0] = '\0';
    char item[64];
    for (const char *p = list; cli_next_item(&p, item, sizeof item);)
        if (!only || cli_in_list(only, item))
            snprintf(out + strlen(out), n - strlen(out), "%s%s", *out ? "," : "", item);
    return *out != '\0';
}

/* Every backend usable here, comma-separated: `models` for whole models
 * (one Winograd: it picks its tile), `layers` with the Winograd tiles apart
 * (for the error-against-speed chart); unusable ones get a line and go to
 * `unusable` for meta.json. naive is left to the small models. */
static void usable_backends(const char *asked, char *models, char *layers, char *unusable, size_t n,
                            FILE *out)
{
    models[0] = layers[0] = unusable[0] = '\0';
    for (int i = 0; i < cnn_backend_count(); i++) {
        const cnn_backend *be = cnn_backend_at(i);
        if (asked ? !cli_in_list(asked, be->name) : !strcmp(be->name, "naive"))
            continue;
        char why[256];
        if (!cnn_backend_available(be, why, sizeof why)) {
            fprintf(out, "%s: not usable here (%s); the sweep goes on without it\n", be->name, why);
            snprintf(unusable + strlen(unusable), n - strlen(unusable), "%s%s: %s",
                     *unusable ? "; " : "", be->name, why);
            continue;
        }
        bool tile = !strncmp(be->name, "winograd_", 9);
        if (!tile || asked)
            snprintf(models + strlen(models), n - strlen(models), "%s%s", *models ? "," : "",
                     be->name);
        snprintf(layers + strlen(layers), n - strlen(layers), "%s%s", *layers ? "," : "", be->name);
    }
}

typedef struct sweep_args {
    sweep_size size;
    const char *models, *threads, *root;
    char bmodels[512], blayers[512], unusable[1024], peer[16];
    char parts[4200];
} sweep_args;

/* The bench stages of one thread count. */
static void add_bench(sweep_plan *p, const sweep_args *a, const char *threads)
{
    char list[600], m[256], label[160], auto_list[600];
    snprintf(auto_list, sizeof auto_list, "auto,%s", a->bmodels);
    struct {
        const char *model, *batch;
    } layers_q[] = {{"lenet5", "16"}}, layers_d[] = {{"resnet18", "8"}, {"vgg16", "4"}};
    const char *passes = a->size == SWEEP_FULL ? "fwd,fwd_infer,bwd_data,bwd_weight,bwd_bias"
                                               : "fwd,bwd_data,bwd_weight";
    int nl = a->size == SWEEP_QUICK ? 1 : 2;
    for (int i = 0; i < nl; i++) {
        const char *model = a->size == SWEEP_QUICK ? layers_q[i].model : layers_d[i].model;
        const char *batch = a->size == SWEEP_QUICK ? layers_q[i].batch : layers_d[i].batch;
        if (!keep(model, a->models, m, sizeof m))
            continue;
        snprintf(label, sizeof label, "bench %s layers (%s%s)", model,
                 a->size == SWEEP_DEFAULT ? "conv2d" : "every op", threads ? ", threads " : "");
        if (threads)
            snprintf(label + strlen(label) - 1, sizeof label - strlen(label) + 1, "%s)", threads);
        snprintf(list, sizeof list, "%s", a->blayers);
        sweep_add(p, "bench", label, a->size == SWEEP_QUICK ? 1 : 20, "bench", "--model", model,
                  "--ops", a->size == SWEEP_DEFAULT ? "conv2d" : "all", "--passes", passes,
                  "--batch", batch, "--backends", list, "--repetitions",
                  a->size == SWEEP_QUICK ? "2" : "3", "--min-time",
                  a->size == SWEEP_QUICK ? "0.02" : "0.1", "--peer", a->peer, "--results", a->parts,
                  NULL);
        if (threads)
            sweep_more(p, "--threads", threads, NULL);
    }
    /* whole models: the two small ones with naive too, at their own batches */
    char with_naive[640];
    snprintf(with_naive, sizeof with_naive, "%s%s", auto_list,
             cli_in_list(auto_list, "naive") ? "" : ",naive"); /* --backends naive: once */
    if (keep("fashion_cnn,lenet5", a->models, m, sizeof m)) {
        snprintf(label, sizeof label, "bench whole models %.120s", m);
        sweep_add(p, "bench", label, a->size == SWEEP_QUICK ? 2 : 10, "bench", "--models", m,
                  "--backends", with_naive, "--repetitions", a->size == SWEEP_QUICK ? "2" : "3",
                  "--peer", a->peer, "--results", a->parts, NULL);
        if (a->size == SWEEP_QUICK)
            sweep_more(p, "--batch", "16", NULL);
        if (threads)
            sweep_more(p, "--threads", threads, NULL);
    }
    /* the four large ones: default size 112 x 112 to stay within minutes,
     * --full at 224 with naive at batch 1 */
    if (a->size != SWEEP_QUICK &&
        keep("alexnet,vgg16,googlenet,resnet18", a->models, m, sizeof m)) {
        snprintf(label, sizeof label, "bench whole models %.120s%s", m,
                 a->size == SWEEP_FULL ? "" : " at 112x112");
        sweep_add(p, "bench", label, a->size == SWEEP_FULL ? 200 : 40, "bench", "--models", m,
                  "--backends", a->size == SWEEP_FULL ? with_naive : auto_list, "--repetitions",
                  "3", "--image-size", a->size == SWEEP_FULL ? "224" : "112", "--peer", a->peer,
                  "--results", a->parts, NULL);
        if (threads)
            sweep_more(p, "--threads", threads, NULL);
    }
}

static void plan_stages(sweep_plan *p, const sweep_args *a)
{
    char m[256];
    sweep_add(p, "verify", "verify ops on the quick shapes", 4, "verify", "--shapes", "quick",
              "--results", a->parts, NULL);
    if (keep("lenet5,fashion_cnn", a->models, m, sizeof m))
        sweep_add(p, "verify", "verify whole small models", 2, "verify", "--models", m, "--batch",
                  "2", "--results", a->parts, NULL);
    if (a->size != SWEEP_QUICK && keep("alexnet,vgg16,googlenet,resnet18", a->models, m, sizeof m))
        sweep_add(p, "verify", "verify whole large models at 64x64", 12, "verify", "--models", m,
                  "--batch", "1", "--image-size", "64", "--results", a->parts, NULL);
    /* the Winograd error of the benched layers, for the error-against-speed chart */
    char wino[256] = "", item[64];
    for (const char *q = a->blayers; cli_next_item(&q, item, sizeof item);)
        if (!strncmp(item, "winograd", 8))
            snprintf(wino + strlen(wino), sizeof wino - strlen(wino), "%s%s", *wino ? "," : "",
                     item);
    if (a->size != SWEEP_QUICK && *wino && keep("resnet18,vgg16", a->models, m, sizeof m))
        sweep_add(p, "verify", "verify the benched convolutions on Winograd", 3, "verify",
                  "--shapes", m, "--ops", "conv2d", "--backends", wino, "--results", a->parts,
                  NULL);
    if (!a->threads) {
        add_bench(p, a, NULL);
    } else {
        char t[16];
        for (const char *q = a->threads; cli_next_item(&q, t, sizeof t);)
            add_bench(p, a, t);
    }
}

/* The charts, drawn from the finished folder (so they are not titled
 * "incomplete run"): `cnnbench plot DIR` with its output on ours. */
static int plot_folder(const char *dir)
{
    char exe[4096], why[512];
    sweep_self_exe(exe, sizeof exe);
    char *argv[] = {exe, "plot", (char *)dir, NULL};
    printf("plot: drawing the charts of %s\n", dir);
    fflush(stdout);
    pid_t pid = spawn_start(argv, 1, why, sizeof why);
    int rc = pid < 0 ? -1 : spawn_wait(pid, false, SIGINT, 0);
    if (rc != 0)
        printf("plot: %s (exit %d); draw them later with: cnnbench plot %s\n",
               pid < 0 ? why : "failed", rc, dir);
    return rc;
}

int cmd_sweep(int argc, char **argv)
{
    bool quick = false, full = false;
    const char *models = NULL, *backends = NULL, *threads = NULL, *results = "results";
    cli_opt opts[] = {
        {"quick", CLI_FLAG, &quick, NULL, "about a minute: the small models and shapes", false,
         false},
        {"full", CLI_FLAG, &full, NULL, "all six models at their default batches, every pass",
         false, false},
        {"models", CLI_STRING, &models, "LIST", "only these models", false, false},
        {"backends", CLI_STRING, &backends, "LIST",
         "only these backends (default: every one usable here)", false, false},
        {"threads", CLI_STRING, &threads, "LIST",
         "thread counts, each bench in its own process (default: OpenMP's)", false, false},
        {"results", CLI_STRING, &results, "DIR",
         "results root: the sweep writes DIR/<run-id>/ (default results)", false, false},
    };
    cli_cmd cmd = {
        .name = "sweep",
        .summary = "The main job: verify, bench and plot, into one run folder.",
        .details =
            "Stages, each a cnnbench child process whose files are gathered into the run\n"
            "folder (results.csv, verify.csv, breakdown.csv, plan.csv; each stage's own\n"
            "folder and log under parts/):\n"
            "  verify  the ops on the quick shapes; the whole models at a small batch\n"
            "          (the large ones at 64x64);\n"
            "  bench   layers (lenet5's every op with --quick; resnet18's and vgg16's\n"
            "          convolutions by default) and whole models (infer and train_step) on\n"
            "          every backend usable here, auto (a per-layer plan) and PyTorch when\n"
            "          a python with torch is found; the large models at 112x112 by\n"
            "          default, at 224x224 with --full;\n"
            "  plot    the charts, in plots/.\n"
            "It ends with a summary table: per model the fastest configuration, its\n"
            "images/s, its ratio to PyTorch and to oneDNN, and whether the numerics passed.\n"
            "A failing stage (a verify FAIL, a crash) is a line of the output and makes the\n"
            "exit status 1; the sweep goes on with the rest. --quick takes about a minute\n"
            "on 2 cores, the default under 10 minutes, --full much longer. Ctrl-C stops\n"
            "after the stage at hand (which is told to stop too) and marks the run\n"
            "interrupted.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    int rc = cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    if (quick && full)
        return cli_usage_error(&cmd, "--quick and --full: one or the other");
    char item[64], valid[512];
    for (const char *p = models; p && cli_next_item(&p, item, sizeof item);)
        if (!cnn_model_find(item))
            return cli_usage_error(&cmd, "--models: unknown model '%s'; valid models: %s", item,
                                   cnn_model_names(valid, sizeof valid));
    for (const char *p = backends; p && cli_next_item(&p, item, sizeof item);)
        if (!cnn_backend_find(item))
            return cli_usage_error(&cmd, "--backends: unknown backend '%s'; valid backends: %s",
                                   item, cnn_backend_names(valid, sizeof valid));
    int counts[CLI_MAX_THREAD_COUNTS], ncounts;
    if (threads && (rc = cli_parse_thread_list(&cmd, threads, counts, &ncounts)) >= 0)
        return rc;
    /* each stage runs at each count: 0 (the libraries' default) names none */
    if (threads && ncounts == 1 && counts[0] == 0)
        return cli_usage_error(&cmd, "--threads: '0' is not a thread count (1 to %d)",
                               CLI_THREADS_MAX);
    static sweep_args a;
    static sweep_plan plan;
    memset(&a, 0, sizeof a);
    memset(&plan, 0, sizeof plan);
    a.size = quick ? SWEEP_QUICK : full ? SWEEP_FULL : SWEEP_DEFAULT;
    a.models = models;
    a.threads = threads;
    usable_backends(backends, a.bmodels, a.blayers, a.unusable, sizeof a.bmodels, stdout);
    if (!*a.bmodels)
        return cli_usage_error(&cmd, "no backend of --backends is usable here");
    char info[512];
    bool torch = peer_probe(info, sizeof info);
    snprintf(a.peer, sizeof a.peer, "%s", torch ? "pytorch" : "none");
    if (!torch)
        printf("pytorch: not usable here (%s); the sweep goes on without it\n", info);
    run_dir rd;
    cnn_status st = run_dir_init(&rd, "sweep", argc, argv, 1, 0);
    if (st == CNN_OK) {
        report_json *j = run_dir_settings(&rd);
        report_json_str(j, "size", quick ? "quick" : full ? "full" : "default");
        report_json_str(j, "models", models ? models : "all");
        report_json_str(j, "backends", a.bmodels);
        report_json_str(j, "unusable_backends", *a.unusable ? a.unusable : NULL);
        report_json_str(j, "threads_list", threads);
        report_json_str(j, "peer", torch ? "pytorch" : info);
        /* the machine's ceilings for the charts (each bench stage measures
         * its own too, in its parts/ folder) */
        cnn_ceilings machine;
        cnn_ceilings_measure(&machine, 0);
        cnn_ceilings_print(stdout, &machine);
        cnn_ceilings_json(j, &machine);
        st = run_dir_create(&rd, results);
    }
    if (st != CNN_OK)
        return cli_fail("sweep", st);
    snprintf(a.parts, sizeof a.parts, "%s/parts", rd.path);
    plan_stages(&plan, &a);
    int failed = 0, verify_failed = 0;
    st = sweep_execute(&plan, rd.path, stdout, &failed);
    if (st == CNN_OK && !run_dir_stopping())
        st = sweep_summary(rd.path, stdout, &verify_failed);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", rd.path);
    bool stopped = run_dir_stopping();
    rc = run_dir_close(&rd, st, "results.csv, verify.csv, meta.json; parts/");
    if (rc >= 0)
        return rc;
    if (!stopped && plot_folder(dir) != 0)
        failed++;
    if (failed || verify_failed) {
        printf("sweep: %d stage%s failed%s\n", failed, failed == 1 ? "" : "s",
               verify_failed ? ", and verify has FAIL or MISTRUSTED rows" : "");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}
