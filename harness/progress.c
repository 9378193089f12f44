#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

char *progress_duration(double s, char *buf, size_t n)
{
    if (s < 0)
        s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld h %02ld min", t / 3600, t % 3600 / 60);
    else if (t >= 60)
        snprintf(buf, n, "%ld min %02ld s", t / 60, t % 60);
    else
        snprintf(buf, n, "%ld s", t);
    return buf;
}

void progress_start(progress *p, const char *stage, int total)
{
    memset(p, 0, sizeof *p);
    snprintf(p->stage, sizeof p->stage, "%s", stage);
    p->total = total;
    p->out = stderr;
    p->tty = isatty(fileno(stderr));
    p->t0 = p->last = cnn_wall_seconds();
    p->quiet_s = 3.0;
    p->plain_every = 5.0;
}

static void draw(progress *p, const char *now, bool end)
{
    double el = cnn_wall_seconds() - p->t0;
    char elapsed[32], eta[32] = "", line[320];
    progress_duration(el, elapsed, sizeof elapsed);
    if (!end && p->total > 0 && p->done > 0)
        progress_duration(el / p->done * (p->total - p->done), eta, sizeof eta);
    int len;
    if (p->total > 0)
        len = snprintf(line, sizeof line, "%s: [%d/%d] %s elapsed%s%s%s%s", p->stage, p->done,
                       p->total, elapsed, *eta ? ", ETA " : "", eta, now && *now ? "  " : "",
                       now && *now ? now : "");
    else
        len = snprintf(line, sizeof line, "%s: %d done, %s elapsed%s%s", p->stage, p->done,
                       elapsed, now && *now ? "  " : "", now && *now ? now : "");
    if (p->tty) {
        /* one terminal line: cut to 100 columns, clear the rest */
        if (len > 100)
            line[100] = '\0';
        fprintf(p->out, "\r%s\033[K%s", line, end ? "\n" : "");
        p->drawn = !end;
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
}

void progress_update(progress *p, int done, const char *now)
{
    p->done = done;
    double t = cnn_wall_seconds();
    if (t - p->t0 < p->quiet_s || t - p->last < (p->tty ? 0.5 : p->plain_every))
        return;
    p->last = t;
    draw(p, now, false);
}

void progress_clear(progress *p)
{
    if (p->tty && p->drawn) {
        fprintf(p->out, "\r\033[K");
        fflush(p->out);
        p->drawn = false;
    }
}

void progress_end(progress *p)
{
    if (cnn_wall_seconds() - p->t0 < p->quiet_s)
        return;
    draw(p, NULL, true);
    p->drawn = false;
}
