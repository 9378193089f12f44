/* Dropout's mask generator, hand-vectorised (cpu_dropout_x86.c): Philox's
 * ten rounds run on several counters at once, one 32-bit word per 64-bit
 * lane, so each round's two 32x32->64-bit products are one vpmuludq and the
 * high halves a shift. The compiler's own vectorisation of the scalar loop
 * (cpu_dropout.c) spends most of its instructions shuffling words between
 * lanes: 1.6 ns per element per core against 0.76 (AVX2) and 0.47
 * (AVX-512) here, on a Zen 4 core.
 *
 * Each kernel applies whole groups of its width from block b0 and returns
 * the first block it did not do (b0 itself off x86-64); the caller finishes
 * with the scalar loop, and calls a kernel only where cnn_cpu_dropout_has_*
 * says the CPU runs it.
 * The mask is bit-for-bit the scalar one (kernels/philox.h): the words are
 * integers, and the multiply by 0 or 1/(1-p) is the same float product. */
#ifndef CNN_CPU_DROPOUT_SIMD_H
#define CNN_CPU_DROPOUT_SIMD_H

#include <stdbool.h>
#include <stdint.h>

/* y[i] = x[i] * (keep(i) ? scale : 0) for the elements i of blocks [b0, b),
 * keep(i) = (word >> 8) >= t, t in [1, 2^24]; x and y point at block b0's
 * first element (element 4 * b0 of the tensor). */
typedef int64_t (*cnn_dropout_blocks_fn)(const float *x, float *y, int64_t b0, int64_t b1,
                                         uint64_t seed, uint32_t t, float scale);

int64_t cnn_cpu_dropout_blocks_avx2(const float *x, float *y, int64_t b0, int64_t b1, uint64_t seed,
                                    uint32_t t, float scale);
int64_t cnn_cpu_dropout_blocks_avx512(const float *x, float *y, int64_t b0, int64_t b1,
                                      uint64_t seed, uint32_t t, float scale);

/* Whether this CPU (and OS) runs the kernel's instructions: false off x86-64. */
bool cnn_cpu_dropout_has_avx2(void);
bool cnn_cpu_dropout_has_avx512(void);

#endif
