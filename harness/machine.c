#include "machine.h"

#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static void read_cpu_model(char *out, size_t n)
{
    snprintf(out, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        const char *colon = strchr(line, ':');
        if (!colon)
            break;
        colon++;
        while (*colon == ' ' || *colon == '\t')
            colon++;
        snprintf(out, n, "%s", colon);
        out[strcspn(out, "\n")] = '\0';
        break;
    }
    fclose(f);
}

void machine_read(machine_info *m)
{
    memset(m, 0, sizeof *m);
    if (gethostname(m->host, sizeof m->host - 1) != 0 || !m->host[0])
        snprintf(m->host, sizeof m->host, "unknown");
    read_cpu_model(m->cpu, sizeof m->cpu);
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
    report_json_raw(j, "logical_cpus", "%d", m->logical_cpus);
    report_json_raw(j, "memory_gib", "%.1f", m->mem_gib);
    report_json_str(j, "os", m->os);
}
