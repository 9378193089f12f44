/* Reading the PyTorch peer's CSV (peer.h): the columns are those
 * harness/peers/pytorch_peer.py documents and writes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_read.h"
#include "peer.h"

#define OUT_HEADER                                                                                 \
    "kind,id,model,op,pass,batch,image_size,classes,threads,repetitions,iterations,median_ms,"     \
    "min_ms,max_ms,reps_ms,images_per_s"
#define OUT_FIELDS 16

void peer_rows_free(peer_rows *rows)
{
    for (int i = 0; rows->rows && i < rows->count; i++)
        free(rows->rows[i].reps_ms);
    free(rows->rows);
    memset(rows, 0, sizeof *rows);
}

static bool copy_str(char *dst, size_t n, const char *src)
{
    return snprintf(dst, n, "%s", src) < (int)n;
}

static bool parse_ll(const char *s, long long lo, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return *s && !*end && !errno && *v >= lo;
}

static bool parse_ms(const char *s, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return *s && !*end && isfinite(*v) && *v >= 0;
}

static void read_meta(const char *line, peer_rows *out)
{
    struct {
        const char *key;
        char *dst;
        size_t n;
    } keys[] = {{"torch", out->torch_version, sizeof out->torch_version},
                {"torchvision", out->torchvision_version, sizeof out->torchvision_version},
                {"cpu_capability", out->cpu_capability, sizeof out->cpu_capability},
                {"parallel_backend", out->parallel_backend, sizeof out->parallel_backend}};
    const char *eq = strchr(line, '=');
    if (!eq || line[0] != '#' || line[1] != ' ')
        return;
    size_t klen = (size_t)(eq - line - 2);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strlen(keys[i].key) == klen && !strncmp(line + 2, keys[i].key, klen))
            copy_str(keys[i].dst, keys[i].n, eq + 1); /* cut if longer */
    if (klen == 7 && !strncmp(line + 2, "threads", 7))
        out->torch_threads = atoi(eq + 1);
}

/* One data row's fields (OUT_FIELDS of them, csv_read.h split them) into
 * r; "" or what is wrong with it. */
static void parse_row(char **f, peer_row *r, char *why, size_t n)
{
    static const char *const names[OUT_FIELDS] = {
        "kind",       "id",      "model",   "op",          "pass",       "batch",
        "image_size", "classes", "threads", "repetitions", "iterations", "median_ms",
        "min_ms",     "max_ms",  "reps_ms", "images_per_s"};
    bool model = !strcmp(f[0], "model");
    int bad = model || !strcmp(f[0], "layer") ? -1 : 0;
    char *str[5] = {r->kind, r->id, r->model, r->op, r->pass};
    size_t cap[5] = {sizeof r->kind, sizeof r->id, sizeof r->model, sizeof r->op, sizeof r->pass};
    for (int i = 0; i < 5 && bad < 0; i++)
        if (!copy_str(str[i], cap[i], f[i]) || (!*f[i] && (i == 4 || i == (model ? 2 : 3))))
            bad = i;
    long long v[6]; /* batch, image_size, classes, threads, repetitions, iterations */
    for (int i = 0; i < 6 && bad < 0; i++) {
        bool size = i == 1 || i == 2;
        if (!model && size && !*f[5 + i])
            v[i] = 0;
        else if (!parse_ll(f[5 + i], size ? 0 : 1, &v[i]) || (i && v[i] > INT32_MAX))
            bad = 5 + i;
    }
    double *ms[3] = {&r->median_ms, &r->min_ms, &r->max_ms};
    for (int i = 0; i < 3 && bad < 0; i++)
        if (!parse_ms(f[11 + i], ms[i]))
            bad = 11 + i;
    r->images_per_s = 0;
    if (bad < 0 && (model ? !parse_ms(f[15], &r->images_per_s) || !(r->images_per_s > 0) : *f[15]))
        bad = 15;
    if (bad >= 0) {
        snprintf(why, n, "%s '%.40s' is not valid", names[bad], f[bad]);
        return;
    }
    r->batch = v[0], r->image_size = (int)v[1], r->classes = (int)v[2];
    r->threads = (int)v[3], r->repetitions = (int)v[4], r->iterations = (int)v[5];
    r->reps_ms = malloc(sizeof(double) * (size_t)r->repetitions);
    if (!r->reps_ms) {
        snprintf(why, n, "out of memory");
        return;
    }
    int k = 0;
    for (char *p = f[14]; p && !*why; k++) {
        char *semi = strchr(p, ';');
        if (semi)
            *semi = '\0';
        if (k < r->repetitions && !parse_ms(p, &r->reps_ms[k]))
            snprintf(why, n, "reps_ms: '%.40s' is not a time", p);
        p = semi ? semi + 1 : NULL;
    }
    if (!*why && k != r->repetitions)
        snprintf(why, n, "reps_ms: %d times, repetitions says %d", k, r->repetitions);
}

/* The script writes "# key=value" lines first, then a plain CSV: the
 * comments are read here, the CSV by the project's one reader (csv_read.h),
 * which also gives each row its line. */
cnn_status peer_read_csv(const char *path, const peer_layer_case *cases, int ncases, peer_rows *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->csv_path, sizeof out->csv_path, "%s", path);
    char *buf = NULL;
    size_t n = 0;
    if (read_file_bounded(path, CSV_READ_MAX_BYTES, &buf, &n) != CNN_OK)
        return cnn_fail(CNN_ERR_IO, "PyTorch peer: cannot read %s: %s", path, cnn_last_error());
    size_t at = 0;
    int comments = 0;
    while (at < n && buf[at] == '#') {
        char *nl = memchr(buf + at, '\n', n - at);
        size_t end = nl ? (size_t)(nl - buf) : n;
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(end - at), buf + at);
        line[strcspn(line, "\r")] = '\0';
        read_meta(line, out);
        comments++;
        at = nl ? end + 1 : n;
    }
    csv_table *t = NULL;
    char why[256] = "";
    int lineno = 0;
    cnn_status st = csv_parse(path, buf + at, n - at, &t);
    free(buf);
    if (st != CNN_OK) {
        /* its message says FILE:LINE counting from the header */
        return cnn_fail(CNN_ERR_BACKEND, "PyTorch peer (%d comment lines first): %s", comments,
                        cnn_last_error());
    }
    char header[512] = "";
    for (int c = 0; c < t->ncols; c++)
        snprintf(header + strlen(header), sizeof header - strlen(header), "%s%s", c ? "," : "",
                 t->header[c]);
    if (strcmp(header, OUT_HEADER) != 0)
        snprintf(why, sizeof why, "header is not " OUT_HEADER), lineno = comments + 1;
    if (!*why && t->nrows) {
        out->rows = calloc((size_t)t->nrows, sizeof *out->rows);
        if (!out->rows)
            snprintf(why, sizeof why, "out of memory");
    }
    for (int i = 0; !*why && i < t->nrows; i++) {
        peer_row *r = &out->rows[out->count++];
        r->case_index = -1;
        lineno = comments + t->line[i];
        parse_row(t->rows[i], r, why, sizeof why);
        if (*why || !cases)
            continue;
        char want[64];
        snprintf(want, sizeof want, "%s", i < ncases && cases[i].id ? cases[i].id : "");
        if (i < ncases && !cases[i].id)
            snprintf(want, sizeof want, "%d", i);
        if (i >= ncases || strcmp(r->kind, "layer") || strcmp(r->id, want))
            snprintf(why, sizeof why, "row %d is not case %d's ('%s')", i + 1, i, want);
        r->case_index = i;
    }
    csv_free(t);
    if (!*why && cases && out->count != ncases)
        snprintf(why, sizeof why, "%d rows for %d cases", out->count, ncases), lineno = 0;
    if (!*why)
        return CNN_OK;
    peer_rows_free(out);
    if (lineno)
        return cnn_fail(CNN_ERR_BACKEND, "PyTorch peer: %s:%d: %s", path, lineno, why);
    return cnn_fail(CNN_ERR_BACKEND, "PyTorch peer: %s: %s", path, why);
}
