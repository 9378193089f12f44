/* `cnnbench sweep --quick --models lenet5` stopped by SIGINT never leaves
 * a folder that looks complete:
 *   - SIGINT to the sweep alone, a seeded random moment (CNN_FAULTS_SEED)
 *     into its first stage (verify ops): the sweep stops the child with
 *     SIGINT and exits 130;
 *   - SIGINT to the whole process group once the third stage (bench
 *     layers) has started, as Ctrl-C in a terminal sends it: the child
 *     gets it twice (from the terminal and from the sweep).
 * Each time: meta.json says complete false, status interrupted; the runs
 * index has its line as interrupted; no plots/; in parts/ the stages that
 * ended before the signal are complete and the one it cut (the signal
 * comes once its folder exists) is not, and no later stage ran; `cnnbench compare` refuses the
 * sweep and the cut stage's folder (exit 1, "the run did not finish").
 * 77 without Google Benchmark (no bench stage to run). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "csv_read.h"
#include "json_read.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

static char dir[] = "/tmp/cnn_test_faults_sweep_XXXXXX";
static char out_text[1 << 17], err_text[1 << 16];

/* The sweep into DIR/root, in a process group of its own, output in
 * DIR/root.out and DIR/root.err. */
static pid_t start(const char *root)
{
    char results[600], out[600], err[600];
    snprintf(results, sizeof results, "%s/%s", dir, root);
    snprintf(out, sizeof out, "%s/%s.out", dir, root);
    snprintf(err, sizeof err, "%s/%s.err", dir, root);
    char *argv[] = {CNNBENCH_EXE, "sweep",     "--quick", "--models",
                    "lenet5",     "--results", results,   NULL};
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
            _exit(126);
        execv(CNNBENCH_EXE, argv);
        _exit(127);
    }
    if (pid > 0)
        setpgid(pid, pid); /* either side may run first */
    return pid;
}

/* The sweep's folder under DIR/root (the one entry but index.csv). */
static bool sweep_folder(const char *root, char *path, size_t n)
{
    char r[600], names[4][256];
    snprintf(r, sizeof r, "%s/%s", dir, root);
    if (tu_list_runs(r, names, 4) != 1)
        return false;
    snprintf(path, n, "%.400s/%.256s", r, names[0]);
    return true;
}

static int compare(const char *a, const char *b)
{
    char *argv[] = {CNNBENCH_EXE, "compare", (char *)a, (char *)b, NULL};
    return tu_run_process(CNNBENCH_EXE, argv, dir, out_text, sizeof out_text, err_text,
                          sizeof err_text);
}

static void expect_refused(const char *what, const char *run)
{
    int rc = compare(run, run);
    char want[1200];
    snprintf(want, sizeof want,
             "RUN_A %s: the run did not finish (status interrupted): its numbers cover part of "
             "the work; compare refuses it",
             run);
    TU_CHECK(rc == CLI_EXIT_FAIL && strstr(err_text, want), "compare %s: exit %d\n%s", what, rc,
             err_text);
}

/* `stage` (1-based) was running when the signal came. */
static void check_stopped(const char *root, int stage)
{
    char run[700], path[1200], log[600];
    snprintf(log, sizeof log, "%s/%s.out", dir, root);
    tu_slurp(log, out_text, sizeof out_text);
    if (!sweep_folder(root, run, sizeof run)) {
        TU_CHECK(false, "%s: no sweep folder", root);
        return;
    }
    char said[900];
    snprintf(said, sizeof said,
             "run folder: %s (results.csv, verify.csv, meta.json; parts/): "
             "interrupted\n",
             run);
    TU_CHECK(strstr(out_text, said), "%s: stdout lacks '%s':\n%s", root, said, out_text);
    json_doc *meta = NULL;
    snprintf(path, sizeof path, "%s/meta.json", run);
    TU_EXPECT_OK(json_read(path, &meta));
    TU_CHECK(meta && !json_true(meta, "complete") &&
                 !strcmp(json_str(meta, "status", ""), "interrupted"),
             "%s: meta.json complete %s status %s", root,
             meta ? json_str(meta, "complete", "?") : "?",
             meta ? json_str(meta, "status", "?") : "?");
    json_free(meta);
    snprintf(path, sizeof path, "%s/plots", run);
    TU_CHECK(!tu_exists(path), "%s: an interrupted sweep drew %s", root, path);
    /* the runs index: the sweep's line, interrupted */
    csv_table *ix = NULL;
    snprintf(path, sizeof path, "%s/%s/index.csv", dir, root);
    TU_EXPECT_OK(csv_read(path, &ix));
    TU_CHECK(ix && ix->nrows == 1 && !strcmp(csv_cell(ix, 0, csv_col(ix, "status")), "interrupted"),
             "%s: index.csv: %d rows, status %s", root, ix ? ix->nrows : -1,
             ix && ix->nrows ? csv_cell(ix, 0, csv_col(ix, "status")) : "");
    csv_free(ix);
    /* parts/: the stages before `stage` complete, the cut one not */
    char parts[800], names[32][256], cut[1200] = "";
    snprintf(parts, sizeof parts, "%s/parts", run);
    int k = tu_list_runs(parts, names, 32), complete = 0, incomplete = 0, logs = 0;
    for (int i = 0; i < k && i < 32; i++) {
        size_t len = strlen(names[i]);
        if (len > 4 && !strcmp(names[i] + len - 4, ".log")) {
            logs++;
            continue;
        }
        snprintf(path, sizeof path, "%s/%s/meta.json", parts, names[i]);
        json_doc *m = NULL;
        bool done = json_read(path, &m) == CNN_OK && json_true(m, "complete") &&
                    !strcmp(json_str(m, "status", ""), "complete");
        complete += done;
        if (!done) {
            incomplete++;
            snprintf(cut, sizeof cut, "%s/%s", parts, names[i]);
        }
        json_free(m);
    }
    /* the cut stage may also have finished its last case when the stop
     * came (it stops after the case at hand): then it is complete, and no
     * later stage started */
    const bool ended = complete == stage && incomplete == 0;
    /* or stopped before it made its folder (incomplete 0, complete stage - 1) */
    TU_CHECK(logs == stage && ((complete == stage - 1 && incomplete <= 1) || ended),
             "%s: cut in stage %d: %d logs, %d complete and %d incomplete stage folders", root,
             stage, logs, complete, incomplete);
    expect_refused("the sweep", run);
    if (*cut)
        expect_refused("the cut stage", cut);
}

/* The stages' run folders in the sweep's parts/ so far. */
static int part_folders(const char *root)
{
    char run[700], parts[800], names[32][256];
    if (!sweep_folder(root, run, sizeof run))
        return 0;
    snprintf(parts, sizeof parts, "%s/parts", run);
    int k = tu_list_runs(parts, names, 32), n = 0;
    for (int i = 0; i < k && i < 32; i++)
        n += strstr(names[i], ".log") == NULL;
    return n;
}

/* The number of the last stage that started ("[N/4] ..." on stdout). */
static int stage_started(const char *root)
{
    char log[600];
    snprintf(log, sizeof log, "%s/%s.out", dir, root);
    tu_slurp(log, out_text, sizeof out_text);
    int n = 0;
    for (const char *p = out_text; (p = strchr(p, '[')); p++) {
        int k, of;
        if (sscanf(p, "[%d/%d] ", &k, &of) == 2 && k > n && (p == out_text || p[-1] == '\n'))
            n = k;
    }
    return n;
}

int main(void)
{
#ifndef CNN_HAVE_BENCHMARK
    printf("test_faults_sweep: skipped: no Google Benchmark in the build\n");
    return 77;
#endif
    if (!mkdtemp(dir))
        return 2;
    uint64_t seed =
        getenv("CNN_FAULTS_SEED") ? strtoull(getenv("CNN_FAULTS_SEED"), NULL, 10) : 20261201;
    /* 1: SIGINT to the sweep alone, inside the first stage */
    pid_t pid = start("first");
    for (int i = 0; i < 6000 && part_folders("first") < 1; i++)
        tu_sleep_ms(10);
    /* a random moment early in the run: stage 1 on a loaded machine, maybe
     * stage 2 on a quiet one (stage 1 takes well under a second there);
     * whichever stage runs is the one that must be cut */
    long at = 20 + (long)(tu_next(&seed) % 400);
    tu_sleep_ms(at);
    kill(pid, SIGINT);
    int rc = tu_wait_process(pid);
    int stage = stage_started("first"); /* the last one started: the one cut */
    printf("SIGINT to the sweep %ld ms into stage 1 (stage %d running): exit %d\n", at, stage, rc);
    TU_CHECK(rc == 130 && stage >= 1 && stage < 4, "SIGINT early: exit %d, stage %d", rc, stage);
    if (rc == 130 && stage >= 1 && stage < 4)
        check_stopped("first", stage);

    /* 2: SIGINT to the process group (Ctrl-C) once stage 3 runs */
    pid = start("third");
    for (int i = 0; i < 30000 && part_folders("third") < 3; i++)
        tu_sleep_ms(10);
    tu_sleep_ms(200);
    stage = stage_started("third");
    kill(-pid, SIGINT);
    rc = tu_wait_process(pid);
    printf("SIGINT to the group in stage %d: exit %d\n", stage, rc);
    TU_CHECK(rc == 130 && stage == 3, "Ctrl-C in stage 3: exit %d, stage %d", rc, stage);
    if (rc == 130 && stage == 3)
        check_stopped("third", 3);

    rc = tu_finish("test_faults_sweep");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (rc == 0 && !getenv("KEEP") && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return rc;
}
