/* IDX files (LeCun's MNIST format, also Fashion-MNIST's): a 4-byte magic
 * 0x00 0x00 TYPE NDIM, NDIM big-endian uint32 dimensions, then the elements
 * in C order. Only TYPE 0x08 (unsigned byte) is accepted: images are
 * 0x00000803 (count x rows x cols), labels 0x00000801 (count).
 *
 * Parsing is a pure function over a byte buffer (no allocation, no I/O), so
 * that it can be fuzzed on its own; reading a file goes through zlib's
 * gzopen/gzread when the build has zlib (it reads gzip'd and plain files
 * alike) and through stdio otherwise (a gzip'd file is then an error saying
 * so). Every error names the file and what is wrong, expected vs given:
 * the magic, the type code, the number of dimensions, a header or body
 * shorter than the header says, bytes after the body, sizes over
 * CNN_IDX_MAX_ELEMS. */
#ifndef CNN_DATA_IDX_H
#define CNN_DATA_IDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* The most elements one file may hold (256 Mi; Fashion-MNIST's train
 * images are 47 M): the guard against headers whose sizes would exhaust
 * memory or overflow. */
#define CNN_IDX_MAX_ELEMS ((uint64_t)1 << 28)
#define CNN_IDX_MAX_DIMS 3

typedef struct cnn_idx {
    int ndim;
    uint32_t dims[CNN_IDX_MAX_DIMS];
    size_t count;        /* product of dims: the number of bytes at data */
    const uint8_t *data; /* the elements: inside the parsed buffer, or inside owned */
    uint8_t *owned;      /* the whole file when cnn_idx_read made it; NULL after cnn_idx_parse */
} cnn_idx;

/* Parse buf[0..n) as an unsigned-byte IDX array of exactly want_ndim (1 to
 * CNN_IDX_MAX_DIMS) dimensions; `name` (a file name) heads every error
 * message. On success out->data points into buf (no copy). Never reads
 * outside buf, whatever its bytes. */
cnn_status cnn_idx_parse(const uint8_t *buf, size_t n, const char *name, int want_ndim,
                         cnn_idx *out);

/* Read and parse a whole file (gzip'd or plain). out->owned holds it:
 * release it with cnn_idx_free. */
cnn_status cnn_idx_read(const char *path, int want_ndim, cnn_idx *out);
void cnn_idx_free(cnn_idx *a);

/* Whether this build reads gzip'd files (zlib). */
bool cnn_idx_have_zlib(void);

#endif
