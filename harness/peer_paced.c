/* The paced peer (peer.h): the models script run with --paced, told over a
 * socket on its fd 3 when to take each timed step.
 *
 * The exchange, one line each way:
 *   peer:    "ready MODEL MODE"  (the model built and warmed up in that mode)
 *   harness: "step"              (take one timed step now)
 *   peer:    "done"              (taken; the time is in its CSV)
 * then, after every mode of every model, the peer writes its CSV and exits
 * 0. A line that does not fit, the peer ending early, or a stop request of
 * the run ends the session with an error naming what happened. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "child.h"
#include "peer.h"
#include "peer_script.h"
#include "run_dir.h"

struct peer_paced {
    peer_script ps;
    int fd; /* this side of the socket */
    char buf[256];
    size_t used;
};

static void close_session(peer_paced *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

/* Close the socket and stop the peer if it still runs. */
static void stop_peer(peer_paced *p)
{
    close_session(p);
    if (p->ps.pid > 0)
        spawn_stop(p->ps.pid, SIGTERM, 2.0);
    p->ps.pid = -1;
}

void peer_paced_abort(peer_paced *p)
{
    if (!p)
        return;
    stop_peer(p);
    free(p);
}

/* The peer stopped talking (end of file, or a send that failed): its exit
 * status says why. */
static cnn_status ended(peer_paced *p, const char *waiting_for)
{
    close_session(p);
    int rc = spawn_wait(p->ps.pid, true, SIGTERM, 2.0);
    p->ps.pid = -1;
    if (rc == -2 || (rc != 0 && run_dir_stopping()))
        return peer_script_interrupted(&p->ps);
    if (rc != 0)
        return peer_script_failed(&p->ps, rc);
    return cnn_fail(CNN_ERR_BACKEND, "PyTorch peer: ended (exit 0) while cnnbench waited for '%s' (log: %s)",
                    waiting_for, p->ps.log);
}

/* One line from the peer into line (without its newline). */
static cnn_status read_line(peer_paced *p, char *line, size_t n, const char *waiting_for)
{
    for (;;) {
        char *nl = memchr(p->buf, '\n', p->used);
        if (nl) {
            size_t len = (size_t)(nl - p->buf);
            snprintf(line, n, "%.*s", (int)len, p->buf);
            memmove(p->buf, nl + 1, p->used - len - 1);
            p->used -= len + 1;
            return CNN_OK;
        }
        if (p->used == sizeof p->buf - 1) {
            p->buf[p->used] = '\0';
            stop_peer(p);
            return cnn_fail(CNN_ERR_BACKEND, "PyTorch peer: a line over %zu bytes ('%.60s...') while cnnbench waited for '%s'",
                            sizeof p->buf - 1, p->buf, waiting_for);
        }
        if (run_dir_stopping()) {
            stop_peer(p);
            return peer_script_interrupted(&p->ps);
        }
        struct pollfd pf = {.fd = p->fd, .events = POLLIN};
        int r = poll(&pf, 1, 100);
        if (r < 0 && errno != EINTR)
            return cnn_fail(CNN_ERR_BACKEND, "PyTorch peer: poll: %s", strerror(errno));
        if (r <= 0)
            continue;
        ssize_t got = recv(p->fd, p->buf + p->used, sizeof p->buf - 1 - p->used, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return ended(p, waiting_for);
        p->used += (size_t)got;
    }
}

cnn_status peer_paced_start(const peer_models_request *rq, peer_paced **out)
{
    *out = NULL;
    peer_paced *p = calloc(1, sizeof *p);
    if (!p)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "PyTorch peer: no memory");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        free(p);
        return cnn_fail(CNN_ERR_BACKEND, "PyTorch peer: socketpair: %s", strerror(errno));
    }
    p->fd = sv[0];
    cnn_status st = peer_models_start(rq, sv[1], &p->ps);
    close(sv[1]); /* the child has its own copy as fd 3 */
    if (st != CNN_OK) {
        peer_paced_abort(p);
        return st;
    }
    *out = p;
    return CNN_OK;
}

cnn_status peer_paced_ready(peer_paced *p, const char *model, const char *mode)
{
    char want[128], line[256];
    snprintf(want, sizeof want, "ready %s %s", model, mode);
    cnn_status st = read_line(p, line, sizeof line, want);
    if (st == CNN_OK && strcmp(line, want) != 0) {
        stop_peer(p);
        st = cnn_fail(CNN_ERR_BACKEND, "PyTorch peer: said '%.80s' where cnnbench waited for '%s' (log: %s)",
                      line, want, p->ps.log);
    }
    return st;
}

cnn_status peer_paced_step(peer_paced *p)
{
    static const char cmd[] = "step\n";
    if (p->fd < 0)
        return cnn_fail(CNN_ERR_BACKEND, "PyTorch peer: the session has ended");
    ssize_t sent;
    do
        sent = send(p->fd, cmd, sizeof cmd - 1, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    if (sent != (ssize_t)(sizeof cmd - 1))
        return ended(p, "done");
    char line[256];
    cnn_status st = read_line(p, line, sizeof line, "done");
    if (st == CNN_OK && strcmp(line, "done") != 0) {
        stop_peer(p);
        st = cnn_fail(CNN_ERR_BACKEND, "PyTorch peer: said '%.80s' where cnnbench waited for 'done' (log: %s)",
                      line, p->ps.log);
    }
    return st;
}

cnn_status peer_paced_finish(peer_paced *p, peer_rows *out)
{
    memset(out, 0, sizeof *out);
    close_session(p); /* end of file: no more steps */
    cnn_status st = peer_script_finish(&p->ps);
    if (st == CNN_OK)
        st = peer_read_csv(p->ps.csv, NULL, 0, out);
    free(p);
    return st;
}
