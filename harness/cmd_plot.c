/* cnnbench plot RUN_DIR: the charts of a run folder, from its files alone
 * (plot.h), so that any old run can be drawn again. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "plot.h"

int cmd_plot(int argc, char **argv)
{
    const char *gnuplot = "gnuplot";
    const char *positional[1] = {NULL};
    cli_opt opts[] = {
        {"gnuplot", CLI_STRING, &gnuplot, "PROG",
         "the gnuplot to run (default: gnuplot, looked up on PATH)", false, false},
    };
    cli_cmd cmd = {
        .name = "plot",
        .summary = "Draw the charts of a run folder: cnnbench plot RUN_DIR (RESULTS/<run-id>).",
        .details =
            "Reads RUN_DIR's results.csv, verify.csv, train.csv and meta.json, and writes\n"
            "RUN_DIR/plots/: for each chart a gnuplot script NAME.gp, its data files and\n"
            "NAME.png and NAME.svg drawn by gnuplot (Debian: apt-get install gnuplot-nox).\n"
            "Charts, each where its data is there (a line says why one is skipped):\n"
            "  layers_MODEL_PASS    GFLOP/s of each layer by backend, FMA peak and sgemm lines\n"
            "  model_MODEL          whole-model infer and train_step images/s by backend\n"
            "  speedup_*_vs_BASE    speed-up over naive, onednn and pytorch, per layer or model\n"
            "  winograd_error_speedup  verify.csv error against speed-up over im2col, per tile\n"
            "  roofline_MODEL, roofline_models  intensity against GFLOP/s under the ceilings\n"
            "  memory_MODEL         parameters, gradients, activations, workspace per backend\n"
            "  train_curves         loss and accuracy per epoch (train.csv)\n"
            "  verify_margin        worst rel_l2 / tolerance per op and pass by backend\n"
            "The folder is written aside and renamed into place whole, replacing an old\n"
            "plots/. Without gnuplot the scripts are still written (exit status 1).\n"
            "A run that did not finish (meta.json status running, interrupted, failed) is\n"
            "drawn with \"incomplete run\" in every title.",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
        .positional = positional,
        .max_positional = 1,
    };
    int rc = cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    if (cmd.npositional != 1)
        return cli_usage_error(&cmd, "give the run folder to draw: cnnbench plot RUN_DIR");

    /* RUN_DIR without trailing slashes, for the paths printed */
    size_t len = strlen(positional[0]);
    while (len > 1 && positional[0][len - 1] == '/')
        len--;
    char *dir = strndup(positional[0], len);
    plot_run *run = calloc(1, sizeof *run);
    if (!run || !dir) {
        free(run);
        free(dir);
        fprintf(stderr, "cnnbench plot: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    run->dir = dir;
    cnn_status st = plot_load(run);
    if (st == CNN_OK)
        st = plot_tmp_make(run);
    if (st != CNN_OK) {
        rc = cli_fail("plot", st);
        plot_unload(run);
        free(run);
        free(dir);
        return rc;
    }
    if (*run->incomplete)
        printf("%s: drawing what it wrote; every title says so\n", run->incomplete);
    plot_layers(run);
    plot_models(run);
    plot_speedup(run);
    plot_winograd(run);
    plot_roofline(run);
    plot_memory(run);
    plot_train(run);
    plot_confusion(run);
    plot_verify(run);
    if (run->ncharts == 0 && !plot_stop_signal()) {
        fprintf(stderr, "cnnbench plot: nothing to draw in %s (every chart skipped, above)\n",
                run->dir);
        plot_tmp_remove(run);
        rc = CLI_EXIT_FAIL;
    } else {
        rc = plot_render_and_commit(run, gnuplot);
    }
    plot_unload(run);
    free(run);
    free(dir);
    plot_signals_give_back();
    int sig = plot_stop_signal();
    if (sig) { /* end by the signal, as if it had not been caught */
        fflush(NULL);
        signal(sig, SIG_DFL);
        raise(sig);
    }
    return rc;
}
