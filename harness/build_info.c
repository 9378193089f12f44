#include "build_info.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "registry.h"
#ifdef CNN_HAVE_BENCHMARK
#include "gbench.h"
#endif

#ifndef CNN_VERSION
#define CNN_VERSION "unknown"
#endif
#ifndef CNN_GIT_COMMIT
#define CNN_GIT_COMMIT "unknown"
#endif
#ifndef CNN_SOURCE_DIR
#define CNN_SOURCE_DIR ""
#endif
#ifndef CNN_BUILD_TYPE
#define CNN_BUILD_TYPE "unknown"
#endif
#ifndef CNN_C_FLAGS
#define CNN_C_FLAGS "unknown"
#endif

extern char **environ;

/* Run `git -C CNN_SOURCE_DIR args...` and read its standard output into
 * out (truncated to n - 1 bytes; the rest is read and dropped). False when
 * git cannot be run or fails. posix_spawn, not fork: the process may have
 * OpenMP threads by now. */
static bool git(const char *const *args, char *out, size_t n)
{
    char *argv[16];
    int argc = 0;
    argv[argc++] = (char *)"git";
    argv[argc++] = (char *)"-C";
    argv[argc++] = (char *)CNN_SOURCE_DIR;
    for (; *args && argc < 15; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    /* the environment, plus: git status must not refresh the index (a
     * lock that would race with whoever works in that tree) */
    int ne = 0;
    while (environ[ne])
        ne++;
    char **envp = malloc(((size_t)ne + 2) * sizeof *envp);
    int fds[2];
    if (!envp || pipe(fds) != 0) {
        free(envp);
        return false;
    }
    memcpy(envp, environ, (size_t)ne * sizeof *envp);
    envp[ne] = (char *)"GIT_OPTIONAL_LOCKS=0";
    envp[ne + 1] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, "git", &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    close(fds[1]);
    size_t got = 0;
    char chunk[512];
    ssize_t r;
    while (rc == 0 && ((r = read(fds[0], chunk, sizeof chunk)) > 0 || (r < 0 && errno == EINTR))) {
        for (ssize_t i = 0; i < r && got + 1 < n; i++)
            out[got++] = chunk[i];
    }
    out[got] = '\0';
    close(fds[0]);
    int status = 0;
    if (rc != 0)
        return false;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static bool is_hash(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return n >= 7 && (s[n] == '\0' || s[n] == '\n');
}

void build_info_read(build_info *b)
{
    memset(b, 0, sizeof *b);
    b->version = CNN_VERSION;
    b->configure_commit = CNN_GIT_COMMIT;
    b->source_dir = CNN_SOURCE_DIR;
    b->build_type = CNN_BUILD_TYPE;
    b->c_flags = CNN_C_FLAGS;
#if defined(__clang__)
    b->compiler = __VERSION__; /* "Clang 15.0.7 ..." */
#elif defined(__GNUC__)
    b->compiler = "GCC " __VERSION__;
#else
    b->compiler = "unknown";
#endif
    snprintf(b->commit, sizeof b->commit, "%s", CNN_GIT_COMMIT);
    b->commit_source = "configure time";
    b->dirty = -1;
    char dotgit[4200], head[64], status[64];
    struct stat sb;
    snprintf(dotgit, sizeof dotgit, "%s/.git", CNN_SOURCE_DIR);
    if (*CNN_SOURCE_DIR && stat(dotgit, &sb) == 0 &&
        git((const char *const[]){"rev-parse", "HEAD", NULL}, head, sizeof head) && is_hash(head)) {
        head[strcspn(head, "\n")] = '\0';
        snprintf(b->commit, sizeof b->commit, "%s", head);
        b->commit_source = "git at run time";
        if (git((const char *const[]){"status", "--porcelain", "--untracked-files=no", NULL},
                status, sizeof status))
            b->dirty = status[0] != '\0';
    }
    b->nlibs = cnn_library_versions(b->libs);
#ifdef CNN_HAVE_BENCHMARK
    cnn_library_version *l = &b->libs[b->nlibs++];
    l->name = "Google Benchmark";
    snprintf(l->version, sizeof l->version, "%s", cnn_gbench_version());
#endif
}

static const char *dirty_str(int dirty)
{
    return dirty > 0 ? " (with uncommitted changes)" : dirty == 0 ? "" : " (changes unknown)";
}

void build_info_print(const build_info *b, FILE *out)
{
    char names[512];
    fprintf(out, "cnnbench %s\n", b->version);
    fprintf(out, "commit:    %s%s, from %s", b->commit, dirty_str(b->dirty), b->commit_source);
    if (strcmp(b->commit_source, "configure time") != 0)
        fprintf(out, " in %s", b->source_dir);
    fprintf(out, "\n");
    if (strcmp(b->commit, b->configure_commit) != 0)
        fprintf(out, "           (configured at %s: rebuild after reconfiguring to match)\n",
                b->configure_commit);
    fprintf(out, "build:     %s, %s\n", b->build_type, b->compiler);
    fprintf(out, "backends:  %s\n", cnn_backend_names(names, sizeof names));
    fprintf(out, "libraries:%s\n", b->nlibs ? "" : " none");
    for (int i = 0; i < b->nlibs; i++)
        fprintf(out, "  %-17s %s\n", b->libs[i].name, b->libs[i].version);
}

void build_info_json(report_json *j, const build_info *b)
{
    char names[512];
    report_json_str(j, "version", b->version);
    report_json_str(j, "git_commit", b->commit);
    report_json_raw(j, "git_dirty", "%s", b->dirty > 0 ? "true" : b->dirty == 0 ? "false" : "null");
    report_json_str(j, "commit_source", b->commit_source);
    report_json_str(j, "configure_commit", b->configure_commit);
    report_json_str(j, "build_type", b->build_type);
    report_json_str(j, "compiler", b->compiler);
    report_json_str(j, "compiler_flags", b->c_flags);
    report_json_str(j, "backends_built", cnn_backend_names(names, sizeof names));
    report_json_key(j, "libraries");
    fputs("{", j->f);
    for (int i = 0; i < b->nlibs; i++) {
        fputs(i ? ", " : "", j->f);
        report_json_string(j->f, b->libs[i].name);
        fputs(": ", j->f);
        report_json_string(j->f, b->libs[i].version);
    }
    fputs("}", j->f);
}
