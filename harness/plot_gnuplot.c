/* cnnbench plot: writing gnuplot scripts and data files, running gnuplot
 * on them (posix_spawn, no shell), and putting the finished folder in place.
 *
 * Every file goes into RUN_DIR/.plots.XXXXXX first, each written through
 * the atomic writer; gnuplot renders there; the folder then becomes
 * RUN_DIR/plots/ in one rename (an old plots/ is swapped out with
 * RENAME_EXCHANGE and removed), so plots/ is always the whole output of one
 * plot command, never half of one. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plot.h"

extern char **environ;

cnn_status plot_chart_begin(plot_chart *c, plot_run *run, const char *name, const char *title1,
                            const char *title2, int width, int height)
{
    memset(c, 0, sizeof *c);
    c->run = run;
    plot_file_part(c->name, sizeof c->name, name);
    c->width = width;
    c->height = height;
    char t1[320], t2[320];
    plot_clean(t1, sizeof t1, title1);
    plot_clean(t2, sizeof t2, title2);
    snprintf(c->title, sizeof c->title, "%s%s%s\\n%s", *run->incomplete ? run->incomplete : "",
             *run->incomplete ? "\\n" : "", t1, t2);
    c->body = open_memstream(&c->body_text, &c->body_len);
    if (!c->body)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory for the script", c->name);
    char id[128];
    plot_clean(id, sizeof id, run->meta ? json_str(run->meta, "run_id", run->dir) : run->dir);
    fprintf(c->body,
            "reset\n"
            "set encoding utf8\n"
            "set datafile missing \"NaN\"\n"
            "set title \"%s\"\n"
            "set label 100 \"run %s\" at screen 0.995, screen 0.975 right font \",8\" "
            "textcolor rgb \"#707070\"\n"
            "set grid ytics lc rgb \"#d8d8d8\" lt 1\n"
            "set border 3\nset tics nomirror\n",
            c->title, id);
    return CNN_OK;
}

/* The file name of the chart's k-th data file (from 1). */
static void data_name(const plot_chart *c, int k, char *fname, size_t n)
{
    if (k == 1)
        snprintf(fname, n, "%s.dat", c->name);
    else
        snprintf(fname, n, "%s.%d.dat", c->name, k);
}

cnn_status plot_data_open(plot_chart *c, cnn_atomic_file *af, char *fname, size_t n)
{
    data_name(c, ++c->ndata, fname, n);
    char path[4600];
    snprintf(path, sizeof path, "%s/%s", c->run->tmp, fname);
    return cnn_atomic_open(af, path);
}

/* No data file without its script. */
static void remove_data(plot_chart *c)
{
    for (int k = 1; k <= c->ndata; k++) {
        char fname[PLOT_NAME_MAX + 16], path[4600];
        data_name(c, k, fname, sizeof fname);
        snprintf(path, sizeof path, "%s/%s", c->run->tmp, fname);
        remove(path);
    }
}

void plot_chart_abort(plot_chart *c)
{
    if (c->body)
        fclose(c->body);
    c->body = NULL;
    free(c->body_text);
    c->body_text = NULL;
    remove_data(c);
}

cnn_status plot_chart_end(plot_chart *c, cnn_status st)
{
    if (c->body)
        fclose(c->body);
    c->body = NULL;
    plot_run *run = c->run;
    if (st == CNN_OK && run->ncharts == PLOT_MAX_CHARTS)
        st = cnn_fail(CNN_ERR_INVALID_ARG, "more than %d charts", PLOT_MAX_CHARTS);
    cnn_atomic_file af = {0};
    char path[4600];
    snprintf(path, sizeof path, "%s/%s.gp", run->tmp, c->name);
    if (st == CNN_OK && (st = cnn_atomic_open(&af, path)) == CNN_OK) {
        const char *b = c->body_text ? c->body_text : "";
        fprintf(af.f,
                "# cnnbench plot: %s\n"
                "# Draws %s.png and %s.svg from the data files beside it: gnuplot %s.gp\n",
                c->name, c->name, c->name, c->name);
        fprintf(af.f,
                "set terminal pngcairo noenhanced size %d,%d font \"DejaVu Sans,10\"\n"
                "set output \"%s.png\"\n%sset output\n",
                c->width, c->height, c->name, b);
        fprintf(af.f,
                "set terminal svg noenhanced size %d,%d font \"DejaVu Sans,10\" "
                "background rgb \"white\"\n"
                "set output \"%s.svg\"\n%sset output\n",
                c->width, c->height, c->name, b);
        st = cnn_atomic_finish(&af, CNN_OK);
    }
    free(c->body_text);
    c->body_text = NULL;
    if (st != CNN_OK) {
        fprintf(stderr, "cnnbench plot: chart %s not written: %s\n", c->name, cnn_last_error());
        run->nerrors++;
        remove_data(c);
        return st;
    }
    snprintf(run->charts[run->ncharts++], PLOT_NAME_MAX, "%s", c->name);
    return CNN_OK;
}

void plot_log_tics(FILE *f, const char *axis, double lo, double hi)
{
    fprintf(f, "set %stics (", axis);
    const char *sep = "";
    for (int e = (int)floor(log10(lo)); e <= (int)ceil(log10(hi)); e++)
        for (int m = 1; m <= 5; m += m == 1 ? 1 : 3) { /* 1, 2, 5 */
            double v = m * pow(10, e);
            if (v < lo || v > hi)
                continue;
            fprintf(f, "%s\"%g\" %g", sep, v, v);
            sep = ", ";
        }
    fprintf(f, ")\n");
}

void plot_skip(plot_run *run, const char *chart, const char *fmt, ...)
{
    va_list ap;
    printf("skipped %s: ", chart);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    run->nskipped++;
}

/* SIGINT and SIGTERM while plot runs: stop after the chart at hand and remove the temporary
 * folder (plots/ stays as it was); a second one ends the process at once. */
static volatile sig_atomic_t stop_signal;
static struct sigaction old_int, old_term;

static void on_stop(int sig)
{
    stop_signal = sig;
}

int plot_stop_signal(void)
{
    return stop_signal;
}

void plot_signals_give_back(void)
{
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
}

cnn_status plot_tmp_make(plot_run *run)
{
    snprintf(run->tmp, sizeof run->tmp, "%s/.plots.XXXXXX", run->dir);
    if (!mkdtemp(run->tmp)) {
        int e = errno;
        run->tmp[0] = '\0';
        return cnn_fail(CNN_ERR_IO, "cannot make a folder in %s: %s", run->dir, strerror(e));
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    stop_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    return CNN_OK;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

static void remove_tree(const char *path)
{
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "cnnbench plot: could not remove all of %s: %s\n", path, strerror(errno));
}

void plot_tmp_remove(plot_run *run)
{
    if (run->tmp[0])
        remove_tree(run->tmp);
    run->tmp[0] = '\0';
}

/* Print gnuplot's messages (its stderr, in file err), each line named after the script. */
static void print_messages(const char *err, const char *name)
{
    FILE *f = fopen(err, "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f))
        if (line[0] != '\n')
            fprintf(stderr, "  gnuplot %s.gp: %s%s", name, line, strchr(line, '\n') ? "" : "\n");
    if (f)
        fclose(f);
}

/* Run `gnuplot NAME.gp` in the temporary folder. Returns 0 on success, ENOENT (or another
 * errno) when gnuplot could not be started, -1 when it failed on the script. */
static int run_gnuplot(const plot_run *run, const char *gnuplot, const char *name)
{
    char script[PLOT_NAME_MAX + 4], err[4200];
    snprintf(script, sizeof script, "%s.gp", name);
    snprintf(err, sizeof err, "%s/.gnuplot-stderr", run->tmp);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addchdir_np(&fa, run->tmp);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, ".gnuplot-stderr", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char *argv[] = {(char *)gnuplot, script, NULL};
    pid_t pid;
    fflush(NULL);
    int e = strchr(gnuplot, '/') ? posix_spawn(&pid, gnuplot, &fa, NULL, argv, environ)
                                 : posix_spawnp(&pid, gnuplot, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e != 0)
        return e;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    char png[4300], svg[4300];
    snprintf(png, sizeof png, "%s/%s.png", run->tmp, name);
    snprintf(svg, sizeof svg, "%s/%s.svg", run->tmp, name);
    struct stat a, b;
    if (ok && (stat(png, &a) != 0 || stat(svg, &b) != 0 || a.st_size == 0 || b.st_size == 0))
        ok = false;
    if (!ok) {
        if (WIFEXITED(status))
            fprintf(stderr, "cnnbench plot: gnuplot failed on %s (exit %d)\n", script,
                    WEXITSTATUS(status));
        else
            fprintf(stderr, "cnnbench plot: gnuplot failed on %s (signal %d)\n", script,
                    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        remove(png); /* no half image */
        remove(svg);
    }
    print_messages(err, name);
    remove(err);
    return ok ? 0 : -1;
}

/* Put the temporary folder in place as RUN_DIR/plots (its path to final). */
static cnn_status put_in_place(plot_run *run, char *final, size_t n)
{
    snprintf(final, n, "%s/plots", run->dir);
    if (rename(run->tmp, final) == 0) {
        run->tmp[0] = '\0';
        return CNN_OK;
    }
    if (errno != EEXIST && errno != ENOTEMPTY)
        return cnn_fail(CNN_ERR_IO, "cannot rename %s to %s: %s", run->tmp, final, strerror(errno));
    /* an old plots/: swap the two in one step, then remove the old one (now at tmp) */
    if (renameat2(AT_FDCWD, run->tmp, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
        plot_tmp_remove(run);
        return CNN_OK;
    }
    /* no RENAME_EXCHANGE on this file system: move the old one aside first */
    char old[4200];
    snprintf(old, sizeof old, "%s/.plots-old.XXXXXX", run->dir);
    if (!mkdtemp(old) || rename(final, old) != 0 || rename(run->tmp, final) != 0)
        return cnn_fail(CNN_ERR_IO, "cannot replace %s: %s", final, strerror(errno));
    run->tmp[0] = '\0';
    remove_tree(old);
    return CNN_OK;
}

int plot_render_and_commit(plot_run *run, const char *gnuplot)
{
    int failed = 0, missing = 0;
    for (int i = 0; i < run->ncharts && !missing && !stop_signal; i++) {
        int e = run_gnuplot(run, gnuplot, run->charts[i]);
        if (e > 0)
            missing = e;
        else if (e < 0)
            failed++;
        else
            printf("drew plots/%s.png and .svg\n", run->charts[i]);
    }
    if (stop_signal) {
        plot_tmp_remove(run);
        fprintf(stderr, "cnnbench plot: interrupted: nothing written (plots/ is as it was)\n");
        return 128 + stop_signal;
    }
    char final[4200];
    cnn_status st = put_in_place(run, final, sizeof final);
    if (st != CNN_OK) {
        fprintf(stderr, "cnnbench plot: %s\n", cnn_last_error());
        plot_tmp_remove(run);
        return 1;
    }
    if (missing) {
        fprintf(stderr,
                "cnnbench plot: cannot run %s (%s): install gnuplot (Debian, Ubuntu: apt-get "
                "install gnuplot-nox); the %d scripts are written, draw them with: cd %s && "
                "for f in *.gp; do gnuplot \"$f\"; done\n",
                gnuplot, strerror(missing), run->ncharts, final);
        return 1;
    }
    printf("%d chart%s (PNG and SVG) in %s/%s%s\n", run->ncharts - failed,
           run->ncharts - failed == 1 ? "" : "s", final, run->nskipped ? ", " : "",
           run->nskipped ? "some skipped (above)" : "");
    if (*run->incomplete)
        printf("%s: the charts show what it wrote before it stopped\n", run->incomplete);
    if (failed || run->nerrors) {
        fprintf(stderr, "cnnbench plot: %d chart%s failed (above)\n", failed + run->nerrors,
                failed + run->nerrors == 1 ? "" : "s");
        return 1;
    }
    return 0;
}
