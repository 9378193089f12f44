/* cnnbench: one executable, one subcommand per job.
 *
 * Threads are set once per process: each command parses its options, then
 * applies --threads (or leaves the default) with cli_set_threads(), which
 * sets OpenMP's and OpenBLAS's counts (cnn_set_process_threads) before any
 * backend context exists. No backend changes them afterwards.
 *
 * A command that writes a run folder takes SIGINT and SIGTERM while it runs
 * (run_dir.h) and stops early; the process then ends by that signal, as if
 * it had not been caught, once the folder says "interrupted". */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "build_info.h"
#include "cli.h"
#include "commands.h"
#include "run_dir.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"sweep", cmd_sweep, "the main job: verify, bench and plot into one run folder"},
    {"backends", cmd_backends, "list the backends in this build and what each implements"},
    {"op", cmd_op, "run one operation from .npy files on one backend"},
    {"models", cmd_models, "list the models, or one model's layers (--layers NAME)"},
    {"run", cmd_run, "run a whole model forward (and backward) from .npy files"},
    {"verify", cmd_verify, "check every backend, op and pass (or whole models) against naive"},
    {"bench", cmd_bench, "time a model's layers on several backends side by side"},
    {"compare", cmd_compare, "compare two bench runs: what differs, then B's times against A's"},
    {"runs", cmd_runs, "list the runs of a results folder from its index"},
    {"train", cmd_train, "train a model on Fashion-MNIST, test after every epoch, checkpoints"},
    {"plot", cmd_plot, "draw the charts of a run folder (gnuplot: PNG and SVG in RUN_DIR/plots/)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: cnnbench COMMAND [options]    (cnnbench COMMAND --help for each)\n"
                 "       cnnbench --version           (version, commit, build, libraries)\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        build_info b;
        build_info_read(&b);
        build_info_print(&b, stdout);
        return CLI_EXIT_OK;
    }
    run_dir_set_program(argv[0]);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        int rc = commands[i].run(argc - 2, argv + 2);
        int sig = run_dir_stop_signal();
        if (sig) {
            fflush(NULL);
            signal(sig, SIG_DFL);
            raise(sig);
        }
        return rc;
    }
    fprintf(stderr, "cnnbench: unknown command '%s'; valid commands:", argv[1]);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(stderr, "%s %s", i ? "," : "", commands[i].name);
    fprintf(stderr, "\n");
    return CLI_EXIT_USAGE;
}
