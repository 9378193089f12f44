/* See test_hostile_util.h. */
#define _GNU_SOURCE
#include "test_hostile_util.h"

#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CNNBENCH_EXE
#define CNNBENCH_EXE "cnnbench"
#endif

static char scratch[256];
char th_out[1 << 16], th_err[1 << 16];

bool th_init(const char *name)
{
    snprintf(scratch, sizeof scratch, "/tmp/cnn_%s_XXXXXX", name);
    /* short timings of the machine's ceilings in every bench run */
    setenv("CNNBENCH_CEILINGS_SECONDS", "0.03", 1);
    return mkdtemp(scratch) != NULL;
}

int th_finish(const char *name)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", scratch);
    return tu_finish(name);
}

const char *th_path(const char *rel)
{
    static char buf[8][1024];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", scratch, rel);
    return p;
}

int th_run(const char *const *args, long fsize_limit)
{
    char *argv[64], out_path[300], err_path[300];
    int n = 0;
    argv[n++] = (char *)CNNBENCH_EXE;
    for (; *args && n < 63; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    snprintf(out_path, sizeof out_path, "%s/stdout.txt", scratch);
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", scratch);
    /* The child inherits the limit and the ignored SIGXFSZ from this process,
     * which holds them only while it starts the child (it writes nothing then). */
    fflush(NULL);
    struct rlimit old, rl = {(rlim_t)fsize_limit, (rlim_t)fsize_limit};
    void (*old_handler)(int) = SIG_DFL;
    bool limited = fsize_limit > 0 && getrlimit(RLIMIT_FSIZE, &old) == 0;
    if (limited) {
        rl.rlim_max = old.rlim_max; /* lowered soft limit only, so it can be raised back */
        old_handler = signal(SIGXFSZ, SIG_IGN);
        TU_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit(RLIMIT_FSIZE, %ld)", fsize_limit);
    }
    pid_t pid = tu_start_process(CNNBENCH_EXE, argv, out_path, err_path);
    if (limited) {
        setrlimit(RLIMIT_FSIZE, &old);
        signal(SIGXFSZ, old_handler);
    }
    int rc = tu_wait_process(pid);
    tu_slurp(out_path, th_out, sizeof th_out);
    tu_slurp(err_path, th_err, sizeof th_err);
    return rc;
}

void th_expect(const char *what, int rc, int want, const char *const *words)
{
    TU_CHECK(rc == want, "%s: exit %d, want %d\nstdout: %s\nstderr: %s", what, rc, want, th_out,
             th_err);
    for (; words && *words; words++)
        TU_CHECK(strstr(th_err, *words) != NULL, "%s: stderr lacks '%s':\n%s", what, *words,
                 th_err);
}

static uint64_t fnv_file(const char *path, long long *size)
{
    uint64_t h = 1469598103934665603ull;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    for (int c; (c = getc(f)) != EOF; (*size)++)
        h = (h ^ (uint64_t)c) * 1099511628211ull;
    fclose(f);
    return h;
}

static void add(char *buf, size_t n, const char *fmt, const char *rel, long long size, uint64_t h)
{
    size_t len = strlen(buf);
    if (len + 1 < n)
        snprintf(buf + len, n - len, fmt, rel, size, (unsigned long long)h);
}

static void walk(const char *path, const char *rel, char *buf, size_t n, int depth)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (!S_ISDIR(sb.st_mode)) {
        long long size = 0;
        uint64_t h = S_ISREG(sb.st_mode) ? fnv_file(path, &size) : 0;
        add(buf, n, "%s %lld %016llx\n", rel, size, h);
        return;
    }
    add(buf, n, "%s/ %lld %llx\n", rel, 0, 0);
    static char names[256][256];
    char mine[64][256];
    int k = tu_list_dir(path, names, 256);
    if (depth > 6 || k < 0)
        return;
    int m = k < 64 ? k : 64;
    memcpy(mine, names, (size_t)m * 256);
    for (int i = 0; i < m; i++) {
        char p[2048], r[2048];
        snprintf(p, sizeof p, "%.1500s/%.255s", path, mine[i]);
        snprintf(r, sizeof r, "%.1500s/%.255s", rel, mine[i]);
        walk(p, r, buf, n, depth + 1);
    }
}

void th_fingerprint(const char *path, char *buf, size_t n)
{
    buf[0] = '\0';
    walk(path, ".", buf, n, 0);
    if (!buf[0])
        snprintf(buf, n, "absent");
}

void th_write(const char *rel, const char *text)
{
    FILE *f = fopen(th_path(rel), "wb");
    TU_CHECK(f != NULL, "cannot write %s", th_path(rel));
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

int th_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
