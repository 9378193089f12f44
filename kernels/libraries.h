/* The third-party libraries this build links into the backends, with the
 * versions they report at run time (cnnbench --version, meta.json).
 *
 * Part of the registry library, which links every backend: it asks each
 * library itself (openblas_get_config, dnnl_version, cudaRuntimeGetVersion,
 * cudnnGetProperty, ...), so a shared library swapped under the binary is
 * reported as it is, not as it was when the binary was built. */
#ifndef CNN_LIBRARIES_H
#define CNN_LIBRARIES_H

#ifdef __cplusplus
extern "C" {
#endif

#define CNN_LIBRARIES_MAX 10

typedef struct cnn_library_version {
    const char *name;  /* "OpenBLAS", "oneDNN", "OpenMP", "CUDA runtime", "GPU", ... */
    char version[192]; /* as the library reports it */
} cnn_library_version;

/* Fill out[0..n) with every library built in (at most CNN_LIBRARIES_MAX);
 * returns n. */
int cnn_library_versions(cnn_library_version out[CNN_LIBRARIES_MAX]);

#ifdef __cplusplus
}
#endif
#endif
