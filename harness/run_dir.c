#include "run_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "cli.h"
#include "run_index.h"

uint32_t (*run_dir_random)(void);

static const char *program = "cnnbench";

void run_dir_set_program(const char *argv0)
{
    if (argv0 && *argv0)
        program = argv0;
}

/* ---- the command line, as a shell would take it back ---- */

static void put_word(FILE *f, const char *w)
{
    if (*w && strspn(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                        "_-+=/.,:@%") == strlen(w)) {
        fputs(w, f);
        return;
    }
    fputc('\'', f);
    for (; *w; w++) {
        if (*w == '\'')
            fputs("'\\'", f); /* close the quote, an escaped quote, reopen */
        fputc(*w, f);
    }
    fputc('\'', f);
}

static char *join_command_line(const char *command, int argc, char *const *argv)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    put_word(f, program);
    fputc(' ', f);
    put_word(f, command);
    for (int i = 0; i < argc; i++) {
        fputc(' ', f);
        put_word(f, argv[i]);
    }
    fclose(f);
    return buf;
}

/* ---- the id ---- */

static uint32_t urandom24(void)
{
    uint32_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, &v, sizeof v) != (ssize_t)sizeof v) {
        /* no /dev/urandom: the time and the pid still differ between runs */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (uint32_t)ts.tv_nsec * 2654435761u ^ (uint32_t)getpid() * 40503u;
    }
    if (fd >= 0)
        close(fd);
    return v & 0xFFFFFF;
}

static void iso_time(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The host name as a file name: letters, digits, '.', '-' and '_' only. */
static void host_word(const char *host, char *out, size_t n)
{
    size_t k = 0;
    for (; *host && k + 1 < n && k < 48; host++)
        out[k++] =
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_", *host)
                ? *host
                : '_';
    out[k] = '\0';
    if (!k)
        snprintf(out, n, "host");
}

/* ---- meta.json ---- */

static const char *const end_names[] = {"complete", "failed", "interrupted"};

static cnn_status write_meta(run_dir *rd, const char *status, const char *finished,
                             const char *error)
{
    cnn_atomic_file af;
    cnn_status st = cnn_atomic_open(&af, rd->meta);
    if (st != CNN_OK)
        return st;
    report_json j = {.f = af.f};
    fputs("{\n  ", af.f);
    report_json_str(&j, "run_id", rd->id);
    report_json_str(&j, "command", rd->command);
    report_json_str(&j, "command_line", rd->command_line);
    report_json_raw(&j, "pid", "%ld", (long)getpid());
    report_json_raw(&j, "complete", "%s", strcmp(status, "complete") ? "false" : "true");
    report_json_str(&j, "status", status);
    if (error)
        report_json_str(&j, "error", error);
    report_json_str(&j, "started", rd->started);
    report_json_str(&j, "finished", finished);
    report_json_raw(&j, "seed", "%llu", (unsigned long long)rd->seed);
    report_json_raw(&j, "threads", "%d", rd->threads);
    build_info_json(&j, &rd->build);
    machine_json(&j, &rd->machine);
    if (rd->settings_f && fflush(rd->settings_f) == 0 && rd->settings_len)
        fprintf(af.f, ",\n  %s", rd->settings);
    fputs("\n}\n", af.f);
    return cnn_atomic_commit(&af);
}

/* ---- signals ---- */

static volatile sig_atomic_t stop_signal;
static struct sigaction old_int, old_term;
static int open_runs; /* the signals are taken while any run is open */

static void on_stop(int sig)
{
    static const char msg[] = "\ncnnbench: interrupted: stopping after the case at hand and "
                              "writing what is done (interrupt again to stop at once)\n";
    if (!stop_signal) /* the first one names the stop (a sweep adds SIGTERM) */
        stop_signal = sig;
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
}

static void take_signals(void)
{
    if (open_runs++)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    /* the second signal finds the default action back */
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    stop_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
}

static void give_signals_back(void)
{
    if (--open_runs)
        return;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
}

bool run_dir_stopping(void)
{
    return stop_signal != 0;
}

int run_dir_stop_signal(void)
{
    return stop_signal;
}

run_end run_dir_end(cnn_status st)
{
    return st != CNN_OK ? RUN_FAILED : stop_signal ? RUN_INTERRUPTED : RUN_COMPLETE;
}

/* ---- the run ---- */

static void release(run_dir *rd)
{
    if (rd->settings_f)
        fclose(rd->settings_f);
    free(rd->settings);
    free(rd->command_line);
    rd->settings_f = NULL;
    rd->settings = NULL;
    rd->command_line = NULL;
}

cnn_status run_dir_init(run_dir *rd, const char *command, int argc, char *const *argv,
                        uint64_t seed, int threads)
{
    memset(rd, 0, sizeof *rd);
    snprintf(rd->command, sizeof rd->command, "%s", command);
    rd->seed = seed;
    rd->threads = threads;
    rd->command_line = join_command_line(command, argc, argv);
    rd->settings_f = open_memstream(&rd->settings, &rd->settings_len);
    rd->settings_json.f = rd->settings_f;
    if (!rd->command_line || !rd->settings_f) {
        release(rd);
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory for the run's description", command);
    }
    return CNN_OK;
}

report_json *run_dir_settings(run_dir *rd)
{
    return &rd->settings_json;
}

cnn_status run_dir_create(run_dir *rd, const char *root)
{
    cnn_status st = report_mkdirs(root);
    if (st != CNN_OK) {
        release(rd);
        return st;
    }
    machine_read(&rd->machine);
    build_info_read(&rd->build);
    char host[64], stamp[32];
    host_word(rd->machine.host, host, sizeof host);
    int made = -1, e = 0;
    for (int attempt = 0; attempt < 64 && made != 0; attempt++) {
        report_timestamp(stamp, sizeof stamp);
        iso_time(rd->started, sizeof rd->started);
        /* test only: CNNBENCH_TEST_RUN_SUFFIX=HEX is the first suffix drawn,
         * so that processes started in one second collide on purpose */
        const char *fixed = attempt == 0 ? getenv("CNNBENCH_TEST_RUN_SUFFIX") : NULL;
        uint32_t r = run_dir_random ? run_dir_random() : urandom24();
        if (fixed)
            r = (uint32_t)strtoul(fixed, NULL, 16);
        snprintf(rd->id, sizeof rd->id, "%s-%s-%06x", host, stamp, (unsigned)(r & 0xFFFFFF));
        if (snprintf(rd->path, sizeof rd->path, "%s/%s", root, rd->id) >= (int)sizeof rd->path) {
            release(rd);
            return cnn_fail(CNN_ERR_INVALID_ARG, "%s: results folder name too long", root);
        }
        made = mkdir(rd->path, 0777);
        e = errno;
        if (made != 0 && e != EEXIST)
            break;
    }
    if (made != 0) {
        release(rd);
        return cnn_fail(CNN_ERR_IO, "%s: cannot create a run folder: %s", rd->path,
                        e == EEXIST ? "every id drawn was taken" : strerror(e));
    }
    snprintf(rd->meta, sizeof rd->meta, "%s/meta.json", rd->path);
    st = write_meta(rd, "running", NULL, NULL);
    if (st != CNN_OK) {
        rmdir(rd->path);
        release(rd);
        return st;
    }
    take_signals();
    return CNN_OK;
}

cnn_status run_dir_finish(run_dir *rd, run_end how, const char *error)
{
    char finished[32];
    iso_time(finished, sizeof finished);
    cnn_status st = write_meta(rd, end_names[how], finished, how == RUN_FAILED ? error : NULL);
    run_index_add_run(rd, end_names[how]); /* ROOT/index.csv */
    give_signals_back();
    release(rd);
    return st;
}

int run_dir_close(run_dir *rd, cnn_status st, const char *what)
{
    run_end end = run_dir_end(st);
    int rc = end == RUN_FAILED ? cli_fail(rd->command, st) : -1;
    cnn_status fst = run_dir_finish(rd, end, cnn_last_error());
    if (fst != CNN_OK && rc < 0)
        rc = cli_fail(rd->command, fst);
    printf("run folder: %s (%s)%s\n", rd->path, what,
           end == RUN_INTERRUPTED ? ": interrupted" : "");
    if (rc < 0 && end == RUN_INTERRUPTED)
        rc = 128 + run_dir_stop_signal();
    return rc;
}
