/* The counter-based generator behind dropout (kernels/philox.h).
 *
 * kernels/philox.h puts a 64-bit counter in words 0-1 and zeros in words
 * 2-3, so only Random123's all-zero known-answer vector can be fed to it
 * directly. The test therefore carries an independent full-width Philox4x32-10
 * (written from the paper's description), proves it on all three of
 * Random123's tests/kat_vectors for philox4x32 10, and then requires the header to
 * agree with it on many (counter, key) pairs. Then the statistics of the
 * floats that dropout consumes. */
#include <math.h>

#include "philox.h"
#include "test_util.h"

/* Philox4x32 with R rounds: each round multiplies words 0 and 2 by fixed
 * odd constants, swaps in the high halves xor'd with words 1, 3 and the key,
 * and bumps the key by the Weyl constants (golden ratio and sqrt(3) - 1). */
static void philox_reference(const uint32_t ctr_in[4], const uint32_t key_in[2], uint32_t out[4])
{
    uint32_t c[4] = {ctr_in[0], ctr_in[1], ctr_in[2], ctr_in[3]};
    uint32_t k[2] = {key_in[0], key_in[1]};
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c[0], p1 = (uint64_t)0xCD9E8D57u * c[2];
        uint32_t next[4] = {(uint32_t)(p1 >> 32) ^ c[1] ^ k[0], (uint32_t)p1,
                            (uint32_t)(p0 >> 32) ^ c[3] ^ k[1], (uint32_t)p0};
        for (int i = 0; i < 4; i++)
            c[i] = next[i];
        k[0] += 0x9E3779B9u;
        k[1] += 0xBB67AE85u;
    }
    for (int i = 0; i < 4; i++)
        out[i] = c[i];
}

static void test_known_answers(void)
{
    /* Random123, tests/kat_vectors: the three "philox4x32 10" lines. */
    static const struct {
        uint32_t ctr[4], key[2], want[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
        {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
         {0xffffffffu, 0xffffffffu},
         {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
        {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
         {0xa4093822u, 0x299f31d0u},
         {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
    };
    for (int t = 0; t < 3; t++) {
        uint32_t got[4];
        philox_reference(kat[t].ctr, kat[t].key, got);
        for (int i = 0; i < 4; i++)
            TU_CHECK(got[i] == kat[t].want[i], "reference KAT %d word %d: 0x%08x, want 0x%08x", t,
                     i, got[i], kat[t].want[i]);
    }
    cnn_philox4 r = cnn_philox4x32(0, 0);
    for (int i = 0; i < 4; i++)
        TU_CHECK(r.v[i] == kat[0].want[i], "cnn_philox4x32(0, 0) word %d: 0x%08x, want 0x%08x", i,
                 r.v[i], kat[0].want[i]);
}

/* The header against the reference with the counter in words 0-1 (low word
 * first), words 2-3 zero, and the 64-bit seed as the key (low word first). */
static void test_header_matches_reference(void)
{
    uint64_t state = 1;
    int mismatches = 0;
    for (int t = 0; t < 4096; t++) {
        uint64_t ctr = t < 16 ? (uint64_t)t : tu_next(&state);
        uint64_t seed = t < 16 ? UINT64_MAX - (uint64_t)t : tu_next(&state);
        uint32_t c[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0};
        uint32_t k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, want[4];
        philox_reference(c, k, want);
        cnn_philox4 got = cnn_philox4x32(ctr, seed);
        for (int i = 0; i < 4; i++)
            mismatches += got.v[i] != want[i];
    }
    TU_CHECK(mismatches == 0, "cnn_philox4x32 disagrees with the reference in %d words",
             mismatches);

    /* Element i is word i mod 4 of block i / 4, top 24 bits. */
    int bad = 0;
    for (uint64_t i = 0; i < 64; i++) {
        cnn_philox4 block = cnn_philox4x32(i / 4, 42);
        float want = (float)(block.v[i % 4] >> 8) / 16777216.0f;
        bad += cnn_philox_uniform(42, i) != want;
        bad += cnn_dropout_keep(42, i, 0.3) != (want >= 0.3f);
    }
    TU_CHECK(bad == 0, "cnn_philox_uniform / cnn_dropout_keep do not follow their block layout");
}

/* 2^20 draws. For a uniform on [0,1): mean 1/2 with sd 1/sqrt(12N) = 2.8e-4;
 * variance 1/12 with sd sqrt((1/80 - 1/144)/N) = 7.3e-5; lag-1 correlation
 * with sd 1/sqrt(N) = 9.8e-4. Bounds are 6 sd. Over 16 equal bins the
 * chi-square statistic has 15 degrees of freedom (mean 15, sd 5.5); 50 is
 * exceeded with probability below 1e-5. The seed is fixed, so the outcome is
 * too: these bounds catch a broken generator, not bad luck. */
static void test_uniform_statistics(void)
{
    const int64_t n = (int64_t)1 << 20;
    const uint64_t seed = 0x5eed;
    double sum = 0.0, sum_sq = 0.0, sum_lag = 0.0, prev = 0.0;
    int64_t bins[16] = {0}, out_of_range = 0, not_24_bit = 0;
    for (int64_t i = 0; i < n; i++) {
        double u = cnn_philox_uniform(seed, (uint64_t)i);
        out_of_range += !(u >= 0.0 && u < 1.0);
        not_24_bit += u * 16777216.0 != floor(u * 16777216.0);
        sum += u;
        sum_sq += u * u;
        if (i > 0)
            sum_lag += (u - 0.5) * (prev - 0.5);
        prev = u;
        if (u >= 0.0 && u < 1.0)
            bins[(int)(u * 16)]++;
    }
    TU_CHECK(out_of_range == 0, "%lld draws outside [0, 1)", (long long)out_of_range);
    TU_CHECK(not_24_bit == 0, "%lld draws are not multiples of 2^-24", (long long)not_24_bit);
    double mean = sum / n, var = sum_sq / n - mean * mean;
    double corr = (sum_lag / (n - 1)) / (1.0 / 12.0);
    TU_CHECK(fabs(mean - 0.5) < 6 * 2.8e-4, "mean %.6f, want 0.5", mean);
    TU_CHECK(fabs(var - 1.0 / 12) < 6 * 7.3e-5, "variance %.6f, want %.6f", var, 1.0 / 12);
    TU_CHECK(fabs(corr) < 6 * 9.8e-4, "lag-1 correlation %.5f, want 0", corr);
    double chi2 = 0.0, expect = (double)n / 16;
    for (int b = 0; b < 16; b++)
        chi2 += (bins[b] - expect) * (bins[b] - expect) / expect;
    TU_CHECK(chi2 < 50.0, "chi-square over 16 bins %.2f (15 dof), want < 50", chi2);
    printf("2^20 draws: mean %.6f, variance %.6f, lag-1 correlation %.5f, chi2(15) %.2f\n", mean,
           var, corr, chi2);
}

int main(void)
{
    test_known_answers();
    test_header_matches_reference();
    test_uniform_statistics();
    return tu_finish("test_philox");
}
