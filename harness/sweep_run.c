/* Running a sweep's stages as child processes and gathering their files. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "csv_read.h"
#include "progress.h"
#include "report.h"
#include "run_dir.h"
#include "child.h"
#include "sweep.h"

void sweep_add(sweep_plan *p, const char *kind, const char *label, double weight, ...)
{
    if (p->n >= SWEEP_MAX_STAGES)
        return;
    sweep_stage *s = &p->stage[p->n];
    memset(s, 0, sizeof *s);
    snprintf(s->kind, sizeof s->kind, "%s", kind);
    snprintf(s->label, sizeof s->label, "%s", label);
    s->weight = weight > 0 ? weight : 1;
    va_list ap;
    va_start(ap, weight);
    s->argv[s->argc++] = NULL; /* the program, filled in when run */
    for (const char *w; (w = va_arg(ap, const char *)) && s->argc < SWEEP_MAX_ARGS - 1;) {
        snprintf(p->strings[p->n][s->argc], sizeof p->strings[0][0], "%s", w);
        s->argv[s->argc] = p->strings[p->n][s->argc];
        s->argc++;
    }
    va_end(ap);
    s->argv[s->argc] = NULL;
    p->n++;
}

void sweep_more(sweep_plan *p, ...)
{
    if (p->n == 0)
        return;
    sweep_stage *s = &p->stage[p->n - 1];
    va_list ap;
    va_start(ap, p);
    for (const char *w; (w = va_arg(ap, const char *)) && s->argc < SWEEP_MAX_ARGS - 1;) {
        snprintf(p->strings[p->n - 1][s->argc], sizeof p->strings[0][0], "%s", w);
        s->argv[s->argc] = p->strings[p->n - 1][s->argc];
        s->argc++;
    }
    va_end(ap);
    s->argv[s->argc] = NULL;
}

void sweep_self_exe(char *buf, size_t n)
{
    ssize_t k = readlink("/proc/self/exe", buf, n - 1);
    if (k <= 0)
        snprintf(buf, n, "cnnbench");
    else
        buf[k] = '\0';
    /* rebuilt while the sweep ran: the old binary is only reachable this way */
    size_t len = strlen(buf);
    if (len > 10 && !strcmp(buf + len - 10, " (deleted)"))
        snprintf(buf, n, "/proc/self/exe");
}

/* The child's run folder, from its "run folder: PATH (...)" line. */
static void find_folder(const char *log, char *folder, size_t n)
{
    folder[0] = '\0';
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    char line[4608];
    while (fgets(line, sizeof line, f)) {
        const char *at = strstr(line, "run folder: ");
        if (!at)
            continue;
        at += strlen("run folder: ");
        size_t len = strcspn(at, " \n");
        snprintf(folder, n, "%.*s", (int)len, at);
    }
    fclose(f);
}

/* Append the rows of src (a CSV of the child's) to dir/name, creating it
 * with src's header; a header that differs from the file's is an error. */
static cnn_status append_csv(const char *src, const char *dir, const char *name)
{
    if (access(src, F_OK) != 0)
        return CNN_OK;
    csv_table *t = NULL;
    cnn_status st = csv_read(src, &t);
    if (st != CNN_OK)
        return st;
    char dst[4400];
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    char header[8192] = "";
    for (int c = 0; c < t->ncols; c++)
        snprintf(header + strlen(header), sizeof header - strlen(header), "%s%s", c ? "," : "",
                 t->header[c]);
    bool fresh = access(dst, F_OK) != 0;
    if (!fresh) {
        csv_table *have = NULL;
        st = csv_read(dst, &have);
        bool same = st == CNN_OK && have->ncols == t->ncols;
        for (int c = 0; same && c < t->ncols; c++)
            same = !strcmp(have->header[c], t->header[c]);
        csv_free(have);
        if (st == CNN_OK && !same)
            st = cnn_fail(CNN_ERR_INVALID_ARG, "%s: its columns differ from %s's", src, dst);
    }
    FILE *f = st == CNN_OK ? fopen(dst, "a") : NULL;
    if (st == CNN_OK && !f)
        st = cnn_fail(CNN_ERR_IO, "%s: cannot append: %s", dst, strerror(errno));
    if (f) {
        if (fresh)
            fprintf(f, "%s\n", header);
        for (int r = 0; r < t->nrows; r++) {
            report_csv_fields(f, t->ncols, (const char *const *)t->rows[r]);
        }
        if (fflush(f) != 0 || fsync(fileno(f)) != 0)
            st = cnn_fail(CNN_ERR_IO, "%s: write failed: %s", dst, strerror(errno));
        fclose(f);
    }
    csv_free(t);
    return st;
}

static cnn_status gather(const sweep_stage *s, const char *dir)
{
    static const char *const files[] = {"results.csv", "verify.csv", "breakdown.csv", "plan.csv"};
    cnn_status st = CNN_OK;
    for (size_t i = 0; i < sizeof files / sizeof files[0] && st == CNN_OK && *s->folder; i++) {
        char src[4400];
        snprintf(src, sizeof src, "%s/%s", s->folder, files[i]);
        st = append_csv(src, dir, files[i]);
    }
    return st;
}

static const char *status_words(int status, char *buf, size_t n)
{
    if (status == 0)
        snprintf(buf, n, "done");
    else if (status == -2)
        snprintf(buf, n, "stopped");
    else if (status == -1)
        snprintf(buf, n, "could not start");
    else if (status > 128)
        snprintf(buf, n, "killed by signal %d", status - 128);
    else
        snprintf(buf, n, "FAILED (exit %d)", status);
    return buf;
}

cnn_status sweep_execute(sweep_plan *p, const char *dir, FILE *out, int *failed)
{
    char exe[4096], parts[4200];
    sweep_self_exe(exe, sizeof exe);
    snprintf(parts, sizeof parts, "%s/parts", dir);
    *failed = 0;
    cnn_status st = report_mkdirs(parts);
    double total_w = 0, done_w = 0, t0 = cnn_wall_seconds();
    for (int i = 0; i < p->n; i++)
        total_w += p->stage[i].weight;
    for (int i = 0; i < p->n && st == CNN_OK && !run_dir_stopping(); i++) {
        sweep_stage *s = &p->stage[i];
        s->argv[0] = exe;
        char log[4400], why[512] = "";
        snprintf(log, sizeof log, "%s/%02d-%s.log", parts, i + 1, s->kind);
        fprintf(out, "[%d/%d] %s ...\n", i + 1, p->n, s->label);
        fflush(out);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            st = cnn_fail(CNN_ERR_IO, "%s: cannot create: %s", log, strerror(errno));
            break;
        }
        double start = cnn_wall_seconds();
        pid_t pid = spawn_start(s->argv, fd, why, sizeof why);
        close(fd);
        /* a live line while the child runs: the stage, the sweep's elapsed
         * time and an ETA from the stages' weights */
        progress pr;
        progress_start(&pr, "sweep", 0);
        pr.t0 = t0; /* elapsed: the sweep's */
        pr.quiet_s = 1.0;
        pr.plain_every = 60.0;
        s->status = -1;
        while (pid >= 0) {
            int code;
            if (spawn_poll(pid, &code)) {
                s->status = code;
                break;
            }
            if (run_dir_stopping()) {
                /* the child's own stop handling marks its folder interrupted.
                 * SIGTERM, not SIGINT: after a Ctrl-C the child (in the
                 * sweep's process group) has had its SIGINT already, and a
                 * second one would kill it at once (SA_RESETHAND) with its
                 * folder left "running" */
                spawn_stop(pid, SIGTERM, 30.0);
                s->status = -2;
                break;
            }
            double el = cnn_wall_seconds() - t0, part = cnn_wall_seconds() - start;
            double guess = done_w > 0 ? el / done_w : 0;
            char now[300], eta[32] = "?";
            if (guess > 0)
                progress_duration(guess * (total_w - done_w) - part, eta, sizeof eta);
            snprintf(now, sizeof now, "[%d/%d] %s, sweep ETA %s", i + 1, p->n, s->label, eta);
            progress_update(&pr, i, now);
            struct timespec ts = {0, 100000000L};
            nanosleep(&ts, NULL);
        }
        progress_clear(&pr);
        s->seconds = cnn_wall_seconds() - start;
        done_w += s->weight;
        find_folder(log, s->folder, sizeof s->folder);
        cnn_status gst = gather(s, dir);
        char words[64], el[32], eta[32];
        status_words(s->status, words, sizeof words);
        double elapsed = cnn_wall_seconds() - t0;
        progress_duration(s->seconds, el, sizeof el);
        progress_duration(done_w > 0 ? elapsed / done_w * (total_w - done_w) : 0, eta,
                          sizeof eta);
        fprintf(out, "      %s in %s%s%s; sweep ETA %s (log: parts/%02d-%s.log)\n", words, el,
                *why ? ": " : "", why, i + 1 < p->n ? eta : "0 s", i + 1, s->kind);
        if (gst != CNN_OK)
            fprintf(out, "      its files were not gathered: %s\n", cnn_last_error());
        if (s->status != 0)
            (*failed)++;
        fflush(out);
    }
    return st;
}
