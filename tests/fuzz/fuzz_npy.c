/* fuzz_npy: kernels/npy.c's reader (preamble, header dict, dtype, shape,
 * body size) on any bytes, through every entry point: cnn_npy_read,
 * cnn_npy_read_f32 and cnn_npy_read_labels (with and without a class
 * count). The reader reads files, so the input is written to one first. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[4200];
    if (!*path)
        snprintf(path, sizeof path, "%s/a.npy", fuzz_scratch());
    fuzz_write(path, data, size);

    cnn_npy a;
    cnn_status st = cnn_npy_read(path, &a);
    fuzz_note(st);
    if (st == CNN_OK) {
        /* the body is as long as the shape says: touch its last byte */
        int64_t n = 1;
        for (int i = 0; i < a.shape.ndim; i++)
            n *= a.shape.dim[i];
        if (n > 0)
            ((volatile unsigned char *)a.data)[n * (int64_t)cnn_dtype_size(a.dtype) - 1] ^= 0;
        cnn_npy_free(&a);
    }
    cnn_shape s;
    float *x = NULL;
    if (cnn_npy_read_f32(path, &s, &x) == CNN_OK)
        free(x);
    int64_t count;
    int32_t *labels = NULL;
    if (cnn_npy_read_labels(path, 10, &count, &labels) == CNN_OK)
        free(labels);
    if (cnn_npy_read_labels(path, 0, &count, &labels) == CNN_OK)
        free(labels);
    remove(path);
    return 0;
}
