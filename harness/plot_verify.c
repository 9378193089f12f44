/* cnnbench plot: how close each backend comes to its tolerances
 * (verify.csv): per operation and pass, the largest rel_l2 / tolerance
 * over the cases, by backend, on a log axis where 1 is the bound. Rows
 * whose error is not finite (a FAIL) cannot be drawn and are counted in
 * the title. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

static bool no_rows(const plot_run *run, int r, const void *arg)
{
    (void)run, (void)r, (void)arg;
    return false;
}

void plot_verify(plot_run *run)
{
    const char *name = "verify_margin";
    const csv_table *v = run->ver;
    if (!v) {
        plot_skip(run, name, "no verify.csv in the folder");
        return;
    }
    plot_bars *b = plot_bars_new();
    if (!b) {
        run->nerrors++;
        return;
    }
    const plot_ver_cols *c = &run->vc;
    int failed = 0, unmeasured = 0;
    for (int r = 0; r < v->nrows; r++) {
        const char *status = csv_cell(v, r, c->status);
        if (!strcmp(status, "SKIPPED"))
            continue;
        double e = csv_num(v, r, c->rel_l2), tol = csv_num(v, r, c->tolerance);
        failed += !strcmp(status, "FAIL") || !strcmp(status, "MISTRUSTED");
        if (!isfinite(e) || !(tol > 0)) {
            unmeasured++;
            continue;
        }
        char group[2 * PLOT_LABEL_MAX];
        snprintf(group, sizeof group, "%s %s", csv_cell(v, r, c->op), csv_cell(v, r, c->pass));
        /* the largest ratio so far of (group, backend); 0 (exact) has no bar on a log axis */
        double ratio = e / tol;
        double *at = plot_bars_at(b, group, csv_cell(v, r, c->backend));
        if (at)
            *at = isfinite(*at) ? fmax(*at, ratio) : ratio;
    }
    if (!plot_bars_any(b)) {
        plot_skip(run, name, "verify.csv has no compared row");
        free(b);
        return;
    }
    char t1[256], t2[320];
    snprintf(t1, sizeof t1, "verify: worst error / tolerance per op and pass by backend%s",
             failed ? "" : " (all within)");
    plot_setting_line(run, no_rows, NULL, t2, sizeof t2);
    if (failed || unmeasured)
        snprintf(t2 + strlen(t2), sizeof t2 - strlen(t2),
                 "; %d rows FAIL or MISTRUSTED, %d not drawn (error not finite)", failed,
                 unmeasured);
    plot_chart ch;
    plot_hline bound = {1.0, "the tolerance", "#d62728"};
    cnn_status st = plot_chart_begin(&ch, run, name, t1, t2, plot_bars_width(b), 560);
    if (st == CNN_OK)
        st = plot_bars_write(
            &ch, b,
            &(plot_bars_opts){"largest rel_l2 / tolerance (log scale; above 1: fails)", 10, &bound,
                              1, "exact (rel_l2 0), or not checked (SKIPPED)"});
    plot_chart_end(&ch, st);
    free(b);
}
