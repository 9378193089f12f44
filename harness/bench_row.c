#include "bench_row.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

bench_row bench_row_empty(void)
{
    bench_row r = {0};
    r.model = r.layer = r.op_name = r.pass = r.backend = r.status = r.algorithm = "";
    r.charged_at = "";
    r.median_ms = r.min_ms = r.max_ms = r.gflops = r.pct_peak = r.intensity = NAN;
    r.ratio = r.reorder_ms = r.images_per_s = r.optimizer_ms = r.min_bytes = NAN;
    r.params_bytes = r.grads_bytes = r.act_bytes = r.act_unshared_bytes = r.ws_bytes = -1;
    r.peak_rss_bytes = r.device_mem_bytes = -1;
    return r;
}

/* "%.Nf", or "" for NaN when blank_nan. */
static const char *num(char *buf, int prec, double v, bool blank_nan)
{
    if (isnan(v) && blank_nan)
        buf[0] = '\0';
    else
        snprintf(buf, 32, "%.*f", prec, v);
    return buf;
}

static const char *bytes(char *buf, double v)
{
    if (v < 0 || isnan(v))
        buf[0] = '\0';
    else
        snprintf(buf, 32, "%.0f", v);
    return buf;
}

static const char *integer(char *buf, int v)
{
    snprintf(buf, 32, "%d", v);
    return buf;
}

double bench_row_gbs(const bench_row *r)
{
    return r->min_bytes > 0 && r->median_ms > 0 ? r->min_bytes / (r->median_ms * 1e6)
           : r->intensity > 0                   ? r->gflops / r->intensity
                                                : NAN;
}

double bench_row_pct_triad(const bench_row *r)
{
    return r->triad_gbs > 0 ? bench_row_gbs(r) / r->triad_gbs * 100 : NAN;
}

cnn_status bench_row_write(report_csv *csv, const bench_row *r)
{
    char shape[256] = "", dims[REPORT_DIMS][24];
    if (r->op)
        cnn_op_str(r->op, shape, sizeof shape);
    report_op_dims(r->op, dims);
    char reps[BENCH_ROW_MAX_REPS * 16] = "";
    for (int i = 0; r->reps_s && i < r->nreps && i < BENCH_ROW_MAX_REPS; i++)
        snprintf(reps + strlen(reps), sizeof reps - strlen(reps), "%s%.4f", i ? ";" : "",
                 r->reps_s[i] * 1e3);
    const double gbs = bench_row_gbs(r), pct_triad = bench_row_pct_triad(r);
    char f[30][32];
    const char *fields[] = {
        r->model,
        r->layer,
        integer(f[0], r->layers),
        r->op ? cnn_op_name(r->op) : r->op_name,
        shape,
        dims[0],
        dims[1],
        dims[2],
        dims[3],
        dims[4],
        dims[5],
        dims[6],
        dims[7],
        dims[8],
        dims[9],
        dims[10],
        dims[11],
        dims[12],
        r->pass,
        r->backend,
        r->status,
        r->algorithm,
        integer(f[1], r->batch),
        r->image_size > 0 ? integer(f[2], r->image_size) : "",
        integer(f[3], r->threads),
        integer(f[4], r->repetitions),
        r->cold ? "cold" : "warm",
        num(f[5], 4, r->median_ms, false),
        num(f[6], 4, r->min_ms, false),
        num(f[7], 4, r->max_ms, false),
        reps,
        num(f[8], 2, r->gflops, false),
        num(f[9], 1, r->pct_peak, false),
        num(f[10], 3, r->intensity, false),
        num(f[11], 3, r->ratio, false),
        num(f[12], 4, r->reorder_ms, false),
        integer(f[13], r->charged_layers),
        r->charged_at,
        num(f[14], 2, r->images_per_s, true),
        bytes(f[15], r->params_bytes),
        bytes(f[16], r->grads_bytes),
        bytes(f[17], r->act_bytes),
        bytes(f[18], r->act_unshared_bytes),
        bytes(f[19], r->ws_bytes),
        bytes(f[20], r->peak_rss_bytes),
        bytes(f[21], r->device_mem_bytes),
        num(f[22], 4, r->optimizer_ms, true),
        num(f[23], 2, gbs, true),
        num(f[24], 1, pct_triad, true),
    };
    _Static_assert(REPORT_DIMS == 13, "the row lists every dimension");
    return report_csv_row(csv, (int)(sizeof fields / sizeof fields[0]), fields);
}
