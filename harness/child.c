#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "run_dir.h"

extern char **environ;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

pid_t spawn_start(char *const argv[], int out, char *why, size_t n)
{
    return spawn_start_fd3(argv, out, -1, why, n);
}

pid_t spawn_start_fd3(char *const argv[], int out, int fd3, char *why, size_t n)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, deflt;
    sigemptyset(&none);
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGINT);
    sigaddset(&deflt, SIGTERM);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    posix_spawn_file_actions_adddup2(&fa, out, 2);
    if (fd3 >= 0)
        posix_spawn_file_actions_adddup2(&fa, fd3, 3);
    posix_spawnattr_init(&at);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &deflt);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    int err = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (err) {
        snprintf(why, n, "cannot run %s: %s", argv[0], strerror(err));
        return -1;
    }
    return pid;
}

int spawn_poll(pid_t pid, int *code)
{
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
        *code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return 1;
    }
    if (r < 0 && errno != EINTR) {
        *code = -1;
        return 1;
    }
    return 0;
}

void spawn_stop(pid_t pid, int stop_signal, double grace_s)
{
    int status;
    kill(pid, stop_signal);
    for (long i = 0; i < (long)(grace_s * 50) && waitpid(pid, &status, WNOHANG) == 0; i++)
        sleep_ms(20);
    if (kill(pid, SIGKILL) == 0 || errno != ESRCH)
        waitpid(pid, &status, 0);
}

int spawn_wait(pid_t pid, bool watch_stop, int stop_signal, double grace_s)
{
    for (;;) {
        if (!watch_stop) {
            int status = 0;
            pid_t r = waitpid(pid, &status, 0);
            if (r == pid)
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            if (r < 0 && errno != EINTR)
                return -1;
            continue;
        }
        int code;
        if (spawn_poll(pid, &code))
            return code;
        if (run_dir_stopping()) {
            spawn_stop(pid, stop_signal, grace_s);
            return -2;
        }
        sleep_ms(10);
    }
}
