/* The PyTorch peer run as a child process (peer.h); its CSV is read in peer_csv.c. */
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "report.h"
#include "run_dir.h"
#include "child.h"
#include "peer_script.h"

#ifndef CNN_PEERS_DIR
#define CNN_PEERS_DIR "harness/peers"
#endif

extern char **environ;

#define SCRIPT "pytorch_peer.py"
#define TRAIN_SCRIPT "pytorch_train.py"
#define CASES_HEADER "id,op,pass," REPORT_DIMS_HEADER ",bias,ceil_mode,parts,dropout_p,bn_global"

/* The last non-empty line of text, into line. */
static void last_line(const char *text, char *line, size_t n)
{
    const char *end = text + strlen(text);
    while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
        end--;
    const char *start = end;
    while (start > text && start[-1] != '\n')
        start--;
    snprintf(line, n, "%.*s", (int)(end - start), start);
}

/* Does exe import torch and torchvision? "" in why if so, else the reason. */
static void probe_one(const char *exe, char *why, size_t n)
{
    char *argv[] = {(char *)exe, "-c", "import torch, torchvision", NULL};
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(why, n, "pipe: %s", strerror(errno));
        return;
    }
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    pid_t pid = spawn_start(argv, fds[1], why, n);
    close(fds[1]);
    char text[4096] = "";
    size_t used = 0;
    ssize_t got;
    while (pid > 0 && (got = read(fds[0], text + used, sizeof text - 1 - used)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        used += (size_t)got;
        if (used == sizeof text - 1) { /* keep the tail */
            memmove(text, text + used / 2, used - used / 2);
            used -= used / 2;
        }
        text[used] = '\0';
    }
    close(fds[0]);
    if (pid < 0)
        return;
    int rc = spawn_wait(pid, false, SIGTERM, 0);
    if (rc == 0) {
        why[0] = '\0';
        return;
    }
    char line[256];
    last_line(text, line, sizeof line);
    snprintf(why, n, "%s (exit %d)", *line ? line : "import torch, torchvision failed", rc);
}

/* The python that imports torch and torchvision (probed once per value of
 * $CNNBENCH_PYTHON); false with the reasons in why. */
static bool find_python(char *py, size_t npy, char *why, size_t n)
{
    static char for_env[4096] = "\1", found[4096], reasons[1024];
    const char *env = getenv("CNNBENCH_PYTHON");
    if (strcmp(for_env, env ? env : "") != 0) {
        snprintf(for_env, sizeof for_env, "%s", env ? env : "");
        const char *cands[2] = {env, NULL};
        if (!env || !*env)
            cands[0] = "/usr/bin/python3", cands[1] = "python3";
        found[0] = '\0';
        int used = snprintf(reasons, sizeof reasons, "no python with torch and torchvision:");
        for (int i = 0; i < 2 && cands[i] && !*found; i++) {
            char one[512];
            probe_one(cands[i], one, sizeof one);
            if (!*one)
                snprintf(found, sizeof found, "%s", cands[i]);
            else if (used > 0 && (size_t)used < sizeof reasons)
                used +=
                    snprintf(reasons + used, sizeof reasons - (size_t)used, "%s %s%s: %s",
                             i ? ";" : "", env && *env ? "CNNBENCH_PYTHON=" : "", cands[i], one);
        }
    }
    snprintf(py, npy, "%s", found);
    snprintf(why, n, "%s", *found ? "" : reasons);
    return *found != '\0';
}

static bool find_script(const char *name, char *path, size_t n, char *why, size_t nwhy)
{
    const char *dir = getenv("CNNBENCH_PEERS_DIR");
    snprintf(path, n, "%s/%s", dir && *dir ? dir : CNN_PEERS_DIR, name);
    if (access(path, R_OK) == 0)
        return true;
    snprintf(why, nwhy, "no PyTorch peer script: %.900s: %s (CNNBENCH_PEERS_DIR names its folder)",
             path, strerror(errno));
    return false;
}

bool peer_probe(char *info, size_t n)
{
    char py[4096], script[4096];
    if (!find_python(py, sizeof py, info, n) ||
        !find_script(SCRIPT, script, sizeof script, info, n))
        return false;
    snprintf(info, n, "%s, %s", py, script);
    return true;
}

/* ---- running the script ---- */

/* Start script `name` with args and --out DIR/STEM.csv (into ps->csv), its
 * output to DIR/STEM.log; fd3 >= 0: also open in it as fd 3. */
cnn_status peer_script_start(const char *name, const char *dir, const char *stem, char **args,
                             int nargs, int fd3, peer_script *ps)
{
    char py[4096], script[4096], why[1024];
    ps->pid = -1;
    if (!find_python(py, sizeof py, why, sizeof why) ||
        !find_script(name, script, sizeof script, why, sizeof why))
        return cnn_fail(CNN_ERR_UNSUPPORTED, "%s", why);
    snprintf(ps->csv, sizeof ps->csv, "%s/%s.csv", dir, stem);
    snprintf(ps->log, sizeof ps->log, "%s/%s.log", dir, stem);
    char *argv[48] = {py, script};
    int argc = 2;
    for (int i = 0; i < nargs && argc < 44; i++)
        argv[argc++] = args[i];
    argv[argc++] = "--out";
    argv[argc++] = ps->csv;
    argv[argc] = NULL;
    unlink(ps->csv);
    int fd = open(ps->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return cnn_fail(CNN_ERR_IO, "PyTorch peer: cannot write %s: %s", ps->log, strerror(errno));
    ps->pid = spawn_start_fd3(argv, fd, fd3, why, sizeof why);
    close(fd);
    if (ps->pid < 0)
        return cnn_fail(CNN_ERR_BACKEND, "PyTorch peer: %s", why);
    return CNN_OK;
}

cnn_status peer_script_failed(const peer_script *ps, int rc)
{
    char text[8192], line[512];
    FILE *f = fopen(ps->log, "r");
    size_t got = 0;
    if (f) {
        if (fseek(f, -(long)(sizeof text - 1), SEEK_END) != 0)
            rewind(f);
        got = fread(text, 1, sizeof text - 1, f);
        fclose(f);
    }
    text[got] = '\0';
    last_line(text, line, sizeof line);
    cnn_status st = rc == 2 ? CNN_ERR_INVALID_ARG : rc == 77 ? CNN_ERR_UNSUPPORTED : CNN_ERR_BACKEND;
    return cnn_fail(st, "PyTorch peer failed (%s %d): %s (log: %s)", rc > 128 ? "signal" : "exit",
                    rc > 128 ? rc - 128 : rc, *line ? line : "no message", ps->log);
}

cnn_status peer_script_interrupted(const peer_script *ps)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", ps->csv);
    unlink(tmp);
    return cnn_fail(CNN_ERR_BACKEND, "PyTorch peer: interrupted (signal %d): stopped it",
                    run_dir_stop_signal());
}

cnn_status peer_script_finish(peer_script *ps)
{
    int rc = spawn_wait(ps->pid, true, SIGTERM, 2.0);
    ps->pid = -1;
    if (rc == -2 || (rc != 0 && run_dir_stopping()))
        return peer_script_interrupted(ps);
    return rc != 0 ? peer_script_failed(ps, rc) : CNN_OK;
}

/* Run script `name` to its end; a failure's status and message as peer.h says. */
static cnn_status spawn_script(const char *name, const char *dir, const char *stem, char **args,
                               int nargs, char *csv, size_t ncsv)
{
    peer_script ps;
    cnn_status st = peer_script_start(name, dir, stem, args, nargs, -1, &ps);
    snprintf(csv, ncsv, "%s", st == CNN_OK ? ps.csv : "");
    return st != CNN_OK ? st : peer_script_finish(&ps);
}

/* Run the timing script with args and the options; its CSV is DIR/STEM.csv,
 * its output DIR/STEM.log. */
static cnn_status run_script(const peer_opts *o, const char *stem, char **args, int nargs,
                             const peer_layer_case *cases, int ncases, peer_rows *out)
{
    char num[3][32], *all[40], csv[4096];
    int n = 0;
    for (int i = 0; i < nargs; i++)
        all[n++] = args[i];
    const char *opt[3] = {"--threads", "--repetitions", "--min-time"};
    snprintf(num[0], sizeof num[0], "%d", o->threads);
    snprintf(num[1], sizeof num[1], "%d", o->repetitions);
    snprintf(num[2], sizeof num[2], "%.17g", o->min_time);
    for (int i = 0; i < (cases && o->min_time > 0 ? 3 : 2); i++)
        all[n++] = (char *)opt[i], all[n++] = num[i];
    cnn_status st = spawn_script(SCRIPT, o->dir, stem, all, n, csv, sizeof csv);
    return st != CNN_OK ? st : peer_read_csv(csv, cases, ncases, out);
}

cnn_status peer_run_train(const peer_train_request *rq, char *csv, size_t n)
{
    if (!rq->dir || !*rq->dir || !rq->model || !rq->data_dir)
        return cnn_fail(CNN_ERR_INVALID_ARG, "PyTorch train peer: no folder, model or data");
    char num[9][32];
    snprintf(num[0], sizeof num[0], "%d", rq->threads);
    snprintf(num[1], sizeof num[1], "%d", rq->epochs);
    snprintf(num[2], sizeof num[2], "%d", rq->batch);
    snprintf(num[3], sizeof num[3], "%.17g", rq->lr);
    snprintf(num[4], sizeof num[4], "%.17g", rq->momentum);
    snprintf(num[5], sizeof num[5], "%.17g", rq->weight_decay);
    snprintf(num[6], sizeof num[6], "%llu", (unsigned long long)rq->seed);
    snprintf(num[7], sizeof num[7], "%lld", (long long)rq->limit);
    snprintf(num[8], sizeof num[8], "%d", rq->image_size);
    char *args[] = {"--model",        (char *)rq->model,
                    "--data",         (char *)rq->data_dir,
                    "--optimizer",    (char *)rq->optimizer,
                    "--threads",      num[0],
                    "--epochs",       num[1],
                    "--batch",        num[2],
                    "--lr",           num[3],
                    "--momentum",     num[4],
                    "--weight-decay", num[5],
                    "--seed",         num[6],
                    "--limit",        num[7],
                    "--image-size",   num[8]};
    return spawn_script(TRAIN_SCRIPT, rq->dir, "pytorch_train", args,
                        (int)(sizeof args / sizeof args[0]), csv, n);
}

static cnn_status check_opts(const peer_opts *o)
{
    if (!o->dir || !*o->dir)
        return cnn_fail(CNN_ERR_INVALID_ARG, "PyTorch peer: no folder for its files");
    if (o->repetitions < 1 || o->threads < 0 || !(o->min_time >= 0))
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "PyTorch peer: repetitions %d (want >= 1), threads %d (>= 0), "
                        "min_time %g (>= 0)",
                        o->repetitions, o->threads, o->min_time);
    return CNN_OK;
}

/* The arguments of a models request (num: room for its numbers); their count. */
static int model_args(const peer_models_request *rq, char num[3][32], char *args[12])
{
    snprintf(num[0], 32, "%d", rq->batch);
    snprintf(num[1], 32, "%d", rq->image_size);
    snprintf(num[2], 32, "%d", rq->classes);
    char *a[] = {"--models",     (char *)rq->models,
                 "--modes",      (char *)(rq->modes ? rq->modes : "infer,train_step"),
                 "--batch",      num[0],
                 "--image-size", num[1],
                 "--classes",    num[2]};
    memcpy(args, a, sizeof a);
    return 10;
}

static cnn_status check_models(const peer_models_request *rq)
{
    cnn_status st = check_opts(&rq->opts);
    if (st == CNN_OK && (!rq->models || !*rq->models))
        st = cnn_fail(CNN_ERR_INVALID_ARG, "PyTorch peer: no models named");
    return st;
}

cnn_status peer_run_models(const peer_models_request *rq, peer_rows *out)
{
    memset(out, 0, sizeof *out);
    cnn_status st = check_models(rq);
    if (st != CNN_OK)
        return st;
    char num[3][32], *args[12];
    int n = model_args(rq, num, args);
    return run_script(&rq->opts, "pytorch_peer_models", args, n, NULL, 0, out);
}

cnn_status peer_models_start(const peer_models_request *rq, int fd3, peer_script *ps)
{
    ps->pid = -1;
    cnn_status st = check_models(rq);
    if (st != CNN_OK)
        return st;
    char num[4][32], *args[16];
    int n = model_args(rq, num, args);
    snprintf(num[3], 32, "%d", rq->opts.threads);
    char reps[32];
    snprintf(reps, sizeof reps, "%d", rq->opts.repetitions);
    args[n++] = "--threads", args[n++] = num[3];
    args[n++] = "--repetitions", args[n++] = reps;
    args[n++] = "--paced";
    return peer_script_start(SCRIPT, rq->opts.dir, "pytorch_peer_models", args, n, fd3, ps);
}

/* The case file's columns (CASES_HEADER): id, op, pass, the dimensions, then these. */
enum { BIAS = 3 + REPORT_DIMS, CEIL, PARTS, DROP, GLOBAL, NCOLS };

/* Case i's columns into f; "" in why or what is wrong with it. */
static void case_fields(const peer_layer_case *c, int i, char f[NCOLS][64], char *why, size_t n)
{
    const cnn_op *op = &c->op;
    bool known = (int)op->kind >= 0 && op->kind < CNN_OP_KIND_COUNT;
    if (c->id && (!*c->id || strlen(c->id) >= 64 || strpbrk(c->id, ",\"\r\n"))) {
        snprintf(why, n, "case %d: id '%.80s' must be 1-63 bytes, no commas or quotes", i, c->id);
        return;
    }
    if (!known || (int)c->pass < 0 || c->pass >= CNN_PASS_COUNT || !cnn_op_has_pass(op, c->pass)) {
        snprintf(why, n, "case %d: %s has no pass %d", i, known ? cnn_op_name(op) : "no op",
                 (int)c->pass);
        return;
    }
    for (int k = 0; k < NCOLS; k++)
        f[k][0] = '\0';
    if (c->id)
        snprintf(f[0], 64, "%s", c->id);
    else
        snprintf(f[0], 64, "%d", i);
    snprintf(f[1], 64, "%s", cnn_op_name(op));
    snprintf(f[2], 64, "%s", cnn_pass_str(c->pass));
    char dims[REPORT_DIMS][24];
    report_op_dims(op, dims);
    for (int d = 0; d < REPORT_DIMS; d++)
        memcpy(f[3 + d], dims[d], sizeof dims[d]);
    if (op->kind == CNN_OP_CONV)
        snprintf(f[BIAS], 64, "%d", op->conv.has_bias);
    if (op->kind == CNN_OP_LINEAR)
        snprintf(f[BIAS], 64, "%d", op->linear.has_bias);
    if (op->kind == CNN_OP_POOL)
        snprintf(f[CEIL], 64, "%d", op->pool.ceil_mode);
    for (int k = 0, used = 0; op->kind == CNN_OP_CONCAT && k < op->concat.count; k++)
        used += snprintf(f[PARTS] + used, (size_t)(64 - used), k ? "+%d" : "%d", op->concat.c[k]);
    if (op->kind == CNN_OP_DROPOUT)
        snprintf(f[DROP], 64, "%.17g", op->dropout.p);
    if (op->kind == CNN_OP_BN)
        snprintf(f[GLOBAL], 64, "%d", op->bn.global_stats);
}

cnn_status peer_run_layers(const peer_layer_case *cases, int n, const peer_opts *opts,
                           peer_rows *out)
{
    memset(out, 0, sizeof *out);
    cnn_status st = check_opts(opts);
    if (st != CNN_OK)
        return st;
    if (n < 1 || !cases)
        return cnn_fail(CNN_ERR_INVALID_ARG, "PyTorch peer: no layer cases");
    char path[4096], why[256] = "", f[NCOLS][64];
    const char *fields[NCOLS];
    for (int i = 0; i < NCOLS; i++)
        fields[i] = f[i];
    snprintf(path, sizeof path, "%s/pytorch_peer_cases.csv", opts->dir);
    report_csv *csv = NULL;
    if ((st = report_csv_open(path, CASES_HEADER, &csv)) != CNN_OK)
        return st;
    for (int i = 0; i < n && !*why && st == CNN_OK; i++) {
        case_fields(&cases[i], i, f, why, sizeof why);
        if (!*why)
            st = report_csv_row(csv, NCOLS, fields);
    }
    cnn_status closed = report_csv_close(csv, st == CNN_OK && !*why);
    if (*why)
        return cnn_fail(CNN_ERR_INVALID_ARG, "PyTorch peer: %s", why);
    if (st != CNN_OK || closed != CNN_OK)
        return st != CNN_OK ? st : closed;
    char *args[] = {"--layers", path};
    return run_script(opts, "pytorch_peer_layers", args, 2, cases, n, out);
}
