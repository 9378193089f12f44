/* What a result was measured on: part of every run's meta.json, because a
 * time means nothing without the machine (the build's side is build_info.h). */
#ifndef CNN_MACHINE_H
#define CNN_MACHINE_H

#include "report.h"

typedef struct machine_info {
    char host[256]; /* gethostname */
    char cpu[128];  /* /proc/cpuinfo "model name" */
    char isa[256];  /* the vector extensions /proc/cpuinfo lists: "avx2 fma avx512f ..." */
    int cores;      /* physical cores ("cpu cores" x sockets); 0: unknown */
    int logical_cpus;
    double mem_gib;
    char os[256]; /* uname -srm */
} machine_info;

void machine_read(machine_info *m);

/* The machine as members of a JSON object: host, cpu, cpu_isa, cores,
 * logical_cpus, memory_gib, os. */
void machine_json(report_json *j, const machine_info *m);

#endif
