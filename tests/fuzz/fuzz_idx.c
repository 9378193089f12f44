/* fuzz_idx: harness/data_idx.c on any bytes: cnn_idx_parse from memory for
 * each number of dimensions, and cnn_idx_read from a file (gzip'd or plain:
 * zlib's reader takes both) for labels (1-d) and images (3-d). */
#include <stdio.h>

#include "data_idx.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[4200];
    if (!*path)
        snprintf(path, sizeof path, "%s/a.idx", fuzz_scratch());
    for (int nd = 0; nd <= CNN_IDX_MAX_DIMS + 1; nd++) {
        cnn_idx a;
        if (cnn_idx_parse(data, size, "fuzz", nd, &a) == CNN_OK && a.count)
            (void)*(volatile const uint8_t *)&a.data[a.count - 1];
    }
    fuzz_write(path, data, size);
    const int want[2] = {1, 3};
    for (int k = 0; k < 2; k++) {
        cnn_idx a;
        cnn_status st = cnn_idx_read(path, want[k], &a);
        if (k == 0 || st == CNN_OK)
            fuzz_note(st);
        if (st == CNN_OK) {
            if (a.count)
                (void)*(volatile const uint8_t *)&a.data[a.count - 1];
            cnn_idx_free(&a);
        }
    }
    remove(path);
    return 0;
}
