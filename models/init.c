/* Seeded parameter initialisation. splitmix64 drives everything: it is tiny,
 * passes BigCrush as a 64-bit generator, and a seed mixed with a hash of the
 * key gives each tensor an independent stream, so adding a layer does not
 * change the values of the others. */
#include <math.h>
#include <stdlib.h>

#include "model_internal.h"

#define GOLDEN 0x9E3779B97F4A7C15ull
#define TWO_PI 6.283185307179586476925286766559

uint64_t cnn_mix64(uint64_t z)
{
    z += GOLDEN;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t cnn_dropout_seed(uint64_t seed, int layer, uint64_t step)
{
    return cnn_mix64(cnn_mix64(seed + (uint64_t)(layer + 1) * GOLDEN) + step);
}

typedef struct rng {
    uint64_t state;
} rng;

static uint64_t rng_next(rng *r)
{
    r->state += GOLDEN;
    return cnn_mix64(r->state - GOLDEN);
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return h;
}

static void fill(const cnn_tensor_def *t, uint64_t seed, float *out)
{
    int64_t n = cnn_shape_numel(&t->shape);
    rng r = {cnn_mix64(seed ^ fnv1a(t->key))};
    switch (t->init) {
    case CNN_INIT_NORMAL:
        /* Box-Muller, both values of each pair used; 1 - u keeps log's
         * argument in (0, 1]. */
        for (int64_t i = 0; i < n; i += 2) {
            double rad = sqrt(-2.0 * log(1.0 - rng_uniform(&r)));
            double theta = TWO_PI * rng_uniform(&r);
            out[i] = (float)(t->init_arg * rad * cos(theta));
            if (i + 1 < n)
                out[i + 1] = (float)(t->init_arg * rad * sin(theta));
        }
        break;
    case CNN_INIT_UNIFORM:
        for (int64_t i = 0; i < n; i++)
            out[i] = (float)(t->init_arg * (2.0 * rng_uniform(&r) - 1.0));
        break;
    case CNN_INIT_ZEROS:
    case CNN_INIT_ONES:
    default:
        for (int64_t i = 0; i < n; i++)
            out[i] = t->init == CNN_INIT_ONES ? 1.0f : 0.0f;
        break;
    }
}

cnn_status cnn_model_init_params(cnn_model *m, uint64_t seed)
{
    if (!m->bound)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: bind it to a backend before initialising",
                        m->desc->name);
    int64_t largest = 1;
    for (int i = 0; i < m->net.ntensors; i++) {
        int64_t n = cnn_shape_numel(&m->net.tensors[i].shape);
        largest = n > largest ? n : largest;
    }
    float *host = malloc((size_t)largest * sizeof *host);
    if (!host)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "model %s: no memory to initialise parameters",
                        m->desc->name);
    cnn_status st = CNN_OK;
    for (int i = 0; i < m->net.ntensors && st == CNN_OK; i++) {
        const cnn_tensor_def *t = &m->net.tensors[i];
        fill(t, seed, host);
        st = cnn_mem_upload(m->ctx[0], model_tensor_ptr(m, i), host,
                            (size_t)cnn_shape_numel(&t->shape) * sizeof *host);
    }
    free(host);
    for (int i = 0; i < m->net.nbn; i++)
        m->batches_tracked[i] = 0;
    return st;
}
