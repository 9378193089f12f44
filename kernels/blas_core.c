#include "blas_core.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#ifdef CNN_HAVE_OPENBLAS
#include <cblas.h>
#endif

#ifdef CNN_HAVE_OPENBLAS
static const char *forced(void)
{
    const char *v = getenv("OPENBLAS_CORETYPE");
    return v && *v ? v : NULL;
}
#endif

const char *cnn_blas_core_note(void)
{
#ifdef CNN_HAVE_OPENBLAS
    static char note[96];
    const char *v = forced();
    if (v) {
        snprintf(note, sizeof note, "set by OPENBLAS_CORETYPE=%.40s", v);
        return note;
    }
#endif
    return "";
}

#if defined(CNN_HAVE_OPENBLAS) && (defined(__x86_64__) || defined(__i386__))
static bool has_skylakex_isa(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
}

/* OpenBLAS's x86 cores with AVX-512 kernels (0.3.21 to 0.3.28). */
static bool avx512_core(const char *name)
{
    static const char *const cores[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++)
        if (!strcasecmp(name, cores[i]))
            return true;
    return false;
}
#endif

const char *cnn_blas_core_warning(void)
{
#if defined(CNN_HAVE_OPENBLAS) && (defined(__x86_64__) || defined(__i386__))
    static char warning[256];
    const char *v = forced(), *core = openblas_get_corename();
    if (v && core && !avx512_core(core) && has_skylakex_isa()) {
        snprintf(warning, sizeof warning,
                 "OPENBLAS_CORETYPE=%.40s holds OpenBLAS to its %.40s kernels (no AVX-512) on a "
                 "CPU with AVX-512; unset it to let OpenBLAS choose",
                 v, core);
        return warning;
    }
#endif
    return "";
}
