#include "ceilings.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "blas_core.h"
#include "library_ceilings.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CNN_X86 1
#endif

static int threads_now(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- FMA peak: independent chains acc = acc * m + a ---- */

/* Enough independent accumulators to cover the FMA latency times the units
 * (4-5 cycles x 2 units on current x86 cores). */
#define CHAINS 12

/* Each kernel runs `iters` rounds of CHAINS FMAs and returns a sum of the
 * accumulators, so that none is dead code; FLOPs: iters * CHAINS * lanes * 2. */
typedef float (*fma_kernel)(long iters);

#ifdef CNN_X86
__attribute__((target("avx512f"))) static float fma_avx512(long iters)
{
    __m512 acc[CHAINS];
    const __m512 m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(1e-3f);
    for (int j = 0; j < CHAINS; j++)
        acc[j] = _mm512_set1_ps((float)j);
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < CHAINS; j++)
            acc[j] = _mm512_fmadd_ps(acc[j], m, a);
    __m512 s = acc[0];
    for (int j = 1; j < CHAINS; j++)
        s = _mm512_add_ps(s, acc[j]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_avx2(long iters)
{
    __m256 acc[CHAINS];
    const __m256 m = _mm256_set1_ps(0.999f), a = _mm256_set1_ps(1e-3f);
    for (int j = 0; j < CHAINS; j++)
        acc[j] = _mm256_set1_ps((float)j);
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < CHAINS; j++)
            acc[j] = _mm256_fmadd_ps(acc[j], m, a);
    __m256 s = acc[0];
    for (int j = 1; j < CHAINS; j++)
        s = _mm256_add_ps(s, acc[j]);
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}
#endif

/* Portable: scalar multiply-adds (the compiler may vectorise them). */
static float fma_scalar(long iters)
{
    float acc[CHAINS];
    for (int j = 0; j < CHAINS; j++)
        acc[j] = (float)j;
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < CHAINS; j++)
            acc[j] = acc[j] * 0.999f + 1e-3f;
    float s = 0;
    for (int j = 0; j < CHAINS; j++)
        s += acc[j];
    return s;
}

static fma_kernel pick_kernel(char *isa, size_t n, int *lanes)
{
#ifdef CNN_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        snprintf(isa, n, "AVX-512F");
        *lanes = 16;
        return fma_avx512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        snprintf(isa, n, "AVX2+FMA");
        *lanes = 8;
        return fma_avx2;
    }
#endif
    snprintf(isa, n, "scalar");
    *lanes = 1;
    return fma_scalar;
}

static volatile float fma_sink;

/* GFLOP/s of `iters` rounds on every thread at once: each thread times its
 * own rounds, after a barrier, and the rates add up, so that waking the
 * threads and a thread that starts late do not count. *slowest gets the
 * longest thread's seconds. */
static double fma_run(fma_kernel k, long iters, int lanes, double *slowest)
{
    double rate = 0, worst = 0;
    float sum = 0;
#pragma omp parallel reduction(+ : sum, rate) reduction(max : worst)
    {
#pragma omp barrier
        double t0 = cnn_wall_seconds();
        sum += k(iters);
        double t = cnn_wall_seconds() - t0;
        rate += (double)iters * CHAINS * lanes * 2.0 / (t > 0 ? t : 1e-9) / 1e9;
        worst = t;
    }
    fma_sink = sum;
    *slowest = worst;
    return rate;
}

static double fma_peak(fma_kernel k, int lanes, double seconds)
{
    long iters = 1 << 16;
    double t, r[5];
    fma_run(k, iters, lanes, &t); /* wakes the threads */
    /* grow to about a fifth of `seconds` per repetition */
    while (fma_run(k, iters, lanes, &t), t < seconds / 20 && iters < (1L << 40))
        iters *= 2;
    long want = (long)(iters * (seconds / 5) / t);
    iters = want > iters ? want : iters;
    for (int i = 0; i < 5; i++)
        r[i] = fma_run(k, iters, lanes, &t);
    qsort(r, 5, sizeof *r, cmp_double);
    return r[2];
}

/* ---- memory bandwidth: STREAM triad ---- */

double cnn_llc_bytes(void)
{
    double size[4] = {0}; /* by level */
    for (int i = 0; i < 16; i++) {
        char path[128], buf[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int level = fgets(buf, sizeof buf, f) ? atoi(buf) : 0;
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (level < 1 || level > 3 || !(f = fopen(path, "r")))
            continue;
        if (fgets(buf, sizeof buf, f)) {
            char *end;
            double v = strtod(buf, &end);
            size[level] = v * (*end == 'K' ? 1024.0 : *end == 'M' ? 1048576.0 : 1.0);
        }
        fclose(f);
    }
    return size[3] > 0 ? size[3] : size[2]; /* no L3: the L2 */
}

static double triad(size_t n, double *gbs)
{
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    *gbs = NAN;
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
    long ln = (long)n;
    /* first touch on the threads that use the pages */
#pragma omp parallel for schedule(static)
    for (long i = 0; i < ln; i++)
        a[i] = 0, b[i] = 1, c[i] = 2;
    const float s = 3.0f;
    double best = INFINITY;
    for (int r = 0; r < 5; r++) { /* best of 5, as STREAM */
        double t0 = cnn_wall_seconds();
#pragma omp parallel for schedule(static)
        for (long i = 0; i < ln; i++)
            a[i] = b[i] + s * c[i];
        double t = cnn_wall_seconds() - t0;
        best = t < best ? t : best;
    }
    fma_sink = a[n / 2];
    free(a), free(b), free(c);
    *gbs = 3.0 * 4.0 * (double)n / best / 1e9;
    return (double)n * 4.0;
}

/* ---- all of them ---- */

void cnn_ceilings_measure(cnn_ceilings *c, double seconds)
{
    memset(c, 0, sizeof *c);
    if (!(seconds > 0)) {
        const char *env = getenv("CNNBENCH_CEILINGS_SECONDS");
        seconds = env ? atof(env) : 0;
        if (!(seconds > 0) || seconds > 10)
            seconds = 0.15;
    }
    c->threads = threads_now();
    int lanes;
    fma_kernel k = pick_kernel(c->isa, sizeof c->isa, &lanes);
    c->fma_peak_gflops = fma_peak(k, lanes, seconds);
    c->sgemm_gflops =
        cnn_blas_sgemm_gflops(seconds, &c->sgemm_n, c->sgemm_note, sizeof c->sgemm_note);
    /* each array 4x the last-level cache, as STREAM asks; 256 MiB if that is
     * unknown, at most a sixteenth of the memory */
    c->llc_bytes = cnn_llc_bytes();
    double bytes = c->llc_bytes > 0 ? 4 * c->llc_bytes : 256.0 * 1048576;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && bytes > (double)pages * page / 16)
        bytes = (double)pages * page / 16;
    c->triad_array_bytes = triad((size_t)(bytes / 4), &c->triad_gbs);
    cnn_gpu_ceilings(seconds, &c->gpu_sgemm_gflops, &c->gpu_d2d_gbs, c->gpu_note,
                     sizeof c->gpu_note);
}

/* A number member, null when not measured. */
static void member(FILE *f, const char *key, const char *fmt, double v, bool last)
{
    fprintf(f, "    ");
    report_json_string(f, key);
    fputs(": ", f);
    if (isfinite(v))
        fprintf(f, fmt, v);
    else
        fputs("null", f);
    fputs(last ? "\n" : ",\n", f);
}

static void str_member(FILE *f, const char *key, const char *v)
{
    fprintf(f, "    ");
    report_json_string(f, key);
    fputs(": ", f);
    report_json_string(f, v);
    fputs(",\n", f);
}

void cnn_ceilings_json(report_json *j, const cnn_ceilings *c)
{
    report_json_key(j, "ceilings");
    FILE *f = j->f;
    fputs("{\n", f);
    str_member(f, "isa", c->isa);
    member(f, "threads", "%.0f", c->threads, false);
    member(f, "fma_peak_gflops", "%.6g", c->fma_peak_gflops, false);
    member(f, "sgemm_gflops", "%.1f", c->sgemm_gflops, false);
    member(f, "sgemm_n", "%.0f", c->sgemm_n ? c->sgemm_n : NAN, false);
    if (*c->sgemm_note)
        str_member(f, "sgemm_note", c->sgemm_note);
    member(f, "triad_gbs", "%.2f", c->triad_gbs, false);
    str_member(f, "triad_bytes_counted",
               "3 arrays x 4 bytes per element, as STREAM (write-allocate not counted)");
    member(f, "triad_array_bytes", "%.0f", c->triad_array_bytes, false);
    member(f, "llc_bytes", "%.0f", c->llc_bytes > 0 ? c->llc_bytes : NAN, false);
    member(f, "gpu_sgemm_gflops", "%.1f", c->gpu_sgemm_gflops, false);
    if (*c->gpu_note)
        str_member(f, "gpu_note", c->gpu_note);
    member(f, "gpu_d2d_gbs", "%.1f", c->gpu_d2d_gbs, true);
    fputs("  }", f);
}

void cnn_ceilings_print(FILE *out, const cnn_ceilings *c)
{
    fprintf(out, "machine: %s, FMA peak %.0f GFLOP/s (%d thread%s), ", c->isa, c->fma_peak_gflops,
            c->threads, c->threads == 1 ? "" : "s");
    if (isfinite(c->sgemm_gflops))
        fprintf(out, "sgemm %.0f GFLOP/s, ", c->sgemm_gflops);
    else
        fprintf(out, "sgemm %s, ", c->sgemm_note);
    fprintf(out, "triad %.0f GB/s", c->triad_gbs);
    if (isfinite(c->gpu_sgemm_gflops))
        fprintf(out, "; GPU: cuBLAS sgemm %.0f GFLOP/s, D2D copy %.0f GB/s", c->gpu_sgemm_gflops,
                c->gpu_d2d_gbs);
    fputc('\n', out);
    const char *blas = cnn_blas_core_warning();
    if (*blas) { /* a warning: on stderr, after the line it qualifies */
        fflush(out);
        fprintf(stderr, "cnnbench: warning: %s\n", blas);
    }
}
