/* CNN_CPU_VEC: compile a hot loop twice, for AVX2 and for the baseline
 * x86-64 (SSE2) the library is built for, and let the loader pick the copy
 * the CPU runs (GCC and Clang's target_clones, an ifunc: the CPU is detected
 * once, at start-up). Used on the memory-bound loops whose compare-and-blend
 * or double-width arithmetic costs more instructions than SSE2 can issue at
 * memory speed (max pooling's NaN-aware selects, BN's statistics). No
 * intrinsics: both copies are the compiler's vectorisation of the same C,
 * and without contraction (-std=c11 keeps -ffp-contract=off) they round
 * alike. Elsewhere (other compilers, targets, no ifunc) it is nothing and
 * the baseline copy is all there is. */
#ifndef CNN_CPU_SIMD_H
#define CNN_CPU_SIMD_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__has_attribute)
#if __has_attribute(target_clones) && defined(__clang__)
/* Clang refuses flatten beside target_clones; it inlines the static helpers
 * into each clone anyway (a default-target callee into an AVX2 caller) */
#define CNN_CPU_VEC __attribute__((target_clones("avx2", "default")))
#define CNN_CPU_VEC_WIDE __attribute__((target_clones("avx512f", "avx2", "default")))
#elif __has_attribute(target_clones)
/* flatten: the static helpers inlined into, so compiled for, each clone */
#define CNN_CPU_VEC __attribute__((target_clones("avx2", "default"), flatten))
#define CNN_CPU_VEC_WIDE __attribute__((target_clones("avx512f", "avx2", "default"), flatten))
#endif
#endif
#ifndef CNN_CPU_VEC
#define CNN_CPU_VEC
#define CNN_CPU_VEC_WIDE
#endif

/* CNN_CPU_VEC_WIDE adds an AVX-512 copy, for loops bound by arithmetic
 * rather than memory (the sigmoid's exp and division: 0.345 -> 0.19 ms on
 * LeNet-5's 128x6x28x28, Zen 4). The memory-bound loops stay on AVX2: with
 * an AVX-512 copy the same Zen 4 ran most of ResNet-18's BN and max-pool
 * backward rows 7-61% slower in two A/B pairs (BN infer forward at
 * 8x64x112x112: 1.00-1.16 -> 1.43-1.87 ms), a few small rows up to 10%
 * faster, the max-pool forward either way. */

/* The float whose bits are u (for selects written as bit masks, which GCC
 * vectorises where it keeps `c ? v : 0.0f` as a branch). */
static inline float cnn_cpu_bits_float(uint32_t u)
{
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* The float of bits where c holds, else +0. */
static inline float cnn_cpu_bits_if(uint32_t bits, bool c)
{
    return cnn_cpu_bits_float(bits & -(uint32_t)c);
}

#endif
