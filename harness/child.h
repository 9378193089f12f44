/* Child processes (the PyTorch peer, the stages of a sweep): started with
 * posix_spawn from an argv (no shell), stdin from /dev/null, stdout and
 * stderr into one file descriptor, SIGINT and SIGTERM at their defaults
 * and unblocked in the child whatever the parent does with them. */
#ifndef CNN_CHILD_H
#define CNN_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Start argv[0] (searched on PATH if it has no slash) with stdout and
 * stderr on fd `out`; -1 with the reason in why. */
pid_t spawn_start(char *const argv[], int out, char *why, size_t n);
/* The same with fd3 (>= 0) also open in the child as its fd 3 (a channel
 * to talk over: the paced peer's socket). */
pid_t spawn_start_fd3(char *const argv[], int out, int fd3, char *why, size_t n);

/* Has pid ended? 1 with its exit code (or 128 + signal, -1 when waiting
 * failed) in *code; 0 while it runs. */
int spawn_poll(pid_t pid, int *code);
/* Send `stop_signal`, wait up to grace_s seconds, then SIGKILL; reaps it. */
void spawn_stop(pid_t pid, int stop_signal, double grace_s);

/* Wait for pid: its exit code, or 128 + the signal that ended it; -1 when
 * waiting failed. With watch_stop, a stop request of the run
 * (run_dir_stopping) sends the child `stop_signal`, gives it `grace_s`
 * seconds to end, then kills it, and returns -2. */
int spawn_wait(pid_t pid, bool watch_stop, int stop_signal, double grace_s);

#endif
