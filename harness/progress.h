/* A progress display for long runs (verify, sweep, train): the stage, what
 * runs now, done/total, elapsed time and an ETA.
 *
 * On a terminal it is one live line on stderr, redrawn at most twice a
 * second and cleared when something else is printed (progress_clear); when
 * stderr is not a terminal (CI logs, files) it is a plain line per update,
 * at most one every `plain_every` seconds, plus the last. The ETA assumes
 * the items left cost what the finished ones did on average. Nothing is
 * shown for a run shorter than `quiet_s` seconds. */
#ifndef CNN_PROGRESS_H
#define CNN_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

typedef struct progress {
    char stage[48];
    int done, total;
    double t0, last;
    double quiet_s, plain_every;
    bool tty, drawn;
    FILE *out;
} progress;

/* Start a stage of `total` items (0: unknown, then no ETA). */
void progress_start(progress *p, const char *stage, int total);
/* `done` items finished; `now` says what runs next (NULL: nothing). */
void progress_update(progress *p, int done, const char *now);
/* Erase the live line before other output (a no-op when none is drawn). */
void progress_clear(progress *p);
/* The last line: the stage's final count and time. */
void progress_end(progress *p);
/* "1 h 02 min", "3 min 05 s", "42 s" */
char *progress_duration(double seconds, char *buf, size_t n);

#endif
