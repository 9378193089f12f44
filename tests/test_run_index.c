/* The index of runs (harness/run_index.c) and `cnnbench runs`: two runs
 * ending give two lines (fields with commas, quotes and newlines read back
 * whole), `runs` lists both oldest first, marks a run whose folder is gone,
 * reports a damaged line by its number and still lists the rest; 8
 * processes appending 50 lines each at once leave a valid CSV of 400 lines
 * under one header. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "csv_read.h"
#include "run_dir.h"
#include "run_index.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

static char dir[] = "/tmp/cnn_test_run_index_XXXXXX";
static char out_text[1 << 16], err_text[1 << 16];

static int runs(const char *root)
{
    char *argv[] = {CNNBENCH_EXE, "runs", "--results", (char *)root, NULL};
    return tu_run_process(CNNBENCH_EXE, argv, dir, out_text, sizeof out_text, err_text,
                          sizeof err_text);
}

/* A run of `command` under root that ends as `how`; its id into id. */
static void one_run(const char *root, const char *command, int argc, char **argv, run_end how,
                    char id[128])
{
    run_dir rd;
    TU_EXPECT_OK(run_dir_init(&rd, command, argc, argv, 1, 1));
    TU_EXPECT_OK(run_dir_create(&rd, root));
    TU_EXPECT_OK(run_dir_finish(&rd, how, how == RUN_FAILED ? "it broke" : NULL));
    snprintf(id, 128, "%s", rd.id);
}

/* The line of `runs` output that names id ("" if none). */
static const char *line_of(const char *id, char *line, size_t n)
{
    const char *at = strstr(out_text, id);
    const char *end = at ? strchr(at, '\n') : NULL;
    snprintf(line, n, "%.*s", at ? (int)((end ? end : at + strlen(at)) - at) : 0, at ? at : "");
    return line;
}

static void test_two_runs(void)
{
    char root[512], a[128], b[128], path[1024], line[4096];
    snprintf(root, sizeof root, "%s/two", dir);
    char *args[] = {"--shapes", "a,b", "say \"hi\"", "two\nlines"};
    one_run(root, "verify", 4, args, RUN_COMPLETE, a);
    one_run(root, "bench", 0, NULL, RUN_INTERRUPTED, b);
    snprintf(path, sizeof path, "%s/" RUN_INDEX_FILE, root);
    csv_table *t = NULL;
    TU_EXPECT_OK(csv_read(path, &t));
    TU_CHECK(t && t->nrows == 2 && t->ncols == RUN_INDEX_COLS, "two runs: %d lines in the index",
             t ? t->nrows : -1);
    if (t && t->nrows == 2) {
        const char *cl = csv_cell(t, 0, csv_col(t, "command_line"));
        TU_CHECK(!strcmp(csv_cell(t, 0, 0), a) && !strcmp(csv_cell(t, 1, 0), b) &&
                     !strcmp(csv_cell(t, 0, csv_col(t, "status")), "complete") &&
                     !strcmp(csv_cell(t, 1, csv_col(t, "status")), "interrupted") &&
                     !strcmp(csv_cell(t, 1, csv_col(t, "command")), "bench"),
                 "two runs: the index's lines are not theirs");
        TU_CHECK(strstr(cl, " verify --shapes a,b 'say \"hi\"' 'two lines'") && !strchr(cl, '\n'),
                 "the command line read back: %s", cl);
        TU_CHECK(strlen(csv_cell(t, 0, csv_col(t, "started"))) == 20 &&
                     *csv_cell(t, 0, csv_col(t, "commit")) &&
                     strstr(",true,false,unknown,", csv_cell(t, 0, csv_col(t, "dirty"))) &&
                     *csv_cell(t, 0, csv_col(t, "dirty")),
                 "started, commit, dirty: %s, %s, %s", csv_cell(t, 0, 1), csv_cell(t, 0, 6),
                 csv_cell(t, 0, 7));
    }
    csv_free(t);

    int rc = runs(root);
    const char *pa = strstr(out_text, a), *pb = strstr(out_text, b);
    TU_CHECK(rc == 0 && pa && pb && pa < pb && strstr(out_text, "2 runs in"),
             "runs: exit %d, not both runs oldest first:\n%s%s", rc, out_text, err_text);
    TU_CHECK(strstr(line_of(b, line, sizeof line), "interrupted") && strstr(line, " here "),
             "runs: the interrupted run's line: %s", line);

    /* its folder gone: marked */
    snprintf(path, sizeof path, "%s/%s/meta.json", root, b);
    unlink(path);
    snprintf(path, sizeof path, "%s/%s", root, b);
    rmdir(path);
    rc = runs(root);
    TU_CHECK(rc == 0 && strstr(line_of(b, line, sizeof line), " GONE ") &&
                 strstr(line_of(a, line, sizeof line), " here ") &&
                 strstr(out_text, "1 with their folder GONE"),
             "runs: a folder gone is not marked:\n%s", out_text);

    /* a damaged line 4 (a cut quote), then a good line 5: reported, skipped, the rest listed */
    snprintf(path, sizeof path, "%s/" RUN_INDEX_FILE, root);
    FILE *f = fopen(path, "a");
    TU_CHECK(f && fputs("vm-x,2026-01-01T00:00:00Z,\"bench --cut\n", f) >= 0 && fclose(f) == 0,
             "cannot damage %s", path);
    char c[128];
    one_run(root, "verify", 0, NULL, RUN_FAILED, c);
    rc = runs(root);
    snprintf(path, sizeof path, "%s/" RUN_INDEX_FILE ":4: ", root);
    TU_CHECK(rc == 0 && strstr(err_text, path) && strstr(err_text, "line skipped") &&
                 strstr(out_text, a) && strstr(out_text, c) && !strstr(out_text, "vm-x") &&
                 strstr(out_text, "3 runs in") && strstr(out_text, "1 damaged lines skipped"),
             "runs with a damaged line 4: exit %d\n%s%s", rc, out_text, err_text);
    TU_CHECK(strstr(line_of(c, line, sizeof line), "failed"), "runs: the failed run: %s", line);
}

static void test_concurrent_appends(void)
{
    enum { PROCS = 8, LINES = 50 };
    char root[512], path[1024];
    snprintf(root, sizeof root, "%s/many", dir);
    mkdir(root, 0777);
    /* a long field with commas and quotes, so that a line is several kB */
    static char big[6000];
    for (size_t i = 0; i + 1 < sizeof big; i++)
        big[i] = "ab,c\"d "[i % 7];
    fflush(NULL);
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        if (pids[p] == 0) {
            int bad = 0;
            for (int i = 0; i < LINES; i++) {
                char id[64], num[16];
                snprintf(id, sizeof id, "p%d-%d", p, i);
                snprintf(num, sizeof num, "%d", i);
                const char *fields[RUN_INDEX_COLS] = {
                    id,        "2026-01-01T00:00:00Z", "bench", big,
                    "host",    "cpu, with a comma",    num,     "false",
                    "complete"};
                bad += run_index_append(root, fields) != CNN_OK;
            }
            _exit(bad ? 1 : 0);
        }
    }
    int failed = 0;
    for (int p = 0; p < PROCS; p++) {
        int ws = 0;
        failed += pids[p] < 0 || waitpid(pids[p], &ws, 0) != pids[p] || !WIFEXITED(ws) ||
                  WEXITSTATUS(ws) != 0;
    }
    TU_CHECK(failed == 0, "%d appending processes failed", failed);
    snprintf(path, sizeof path, "%s/" RUN_INDEX_FILE, root);
    csv_table *t = NULL;
    TU_EXPECT_OK(csv_read(path, &t));
    TU_CHECK(t && t->nrows == PROCS * LINES, "%d lines after %d appends", t ? t->nrows : -1,
             PROCS * LINES);
    static bool seen[PROCS][LINES];
    int wrong = 0;
    for (int r = 0; t && r < t->nrows; r++) {
        int p = -1, i = -1;
        bool ok = sscanf(csv_cell(t, r, 0), "p%d-%d", &p, &i) == 2 && p >= 0 && p < PROCS &&
                  i >= 0 && i < LINES && !seen[p][i] && !strcmp(csv_cell(t, r, 3), big) &&
                  !strcmp(csv_cell(t, r, 5), "cpu, with a comma") &&
                  !strcmp(csv_cell(t, r, 8), "complete");
        if (ok)
            seen[p][i] = true;
        wrong += !ok;
    }
    TU_CHECK(wrong == 0, "%d lines of the index are not whole, or repeat", wrong);
    TU_CHECK(t && !strcmp(t->header[0], "run_id") && t->ncols == RUN_INDEX_COLS,
             "the index's header");
    csv_free(t);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_two_runs();
    test_concurrent_appends();
    /* no index yet: said, exit 0; no results folder: exit 1 */
    int rc = runs(dir);
    TU_CHECK(rc == 0 && strstr(out_text, "no runs indexed"), "runs, no index: exit %d\n%s", rc,
             out_text);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/none", dir);
    rc = runs(missing);
    TU_CHECK(rc == CLI_EXIT_FAIL && strstr(err_text, "no such results folder"),
             "runs, no folder: exit %d\n%s", rc, err_text);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_run_index");
}
