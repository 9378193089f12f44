/* The reference backend's table. It runs everywhere and implements every
 * entry; no state, no workspace. */
#include "naive.h"

const cnn_backend cnn_backend_naive = {
    .name = "naive",
    .about = "reference: direct loops, double accumulation, deterministic for any thread count",
    .device = CNN_DEVICE_HOST,

    CNN_BACKEND_OPS(CNN_ENTRY_INIT, cnn_naive)
};
