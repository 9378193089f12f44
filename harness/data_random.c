#include "data_random.h"

#include "philox.h"

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t cnn_data_bits(uint64_t seed, cnn_data_stream stream, uint64_t epoch, uint64_t index)
{
    uint64_t key = splitmix64(splitmix64(seed ^ splitmix64((uint64_t)stream)) ^ epoch);
    cnn_philox4 r = cnn_philox4x32(index, key);
    return (uint64_t)r.v[0] << 32 | r.v[1];
}

/* floor(r * m / 2^64) for m <= 2^32, without 128-bit arithmetic. */
static uint64_t scale_to(uint64_t r, uint64_t m)
{
    uint64_t hi = r >> 32, lo = r & 0xFFFFFFFFull;
    return (hi * m + ((lo * m) >> 32)) >> 32;
}

void cnn_data_shuffle(int64_t *perm, int64_t n, uint64_t seed, cnn_data_stream stream,
                      uint64_t epoch)
{
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        uint64_t j = scale_to(cnn_data_bits(seed, stream, epoch, (uint64_t)i), (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

bool cnn_data_flip(uint64_t seed, uint64_t epoch, int64_t index)
{
    return cnn_data_bits(seed, CNN_STREAM_FLIP, epoch, (uint64_t)index) >> 63;
}
