/* What a result was measured on: written beside every result file, because a
 * time means nothing without the machine, the build and the settings. */
#ifndef CNN_MACHINE_H
#define CNN_MACHINE_H

#include <stdio.h>

#include "status.h"

typedef struct machine_info {
    char cpu[128]; /* /proc/cpuinfo "model name" */
    int logical_cpus;
    double mem_gib;
    char os[256]; /* uname -srm */
    char compiler[64];
    char build_type[32];
    char git_commit[48];
} machine_info;

void machine_read(machine_info *m);

/* Write `path` atomically as JSON: the machine plus the run's own settings,
 * given as already-formatted JSON members (e.g. "\"threads\": 2"), may be NULL. */
cnn_status machine_write_json(const char *path, const machine_info *m, const char *command,
                              const char *extra_members);

#endif
