/* The run folder: every command that writes results (verify, bench) writes
 * them into a folder of its own, ROOT/<run-id>/, with meta.json beside them.
 *
 * The run id is <host>-<UTC YYYYmmdd-HHMMSS>-<6 random hex digits>; the
 * folder is made with a plain mkdir, so two runs that drew the same id (the
 * same second, the same suffix) cannot share it: the second draws again.
 * (Tests only: CNNBENCH_TEST_RUN_SUFFIX=HEX fixes the first suffix drawn,
 * so that processes started in one second collide for real.)
 * meta.json is written (atomically) as soon as the folder exists, with
 * "complete": false and "status": "running", and rewritten when the run
 * ends: "complete": true, "status": "complete", or "complete": false with
 * "status" "failed" (and "error") or "interrupted". A run killed outright
 * leaves "running": that, with complete false, is how a reader tells a run
 * that did not finish. Its keys are listed in results/README.md.
 *
 * Between run_dir_create and run_dir_finish, SIGINT and SIGTERM do not end
 * the process: they set a flag that the long loops poll (run_dir_stopping)
 * to stop after the case at hand, so that the rows written so far stay
 * whole and meta.json says "interrupted". A second signal ends the process
 * at once. main() then ends the process by that same signal (a shell sees
 * status 130 for Ctrl-C, 143 for SIGTERM).
 *
 *     run_dir rd;
 *     run_dir_init(&rd, "verify", argc, argv, seed, threads);
 *     report_json_str(run_dir_settings(&rd), "shapes", shapes);
 *     if ((st = run_dir_create(&rd, root)) != CNN_OK) return ...;  // rd.path
 *     ... write rd.path/verify.csv, polling run_dir_stopping() ...
 *     run_dir_finish(&rd, run_dir_end(st), st == CNN_OK ? NULL : cnn_last_error());
 */
#ifndef CNN_RUN_DIR_H
#define CNN_RUN_DIR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "build_info.h"
#include "machine.h"
#include "report.h"
#include "status.h"

typedef enum run_end { RUN_COMPLETE, RUN_FAILED, RUN_INTERRUPTED } run_end;

typedef struct run_dir {
    char id[128];    /* <host>-<YYYYmmdd-HHMMSS>-<hex6> */
    char path[4096]; /* ROOT/<id> */
    /* the rest is run_dir.c's */
    char meta[4224];
    char command[32];
    char *command_line;
    char started[32];
    uint64_t seed;
    int threads;
    machine_info machine;
    build_info build;
    FILE *settings_f;
    char *settings;
    size_t settings_len;
    report_json settings_json;
} run_dir;

/* Record argv[0] of the program for the command lines in meta.json (main()
 * does; otherwise "cnnbench"). */
void run_dir_set_program(const char *argv0);

/* Start describing a run of `command` (argv: the words after the command's
 * name) before its folder exists; no I/O. */
cnn_status run_dir_init(run_dir *rd, const char *command, int argc, char *const *argv,
                        uint64_t seed, int threads);
/* Where a command puts its own settings (members of meta.json after the
 * common ones). */
report_json *run_dir_settings(run_dir *rd);
/* Make ROOT (mkdir -p) and ROOT/<run-id>/, write meta.json, take SIGINT and
 * SIGTERM. On failure rd is released and nothing is left but ROOT. */
cnn_status run_dir_create(run_dir *rd, const char *root);
/* Rewrite meta.json with how the run ended (error: why it failed, or NULL;
 * only RUN_FAILED writes it), append the run's line to ROOT/index.csv
 * (run_index.h), give SIGINT and SIGTERM back, release rd (rd->id and
 * rd->path stay). */
cnn_status run_dir_finish(run_dir *rd, run_end how, const char *error);

/* The end of a command's run that returned st: a failure reported as
 * cli_fail does, run_dir_finish, then "run folder: PATH (what)" on stdout.
 * Returns the exit code of a failed or interrupted run (128 + the signal),
 * -1 for a complete one. */
int run_dir_close(run_dir *rd, cnn_status st, const char *what);

/* How a run that returned st ended: failed, interrupted or complete. */
run_end run_dir_end(cnn_status st);
/* Has SIGINT or SIGTERM asked the run to stop? */
bool run_dir_stopping(void);
/* The signal that did (0 if none). */
int run_dir_stop_signal(void);

/* For tests: where the 24 random bits of the suffix come from (NULL: the
 * default, /dev/urandom). */
extern uint32_t (*run_dir_random)(void);

#endif
