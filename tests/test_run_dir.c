/* The run folder (harness/run_dir.h) in-process, and `cnnbench --version`.
 *
 * Ids: <host>-<UTC second>-<6 random hex>, made with a plain mkdir, so a
 * drawn id that is taken is drawn again (before issue 13, two runs in the
 * same second wrote the same file and one run's rows were lost).
 * meta.json: written when the folder is made ("complete": false, "running")
 * and rewritten at the end; the command line is quoted so that a shell
 * takes it back word for word. SIGINT during a run only asks it to stop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "registry.h"
#include "run_dir.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif
#ifndef CNN_VERSION
#define CNN_VERSION "?"
#endif
#ifndef CNN_SOURCE_DIR
#define CNN_SOURCE_DIR ""
#endif

static char dir[] = "/tmp/cnn_test_run_dir_XXXXXX";
static char text[1 << 15], err_text[1 << 14];

static const char *meta_of(const run_dir *rd)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/meta.json", rd->path);
    tu_slurp(path, text, sizeof text);
    return text;
}

static void expect_in(const char *hay, const char *needle, const char *what)
{
    TU_CHECK(strstr(hay, needle) != NULL, "%s: lacks '%s' in:\n%s", what, needle, hay);
}

/* One run from start to end: the folder, meta.json at each stage. */
static void test_lifecycle(void)
{
    char root[512];
    snprintf(root, sizeof root, "%s/res/nested", dir);
    char *argv[] = {"--a", "b c", "it's", "x=1,2", NULL};
    run_dir rd;
    TU_EXPECT_OK(run_dir_init(&rd, "test", 4, argv, 42, 3));
    report_json_str(run_dir_settings(&rd), "model", "vgg16");
    report_json_raw(run_dir_settings(&rd), "batch", "%d", 4);
    TU_EXPECT_OK(run_dir_create(&rd, root));
    struct stat sb;
    TU_CHECK(stat(rd.path, &sb) == 0 && S_ISDIR(sb.st_mode), "%s: no run folder", rd.path);
    TU_CHECK(!strncmp(rd.path, root, strlen(root)) && !strcmp(rd.path + strlen(root) + 1, rd.id),
             "run folder %s is not ROOT/<id> (id %s)", rd.path, rd.id);
    const char *m = meta_of(&rd);
    expect_in(m, "\"complete\": false", "meta.json while running");
    expect_in(m, "\"status\": \"running\"", "meta.json while running");
    expect_in(m, "\"finished\": null", "meta.json while running");
    /* a shell gives back the words: cnnbench test --a 'b c' 'it'\''s' x=1,2 */
    expect_in(m, "\"command_line\": \"cnnbench test --a 'b c' 'it'\\\\''s' x=1,2\"",
              "meta.json command line");
    expect_in(m, "\"seed\": 42", "meta.json");
    expect_in(m, "\"threads\": 3", "meta.json");
    expect_in(m, "\"model\": \"vgg16\",\n  \"batch\": 4\n}\n", "meta.json settings at the end");
    char id[160];
    snprintf(id, sizeof id, "\"run_id\": \"%s\"", rd.id);
    expect_in(m, id, "meta.json");
    char names[8][256];
    int n = tu_list_dir(rd.path, names, 8);
    TU_CHECK(n == 1 && !strcmp(names[0], "meta.json"), "the new run folder holds %d entries", n);

    TU_EXPECT_OK(run_dir_finish(&rd, RUN_COMPLETE, "not written"));
    m = meta_of(&rd);
    expect_in(m, "\"complete\": true", "meta.json at the end");
    expect_in(m, "\"status\": \"complete\"", "meta.json at the end");
    expect_in(m, "\"finished\": \"20", "meta.json at the end");
    expect_in(m, "\"model\": \"vgg16\"", "meta.json at the end");
    TU_CHECK(!strstr(m, "not written") && !strstr(m, "\"error\""),
             "a complete run has an error:\n%s", m);
    n = tu_list_dir(rd.path, names, 8);
    TU_CHECK(n == 1, "finishing left %d entries (a temporary file?)", n);

    /* a failed run says why */
    TU_EXPECT_OK(run_dir_init(&rd, "test", 0, argv, 1, 1));
    TU_EXPECT_OK(run_dir_create(&rd, root));
    TU_EXPECT_OK(run_dir_finish(&rd, RUN_FAILED, "disk \"full\""));
    m = meta_of(&rd);
    expect_in(m, "\"complete\": false", "a failed run");
    expect_in(m, "\"status\": \"failed\"", "a failed run");
    expect_in(m, "\"error\": \"disk \\\"full\\\"\"", "a failed run");

    /* a root that cannot be made: an error naming it, nothing made */
    TU_EXPECT_OK(run_dir_init(&rd, "test", 0, argv, 1, 1));
    cnn_status st = run_dir_create(&rd, "/dev/null/results");
    TU_CHECK(st == CNN_ERR_IO && strstr(cnn_last_error(), "/dev/null"),
             "run_dir_create under /dev/null: %s (%s)", cnn_status_str(st), cnn_last_error());
}

/* Suffixes drawn from a script: the same one again and again, then another. */
static uint32_t script[4];
static int drawn;
static uint32_t scripted(void)
{
    uint32_t v = script[drawn < 4 ? drawn : 3];
    drawn++;
    return v;
}

static void test_collisions(void)
{
    char root[512];
    snprintf(root, sizeof root, "%s/ids", dir);
    /* two runs in one process, back to back: distinct ids */
    run_dir a, b;
    TU_EXPECT_OK(run_dir_init(&a, "test", 0, NULL, 1, 1));
    TU_EXPECT_OK(run_dir_create(&a, root));
    TU_EXPECT_OK(run_dir_init(&b, "test", 0, NULL, 1, 1));
    TU_EXPECT_OK(run_dir_create(&b, root));
    TU_CHECK(strcmp(a.id, b.id) != 0, "two runs got the same id %s", a.id);
    TU_EXPECT_OK(run_dir_finish(&a, RUN_COMPLETE, NULL));
    TU_EXPECT_OK(run_dir_finish(&b, RUN_COMPLETE, NULL));

    /* every id a run can draw in the next seconds is taken: it says so and
     * makes nothing. The ids are those of a's host and these seconds. */
    char prefix[128];
    size_t len = strlen(a.id);
    snprintf(prefix, sizeof prefix, "%.*s", (int)(len - 23), a.id);
    run_dir_random = scripted;
    script[0] = script[1] = script[2] = script[3] = 0xabcdef;
    for (int s = 0; s < 6; s++) {
        time_t t = time(NULL) + s;
        struct tm tm;
        char stamp[32], path[1024];
        gmtime_r(&t, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        snprintf(path, sizeof path, "%s/%s-%s-abcdef", root, prefix, stamp);
        mkdir(path, 0777);
    }
    char names[64][256];
    int before = tu_list_dir(root, names, 64);
    drawn = 0;
    run_dir c;
    TU_EXPECT_OK(run_dir_init(&c, "test", 0, NULL, 1, 1));
    cnn_status st = run_dir_create(&c, root);
    TU_CHECK(st == CNN_ERR_IO && strstr(cnn_last_error(), "every id drawn was taken") &&
                 drawn == 64,
             "every id taken: %s (%s), %d draws", cnn_status_str(st), cnn_last_error(), drawn);
    TU_CHECK(tu_list_dir(root, names, 64) == before, "a run that found no id made a folder");

    /* a taken id is drawn again: the second draw gets a folder of its own */
    drawn = 0;
    script[1] = script[2] = script[3] = 0x123456;
    TU_EXPECT_OK(run_dir_init(&c, "test", 0, NULL, 1, 1));
    TU_EXPECT_OK(run_dir_create(&c, root));
    size_t cl = strlen(c.id);
    TU_CHECK(drawn == 2 && cl > 6 && !strcmp(c.id + cl - 6, "123456"),
             "after a taken id: %d draws, id %s", drawn, c.id);
    TU_EXPECT_OK(run_dir_finish(&c, RUN_COMPLETE, NULL));
    run_dir_random = NULL;
}

/* SIGINT while a run is open asks it to stop; afterwards it is the
 * default again. */
static void test_interrupt(void)
{
    char root[512];
    snprintf(root, sizeof root, "%s/int", dir);
    run_dir rd;
    TU_EXPECT_OK(run_dir_init(&rd, "test", 0, NULL, 1, 1));
    TU_EXPECT_OK(run_dir_create(&rd, root));
    TU_CHECK(!run_dir_stopping() && run_dir_end(CNN_OK) == RUN_COMPLETE,
             "stopping before a signal");
    fprintf(stderr, "(the interruption message below is expected)\n");
    raise(SIGINT);
    TU_CHECK(run_dir_stopping() && run_dir_stop_signal() == SIGINT &&
                 run_dir_end(CNN_OK) == RUN_INTERRUPTED && run_dir_end(CNN_ERR_IO) == RUN_FAILED,
             "after SIGINT: stopping %d, signal %d", run_dir_stopping(), run_dir_stop_signal());
    TU_EXPECT_OK(run_dir_finish(&rd, run_dir_end(CNN_OK), NULL));
    const char *m = meta_of(&rd);
    expect_in(m, "\"complete\": false", "an interrupted run");
    expect_in(m, "\"status\": \"interrupted\"", "an interrupted run");
    struct sigaction now;
    sigaction(SIGINT, NULL, &now);
    TU_CHECK(now.sa_handler == SIG_DFL, "SIGINT not given back after the run");
}

/* cnnbench --version: the project version, the commit git has now, the
 * build, every library of the backends built in. */
static void test_version(void)
{
    char *argv[] = {CNNBENCH_EXE, "--version", NULL};
    int rc = tu_run_process(CNNBENCH_EXE, argv, dir, text, sizeof text, err_text, sizeof err_text);
    TU_CHECK(rc == 0, "--version: exit %d: %s", rc, err_text);
    expect_in(text, "cnnbench " CNN_VERSION "\n", "--version");
    expect_in(text, "build:     ", "--version");
    expect_in(text, "backends:  naive", "--version");
    if (cnn_backend_find("im2col"))
        expect_in(text, "\n  OpenBLAS          OpenBLAS 0.", "--version");
    if (cnn_backend_find("onednn"))
        expect_in(text, "\n  oneDNN            ", "--version");
    if (cnn_backend_find("cudnn"))
        expect_in(text, "\n  cuDNN             ", "--version");
    /* the commit is HEAD now, when git can say */
    char head[128] = "", out[64];
    char *git[] = {"/usr/bin/git", "-C", CNN_SOURCE_DIR, "rev-parse", "HEAD", NULL};
    char version[sizeof text];
    memcpy(version, text, sizeof text);
    if (tu_exists("/usr/bin/git") && *CNN_SOURCE_DIR &&
        tu_run_process("/usr/bin/git", git, dir, head, sizeof head, out, sizeof out) == 0) {
        head[strcspn(head, "\n")] = '\0';
        char want[160];
        snprintf(want, sizeof want, "commit:    %s", head);
        expect_in(version, want, "--version (git's HEAD)");
        expect_in(version, "from git at run time", "--version");
    } else {
        printf("  (no git here: the run-time commit is not checked)\n");
    }
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_lifecycle();
    test_collisions();
    test_interrupt();
    test_version();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_run_dir");
}
