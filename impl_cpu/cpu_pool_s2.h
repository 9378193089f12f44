/* Max-pool backward for 3x3 windows at stride 2, separable, on rows split
 * into even and odd columns (cpu_pool_s2.c); cpu_pool.c calls it per
 * (image, channel) plane where cnn_cpu_pool_s2_form() says so. */
#ifndef CNN_CPU_POOL_S2_H
#define CNN_CPU_POOL_S2_H

#include <stdbool.h>

#include "ops.h"

bool cnn_cpu_pool_s2_form(const cnn_pool_desc *d);
/* One plane: dx (h x w) written whole, from dy (p x q) and x (h x w). */
void cnn_cpu_max_bwd_s2(const cnn_pool_desc *d, const float *restrict x, const float *restrict dy,
                        float *restrict dx);

#endif
