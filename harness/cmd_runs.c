/* cnnbench runs: the index of runs (ROOT/index.csv, run_index.h) as a
 * table, oldest first, marking runs whose folder is gone. Each line of the
 * index is one record (the writer keeps newlines out of fields), read on
 * its own with the header through the CSV reader, so a damaged line is
 * reported with its number and skipped, and the rest is still listed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cli.h"
#include "commands.h"
#include "csv_read.h"
#include "run_index.h"

typedef struct entry {
    char *f[RUN_INDEX_COLS];
    int line;
    bool gone;
} entry;

enum { C_ID, C_STARTED, C_COMMAND, C_LINE, C_HOST, C_CPU, C_COMMIT, C_DIRTY, C_STATUS };

static int by_started(const void *x, const void *y)
{
    const entry *a = x, *b = y;
    int c = strcmp(a->f[C_STARTED], b->f[C_STARTED]);
    return c ? c : a->line - b->line;
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* One line of the index (its number `line`) read with the header; false
 * with a message on stderr when it does not parse or names no folder. */
static bool read_line(const char *path, const char *header, const char *text, size_t len, int line,
                      entry *e)
{
    size_t hl = strlen(header);
    char *buf = malloc(hl + 1 + len);
    csv_table *t = NULL;
    if (!buf) {
        fprintf(stderr, "cnnbench runs: %s:%d: no memory; line skipped\n", path, line);
        return false;
    }
    memcpy(buf, header, hl);
    buf[hl] = '\n';
    memcpy(buf + hl + 1, text, len);
    char why[1200] = "";
    if (csv_parse(path, buf, hl + 1 + len, &t) != CNN_OK) {
        /* the reader names line 2 of this buffer: give the line of the file */
        const char *msg = cnn_last_error();
        size_t pl = strlen(path);
        if (!strncmp(msg, path, pl) && msg[pl] == ':') {
            msg += pl + 1;
            if (!strncmp(msg, "2:", 2))
                msg += 2;
            msg += *msg == ' ';
        }
        snprintf(why, sizeof why, "%s", msg);
    } else if (t->nrows != 1) {
        snprintf(why, sizeof why, "an empty line");
    } else {
        const char *id = csv_cell(t, 0, csv_col(t, "run_id"));
        if (!*id || strchr(id, '/') || !strcmp(id, ".") || !strcmp(id, ".."))
            snprintf(why, sizeof why, "run_id '%s' is not a folder name", id);
    }
    for (int k = 0; !*why && k < RUN_INDEX_COLS; k++)
        if (!(e->f[k] = strdup(csv_cell(t, 0, k))))
            snprintf(why, sizeof why, "no memory");
    csv_free(t);
    free(buf);
    if (*why) {
        for (int k = 0; k < RUN_INDEX_COLS; k++)
            free(e->f[k]);
        fprintf(stderr, "cnnbench runs: %s:%d: %s; line skipped\n", path, line, why);
        return false;
    }
    e->line = line;
    return true;
}

static void print_table(FILE *out, entry *e, int n)
{
    static const int shown[] = {C_ID, C_STARTED, C_COMMAND, C_STATUS, C_COMMIT, C_HOST, C_CPU};
    static const char *const heads[] = {"run_id", "started", "command", "status",
                                        "commit", "host",    "cpu"};
    enum { NS = sizeof shown / sizeof shown[0] };
    int width[NS];
    for (int k = 0; k < NS; k++)
        width[k] = (int)strlen(heads[k]);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < NS; k++) {
            int w = (int)strlen(e[i].f[shown[k]]);
            if (shown[k] == C_COMMIT)
                w = (w > 12 ? 12 : w) + 1;
            width[k] = w > width[k] ? w : width[k];
        }
    for (int k = 0; k < NS; k++)
        fprintf(out, "%-*s  ", width[k], heads[k]);
    fprintf(out, "folder  command line\n");
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < NS; k++) {
            const char *v = e[i].f[shown[k]];
            char c[32];
            if (shown[k] == C_COMMIT) {
                /* 12 digits and + for uncommitted changes, ? when unknown */
                const char *d = e[i].f[C_DIRTY];
                snprintf(c, sizeof c, "%.12s%s", v,
                         !strcmp(d, "true")    ? "+"
                         : !strcmp(d, "false") ? ""
                                               : "?");
                v = c;
            }
            fprintf(out, "%-*s  ", width[k], v);
        }
        fprintf(out, "%-6s  %s\n", e[i].gone ? "GONE" : "here", e[i].f[C_LINE]);
    }
}

/* The header line of the index, checked through the reader. */
static cnn_status read_header(const char *path, char *header, size_t len)
{
    static const char *const need[] = {"run_id", "started", "command", "command_line", "host",
                                       "cpu",    "commit",  "dirty",   "status",       NULL};
    csv_table *t = NULL;
    cnn_status st = csv_parse(path, header, len, &t);
    if (st == CNN_OK && (st = csv_need(t, "runs index", need)) == CNN_OK &&
        strcmp(header, RUN_INDEX_HEADER))
        st = cnn_fail(CNN_ERR_INVALID_ARG, "%s:1: the header is not '%s'", path, RUN_INDEX_HEADER);
    csv_free(t);
    return st;
}

static int list_runs(const char *root)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/" RUN_INDEX_FILE, root);
    if (!is_dir(root)) {
        fprintf(stderr, "cnnbench runs: %s: no such results folder\n", root);
        return CLI_EXIT_FAIL;
    }
    FILE *f = fopen(path, "rb");
    if (!f && errno == ENOENT) {
        printf("no runs indexed in %s yet (%s does not exist): a run is indexed when it ends\n",
               root, path);
        return CLI_EXIT_OK;
    }
    char *header = NULL, *text = NULL;
    size_t hcap = 0, cap = 0, total = 0;
    ssize_t hl = f ? getline(&header, &hcap, f) : -1;
    cnn_status st = f ? CNN_OK : cnn_fail(CNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (st == CNN_OK && hl <= 0)
        st = cnn_fail(CNN_ERR_INVALID_ARG, "%s: empty file (no header line)", path);
    if (st == CNN_OK) {
        header[hl - (header[hl - 1] == '\n')] = '\0';
        st = read_header(path, header, strlen(header));
    }
    entry *e = NULL;
    int ne = 0, bad = 0, gone = 0;
    for (int line = 2; st == CNN_OK; line++) {
        ssize_t len = getline(&text, &cap, f);
        if (len < 0)
            break;
        if ((total += (size_t)len) > CSV_READ_MAX_BYTES) {
            st = cnn_fail(CNN_ERR_INVALID_ARG, "%s:%d: more than %zu bytes", path, line,
                          CSV_READ_MAX_BYTES);
            break;
        }
        entry *more = realloc(e, (size_t)(ne + 1) * sizeof *e);
        if (!more) {
            st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "%s: no memory", path);
            break;
        }
        e = more;
        memset(&e[ne], 0, sizeof *e);
        if (!read_line(path, header, text, (size_t)len - (text[len - 1] == '\n'), line, &e[ne])) {
            bad++;
            continue;
        }
        char dir[8400];
        snprintf(dir, sizeof dir, "%s/%s", root, e[ne].f[C_ID]);
        e[ne].gone = !is_dir(dir);
        gone += e[ne].gone;
        ne++;
    }
    if (st == CNN_OK && ferror(f))
        st = cnn_fail(CNN_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    if (f)
        fclose(f);
    if (st == CNN_OK) {
        qsort(e, (size_t)ne, sizeof *e, by_started);
        print_table(stdout, e, ne);
        printf("\n%d runs in %s (oldest first)", ne, path);
        if (gone)
            printf("; %d with their folder GONE", gone);
        if (bad)
            printf("; %d damaged lines skipped (above, on stderr)", bad);
        printf("\nruns killed outright (SIGKILL, a crash) are not indexed: their folders say "
               "\"status\": \"running\"\n");
    } else {
        fprintf(stderr, "cnnbench runs: %s\n", cnn_last_error());
    }
    for (int i = 0; i < ne; i++)
        for (int k = 0; k < RUN_INDEX_COLS; k++)
            free(e[i].f[k]);
    free(e);
    free(header);
    free(text);
    return st == CNN_OK ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cmd_runs(int argc, char **argv)
{
    const char *results = "results";
    cli_opt opts[] = {
        {"results", CLI_STRING, &results, "DIR", "results root (default results)", false, false},
    };
    cli_cmd cmd = {
        .name = "runs",
        .summary = "List the runs of a results root from its index (DIR/index.csv), oldest first.",
        .details = "Every run of verify and bench appends its line to DIR/index.csv when it\n"
                   "ends: run_id, started (UTC), command, command line, host, cpu, commit,\n"
                   "dirty, status (complete, failed, interrupted). Columns here: the commit's\n"
                   "first 12 digits (+: uncommitted changes, ?: unknown), and `folder` GONE\n"
                   "where DIR/<run_id>/ no longer exists. A damaged line of the index is\n"
                   "reported with its line number and skipped. A run killed outright never\n"
                   "reaches its end, so it is not indexed: such runs are found by their\n"
                   "folders (meta.json \"status\": \"running\").",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    int rc = cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    return list_runs(results);
}
