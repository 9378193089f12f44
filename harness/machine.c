#include "machine.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* The value of a /proc/cpuinfo line "key<tabs>: value", or NULL. */
static const char *cpuinfo_value(const char *line, const char *key)
{
    size_t k = strlen(key);
    if (strncmp(line, key, k) != 0 || (line[k] != ' ' && line[k] != '\t' && line[k] != ':'))
        return NULL;
    const char *colon = strchr(line, ':');
    if (!colon)
        return NULL;
    colon++;
    while (*colon == ' ' || *colon == '\t')
        colon++;
    return colon;
}

/* Whether the space-separated flag list holds `flag`. */
static bool has_flag(const char *flags, const char *flag)
{
    size_t n = strlen(flag);
    for (const char *p = strstr(flags, flag); p; p = strstr(p + 1, flag))
        if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

/* Model name, vector extensions and physical cores from /proc/cpuinfo. */
static void read_cpuinfo(machine_info *m)
{
    static const char *const vector[] = {"sse4_2",      "avx",         "avx2",        "fma",
                                         "avx512f",     "avx512bw",    "avx512vl",    "avx512_vnni",
                                         "avx512_bf16", "avx512_fp16", "amx_tile",    "amx_bf16"};
    snprintf(m->cpu, sizeof m->cpu, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    static char line[8192];
    int cores = 0, max_package = -1;
    bool have_model = false, have_flags = false;
    while (fgets(line, sizeof line, f)) {
        const char *v;
        if (!have_model && (v = cpuinfo_value(line, "model name"))) {
            snprintf(m->cpu, sizeof m->cpu, "%s", v);
            m->cpu[strcspn(m->cpu, "\n")] = '\0';
            have_model = true;
        } else if (!have_flags && (v = cpuinfo_value(line, "flags"))) {
            for (size_t i = 0; i < sizeof vector / sizeof vector[0]; i++)
                if (has_flag(v, vector[i]))
                    snprintf(m->isa + strlen(m->isa), sizeof m->isa - strlen(m->isa), "%s%s",
                             *m->isa ? " " : "", vector[i]);
            have_flags = true;
        } else if ((v = cpuinfo_value(line, "cpu cores"))) {
            cores = atoi(v);
        } else if ((v = cpuinfo_value(line, "physical id")) && atoi(v) > max_package) {
            max_package = atoi(v);
        }
    }
    fclose(f);
    m->cores = cores > 0 ? cores * (max_package + 1 > 0 ? max_package + 1 : 1) : 0;
}

void machine_read(machine_info *m)
{
    memset(m, 0, sizeof *m);
    if (gethostname(m->host, sizeof m->host - 1) != 0 || !m->host[0])
        snprintf(m->host, sizeof m->host, "unknown");
    read_cpuinfo(m);
    m->logical_cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    m->mem_gib = pages > 0 && page > 0 ? (double)pages * (double)page / (1024.0 * 1024 * 1024) : 0;
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(m->os, sizeof m->os, "%s %s %s", u.sysname, u.release, u.machine);
}

void machine_json(report_json *j, const machine_info *m)
{
    report_json_str(j, "host", m->host);
    report_json_str(j, "cpu", m->cpu);
    report_json_str(j, "cpu_isa", m->isa);
    if (m->cores > 0)
        report_json_raw(j, "cores", "%d", m->cores);
    else
        report_json_raw(j, "cores", "null");
    report_json_raw(j, "logical_cpus", "%d", m->logical_cpus);
    report_json_raw(j, "memory_gib", "%.1f", m->mem_gib);
    report_json_str(j, "os", m->os);
}
