/* `cnnbench verify` as a process: the table has a header and a max_abs
 * column, --passes narrows the sweep, --shapes takes a model's name, and
 * an option of the other mode (--ops with --models, --batch without) is a
 * usage error instead of being ignored, as it was before (issue 13). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "test_util.h"

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

static char dir[] = "/tmp/cnn_test_verify_cli_XXXXXX";
static char out_text[1 << 17], err_text[1 << 16];

static int verify(const char *const *args)
{
    char out_dir[512], *argv[64];
    snprintf(out_dir, sizeof out_dir, "%s/results", dir);
    int n = 0;
    argv[n++] = (char *)CNNBENCH_EXE;
    argv[n++] = (char *)"verify";
    for (; *args && n < 60; args++)
        argv[n++] = (char *)*args;
    argv[n++] = (char *)"--out-dir";
    argv[n++] = out_dir;
    argv[n] = NULL;
    return tu_run_process(CNNBENCH_EXE, argv, dir, out_text, sizeof out_text, err_text,
                          sizeof err_text);
}
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void expect(const char *what, const char *const *args, int want, const char *const *words,
                   const char *const *absent)
{
    int rc = verify(args);
    TU_CHECK(rc == want, "%s: exit %d, expected %d\nstderr: %s", what, rc, want, err_text);
    const char *text = want == CLI_EXIT_USAGE ? err_text : out_text;
    for (; words && *words; words++)
        TU_CHECK(strstr(text, *words), "%s: output lacks '%s':\n%s", what, *words, text);
    for (; absent && *absent; absent++)
        TU_CHECK(!strstr(text, *absent), "%s: output has '%s':\n%s", what, *absent, text);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    /* lenet5's layers, backward data only, on the reference itself. */
    expect("--shapes lenet5 --passes bwd_data",
           ARGS("--shapes", "lenet5", "--passes", "bwd_data", "--backends", "naive"), CLI_EXIT_OK,
           ARGS("status     backend", "rel_l2", "max_abs", "tolerance", "bwd_data",
                "mb8ic1ih28iw28oc6oh28ow28kh5kw5"),
           ARGS(" fwd ", "bwd_weight"));
    expect("--ops with --models", ARGS("--models", "lenet5", "--ops", "conv2d"), CLI_EXIT_USAGE,
           ARGS("--ops applies to the op sweep, not to --models"), NULL);
    expect("--passes with --models", ARGS("--models", "--passes", "fwd"), CLI_EXIT_USAGE,
           ARGS("--passes applies to the op sweep"), NULL);
    expect("--batch without --models", ARGS("--batch", "4"), CLI_EXIT_USAGE,
           ARGS("--batch applies to --models only"), NULL);
    expect("unknown pass", ARGS("--passes", "fwd,backward"), CLI_EXIT_USAGE,
           ARGS("unknown pass 'backward'", "bwd_weight"), NULL);
    expect("unknown shape set", ARGS("--shapes", "quick,vgg"), CLI_EXIT_USAGE,
           ARGS("unknown shape set 'vgg'", "vgg16"), NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_verify_cli");
}
