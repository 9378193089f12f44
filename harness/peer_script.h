/* The peer's script as a child process: the pieces peer.c and peer_paced.c
 * share (internal to the harness; peer.h is the interface). */
#ifndef CNN_PEER_SCRIPT_H
#define CNN_PEER_SCRIPT_H

#include <sys/types.h>

#include "peer.h"

typedef struct peer_script {
    pid_t pid;       /* -1: not running */
    char csv[4096];  /* its --out */
    char log[4096];  /* its stdout and stderr */
} peer_script;

/* Start script `name` (found as peer.h says) with args and --out
 * DIR/STEM.csv, its output to DIR/STEM.log; fd3 >= 0 is also its fd 3. */
cnn_status peer_script_start(const char *name, const char *dir, const char *stem, char **args,
                             int nargs, int fd3, peer_script *ps);

/* Start the models script on rq with --paced (it waits on fd 3 before each
 * timed step). */
cnn_status peer_models_start(const peer_models_request *rq, int fd3, peer_script *ps);

/* Wait for it to end (a stop request of the run stops it): CNN_OK on exit
 * 0, else the error peer.h describes. */
cnn_status peer_script_finish(peer_script *ps);

/* The error for an exit code rc (its log's last line), and for a run
 * stopped by a signal. */
cnn_status peer_script_failed(const peer_script *ps, int rc);
cnn_status peer_script_interrupted(const peer_script *ps);

#endif
