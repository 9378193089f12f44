/* Max pooling's plane form, for stride-1 windows on planes small enough
 * that a padded copy fits in L1 (cpu_pool_plane.c); cpu_pool.c gives each
 * thread its range of planes where cnn_cpu_pool_plane_form() says so (the
 * buffer's -inf frame is then set once per range, not per plane). */
#ifndef CNN_CPU_POOL_PLANE_H
#define CNN_CPU_POOL_PLANE_H

#include <stdbool.h>
#include <stdint.h>

#include "ops.h"

/* PyTorch's maximum: a NaN wins, and stays (no number is > NaN). */
static inline float cnn_cpu_max_nan(float m, float v)
{
    return v > m || v != v ? v : m;
}

bool cnn_cpu_pool_plane_form(const cnn_pool_desc *d);
/* `planes` consecutive (image, channel) planes: x h x w each, y p x q. */
void cnn_cpu_max_fwd_planes(const cnn_pool_desc *d, const float *restrict x, float *restrict y,
                            int64_t planes);
/* dx (h x w each) written whole, from dy (p x q each) and x. */
void cnn_cpu_max_bwd_planes(const cnn_pool_desc *d, const float *restrict x,
                            const float *restrict dy, float *restrict dx, int64_t planes);

#endif
