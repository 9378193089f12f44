/* What the fuzz targets (tests/fuzz/fuzz_<reader>.c) share: a private
 * temporary folder, writing an input to a file there, the "files" container
 * that the folder readers' targets decode, and the verdict a target leaves
 * for fuzz_replay (the ctest that runs every corpus file).
 *
 * The container: one variant byte (what the target does with it is its
 * own), then records, each a name length (1 byte), the name (a relative
 * path, '/' between parts; a part "", "." or ".." makes the record skipped),
 * a data length (4 bytes, little-endian) and the data. A record cut short
 * by the end of the input keeps what is there: every input decodes. */
#ifndef CNN_FUZZ_UTIL_H
#define CNN_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "status.h"

#define FUZZ_MAX_FILES 64

/* The entry point libFuzzer calls (fuzz_replay calls it under another name). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A new empty folder under $TMPDIR (or /tmp) into dir (n bytes); aborts
 * when none can be made (the target cannot run). */
void fuzz_mkdtemp(char *dir, size_t n);
/* This process's scratch folder: made on the first call, removed (with
 * everything in it) when the process exits. */
const char *fuzz_scratch(void);
/* Remove a folder and everything under it. */
void fuzz_rmtree(const char *dir);
/* Write data to path (parents must exist); aborts on failure. */
void fuzz_write(const char *path, const void *data, size_t size);

/* Decode the container into dir (which exists), creating sub-folders;
 * returns the variant byte (0 for an empty input). */
int fuzz_unpack(const uint8_t *data, size_t size, const char *dir);

/* lenet5 with c input channels and a batch of `batch`, bound to naive on one
 * thread, parameters initialised, and optimizer d set (NULL: none); aborts
 * on failure (the target cannot run). */
cnn_model *fuzz_lenet5(int c, int batch, const cnn_optim_desc *d);

/* The verdict of the reader under test on the last input, for fuzz_replay:
 * accepted (CNN_OK), or rejected with the reason cnn_last_error() gave. */
typedef struct fuzz_verdict {
    int set;
    cnn_status status;
    char reason[1024];
} fuzz_verdict;
extern fuzz_verdict fuzz_last;
/* Record st (and the reason, when it is an error) as the verdict. */
void fuzz_note(cnn_status st);

#endif
