/* Channel concatenation as strided copies: for input i, the block of c[i]
 * planes of each batch element moves to its place in the c_out planes of
 * the output. One 2-D copy per input covers the whole batch (n rows of
 * c[i]*h*w floats, pitched by c_out*h*w in the output). xs and dxs are host
 * arrays of device pointers. */
#include <limits.h>

#include "cudnn_impl.h"

typedef enum { GATHER, SCATTER } direction;

/* The block copy between one input's tensor and its channels of the
 * concatenated one; pitches beyond what cudaMemcpy2D accepts fall back to
 * one copy per batch element. */
static cnn_status copy_block(cudaStream_t s, const cnn_concat_desc *d, direction dir, float *cat,
                             float *part, int offset, int c)
{
    const size_t plane = (size_t)d->h * d->w * sizeof(float);
    const size_t cat_pitch = (size_t)d->c_out * plane, part_pitch = (size_t)c * plane;
    float *cat_at = cat + (size_t)offset * d->h * d->w;
    if (cat_pitch <= (size_t)INT_MAX) {
        if (dir == GATHER)
            CUDA_CHECK(cudaMemcpy2DAsync(cat_at, cat_pitch, part, part_pitch, part_pitch,
                                         (size_t)d->n, cudaMemcpyDeviceToDevice, s));
        else
            CUDA_CHECK(cudaMemcpy2DAsync(part, part_pitch, cat_at, cat_pitch, part_pitch,
                                         (size_t)d->n, cudaMemcpyDeviceToDevice, s));
        return CNN_OK;
    }
    for (int n = 0; n < d->n; n++) {
        char *c_row = (char *)cat_at + (size_t)n * cat_pitch;
        char *p_row = (char *)part + (size_t)n * part_pitch;
        if (dir == GATHER)
            CUDA_CHECK(cudaMemcpyAsync(c_row, p_row, part_pitch, cudaMemcpyDeviceToDevice, s));
        else
            CUDA_CHECK(cudaMemcpyAsync(p_row, c_row, part_pitch, cudaMemcpyDeviceToDevice, s));
    }
    return CNN_OK;
}

cnn_status cudnn_concat_fwd(cnn_ctx *ctx, const cnn_concat_desc *d, const float *const *xs,
                            float *y)
{
    cudaStream_t s = cudnn_st(ctx)->stream;
    int offset = 0;
    for (int i = 0; i < d->count; i++) {
        /* The copy only reads the input; the cast drops const for the
         * shared helper. */
        cnn_status st = copy_block(s, d, GATHER, y, (float *)xs[i], offset, d->c[i]);
        if (st != CNN_OK)
            return st;
        offset += d->c[i];
    }
    return CNN_OK;
}

cnn_status cudnn_concat_bwd(cnn_ctx *ctx, const cnn_concat_desc *d, const float *dy,
                            float *const *dxs)
{
    cudaStream_t s = cudnn_st(ctx)->stream;
    int offset = 0;
    for (int i = 0; i < d->count; i++) {
        /* Likewise: the concatenated tensor is only read here. */
        cnn_status st = copy_block(s, d, SCATTER, (float *)dy, dxs[i], offset, d->c[i]);
        if (st != CNN_OK)
            return st;
        offset += d->c[i];
    }
    return CNN_OK;
}
