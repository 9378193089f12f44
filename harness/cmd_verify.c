/* cnnbench verify: every backend x operation x pass over a shape sweep,
 * against the naive reference; or, with --models, whole models. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "registry.h"
#include "report.h"
#include "run_dir.h"
#include "verify.h"
#include "verify_models.h"
#include "verify_run.h"

/* Check every item of a comma-separated list against `valid`. */
static int check_list(const cli_cmd *cmd, const char *opt, const char *list, const char *valid)
{
    char item[128];
    for (const char *p = list; cli_next_item(&p, item, sizeof item);) {
        int rc = cli_check_choice(cmd, opt, item, valid);
        if (rc >= 0)
            return rc;
    }
    return -1;
}

/* The backends of --backends (by default every one but the reference
 * itself), in the registry's order. */
static int select_backends(const cli_cmd *cmd, const char *list, verify_run *run)
{
    const cnn_backend *asked[VERIFY_MAX_BACKENDS];
    int n = 0;
    if (list && cnn_backend_list_parse(list, NULL, VERIFY_MAX_BACKENDS, asked, &n) != CNN_OK)
        return cli_usage_error(cmd, "--backends: %s", cnn_last_error());
    for (int i = 0; i < cnn_backend_count(); i++) {
        const cnn_backend *be = cnn_backend_at(i);
        bool want = !list && strcmp(be->name, "naive") != 0;
        for (int k = 0; k < n; k++)
            want |= asked[k] == be;
        if (want && run->nbackends < VERIFY_MAX_BACKENDS)
            run->backends[run->nbackends++] = be;
    }
    return -1;
}

int cmd_verify(int argc, char **argv)
{
    const char *backends = NULL, *ops = NULL, *shapes = "all", *models = NULL, *passes = NULL;
    const char *results = "results";
    uint64_t seed = 1;
    int threads = 0, batch = 2, image_size = 0;
    bool no_fuse = false;
    cli_opt opts[] = {
        {"backends", CLI_STRING, &backends, "LIST", "backends to check (default: all but naive)",
         false, false},
        {"ops", CLI_STRING, &ops, "LIST", "operations to check (default: all): " CLI_OP_NAMES,
         false, false},
        {"shapes", CLI_STRING, &shapes, "LIST",
         "edge, quick, models, all or a model's layers (vgg16), comma-separated (default all)",
         false, false},
        {"passes", CLI_STRING, &passes, "LIST",
         "passes to check: fwd, fwd_infer, bwd_data, bwd_weight, bwd_bias (default all)", false,
         false},
        {"models", CLI_STRING_OPT, &models, "[LIST]",
         "check whole models instead of single ops (default list: all six)", false, false},
        {"batch", CLI_INT, &batch, "N", "batch size for --models (default 2)", false, false},
        {"image-size", CLI_INT, &image_size, "N",
         "with --models: N x N input for the ImageNet-sized models (default 224)", false, false},
        {"seed", CLI_U64, &seed, "S", "seed of the random inputs (default 1)", false, false},
        CLI_NO_FUSE_OPT(&no_fuse),
        {"threads", CLI_INT, &threads, "N", "CPU threads (default: OpenMP's)", false, false},
        {"results", CLI_STRING, &results, "DIR",
         "results root: the run writes DIR/<run-id>/ (default results)", false, false},
    };
    cli_cmd cmd = {
        .name = "verify",
        /* the old spellings keep working */
        .aliases =
            (const cli_alias[]){{"backend", "backends"}, {"out-dir", "results"}, {NULL, NULL}},
        .summary = "Check every backend, operation and pass against the naive (double-"
                   "accumulating) reference.",
        .details = "Each row compares one output tensor with the reference: relative L2 error,\n"
                   "max abs error, the tolerance for that algorithm and pass, and PASS, FAIL,\n"
                   "MISTRUSTED (within tolerance, but more than 30% of the elements exactly 0\n"
                   "where the reference's are not) or SKIPPED (the backend does not implement\n"
                   "it). Outputs are filled with NaN before each run, so an element a backend\n"
                   "does not write fails.\n"
                   "Exit status 1 if any row FAILs or is MISTRUSTED. Large model shapes on the\n"
                   "naive reference take minutes; a progress line per case goes to stderr.\n"
                   "Writes DIR/<run-id>/verify.csv, a row as each is produced, and meta.json\n"
                   "(command line, seed, threads, commit, machine; complete or not). Ctrl-C\n"
                   "stops after the case at hand and marks the run interrupted.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    int rc = cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    /* An option of the other mode is an error, never silently ignored. */
    static const char *const op_only[] = {"ops", "shapes", "passes"};
    static const char *const model_only[] = {"batch", "image-size", "no-fuse"};
    for (int i = 0; i < 3; i++)
        if (models && cli_seen(&cmd, op_only[i]))
            return cli_usage_error(&cmd,
                                   "--%s applies to the op sweep, not to --models (which checks "
                                   "every layer and pass of whole models)",
                                   op_only[i]);
    for (int i = 0; i < 3; i++)
        if (!models && cli_seen(&cmd, model_only[i]))
            return cli_usage_error(&cmd,
                                   "--%s applies to --models only (the op sweep's shapes come "
                                   "from --shapes)",
                                   model_only[i]);
    if (ops && (rc = check_list(&cmd, "ops", ops, CLI_OP_NAMES)) >= 0)
        return rc;
    bool want_pass[CNN_PASS_COUNT];
    if (passes && (rc = cli_parse_passes(&cmd, passes, want_pass)) >= 0)
        return rc;
    if ((rc = verify_shapes_check(&cmd, shapes)) >= 0)
        return rc;
    if (batch < 1)
        return cli_usage_error(&cmd, "--batch must be >= 1, got %d", batch);
    if (image_size < 0 || (image_size > 0 && image_size < 32))
        return cli_usage_error(&cmd, "--image-size must be at least 32 (five 2x poolings), got %d",
                               image_size);

    verify_run run = {
        .seed = seed, .threads = cli_set_threads(threads), .no_fuse = no_fuse, .ops = ops};
    for (int p = 0; passes && p < CNN_PASS_COUNT; p++)
        run.skip_pass[p] = !want_pass[p];
    if ((rc = select_backends(&cmd, backends, &run)) >= 0)
        return rc;
    if (models && (rc = verify_models_check_names(&cmd, models)) >= 0)
        return rc;

    run_dir rd;
    cnn_status st = run_dir_init(&rd, "verify", argc, argv, seed, run.threads);
    if (st != CNN_OK)
        return cli_fail("verify", st);
    report_json *set = run_dir_settings(&rd);
    report_json_str(set, "mode", models ? "models" : "ops");
    if (models) {
        report_json_str(set, "models", models);
        report_json_raw(set, "batch", "%d", batch);
        report_json_raw(set, "image_size", "%d", image_size);
    } else {
        report_json_str(set, "shapes", shapes);
        report_json_str(set, "ops", ops ? ops : "all");
        report_json_str(set, "passes", passes ? passes : "all");
    }
    char names[512] = "";
    for (int b = 0; b < run.nbackends; b++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", b ? "," : "",
                 run.backends[b]->name);
    report_json_str(set, "backends", names);
    if ((st = run_dir_create(&rd, results)) != CNN_OK)
        return cli_fail("verify", st);
    char csv_path[4200];
    snprintf(csv_path, sizeof csv_path, "%s/verify.csv", rd.path);
    st = verify_run_open(&run, csv_path);
    if (st == CNN_OK)
        st = models ? verify_models_run(&run, models, batch, image_size)
                    : verify_run_ops(&run, shapes);
    bool ok = st == CNN_OK;
    verify_run_summary(&run, stdout);
    cnn_status cst = verify_run_close(&run, ok);
    if (ok && cst != CNN_OK)
        st = cst;
    if ((rc = run_dir_close(&rd, st, "verify.csv, meta.json")) >= 0)
        return rc;
    if (run.failed)
        return CLI_EXIT_FAIL;
    /* a backend asked for by name that could not run is not a pass */
    for (int b = 0; backends && b < run.nbackends; b++)
        if (!run.ctx[b]) {
            fprintf(stderr, "cnnbench verify: %s was not checked: %s\n", run.backends[b]->name,
                    run.why[b]);
            return CLI_EXIT_UNSUPPORTED;
        }
    return CLI_EXIT_OK;
}
