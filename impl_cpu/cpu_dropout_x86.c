/* AVX2 and AVX-512 kernels of dropout (cpu_dropout_simd.h): compiled with
 * per-function target attributes, so the library keeps its baseline ISA and
 * these run only where the CPU says it has them (cnn_cpu_dropout_has_*).
 *
 * Layout: vector c0 holds word 0 of consecutive blocks b, b+1, ... in the
 * low halves of its 64-bit lanes (c1..c3 likewise), the high halves are
 * don't-care: vpmuludq reads only the low 32 bits, the shift of a product
 * gives its high word with zeros above, and the garbage that xor carries
 * into a high half is never read. Two independent groups per iteration hide
 * the multiply's latency (one group was latency-bound). At the end the four
 * words of each block are interleaved into element order (element 4b + j is
 * word j of block b) and compared as (w >> 8) > t - 1, signed: w >> 8 is
 * below 2^24. */
#include "cpu_dropout_simd.h"
#include "philox.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

bool cnn_cpu_dropout_has_avx2(void)
{
    return __builtin_cpu_supports("avx2");
}

bool cnn_cpu_dropout_has_avx512(void)
{
    return __builtin_cpu_supports("avx512f");
}

/* One Philox round on the two groups a and b (256 or 512 bits). */
#define ROUND(W, a, b, K0, K1)                                                                     \
    do {                                                                                           \
        const W p0a = MUL(c0##a, m0), p1a = MUL(c2##a, m1);                                        \
        const W p0b = MUL(c0##b, m0), p1b = MUL(c2##b, m1);                                        \
        c0##a = XOR3(SRL32(p1a), c1##a, K0);                                                       \
        c2##a = XOR3(SRL32(p0a), c3##a, K1);                                                       \
        c0##b = XOR3(SRL32(p1b), c1##b, K0);                                                       \
        c2##b = XOR3(SRL32(p0b), c3##b, K1);                                                       \
        c1##a = p1a, c3##a = p0a, c1##b = p1b, c3##b = p0b;                                        \
    } while (0)

#define MUL _mm256_mul_epu32
#define SRL32(v) _mm256_srli_epi64(v, 32)
#define XOR3(u, v, w) _mm256_xor_si256(_mm256_xor_si256(u, v), w)

/* The 16 elements of the four blocks in c0..c3 (one group) */
__attribute__((target("avx2"))) static inline void apply_avx2(const float *x, float *y, __m256i c0,
                                                              __m256i c1, __m256i c2, __m256i c3,
                                                              __m256i tm1, __m256 scale)
{
    const __m256i s01 = _mm256_blend_epi32(c0, _mm256_slli_epi64(c1, 32), 0xAA);
    const __m256i s23 = _mm256_blend_epi32(c2, _mm256_slli_epi64(c3, 32), 0xAA);
    /* per 128-bit half: lo = its first block's words, hi = its second's */
    const __m256i lo = _mm256_unpacklo_epi64(s01, s23), hi = _mm256_unpackhi_epi64(s01, s23);
    const __m256i w[2] = {_mm256_permute2x128_si256(lo, hi, 0x20),
                          _mm256_permute2x128_si256(lo, hi, 0x31)};
    for (int q = 0; q < 2; q++) {
        const __m256i keep = _mm256_cmpgt_epi32(_mm256_srli_epi32(w[q], 8), tm1);
        const __m256 f = _mm256_and_ps(_mm256_castsi256_ps(keep), scale);
        _mm256_storeu_ps(y + 8 * q, _mm256_mul_ps(_mm256_loadu_ps(x + 8 * q), f));
    }
}

__attribute__((target("avx2"))) int64_t cnn_cpu_dropout_blocks_avx2(const float *x, float *y,
                                                                    int64_t b0, int64_t b1,
                                                                    uint64_t seed, uint32_t t,
                                                                    float scale)
{
    const __m256i m0 = _mm256_set1_epi64x(CNN_PHILOX_M0), m1 = _mm256_set1_epi64x(CNN_PHILOX_M1);
    const __m256i tm1 = _mm256_set1_epi32((int)(t - 1));
    const __m256i lane = _mm256_setr_epi64x(0, 1, 2, 3);
    const __m256 sv = _mm256_set1_ps(scale);
    const uint32_t s0 = (uint32_t)seed, s1 = (uint32_t)(seed >> 32);
    int64_t b = b0;
    for (; b + 8 <= b1; b += 8) {
        __m256i c0a = _mm256_add_epi64(_mm256_set1_epi64x(b), lane);
        __m256i c0b = _mm256_add_epi64(_mm256_set1_epi64x(b + 4), lane);
        __m256i c1a = _mm256_srli_epi64(c0a, 32), c1b = _mm256_srli_epi64(c0b, 32);
        __m256i c2a = _mm256_setzero_si256(), c2b = c2a, c3a = c2a, c3b = c2a;
        for (uint32_t r = 0; r < 10; r++) {
            const __m256i k0 = _mm256_set1_epi64x(s0 + CNN_PHILOX_W0 * r);
            const __m256i k1 = _mm256_set1_epi64x(s1 + CNN_PHILOX_W1 * r);
            ROUND(__m256i, a, b, k0, k1);
        }
        apply_avx2(x + 4 * (b - b0), y + 4 * (b - b0), c0a, c1a, c2a, c3a, tm1, sv);
        apply_avx2(x + 4 * (b - b0) + 16, y + 4 * (b - b0) + 16, c0b, c1b, c2b, c3b, tm1, sv);
    }
    return b;
}

#undef MUL
#undef SRL32
#undef XOR3
#define MUL _mm512_mul_epu32
#define SRL32(v) _mm512_srli_epi64(v, 32)
#define XOR3(u, v, w) _mm512_ternarylogic_epi64(u, v, w, 0x96)

/* The 32 elements of the eight blocks in c0..c3 (one group) */
__attribute__((target("avx512f"))) static inline void apply_avx512(const float *x, float *y,
                                                                   __m512i c0, __m512i c1,
                                                                   __m512i c2, __m512i c3,
                                                                   __m512i tm1, __m512 scale)
{
    const __m512i s01 = _mm512_mask_blend_epi32(0xAAAA, c0, _mm512_slli_epi64(c1, 32));
    const __m512i s23 = _mm512_mask_blend_epi32(0xAAAA, c2, _mm512_slli_epi64(c3, 32));
    /* 128-bit lane q of lo holds block 2q's words, of hi block 2q + 1's */
    const __m512i lo = _mm512_unpacklo_epi64(s01, s23), hi = _mm512_unpackhi_epi64(s01, s23);
    const __m512i first = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
    const __m512i second = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    const __m512i w[2] = {_mm512_permutex2var_epi64(lo, first, hi),
                          _mm512_permutex2var_epi64(lo, second, hi)};
    for (int q = 0; q < 2; q++) {
        const __mmask16 keep = _mm512_cmpgt_epi32_mask(_mm512_srli_epi32(w[q], 8), tm1);
        /* a multiply by +0, not a zeroing mask: NaN and inf stay NaN */
        const __m512 f = _mm512_maskz_mov_ps(keep, scale);
        _mm512_storeu_ps(y + 16 * q, _mm512_mul_ps(_mm512_loadu_ps(x + 16 * q), f));
    }
}

__attribute__((target("avx512f"))) int64_t cnn_cpu_dropout_blocks_avx512(const float *x, float *y,
                                                                         int64_t b0, int64_t b1,
                                                                         uint64_t seed, uint32_t t,
                                                                         float scale)
{
    const __m512i m0 = _mm512_set1_epi64(CNN_PHILOX_M0), m1 = _mm512_set1_epi64(CNN_PHILOX_M1);
    const __m512i tm1 = _mm512_set1_epi32((int)(t - 1));
    const __m512i lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    const __m512 sv = _mm512_set1_ps(scale);
    const uint32_t s0 = (uint32_t)seed, s1 = (uint32_t)(seed >> 32);
    int64_t b = b0;
    for (; b + 16 <= b1; b += 16) {
        __m512i c0a = _mm512_add_epi64(_mm512_set1_epi64(b), lane);
        __m512i c0b = _mm512_add_epi64(_mm512_set1_epi64(b + 8), lane);
        __m512i c1a = _mm512_srli_epi64(c0a, 32), c1b = _mm512_srli_epi64(c0b, 32);
        __m512i c2a = _mm512_setzero_si512(), c2b = c2a, c3a = c2a, c3b = c2a;
        for (uint32_t r = 0; r < 10; r++) {
            const __m512i k0 = _mm512_set1_epi64(s0 + CNN_PHILOX_W0 * r);
            const __m512i k1 = _mm512_set1_epi64(s1 + CNN_PHILOX_W1 * r);
            ROUND(__m512i, a, b, k0, k1);
        }
        apply_avx512(x + 4 * (b - b0), y + 4 * (b - b0), c0a, c1a, c2a, c3a, tm1, sv);
        apply_avx512(x + 4 * (b - b0) + 32, y + 4 * (b - b0) + 32, c0b, c1b, c2b, c3b, tm1, sv);
    }
    return b;
}

#else /* not x86-64: the scalar loop does it all */

bool cnn_cpu_dropout_has_avx2(void)
{
    return false;
}

bool cnn_cpu_dropout_has_avx512(void)
{
    return false;
}

int64_t cnn_cpu_dropout_blocks_avx2(const float *x, float *y, int64_t b0, int64_t b1, uint64_t seed,
                                    uint32_t t, float scale)
{
    (void)x, (void)y, (void)b1, (void)seed, (void)t, (void)scale;
    return b0;
}

int64_t cnn_cpu_dropout_blocks_avx512(const float *x, float *y, int64_t b0, int64_t b1,
                                      uint64_t seed, uint32_t t, float scale)
{
    (void)x, (void)y, (void)b1, (void)seed, (void)t, (void)scale;
    return b0;
}
#endif
