/* cnnbench compare RUN_A RUN_B: B's times against A's, row by row, after
 * what differs between the two machines and builds (compare.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "compare.h"
#include "report.h"

static int refuse(const char *what)
{
    fprintf(stderr, "cnnbench compare: %s\n", what);
    return CLI_EXIT_FAIL;
}

int cmd_compare(int argc, char **argv)
{
    const char *out_dir = NULL, *runs[2] = {NULL, NULL};
    double threshold = COMPARE_FLOOR_PCT;
    bool fail_on_regression = false;
    cli_opt opts[] = {
        {"threshold", CLI_DOUBLE, &threshold, "PCT",
         "the floor of the threshold, in percent (default 5)", false, false},
        {"fail-on-regression", CLI_FLAG, &fail_on_regression, NULL,
         "exit 1 when a row got slower beyond its threshold, or is no longer timed", false, false},
        {"out", CLI_STRING, &out_dir, "DIR", "also write DIR/compare.csv (DIR is made)", false,
         false},
    };
    cli_cmd cmd = {
        .name = "compare",
        .summary = "cnnbench compare RUN_A RUN_B: the times of bench run B against run A's.",
        .details = "RUN_A and RUN_B are run folders (results/<run-id>/) of `cnnbench bench`; a\n"
                   "folder whose meta.json is missing or unreadable, or says the run did not\n"
                   "finish (complete false: running, interrupted, failed), is refused (exit 1).\n"
                   "First what differs between the two runs: the machine (cpu, cpu_isa, cores,\n"
                   "memory, os), each library's version, the build, the commit and whether it\n"
                   "was dirty, threads, and ceilings that differ by more than 10%. Then one row\n"
                   "per case in both results.csv (same backend, model, layer, op, pass, batch,\n"
                   "threads, image_size, cache): A's and B's median, B/A, the speed-up A/B, each\n"
                   "run's spread and the threshold, and a flag: SLOWER when B/A > 1 + threshold,\n"
                   "FASTER when A/B > 1 + threshold, LOST when A timed the case and B did not\n"
                   "(B's status), NEW the other way round. Rows of one run only are listed apart.\n"
                   "\n"
                   "spread: the relative median absolute deviation of the row's repetitions\n"
                   "(reps_ms): median(|t_i - median|) / median; none on TOTAL rows, which\n"
                   "have no repetitions. threshold: the larger of --threshold (5%) and 3 x the\n"
                   "larger of the two rows' spreads, so a change the runs' own noise could make\n"
                   "is not flagged.\n"
                   "\n"
                   "Exit status: 0; 1 with --fail-on-regression when a row is SLOWER or LOST, or\n"
                   "when a run is refused or a file is broken (the error names file and line);\n"
                   "2 bad usage.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
        .positional = runs,
        .max_positional = 2,
    };
    int rc = cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    if (cmd.npositional != 2)
        return cli_usage_error(&cmd, "need two run folders, RUN_A and RUN_B (got %d)",
                               cmd.npositional);
    if (!(threshold >= 0) || threshold > 1e6)
        return cli_usage_error(&cmd, "--threshold must be a percentage >= 0, got %g", threshold);

    compare_run a, b;
    if (compare_run_load(&a, "RUN_A", runs[0]) != CNN_OK)
        return refuse(cnn_last_error());
    if (compare_run_load(&b, "RUN_B", runs[1]) != CNN_OK) {
        compare_run_free(&a);
        return refuse(cnn_last_error());
    }
    compare_table t;
    cnn_status st = compare_rows(&a, &b, threshold, &t);
    if (st != CNN_OK) {
        compare_run_free(&a);
        compare_run_free(&b);
        return refuse(cnn_last_error());
    }
    printf("A: %s (%s, started %s)\nB: %s (%s, started %s)\n\n", runs[0],
           json_str(a.meta, "run_id", "?"), json_str(a.meta, "started", "?"), runs[1],
           json_str(b.meta, "run_id", "?"), json_str(b.meta, "started", "?"));
    compare_meta_print(stdout, &a, &b);
    printf("\nB against A: B/A = B's median / A's (> 1: B slower); threshold = max(%g%%, %g x "
           "spread)\n",
           threshold, COMPARE_SPREAD_FACTOR);
    compare_print(stdout, &a, &b, &t);
    int compared = t.n - t.count[CMP_ONLY_A] - t.count[CMP_ONLY_B];
    printf("\n%d rows in both: %d slower, %d faster beyond the threshold, %d no longer timed "
           "(LOST), %d newly timed; %d only in A, %d only in B\n",
           compared, t.count[CMP_SLOWER], t.count[CMP_FASTER], t.count[CMP_LOST], t.count[CMP_NEW],
           t.count[CMP_ONLY_A], t.count[CMP_ONLY_B]);
    rc = CLI_EXIT_OK;
    if (out_dir) {
        char path[4200];
        snprintf(path, sizeof path, "%s/compare.csv", out_dir);
        st = report_mkdirs(out_dir);
        if (st == CNN_OK)
            st = compare_write_csv(path, &a, &b, &t);
        if (st != CNN_OK)
            rc = refuse(cnn_last_error());
        else
            printf("comparison: %s\n", path);
    }
    bool regressed = t.count[CMP_SLOWER] + t.count[CMP_LOST] > 0;
    if (fail_on_regression && regressed && rc == CLI_EXIT_OK) {
        fprintf(stderr,
                "cnnbench compare: %d rows slower beyond the threshold, %d no longer "
                "timed (--fail-on-regression)\n",
                t.count[CMP_SLOWER], t.count[CMP_LOST]);
        rc = CLI_EXIT_FAIL;
    }
    compare_table_free(&t);
    compare_run_free(&a);
    compare_run_free(&b);
    return rc;
}
