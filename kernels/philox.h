/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
 * 3", SC'11): a counter-based generator, so the random number for element i
 * of a tensor is a pure function of (seed, i). Every backend, CPU or GPU,
 * threaded or not, draws the same dropout mask, and backward regenerates the
 * mask instead of storing it. Header-only so CUDA kernels can use it too. */
#ifndef CNN_PHILOX_H
#define CNN_PHILOX_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define CNN_HD __host__ __device__ __forceinline__
#else
#define CNN_HD static inline
#endif

/* The round's multipliers and the key's Weyl increments (also used by the
 * hand-vectorised CPU kernels, impl_cpu/cpu_dropout_x86.c). */
#define CNN_PHILOX_M0 0xD2511F53u
#define CNN_PHILOX_M1 0xCD9E8D57u
#define CNN_PHILOX_W0 0x9E3779B9u
#define CNN_PHILOX_W1 0xBB67AE85u

typedef struct cnn_philox4 {
    uint32_t v[4];
} cnn_philox4;

CNN_HD uint32_t cnn_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

/* Four 32-bit random words for counter `ctr` under key `seed`. */
CNN_HD cnn_philox4 cnn_philox4x32(uint64_t ctr, uint64_t seed)
{
    uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = cnn_mulhilo32(CNN_PHILOX_M0, c0, &hi0);
        uint32_t lo1 = cnn_mulhilo32(CNN_PHILOX_M1, c2, &hi1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
        k0 += CNN_PHILOX_W0;
        k1 += CNN_PHILOX_W1;
    }
    cnn_philox4 r = {{c0, c1, c2, c3}};
    return r;
}

/* Uniform float in [0, 1) with 24 random bits for element i: element i uses
 * word (i mod 4) of block i / 4, so a kernel may draw four at a time. */
CNN_HD float cnn_philox_uniform(uint64_t seed, uint64_t i)
{
    cnn_philox4 r = cnn_philox4x32(i >> 2, seed);
    return (float)(r.v[i & 3] >> 8) * (1.0f / 16777216.0f);
}

/* Dropout's keep decision: element i survives with probability 1 - p. */
CNN_HD bool cnn_dropout_keep(uint64_t seed, uint64_t i, double p)
{
    return (double)cnn_philox_uniform(seed, i) >= p;
}

#endif
