/* Status codes shared by every backend and by the harness.
 *
 * Library code never exits or aborts on bad input: it returns one of these and
 * leaves a human-readable reason in a per-thread buffer (read it with
 * cnn_last_error(), as with dlerror()). The reason names the problem: the
 * option, key, file or the expected and given shapes. */
#ifndef CNN_STATUS_H
#define CNN_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cnn_status {
    CNN_OK = 0,
    CNN_ERR_INVALID_ARG, /* the caller's input is wrong: shapes, values, files */
    CNN_ERR_UNSUPPORTED, /* valid input that this backend does not implement */
    CNN_ERR_OUT_OF_MEMORY,
    CNN_ERR_BACKEND, /* a library below us (BLAS, oneDNN, CUDA) failed */
    CNN_ERR_IO,      /* a file could not be read or written */
    CNN_STATUS_COUNT
} cnn_status;

/* "ok", "invalid argument", "unsupported", ... */
const char *cnn_status_str(cnn_status s);

#if defined(__GNUC__)
#define CNN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CNN_PRINTF(a, b)
#endif

/* Record a reason for status s on this thread and return s, so that error
 * paths read `return cnn_fail(CNN_ERR_INVALID_ARG, "stride %d", s);`. */
cnn_status cnn_fail(cnn_status s, const char *fmt, ...) CNN_PRINTF(2, 3);

/* The reason recorded by the last cnn_fail() on this thread ("" if none). */
const char *cnn_last_error(void);
void cnn_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
