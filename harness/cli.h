/* Command-line parsing shared by every cnnbench subcommand.
 *
 * A command declares its options in a table and calls cli_parse(). Errors
 * name the command and the bad option, and list the valid ones. Exit codes
 * of the whole program: 0 success, 1 a run that failed (I/O, numerics, a
 * verify FAIL), 2 bad usage, 3 a backend that does not support the request. */
#ifndef CNN_CLI_H
#define CNN_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ops.h"
#include "status.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_UNSUPPORTED 3

typedef enum cli_type {
    CLI_FLAG,       /* bool, no value */
    CLI_STRING,     /* const char * */
    CLI_STRING_OPT, /* const char *; the value may be left out ("all") */
    CLI_INT,        /* int */
    CLI_DOUBLE,     /* double */
    CLI_U64,        /* uint64_t */
    CLI_PAIR,       /* int[2]: "N" gives {N, N}, "H,W" gives {H, W} */
} cli_type;

/* --no-fuse, one row of a command's table: the commands that run models
 * (cnn_exec_opts.no_fuse). */
/* clang-format off */
#define CLI_NO_FUSE_OPT(dest)                                                                      \
    {"no-fuse", CLI_FLAG, dest, NULL,                                                              \
     "run each conv/batch-norm + ReLU pair as two layers (fused by default)", false, false}
/* clang-format on */

typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    cli_type type;
    void *dest;
    const char *metavar; /* shown in help: "FILE", "N", ... */
    const char *help;
    bool required;
    bool seen; /* set by cli_parse */
} cli_opt;

/* Another name accepted exactly like an option's (an older spelling:
 * "backend" for "backends"). Kept in the command rather than in cli_opt so
 * that the option tables' positional initialisers stay complete. */
typedef struct cli_alias {
    const char *alias, *name; /* without the leading "--" */
} cli_alias;

typedef struct cli_cmd {
    const char *name;    /* "op conv2d" */
    const char *summary; /* one line */
    const char *details; /* optional text after the option list */
    cli_opt *opts;
    int nopts;
    /* positional arguments are not accepted unless this is non-NULL */
    const char **positional;
    int max_positional;
    int npositional; /* set by cli_parse */
    /* NULL, or aliases ending in {NULL, NULL}; help shows "(also --ALIAS)" */
    const cli_alias *aliases;
} cli_cmd;

/* Parse argv[0..argc) (the words after the command name). Returns -1 when
 * parsing succeeded, otherwise the exit code to return: CLI_EXIT_OK after
 * printing --help, CLI_EXIT_USAGE after printing the error to stderr. */
int cli_parse(cli_cmd *cmd, int argc, char **argv);

void cli_print_help(const cli_cmd *cmd, FILE *out);

/* Report a usage error about the command and return CLI_EXIT_USAGE. */
int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...) CNN_PRINTF(2, 3);

/* Check that `value` of option --opt is one of the comma-separated `valid`
 * names; report a usage error listing them when not. Returns -1 if valid. */
int cli_check_choice(const cli_cmd *cmd, const char *opt, const char *value, const char *valid);

/* Print "cnnbench NAME: <status>: <last error>" to stderr and return the
 * exit code for st (CLI_EXIT_UNSUPPORTED for CNN_ERR_UNSUPPORTED, else
 * CLI_EXIT_FAIL). */
int cli_fail(const char *name, cnn_status st);

/* Walk a comma-separated list: copy the next item into name (truncated to
 * n - 1 bytes) and advance *p; false at the end. Empty items are skipped. */
bool cli_next_item(const char **p, char *name, size_t n);
/* Is name one of the items of a comma-separated list? */
bool cli_in_list(const char *list, const char *name);

/* Every operation name (cnn_op_name's values), the choices of --ops for
 * verify and bench. */
#define CLI_OP_NAMES                                                                               \
    "conv2d,maxpool2d,avgpool2d,adaptive_avgpool2d,batchnorm2d,linear,relu,sigmoid,dropout,"       \
    "softmax_xent,concat,add,sgd,adam"

/* Was option --name given on the command line (after cli_parse)? */
bool cli_seen(const cli_cmd *cmd, const char *name);

/* Parse a --passes list into want[pass] (every entry set false first); an
 * unknown name is a usage error listing the passes. Returns -1 when valid,
 * else the exit code. */
int cli_parse_passes(const cli_cmd *cmd, const char *list, bool want[CNN_PASS_COUNT]);

/* The most --threads any command takes. cli_parse checks every command's
 * --threads: negative or more than this is a usage error, more than the
 * machine's CPUs a warning on stderr. */
#define CLI_THREADS_MAX 1024

/* Apply --threads (0 = leave the libraries' defaults) to the process, once,
 * right after a command has parsed its options (cnn_set_process_threads);
 * returns the number of threads the run will use. */
int cli_set_threads(int threads);

/* The most counts --threads LIST takes (bench --models, sweep). */
#define CLI_MAX_THREAD_COUNTS 16

/* Parse --threads LIST ("1,2,4"): each item a thread count, 1 to 1024, none
 * twice, at most CLI_MAX_THREAD_COUNTS, into out[0..*n); anything else is a
 * usage error naming the item. Returns -1 when valid, else the exit code. */
int cli_parse_thread_list(const cli_cmd *cmd, const char *list, int *out, int *n);

#endif
