/* The search behind cnnbench bench --backends auto: every layer pass of a
 * model on every candidate backend, the fastest kept (auto_plan.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "auto_plan.h"
#include "cli.h"
#include "clock.h"
#include "registry.h"
#include "verify.h"

void auto_plan_free(auto_plan *p)
{
    free(p->rows);
    free(p->entries);
    memset(p, 0, sizeof *p);
}

int auto_plan_candidates(cnn_device device, const cnn_backend **out, int max)
{
    int n = 0;
    for (int i = 0; i < cnn_backend_count() && n < max; i++) {
        const cnn_backend *be = cnn_backend_at(i);
        char why[256];
        if (be->device == device && strcmp(be->name, "naive") &&
            cnn_backend_available(be, why, sizeof why))
            out[n++] = be;
    }
    return n;
}

int auto_plan_strip(const char *list, char *rest, size_t n)
{
    char item[64];
    int found = 0;
    rest[0] = '\0';
    for (const char *p = list ? list : ""; cli_next_item(&p, item, sizeof item);) {
        char *s = item, *e = item + strlen(item);
        while (*s == ' ')
            s++;
        while (e > s && e[-1] == ' ')
            *--e = '\0';
        if (!strcmp(s, "auto"))
            found++;
        else
            snprintf(rest + strlen(rest), n - strlen(rest), "%s%s", *rest ? "," : "", s);
    }
    return found;
}

/* ---- the search ---------------------------------------------------------- */

/* The layers of one shape, and the passes the model runs on any of them. */
typedef struct shape_group {
    cnn_op op;
    bool runs[CNN_PASS_COUNT];
    int best[CNN_PASS_COUNT]; /* candidate index, -1: none ran it */
    double ms[CNN_PASS_COUNT][AUTO_MAX_CANDIDATES];
} shape_group;

/* Group the layers by shape: layer l's group in of[l]; returns the count. */
static int group_layers(const cnn_model *m, shape_group *g, int *of)
{
    int ng = 0;
    for (int l = 0; l < cnn_model_layer_count(m); l++) {
        cnn_layer_info info;
        cnn_model_layer(m, l, &info);
        char a[256], b[256];
        cnn_op_str(info.op, a, sizeof a);
        int k = 0;
        while (k < ng &&
               !(g[k].op.kind == info.op->kind && !strcmp(cnn_op_str(&g[k].op, b, sizeof b), a)))
            k++;
        if (k == ng)
            g[ng++].op = *info.op;
        of[l] = k;
        for (int p = 0; p < CNN_PASS_COUNT; p++)
            g[k].runs[p] |= cnn_model_layer_runs(m, l, (cnn_pass)p);
    }
    return ng;
}

/* One call after a warm-up one, by the backend's timer; NaN if it fails. */
static double time_call(cnn_ctx *ctx, const cnn_op *op, cnn_pass p, void **dev, void *ws,
                        size_t wss)
{
    double s = NAN;
    if (vcase_call(ctx, op, p, dev, ws, wss) != CNN_OK || cnn_timer_start(ctx) != CNN_OK)
        return NAN;
    cnn_status st = vcase_call(ctx, op, p, dev, ws, wss);
    cnn_status tst = cnn_timer_stop(ctx, &s);
    return st == CNN_OK && tst == CNN_OK ? s * 1e3 : NAN;
}

/* A candidate within this factor of the fastest on a pass is timed
 * AUTO_RETIMES more times, each pass keeping its least time: on a loaded
 * machine one timing can be a burst's (session 5 saw auto pick a layer
 * 2.6x slower than the Winograd call it passed over), and a burst only
 * ever adds time. Far slower candidates keep their one timing. */
#define AUTO_CLOSE 1.5
#define AUTO_RETIMES 2

/* Time group g's passes on candidate c where want[p] (NULL: every pass the
 * group runs), keeping the least of this and earlier timings; an
 * allocation failure is an error, a failing call only a NaN. */
static cnn_status time_group(cnn_ctx *ctx, const vcase *vc, shape_group *g, int c, const bool *want)
{
    size_t wss = 0;
    bool any = false, on[CNN_PASS_COUNT] = {false};
    for (int p = 0; p < CNN_PASS_COUNT; p++) {
        if (!want)
            g->ms[p][c] = NAN;
        if (!g->runs[p] || (want && !want[p]) || !cnn_supports(ctx, &g->op, (cnn_pass)p))
            continue;
        any = on[p] = true;
        size_t w = cnn_workspace_size(ctx, &g->op, (cnn_pass)p);
        wss = w > wss ? w : wss;
    }
    if (!any)
        return CNN_OK;
    void *dev[VT_COUNT], *ws = NULL;
    cnn_status st = vcase_upload(vc, ctx, dev);
    if (st != CNN_OK)
        return st;
    if (wss)
        st = cnn_mem_alloc(ctx, wss, &ws);
    for (int p = 0; p < CNN_PASS_COUNT && st == CNN_OK; p++)
        if (on[p]) {
            const double ms = time_call(ctx, &g->op, (cnn_pass)p, dev, ws, wss);
            if (isnan(g->ms[p][c]) || ms < g->ms[p][c])
                g->ms[p][c] = ms;
        }
    cnn_mem_free(ctx, ws);
    vcase_device_free(ctx, dev);
    return st;
}

/* The fastest of ncand times (NaN: not run), -1 where none ran. */
static int fastest(const double *ms, int ncand)
{
    int best = -1;
    for (int c = 0; c < ncand; c++)
        if (!isnan(ms[c]) && (best < 0 || ms[c] < ms[best]))
            best = c;
    return best;
}

/* Each pass's fastest candidate. */
static void pick_best(shape_group *g, int ncand)
{
    for (int p = 0; p < CNN_PASS_COUNT; p++)
        g->best[p] = fastest(g->ms[p], ncand);
}

int auto_plan_retime_set(const double *ms, int ncand, double close, bool *retime)
{
    const int best = fastest(ms, ncand);
    int near = 0;
    for (int c = 0; c < ncand; c++) {
        retime[c] = best >= 0 && !isnan(ms[c]) && ms[c] <= close * ms[best];
        near += retime[c];
    }
    if (near < 2)
        for (int c = 0; c < ncand; c++)
            retime[c] = false;
    return near < 2 ? 0 : near;
}

/* Which passes each candidate is retimed on (want[c][p]); returns how many
 * (candidate, pass) timings that is. */
static int close_passes(const shape_group *g, int ncand, bool want[][CNN_PASS_COUNT])
{
    int n = 0;
    for (int p = 0; p < CNN_PASS_COUNT; p++) {
        bool r[AUTO_MAX_CANDIDATES];
        n += auto_plan_retime_set(g->ms[p], ncand, AUTO_CLOSE, r);
        for (int c = 0; c < ncand; c++)
            want[c][p] = r[c];
    }
    return n;
}

static cnn_status search_group(cnn_ctx *const *ctx, int ncand, cnn_ctx *naive, shape_group *g,
                               int *retimed)
{
    vcase vc;
    bool backward = false;
    for (int p = CNN_BWD_DATA; p < CNN_PASS_COUNT; p++)
        backward |= g->runs[p];
    cnn_status st = vcase_init(&vc, &g->op, 1);
    if (st == CNN_OK && backward)
        st = vcase_forward_inputs(&vc, naive);
    for (int c = 0; c < ncand && st == CNN_OK; c++)
        st = time_group(ctx[c], &vc, g, c, NULL);
    /* the close calls again, in rounds over the candidates so that one
     * burst does not land on one candidate's retimings alone (time_group
     * does nothing for a candidate with no pass wanted) */
    bool want[AUTO_MAX_CANDIDATES][CNN_PASS_COUNT];
    if (st == CNN_OK)
        *retimed += close_passes(g, ncand, want);
    for (int r = 0; r < AUTO_RETIMES && st == CNN_OK; r++)
        for (int c = 0; c < ncand && st == CNN_OK; c++)
            st = time_group(ctx[c], &vc, g, c, want[c]);
    vcase_free(&vc);
    pick_best(g, ncand);
    return st;
}

/* The plan's rows from the groups' choices, in layer and pass order. */
static cnn_status fill_rows(const cnn_model *m, const shape_group *g, const int *of,
                            cnn_ctx *const *ctx, auto_plan *out)
{
    int n = cnn_model_layer_count(m);
    out->rows = calloc((size_t)n * CNN_PASS_COUNT, sizeof *out->rows);
    if (!out->rows)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "auto: no memory for the plan");
    for (int l = 0; l < n; l++) {
        cnn_layer_info info;
        cnn_model_layer(m, l, &info);
        const shape_group *gl = &g[of[l]];
        for (int p = 0; p < CNN_PASS_COUNT; p++) {
            int b = gl->best[p];
            if (!cnn_model_layer_runs(m, l, (cnn_pass)p) || b < 0)
                continue;
            auto_plan_row *r = &out->rows[out->nrows++];
            snprintf(r->layer, sizeof r->layer, "%s", info.name);
            snprintf(r->op, sizeof r->op, "%s", cnn_op_name(info.op));
            r->pass = (cnn_pass)p;
            snprintf(r->backend, sizeof r->backend, "%s", out->cand[b]->name);
            snprintf(r->algorithm, sizeof r->algorithm, "%s",
                     cnn_algorithm(ctx[b], &gl->op, (cnn_pass)p));
            r->ms = gl->ms[p][b];
            memcpy(r->cand_ms, gl->ms[p], sizeof r->cand_ms);
        }
    }
    return auto_plan_finish(out);
}

cnn_status auto_plan_search(const auto_search *s, auto_plan *out, FILE *progress)
{
    memset(out, 0, sizeof *out);
    snprintf(out->model, sizeof out->model, "%s", s->model);
    out->ncand = auto_plan_candidates(s->device, out->cand, AUTO_MAX_CANDIDATES);
    if (!out->ncand)
        return cnn_fail(CNN_ERR_UNSUPPORTED, "auto: no backend on device %s is usable here",
                        cnn_device_str(s->device));
    cnn_model *m = NULL;
    cnn_model_opts mo = {.batch = s->batch, .h = s->image_size, .w = s->image_size};
    cnn_status st = cnn_model_create(s->model, &mo, &m);
    if (st != CNN_OK)
        return st;
    int n = cnn_model_layer_count(m);
    shape_group *g = calloc((size_t)n, sizeof *g);
    int *of = calloc((size_t)n, sizeof *of);
    cnn_ctx *ctx[AUTO_MAX_CANDIDATES] = {NULL}, *naive = NULL;
    cnn_ctx_opts co = {.threads = s->threads};
    if (!g || !of)
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "auto: no memory");
    if (st == CNN_OK)
        st = cnn_ctx_create(cnn_backend_find("naive"), &co, &naive);
    for (int c = 0; c < out->ncand && st == CNN_OK; c++)
        st = cnn_ctx_create(out->cand[c], &co, &ctx[c]);
    double t0 = cnn_wall_seconds();
    int ng = st == CNN_OK ? group_layers(m, g, of) : 0, cases = 0, retimed = 0;
    for (int k = 0; k < ng && st == CNN_OK; k++) {
        st = search_group(ctx, out->ncand, naive, &g[k], &retimed);
        for (int p = 0; p < CNN_PASS_COUNT; p++)
            cases += g[k].runs[p];
    }
    if (st == CNN_OK)
        st = fill_rows(m, g, of, ctx, out);
    if (st == CNN_OK && progress) {
        fprintf(progress, "  auto: %d layer shapes, %d (shape, pass) cases timed on", ng, cases);
        for (int c = 0; c < out->ncand; c++)
            fprintf(progress, "%s %s", c ? "," : "", out->cand[c]->name);
        fprintf(progress,
                " (%d (case, backend) timings within %.1fx of the fastest retimed %dx more, least"
                " kept) in %.1f s; plan: %s\n",
                retimed, AUTO_CLOSE, AUTO_RETIMES, cnn_wall_seconds() - t0, out->summary);
    }
    for (int c = 0; c < out->ncand; c++)
        cnn_ctx_destroy(ctx[c]);
    cnn_ctx_destroy(naive);
    free(g);
    free(of);
    cnn_model_destroy(m);
    if (st != CNN_OK)
        auto_plan_free(out);
    return st;
}
