#include "verify_run.h"

#include "progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "registry.h"
#include "run_dir.h"
#include "verify.h"
#include "verify_models.h"

#define CSV_HEADER                                                                                 \
    "backend,algorithm,op,pass,tensor,layer,shape," REPORT_DIMS_HEADER                             \
    ",rel_l2,max_abs,tolerance,status"

cnn_status verify_run_open(verify_run *run, const char *csv_path)
{
    cnn_ctx_opts opts = {.threads = run->threads};
    cnn_status st = cnn_ctx_create(cnn_backend_find("naive"), &opts, &run->naive);
    if (st != CNN_OK)
        return st;
    for (int b = 0; b < run->nbackends; b++) {
        const cnn_backend *be = run->backends[b];
        if (!cnn_backend_available(be, run->why[b], sizeof run->why[b]))
            continue;
        st = cnn_ctx_create(be, &opts, &run->ctx[b]);
        if (st != CNN_OK) {
            snprintf(run->why[b], sizeof run->why[b], "%s", cnn_last_error());
            run->ctx[b] = NULL;
        }
    }
    return csv_path ? report_csv_stream(csv_path, CSV_HEADER, &run->csv) : CNN_OK;
}

const char *verify_status_str(verify_status s)
{
    switch (s) {
    case VERIFY_PASS: return "PASS";
    case VERIFY_FAIL: return "FAIL";
    case VERIFY_MISTRUSTED: return "MISTRUSTED";
    case VERIFY_SKIPPED: return "SKIPPED";
    }
    return "?";
}

void verify_compare(const float *a, const float *ref, int64_t n, double *rel, double *max_abs)
{
    double num = 0.0, den = 0.0, m = 0.0;
    bool bad = false;
    for (int64_t i = 0; i < n; i++) {
        double r = ref[i], d = (double)a[i] - r;
        if (!isfinite(r)) { /* NaN must stay NaN, Inf the same Inf */
            bad |= isnan(r) ? !isnan(a[i]) : (double)a[i] != r;
            continue;
        }
        if (!isfinite(a[i]))
            bad = true;
        num += d * d;
        den += r * r;
        if (fabs(d) > m)
            m = fabs(d);
    }
    *max_abs = bad ? NAN : m;
    *rel = bad ? NAN : den > 0.0 ? sqrt(num / den) : sqrt(num);
}

/* Elements exactly zero in a but not in the reference. */
static int64_t lost_values(const float *a, const float *ref, int64_t n)
{
    int64_t z = 0;
    for (int64_t i = 0; i < n; i++)
        z += a[i] == 0.0f && ref[i] != 0.0f && isfinite(ref[i]);
    return z;
}

verify_status verify_judge(const float *a, const float *ref, int64_t n, double tol, double *rel,
                           double *max_abs)
{
    verify_compare(a, ref, n, rel, max_abs);
    if (!(*rel <= tol))
        return VERIFY_FAIL;
    if (n >= VERIFY_ZERO_TRUST_MIN &&
        (double)lost_values(a, ref, n) > VERIFY_ZERO_TRUST * (double)n)
        return VERIFY_MISTRUSTED;
    return VERIFY_PASS;
}

static verify_group *group_for(verify_run *run, const char *key)
{
    for (int i = 0; i < run->ngroups; i++)
        if (!strcmp(run->groups[i].key, key))
            return &run->groups[i];
    verify_group *g = realloc(run->groups, (size_t)(run->ngroups + 1) * sizeof *g);
    if (!g)
        return NULL;
    run->groups = g;
    g = &run->groups[run->ngroups++];
    memset(g, 0, sizeof *g);
    snprintf(g->key, sizeof g->key, "%s", key);
    return g;
}

static void group_add(verify_run *run, const char *key, double err)
{
    verify_group *g = group_for(run, key);
    if (!g)
        return;
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 16;
        double *e = realloc(g->errs, (size_t)cap * sizeof *e);
        if (!e)
            return;
        g->errs = e;
        g->cap = cap;
    }
    g->errs[g->n++] = err;
}

cnn_status verify_run_row(verify_run *run, int b, const verify_row *r)
{
    char srel[32] = "", smax[32] = "", stol[32] = "";
    verify_status status = r->status;
    bool skipped = status == VERIFY_SKIPPED;
    if (!skipped) {
        snprintf(srel, sizeof srel, "%.3e", r->rel);
        snprintf(smax, sizeof smax, "%.3e", r->max_abs);
        snprintf(stol, sizeof stol, "%.3e", r->tol);
    }
    const char *name = run->backends[b]->name, *sstatus = verify_status_str(status);
    if (!run->quiet || status == VERIFY_FAIL || status == VERIFY_MISTRUSTED) {
        if (!run->header_done)
            printf("%-10s %-14s %-22s %-18s %-10s %-12s %10s %10s %10s  %s\n", "status",
                   "backend", "algorithm", "op", "pass", "tensor", "rel_l2", "max_abs",
                   "tolerance", "shape");
        run->header_done = true;
        printf("%-10s %-14s %-22s %-18s %-10s %-12s %10s %10s %10s  %s\n", sstatus, name,
               r->algorithm, r->op, r->pass, r->tensor, srel, smax, stol, r->shape);
    }
    verify_tally *t = &run->tally[b];
    switch (status) {
    case VERIFY_SKIPPED: t->skip++; break;
    case VERIFY_PASS: t->pass++; break;
    case VERIFY_MISTRUSTED:
        t->mistrusted++;
        run->failed++;
        break;
    default: t->fail++; run->failed++;
    }
    if (!skipped) {
        double ratio = isnan(r->rel) ? INFINITY : r->rel / r->tol;
        if (ratio > t->worst_ratio || !t->worst[0]) {
            t->worst_ratio = ratio;
            snprintf(t->worst, sizeof t->worst, "%s %s %s %s: %.3e (tolerance %.3e)", r->op,
                     r->pass, r->tensor, r->shape, r->rel, r->tol);
        }
        char key[160];
        snprintf(key, sizeof key, "%s|%s|%s|%s", name, r->algorithm, r->op, r->pass);
        group_add(run, key, r->rel);
    }
    fflush(stdout);
    if (!run->csv)
        return CNN_OK;
    char dims[REPORT_DIMS][24];
    report_op_dims(r->desc, dims);
    const char *fields[7 + REPORT_DIMS + 4] = {
        name, r->algorithm, r->op, r->pass, r->tensor, r->layer ? r->layer : "", r->shape};
    for (int i = 0; i < REPORT_DIMS; i++)
        fields[7 + i] = dims[i];
    const char *tail[] = {srel, smax, stol, sstatus};
    memcpy(&fields[7 + REPORT_DIMS], tail, sizeof tail);
    return report_csv_row(run->csv, (int)(sizeof fields / sizeof fields[0]), fields);
}

static bool op_selected(const verify_run *run, const cnn_op *op)
{
    return !run->ops || cli_in_list(run->ops, cnn_op_name(op));
}

/* Every pass of one case on one backend. */
static cnn_status check_case(verify_run *run, int b, const vcase *c)
{
    cnn_ctx *ctx = run->ctx[b];
    const char *opname = cnn_op_name(&c->op);
    for (int p = 0; p < CNN_PASS_COUNT && !run_dir_stopping(); p++) {
        cnn_pass pass = (cnn_pass)p;
        vt outs[5];
        int nout = vcase_outputs(c, pass, outs);
        if (!nout || !cnn_op_has_pass(&c->op, pass) || run->skip_pass[p])
            continue;
        verify_row row = {.op = opname,
                          .pass = cnn_pass_str(pass),
                          .layer = c->layer,
                          .shape = c->shape,
                          .desc = &c->op};
        if (!cnn_supports(ctx, &c->op, pass)) {
            row.algorithm = row.tensor = "-";
            row.tol = -1;
            row.status = VERIFY_SKIPPED;
            cnn_status st = verify_run_row(run, b, &row);
            if (st != CNN_OK)
                return st;
            continue;
        }
        const cnn_algo info = cnn_algorithm_info(ctx, &c->op, pass);
        row.algorithm = info.name;
        float *got[VT_COUNT] = {0};
        cnn_status st = CNN_OK;
        for (int i = 0; i < nout && st == CNN_OK; i++)
            if (!(got[outs[i]] = malloc((size_t)c->numel[outs[i]] * 4)))
                st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "verify: no memory");
        cnn_status run_st = st == CNN_OK ? vcase_run(c, ctx, pass, got) : st;
        for (int i = 0; i < nout && st == CNN_OK; i++) {
            vt t = outs[i];
            double rel = NAN, max_abs = NAN;
            double tol = verify_tolerance(&info.error, &c->op, pass, t);
            verify_status status = VERIFY_FAIL;
            if (run_st == CNN_OK)
                status = verify_judge(got[t], c->ref[p][t], c->numel[t], tol, &rel, &max_abs);
            else
                fprintf(stderr, "verify: %s %s %s %s: %s\n", run->backends[b]->name, opname,
                        cnn_pass_str(pass), c->shape, cnn_last_error());
            row.tensor = vt_name(t);
            row.rel = rel;
            row.max_abs = max_abs;
            row.tol = tol;
            row.status = status;
            st = verify_run_row(run, b, &row);
        }
        for (int t = 0; t < VT_COUNT; t++)
            free(got[t]);
        if (st != CNN_OK)
            return st;
    }
    return CNN_OK;
}

/* The reference, then every usable backend. */
static cnn_status run_case(verify_run *run, vcase *c)
{
    double t0 = cnn_wall_seconds();
    cnn_status st = vcase_reference(c, run->naive);
    double dt = cnn_wall_seconds() - t0;
    if (dt > 1.0)
        fprintf(stderr, "verify: %s %s: the reference took %.1f s\n", cnn_op_name(&c->op),
                c->shape, dt);
    for (int b = 0; b < run->nbackends && st == CNN_OK && !run_dir_stopping(); b++)
        if (run->ctx[b])
            st = check_case(run, b, c);
    return st;
}

cnn_status verify_run_case(verify_run *run, vcase *c)
{
    return run_case(run, c);
}

cnn_status verify_run_op_list(verify_run *run, const cnn_op *ops, const verify_layer *layers, int n)
{
    cnn_status st = CNN_OK;
    int selected = 0, done = 0;
    for (int i = 0; i < n; i++)
        selected += op_selected(run, &ops[i]);
    progress pr;
    progress_start(&pr, "verify", selected);
    for (int i = 0; i < n && st == CNN_OK && !run_dir_stopping(); i++) {
        if (!op_selected(run, &ops[i]))
            continue;
        vcase c;
        st = vcase_init(&c, &ops[i], run->seed + (uint64_t)i);
        c.layer = layers && layers[i][0] ? layers[i] : NULL;
        if (st == CNN_OK)
            st = run_case(run, &c);
        vcase_free(&c);
        done++;
        progress_update(&pr, done, NULL);
    }
    progress_end(&pr);
    return st;
}

cnn_status verify_run_ops(verify_run *run, const char *shapes)
{
    cnn_op *ops = NULL;
    verify_layer *layers = NULL;
    int n = 0;
    cnn_status st = verify_shapes_named(shapes, &ops, &layers, &n);
    if (st == CNN_OK)
        st = verify_run_op_list(run, ops, layers, n);
    free(ops);
    free(layers);
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void verify_run_summary(const verify_run *run, FILE *out)
{
    fprintf(out, "\nsummary (relative L2 error against naive):\n");
    for (int b = 0; b < run->nbackends; b++) {
        const verify_tally *t = &run->tally[b];
        if (!run->ctx[b]) {
            fprintf(out, "  %-14s not run: %s\n", run->backends[b]->name, run->why[b]);
            continue;
        }
        fprintf(out, "  %-14s %5d PASS %4d FAIL %4d MISTRUSTED %5d SKIPPED", run->backends[b]->name,
                t->pass, t->fail, t->mistrusted, t->skip);
        if (t->worst[0])
            fprintf(out, "   closest to its tolerance: %s", t->worst);
        fprintf(out, "\n");
    }
    /* the accuracy each algorithm costs, per op and pass: Winograd's tile
     * sizes side by side with the direct and GEMM methods */
    fprintf(out, "\nerror by algorithm (rel L2: median / max over rows):\n");
    for (int i = 0; i < run->ngroups; i++) {
        const verify_group *g = &run->groups[i];
        size_t len = strlen(g->key);
        bool model = strstr(g->key, "|eval_fwd") || strstr(g->key, "|train_fwd") ||
                     (len > 4 && !strcmp(g->key + len - 4, "|bwd"));
        if (!strstr(g->key, "|conv2d|") && !strstr(g->key, "|linear|") && !model)
            continue;
        qsort(g->errs, (size_t)g->n, sizeof *g->errs, cmp_double);
        char key[160];
        snprintf(key, sizeof key, "%s", g->key);
        for (char *p = key; *p; p++)
            if (*p == '|')
                *p = ' ';
        fprintf(out, "  %-60s n=%-4d %.2e / %.2e\n", key, g->n, g->errs[g->n / 2],
                g->errs[g->n - 1]);
    }
}

cnn_status verify_run_close(verify_run *run, bool ok)
{
    cnn_status st = report_csv_close(run->csv, ok);
    for (int b = 0; b < run->nbackends; b++)
        cnn_ctx_destroy(run->ctx[b]);
    cnn_ctx_destroy(run->naive);
    for (int i = 0; i < run->ngroups; i++)
        free(run->groups[i].errs);
    free(run->groups);
    return st;
}
