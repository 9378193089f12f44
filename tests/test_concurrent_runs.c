/* Runs started at the same instant into one --results root never write
 * into each other's folder: two sweeps (`sweep --quick --models lenet5
 * --backends naive --threads 1`), two trainings (fashion_cnn, 256 images,
 * one epoch; left out without the dataset) and two benches (lenet5's
 * sigmoid layers on naive), released together from a pipe, every one
 * with the test-only CNNBENCH_TEST_RUN_SUFFIX=abcdef (harness/run_dir.c)
 * so that all draw the same first run id and must take the exclusive
 * mkdir's retry. Then: each exits 0; one folder per run, each meta.json's
 * run_id its folder's name and command_line that of exactly one of them;
 * within one second only one folder got the fixed suffix; each folder
 * holds its command's files and no other's (a sweep's stages under its
 * own parts/); the root's index.csv parses with the project's CSV reader
 * with one line per run, all complete. (Many processes appending to one
 * index: tests/test_run_index.c.) 77 without Google Benchmark. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csv_read.h"
#include "data_fmnist.h"
#include "json_read.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

#define SUFFIX "abcdef"
#define MAXJOBS 6

static char dir[] = "/tmp/cnn_test_concurrent_runs_XXXXXX";
static char root[600];

typedef struct job {
    const char *kind; /* sweep, train, bench */
    const char *args[24];
    char line[2048]; /* the command line meta.json should hold */
    pid_t pid;
    int rc, found;
} job;

static job jobs[MAXJOBS] = {
    {.kind = "sweep",
     .args = {"--quick", "--models", "lenet5", "--backends", "naive", "--threads", "1"}},
    {.kind = "sweep",
     .args = {"--backends", "naive", "--threads", "1", "--quick", "--models", "lenet5"}},
    {.kind = "bench",
     .args = {"--model", "lenet5", "--ops", "sigmoid", "--backends", "naive", "--threads", "1"}},
    {.kind = "bench",
     .args = {"--ops", "sigmoid", "--model", "lenet5", "--backends", "naive", "--threads", "1"}},
    {.kind = "train",
     .args = {"--model", "fashion_cnn", "--backends", "im2col", "--limit", "256", "--batch", "64",
              "--epochs", "1", "--threads", "1", "--seed", "1"}},
    {.kind = "train",
     .args = {"--model", "fashion_cnn", "--backends", "im2col", "--limit", "256", "--batch", "64",
              "--epochs", "1", "--threads", "1", "--seed", "2"}},
};

/* Fork every job; each waits for the pipe to close, then execs. */
static void start_all(int njobs)
{
    int gate[2];
    if (pipe(gate) != 0)
        return;
    setenv("CNNBENCH_TEST_RUN_SUFFIX", SUFFIX, 1);
    fflush(NULL);
    for (int i = 0; i < njobs; i++) {
        job *j = &jobs[i];
        char *argv[32];
        int n = 0;
        argv[n++] = CNNBENCH_EXE;
        argv[n++] = (char *)j->kind;
        for (int k = 0; j->args[k]; k++)
            argv[n++] = (char *)j->args[k];
        argv[n++] = "--results";
        argv[n++] = root;
        argv[n] = NULL;
        size_t used = 0;
        for (int k = 0; k < n; k++)
            used += (size_t)snprintf(j->line + used, sizeof j->line - used, "%s%s", k ? " " : "",
                                     argv[k]);
        char out[700];
        snprintf(out, sizeof out, "%s/job%d.log", dir, i);
        j->pid = fork();
        if (j->pid == 0) {
            close(gate[1]);
            char c;
            while (read(gate[0], &c, 1) > 0)
                ;
            if (!freopen(out, "w", stdout) || dup2(fileno(stdout), 2) < 0)
                _exit(126);
            execv(CNNBENCH_EXE, argv);
            _exit(127);
        }
    }
    close(gate[0]);
    close(gate[1]); /* all go */
    unsetenv("CNNBENCH_TEST_RUN_SUFFIX");
}

static bool has(const char *folder, const char *name)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", folder, name);
    return tu_exists(p);
}

/* A folder holds its own command's files only. */
static void check_files(const char *folder, const char *kind)
{
    bool sweep = !strcmp(kind, "sweep"), train = !strcmp(kind, "train"),
         bench = !strcmp(kind, "bench");
    TU_CHECK(has(folder, "parts") == sweep && has(folder, "verify.csv") == sweep &&
                 has(folder, "train.csv") == train && has(folder, "checkpoints") == train &&
                 has(folder, "results.csv") == (sweep || bench),
             "%s (a %s run) holds another command's files", folder, kind);
    if (!sweep)
        return;
    /* its stages: four folders under its own parts/, all complete */
    char parts[1100], ix[1200];
    snprintf(parts, sizeof parts, "%s/parts", folder);
    snprintf(ix, sizeof ix, "%s/index.csv", parts);
    csv_table *t = NULL;
    TU_EXPECT_OK(csv_read(ix, &t));
    int complete = 0;
    for (int r = 0; t && r < t->nrows; r++) {
        complete += !strcmp(csv_cell(t, r, csv_col(t, "status")), "complete");
        const char *line = csv_cell(t, r, csv_col(t, "command_line"));
        TU_CHECK(strstr(line, parts), "%s's stage ran elsewhere: %s", folder, line);
    }
    TU_CHECK(t && t->nrows == 4 && complete == 4, "%s: %d stages, %d complete (want 4)", folder,
             t ? t->nrows : -1, complete);
    csv_free(t);
}

int main(void)
{
#ifndef CNN_HAVE_BENCHMARK
    printf("test_concurrent_runs: skipped: no Google Benchmark in the build\n");
    return 77;
#endif
    if (!mkdtemp(dir))
        return 2;
    snprintf(root, sizeof root, "%s/results", dir);
    char found[4096];
    int njobs = cnn_fmnist_find(NULL, CNN_FMNIST_TRAIN, found, sizeof found) == CNN_OK ? 6 : 4;
    if (njobs < 6)
        printf("no dataset: the two trainings are left out\n");
    start_all(njobs);
    for (int i = 0; i < njobs; i++) {
        jobs[i].rc = tu_wait_process(jobs[i].pid);
        char log[700], text[4096];
        snprintf(log, sizeof log, "%s/job%d.log", dir, i);
        tu_slurp(log, text, sizeof text);
        TU_CHECK(jobs[i].rc == 0, "%s: exit %d\n%s", jobs[i].line, jobs[i].rc, text);
    }
    char names[16][256];
    int n = tu_list_runs(root, names, 16), with_suffix = 0;
    TU_CHECK(n == njobs, "%d runs at once made %d run folders", njobs, n);
    for (int i = 0; i < n && i < 16; i++) {
        char folder[900], path[1000];
        snprintf(folder, sizeof folder, "%.600s/%.256s", root, names[i]);
        snprintf(path, sizeof path, "%s/meta.json", folder);
        json_doc *m = NULL;
        TU_EXPECT_OK(json_read(path, &m));
        if (!m)
            continue;
        const char *line = json_str(m, "command_line", "");
        int who = -1;
        for (int k = 0; k < njobs; k++)
            if (!strcmp(line, jobs[k].line))
                who = k;
        TU_CHECK(who >= 0, "%s: command_line '%s' is none of the runs'", folder, line);
        TU_CHECK(!strcmp(json_str(m, "run_id", ""), names[i]) && json_true(m, "complete"),
                 "%s: run_id %s, complete %s", folder, json_str(m, "run_id", ""),
                 json_str(m, "complete", ""));
        if (who >= 0) {
            jobs[who].found++;
            check_files(folder, jobs[who].kind);
        }
        json_free(m);
        size_t len = strlen(names[i]);
        bool fixed = len > 6 && !strcmp(names[i] + len - 6, SUFFIX);
        with_suffix += fixed;
        /* one id per second: no two folders of one second have the suffix */
        for (int k = 0; fixed && k < i; k++) {
            size_t lk = strlen(names[k]);
            TU_CHECK(lk != len || strncmp(names[k], names[i], len - 6) != 0 ||
                         strcmp(names[k] + lk - 6, SUFFIX) != 0,
                     "two runs share the id %s", names[i]);
        }
    }
    for (int k = 0; k < njobs; k++)
        TU_CHECK(jobs[k].found == 1, "%s: %d folders", jobs[k].line, jobs[k].found);
    printf("%d runs at once: %d took the fixed id, %d drew again\n", njobs, with_suffix,
           n - with_suffix);
    /* at least the first mkdir of each second took it (runs that reach
     * their mkdir in different seconds do not collide) */
    TU_CHECK(with_suffix >= 1, "%d of %d folders have the fixed suffix", with_suffix, n);
    char ix[800];
    snprintf(ix, sizeof ix, "%s/index.csv", root);
    csv_table *t = NULL;
    TU_EXPECT_OK(csv_read(ix, &t));
    int matched = 0;
    for (int r = 0; t && r < t->nrows; r++)
        for (int i = 0; i < n && i < 16; i++)
            matched += !strcmp(csv_cell(t, r, csv_col(t, "run_id")), names[i]) &&
                       !strcmp(csv_cell(t, r, csv_col(t, "status")), "complete");
    TU_CHECK(t && t->nrows == njobs && matched == njobs,
             "index.csv: %d lines, %d of them a folder's, complete (want %d)", t ? t->nrows : -1,
             matched, njobs);
    csv_free(t);
    int rc = tu_finish("test_concurrent_runs");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (rc == 0 && !getenv("KEEP") && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return rc;
}
