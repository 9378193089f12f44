/* fuzz_cli: harness/cli.c's option parser on any argv: the input split at
 * NUL bytes into at most 64 words, parsed against a table with an option
 * of every type (flag, string, optional string, int, double, u64, pair),
 * a required option, an alias and positional arguments (variant: the
 * input's first byte's low bit drops the positionals and the required
 * option), then the list helpers on what was parsed (cli_check_choice,
 * cli_parse_passes, cli_in_list). Nothing runs: parse only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fuzz_util.h"

#define MAX_WORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int variant = data[0] & 1;
    char *buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    char *argv[MAX_WORDS + 1];
    int argc = 0;
    for (size_t at = 0; at < size - 1 && argc < MAX_WORDS;) {
        argv[argc++] = buf + at;
        at += strlen(buf + at) + 1;
    }
    argv[argc] = NULL;

    bool flag = false;
    const char *backends = "naive", *ops = NULL, *passes = "fwd", *out = NULL;
    int batch = 1, size2[2] = {0, 0};
    double tol = 0;
    uint64_t seed = 0;
    cli_opt opts[] = {
        {"backends", CLI_STRING, &backends, "LIST", "backends", false, false},
        {"ops", CLI_STRING_OPT, &ops, NULL, "ops", false, false},
        {"passes", CLI_STRING, &passes, NULL, "passes", false, false},
        {"batch", CLI_INT, &batch, NULL, "batch", false, false},
        {"tolerance", CLI_DOUBLE, &tol, NULL, "tolerance", false, false},
        {"seed", CLI_U64, &seed, NULL, "seed", false, false},
        {"image-size", CLI_PAIR, size2, NULL, "image size", false, false},
        {"quick", CLI_FLAG, &flag, NULL, "quick", false, false},
        {"out", CLI_STRING, &out, "DIR", "out", !variant, false},
    };
    static const cli_alias aliases[] = {{"backend", "backends"}, {"op", "ops"}, {NULL, NULL}};
    const char *positional[3] = {NULL, NULL, NULL};
    cli_cmd cmd = {.name = "fuzz",
                   .summary = "the fuzz target's table",
                   .details = "details",
                   .opts = opts,
                   .nopts = (int)(sizeof opts / sizeof opts[0]),
                   .positional = variant ? NULL : positional,
                   .max_positional = variant ? 0 : 3,
                   .aliases = aliases};
    int rc = cli_parse(&cmd, argc, argv);
    fuzz_note(CNN_OK);
    if (rc >= 0) { /* refused (or --help): what cli_parse returned */
        fuzz_last.status = CNN_ERR_INVALID_ARG;
        snprintf(fuzz_last.reason, sizeof fuzz_last.reason, "cli_parse returned exit code %d", rc);
    }
    if (rc < 0) {
        bool want[CNN_PASS_COUNT];
        cli_check_choice(&cmd, "backends", backends, "naive,im2col,winograd, onednn");
        cli_parse_passes(&cmd, passes, want);
        if (ops)
            (void)cli_in_list(ops, "conv2d");
        (void)cli_in_list(CLI_OP_NAMES, backends);
        (void)cli_seen(&cmd, "quick");
        for (int i = 0; i < cmd.npositional; i++)
            (void)strlen(positional[i]);
    }
    free(buf);
    return 0;
}
