/* The exponential the shared CPU loops vectorise (softmax, sigmoid). */
#ifndef CNN_CPU_EXP_H
#define CNN_CPU_EXP_H

#include <stdint.h>

/* e^x for x <= 0 (softmax: a logit minus its row's maximum; sigmoid: -|x|),
 * NaN for NaN, in a form the compiler vectorises (glibc's expf is a call per
 * element, which made the softmax forward 5x slower than its memory traffic
 * and the sigmoid 7x slower than oneDNN's): x = n ln2 + r with
 * |r| <= ln2/2, Cephes's degree-7 polynomial for e^r (within 2 ulp; verify
 * allows ~500 on the loss), times 2^n built in the exponent bits. Below
 * -87.3 it is 0 (e^-87.3 is 1.2e-38, just above the least normal float,
 * 1.18e-38, reached at -87.34); at -87.3, n is -126, the least normal
 * exponent. */
static inline float cnn_cpu_exp_nonpos(float x)
{
    const float xc = x > -87.3f ? x : -87.3f; /* NaN: -87.3, and NaN again below */
    const int n = -(int)(-xc * 1.44269504088896341f + 0.5f);
    const float fn = (float)n;
    float r = xc - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const union {
        uint32_t bits;
        float f;
    } scale = {(uint32_t)(n + 127) << 23};
    const float e = x < -87.3f ? 0.0f : p * scale.f;
    return x != x ? x : e;
}

#endif
