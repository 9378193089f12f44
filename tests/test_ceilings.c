/* The machine's ceilings (harness/ceilings.h), measured with short
 * durations: every figure finite and positive, no GEMM above the FMA peak
 * (beyond noise), the triad's arrays beyond the last-level cache, the JSON
 * and the printed line saying what they measured; the OpenBLAS core
 * reported as the environment set it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef CNN_HAVE_OPENBLAS
#include <cblas.h>
#endif

#include "blas_core.h"
#include "ceilings.h"
#include "test_util.h"

int main(void)
{
    cnn_ceilings c;
    cnn_ceilings_measure(&c, 0.03);
    TU_CHECK(c.threads >= 1, "threads %d", c.threads);
    TU_CHECK(!strcmp(c.isa, "AVX-512F") || !strcmp(c.isa, "AVX2+FMA") || !strcmp(c.isa, "scalar"),
             "isa '%s'", c.isa);
    TU_CHECK(isfinite(c.fma_peak_gflops) && c.fma_peak_gflops > 0, "FMA peak %g GFLOP/s",
             c.fma_peak_gflops);
#ifdef CNN_HAVE_OPENBLAS
    TU_CHECK(isfinite(c.sgemm_gflops) && c.sgemm_gflops > 0 && c.sgemm_n >= 256,
             "sgemm %g GFLOP/s at N = %d", c.sgemm_gflops, c.sgemm_n);
    /* a GEMM is FMAs: it cannot beat their peak (20% left for noise) */
    TU_CHECK(c.sgemm_gflops <= 1.2 * c.fma_peak_gflops, "sgemm %g GFLOP/s above the FMA peak %g",
             c.sgemm_gflops, c.fma_peak_gflops);
#else
    TU_CHECK(isnan(c.sgemm_gflops) && strstr(c.sgemm_note, "no OpenBLAS"), "sgemm %g, note '%s'",
             c.sgemm_gflops, c.sgemm_note);
#endif
    TU_CHECK(isfinite(c.triad_gbs) && c.triad_gbs > 0, "triad %g GB/s", c.triad_gbs);
    double llc = cnn_llc_bytes();
    TU_CHECK(llc == c.llc_bytes && llc >= 0, "LLC %g, ceilings say %g", llc, c.llc_bytes);
    TU_CHECK(c.triad_array_bytes >= (llc > 0 ? 4 * llc : 256.0 * 1048576) ||
                 c.triad_array_bytes >= 64.0 * 1048576,
             "triad arrays of %g bytes with an LLC of %g", c.triad_array_bytes, llc);
    /* no GPU here, or one measured */
    TU_CHECK((isnan(c.gpu_sgemm_gflops) && *c.gpu_note) || c.gpu_sgemm_gflops > 0,
             "GPU sgemm %g, note '%s'", c.gpu_sgemm_gflops, c.gpu_note);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    report_json j = {.f = f};
    cnn_ceilings_json(&j, &c);
    cnn_ceilings_print(f, &c);
    fclose(f);
    const char *keys[] = {"\"ceilings\": {",    "\"isa\": \"",     "\"fma_peak_gflops\": ",
                          "\"sgemm_gflops\": ", "\"triad_gbs\": ", "\"llc_bytes\": ",
                          "machine: ",          " GFLOP/s (",      "triad "};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        TU_CHECK(strstr(buf, keys[i]), "output lacks '%s':\n%s", keys[i], buf);
    TU_CHECK(!strstr(buf, "nan") && !strstr(buf, "inf"), "a non-number in:\n%s", buf);
    free(buf);

    /* OPENBLAS_CORETYPE, read when asked (the core itself was chosen at load) */
    const char *env = getenv("OPENBLAS_CORETYPE");
    char saved[128] = "";
    if (env)
        snprintf(saved, sizeof saved, "%s", env);
    unsetenv("OPENBLAS_CORETYPE");
    TU_CHECK(!*cnn_blas_core_note() && !*cnn_blas_core_warning(), "unset: note '%s', warning '%s'",
             cnn_blas_core_note(), cnn_blas_core_warning());
    setenv("OPENBLAS_CORETYPE", "Nehalem", 1);
#ifdef CNN_HAVE_OPENBLAS
    TU_CHECK(!strcmp(cnn_blas_core_note(), "set by OPENBLAS_CORETYPE=Nehalem"), "note '%s'",
             cnn_blas_core_note());
    const char *w = cnn_blas_core_warning();
    TU_CHECK(!*w || (strstr(w, "OPENBLAS_CORETYPE=Nehalem holds OpenBLAS to its ") &&
                     strstr(w, openblas_get_corename())),
             "warning '%s' (core %s)", w, openblas_get_corename());
#else
    TU_CHECK(!*cnn_blas_core_note(), "no OpenBLAS, yet note '%s'", cnn_blas_core_note());
#endif
    if (*saved)
        setenv("OPENBLAS_CORETYPE", saved, 1);
    else
        unsetenv("OPENBLAS_CORETYPE");
    return tu_finish("test_ceilings");
}
