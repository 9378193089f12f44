/* compare: reading a run folder (refusing one that did not finish) and what
 * differs between two runs' meta.json. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compare.h"

const char *const compare_key_cols[COMPARE_KEYS + 1] = {
    "backend", "model", "layer", "op", "pass", "batch", "threads", "image_size", "cache", NULL};

void compare_run_free(compare_run *r)
{
    json_free(r->meta);
    csv_free(r->rows);
    r->meta = NULL;
    r->rows = NULL;
}

/* CNN_OK if meta.json says the run finished, else why it is refused. */
static cnn_status refuse_unfinished(const compare_run *r)
{
    const char *status = json_str(r->meta, "status", "(none)");
    bool complete = json_true(r->meta, "complete");
    if (complete && !strcmp(status, "complete"))
        return CNN_OK;
    if (!strcmp(status, "running") || !strcmp(status, "interrupted"))
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s %s: the run did not finish (status %s%s): its numbers cover part of "
                        "the work; compare refuses it",
                        r->label, r->dir, status,
                        strcmp(status, "running") ? "" : ": still going, or killed");
    if (!strcmp(status, "failed"))
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s %s: the run failed (status failed: %s); compare "
                        "refuses it",
                        r->label, r->dir, json_str(r->meta, "error", "no error recorded"));
    return cnn_fail(CNN_ERR_INVALID_ARG,
                    "%s %s: meta.json does not say the run finished (complete %s, status %s); "
                    "compare refuses it",
                    r->label, r->dir, json_str(r->meta, "complete", "absent"), status);
}

cnn_status compare_run_load(compare_run *r, const char *label, const char *dir)
{
    static const char *const need[] = {"backend",   "model",   "layer",      "op",    "pass",
                                       "batch",     "threads", "image_size", "cache", "status",
                                       "median_ms", "reps_ms", NULL};
    memset(r, 0, sizeof *r);
    r->label = label;
    r->dir = dir;
    char path[4200], why[1024];
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s %s: no such run folder", label, dir);
    snprintf(path, sizeof path, "%s/meta.json", dir);
    if (stat(path, &sb) != 0)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "%s %s: no meta.json: not a run folder (or one made before run folders "
                        "existed); compare refuses it",
                        label, dir);
    if (json_read(path, &r->meta) != CNN_OK) {
        snprintf(why, sizeof why, "%s", cnn_last_error());
        return cnn_fail(CNN_ERR_INVALID_ARG, "%s: meta.json unreadable: %s; compare refuses it",
                        label, why);
    }
    cnn_status st = refuse_unfinished(r);
    const char *command = json_str(r->meta, "command", "(none)");
    if (st == CNN_OK && strcmp(command, "bench"))
        st = cnn_fail(CNN_ERR_INVALID_ARG,
                      "%s %s: a '%s' run: compare compares the timings of bench runs "
                      "(results.csv)",
                      label, dir, command);
    snprintf(path, sizeof path, "%s/results.csv", dir);
    if (st == CNN_OK && (st = csv_read(path, &r->rows)) == CNN_OK)
        st = csv_need(r->rows, "bench results.csv", need);
    if (st != CNN_OK) {
        compare_run_free(r);
        return st;
    }
    for (int k = 0; k < COMPARE_KEYS; k++)
        r->key[k] = csv_col(r->rows, compare_key_cols[k]);
    r->status = csv_col(r->rows, "status");
    r->median = csv_col(r->rows, "median_ms");
    r->reps = csv_col(r->rows, "reps_ms");
    return CNN_OK;
}

/* ---- what differs ---- */

static void print_pair(FILE *out, const char *key, const char *a, const char *b, const char *note)
{
    fprintf(out, "  %-28s A: %s\n  %-28s B: %s%s\n", key, a, "", b, note);
}

/* One member of both: printed when the texts differ (numbers of a
 * `ceilings` key: by more than COMPARE_CEILING_PCT). */
static int diff_key(FILE *out, const json_doc *a, const json_doc *b, const char *key)
{
    const json_member *ma = json_get(a, key), *mb = json_get(b, key);
    const char *va = ma ? ma->value : "(absent)", *vb = mb ? mb->value : "(absent)";
    char note[96] = "";
    if (!strncmp(key, "ceilings.", 9) && ma && mb && ma->kind == JSON_NUMBER &&
        mb->kind == JSON_NUMBER) {
        double x = json_num(a, key), y = json_num(b, key);
        if (x == y || fabs(y - x) <= COMPARE_CEILING_PCT / 100 * fabs(x))
            return 0;
        if (x != 0)
            snprintf(note, sizeof note, " (%+.1f%%)", (y - x) / fabs(x) * 100);
    } else if (!strcmp(va, vb)) {
        /* one commit, changed sources on either side: they may still differ */
        if (strcmp(key, "git_dirty") || strcmp(va, "true"))
            return 0;
        snprintf(note, sizeof note, " (uncommitted changes in both: the sources may differ)");
    }
    print_pair(out, key, va, vb, note);
    return 1;
}

/* Every member of either run whose key starts with prefix ("libraries."). */
static int diff_prefix(FILE *out, const json_doc *a, const json_doc *b, const char *prefix)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (int i = 0; i < a->n; i++)
        if (!strncmp(a->m[i].key, prefix, len))
            n += diff_key(out, a, b, a->m[i].key);
    for (int i = 0; i < b->n; i++)
        if (!strncmp(b->m[i].key, prefix, len) && !json_get(a, b->m[i].key))
            n += diff_key(out, a, b, b->m[i].key);
    return n;
}

int compare_meta_print(FILE *out, const compare_run *ra, const compare_run *rb)
{
    static const char *const machine[] = {"host",         "cpu",        "cpu_isa", "cores",
                                          "logical_cpus", "memory_gib", "os",      NULL};
    static const char *const build[] = {"version",  "git_commit",     "git_dirty", "build_type",
                                        "compiler", "compiler_flags", NULL};
    const json_doc *a = ra->meta, *b = rb->meta;
    fprintf(out, "What differs between the runs (before any ratio):\n");
    int n = 0;
    for (int i = 0; machine[i]; i++)
        n += diff_key(out, a, b, machine[i]);
    n += diff_prefix(out, a, b, "libraries.");
    for (int i = 0; build[i]; i++)
        n += diff_key(out, a, b, build[i]);
    n += diff_key(out, a, b, "threads");
    n += diff_key(out, a, b, "timer");
    n += diff_prefix(out, a, b, "ceilings.");
    if (!n)
        fprintf(out,
                "  nothing: the same machine, build, libraries, commit and threads, "
                "ceilings within %.0f%%\n",
                COMPARE_CEILING_PCT);
    return n;
}
