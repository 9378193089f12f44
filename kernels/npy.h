/* NumPy .npy files (format versions 1.0, 2.0 and 3.0), the exchange format
 * with PyTorch: `np.save(path, tensor.numpy())` on one side, these functions
 * on the other.
 *
 * Read: little-endian C-order arrays of float32 ('<f4'), int64 ('<i8'),
 * int32 ('<i4') or uint8 ('|u1'), 0 to 4 dimensions. Anything else (another
 * dtype, big-endian, Fortran order, a malformed header, a body shorter or
 * longer than the header says) is CNN_ERR_INVALID_ARG or CNN_ERR_IO with a
 * reason that names the file and what is wrong.
 *
 * Write: atomically (a temporary file in the same folder, then rename), so a
 * reader never sees a half-written file. */
#ifndef CNN_NPY_H
#define CNN_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cnn_dtype {
    CNN_DTYPE_F32 = 0,
    CNN_DTYPE_I64,
    CNN_DTYPE_I32,
    CNN_DTYPE_U8,
    CNN_DTYPE_COUNT
} cnn_dtype;

const char *cnn_dtype_str(cnn_dtype t); /* numpy's descr: "<f4", "<i8", "<i4", "|u1" */
size_t cnn_dtype_size(cnn_dtype t);

typedef struct cnn_npy {
    cnn_dtype dtype;
    cnn_shape shape;                   /* ndim 0 is a scalar (one element) */
    void *data;                        /* malloc'd; free with cnn_npy_free */
} cnn_npy;

cnn_status cnn_npy_read(const char *path, cnn_npy *out);
void cnn_npy_free(cnn_npy *a);

/* A float32 array; any other dtype is an error naming the file and dtype.
 * *data is malloc'd (free()). */
cnn_status cnn_npy_read_f32(const char *path, cnn_shape *shape, float **data);

/* Class labels: a 1-d int64, int32 or uint8 array, converted to int32.
 * Values outside [0, classes) are an error naming the file, index and value
 * (classes <= 0 skips that check). *labels is malloc'd (free()). */
cnn_status cnn_npy_read_labels(const char *path, int classes, int64_t *count, int32_t **labels);

cnn_status cnn_npy_write(const char *path, cnn_dtype dtype, const cnn_shape *shape,
                         const void *data);
cnn_status cnn_npy_write_f32(const char *path, const cnn_shape *shape, const float *data);

#ifdef __cplusplus
}
#endif
#endif
