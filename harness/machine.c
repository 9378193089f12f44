#include "machine.h"

#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"

#ifndef CNN_GIT_COMMIT
#define CNN_GIT_COMMIT "unknown"
#endif
#ifndef CNN_BUILD_TYPE
#define CNN_BUILD_TYPE "unknown"
#endif

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
    read_cpu_model(m->cpu, sizeof m->cpu);
    m->logical_cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    m->mem_gib = pages > 0 && page > 0 ? (double)pages * (double)page / (1024.0 * 1024 * 1024) : 0;
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(m->os, sizeof m->os, "%s %s %s", u.sysname, u.release, u.machine);
#ifdef __VERSION__
    snprintf(m->compiler, sizeof m->compiler, "%s", __VERSION__);
#endif
    snprintf(m->build_type, sizeof m->build_type, "%s", CNN_BUILD_TYPE);
    snprintf(m->git_commit, sizeof m->git_commit, "%s", CNN_GIT_COMMIT);
}

/* JSON string body: quotes and backslashes escaped, control bytes dropped. */
static void put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    }
    fputc('"', f);
}

cnn_status machine_write_json(const char *path, const machine_info *m, const char *command,
                              const char *extra_members)
{
    cnn_atomic_file af;
    cnn_status st = cnn_atomic_open(&af, path);
    if (st != CNN_OK)
        return st;
    FILE *f = af.f;
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f, "{\n  \"command\": ");
    put_json_string(f, command);
    fprintf(f, ",\n  \"date\": \"%s\",\n  \"cpu\": ", when);
    put_json_string(f, m->cpu);
    fprintf(f, ",\n  \"logical_cpus\": %d,\n  \"memory_gib\": %.1f,\n  \"os\": ", m->logical_cpus,
            m->mem_gib);
    put_json_string(f, m->os);
    fprintf(f, ",\n  \"compiler\": ");
    put_json_string(f, m->compiler);
    fprintf(f, ",\n  \"build_type\": ");
    put_json_string(f, m->build_type);
    fprintf(f, ",\n  \"git_commit\": ");
    put_json_string(f, m->git_commit);
    if (extra_members && *extra_members)
        fprintf(f, ",\n  %s", extra_members);
    fprintf(f, "\n}\n");
    return cnn_atomic_commit(&af);
}
