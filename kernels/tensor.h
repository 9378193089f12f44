/* Dense float32 tensors in NCHW order, on the host or on a CUDA device.
 *
 * A shape has 1 to 4 dimensions, outermost first: an activation is
 * [n][c][h][w], a conv weight [k][c][r][s], a linear weight [out][in]
 * (PyTorch's layouts). Element (i0,i1,i2,i3) of a 4-d tensor sits at
 * ((i0*d1 + i1)*d2 + i2)*d3 + i3. */
#ifndef CNN_TENSOR_H
#define CNN_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CNN_MAX_DIMS 4

typedef enum cnn_device { CNN_DEVICE_HOST = 0, CNN_DEVICE_CUDA, CNN_DEVICE_COUNT } cnn_device;

const char *cnn_device_str(cnn_device d); /* "host", "cuda" */

typedef struct cnn_shape {
    int ndim;
    int64_t dim[CNN_MAX_DIMS];
} cnn_shape;

typedef struct cnn_tensor {
    float *data;
    cnn_shape shape;
    cnn_device device;
} cnn_tensor;

cnn_shape cnn_shape1(int64_t d0);
cnn_shape cnn_shape2(int64_t d0, int64_t d1);
cnn_shape cnn_shape4(int64_t d0, int64_t d1, int64_t d2, int64_t d3);
int64_t cnn_shape_numel(const cnn_shape *s);

/* How many of x[0..n) are NaN or Inf. */
int64_t cnn_count_nonfinite(const float *x, int64_t n);
bool cnn_shape_eq(const cnn_shape *a, const cnn_shape *b);
/* "2x3x32x32"; returns buf. */
char *cnn_shape_str(const cnn_shape *s, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
