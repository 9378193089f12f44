#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry.h"

static const char *type_metavar(const cli_opt *o)
{
    if (o->metavar)
        return o->metavar;
    switch (o->type) {
    case CLI_STRING: return "S";
    case CLI_STRING_OPT: return "[S]";
    case CLI_INT: return "N";
    case CLI_DOUBLE: return "X";
    case CLI_U64: return "N";
    case CLI_PAIR: return "N|H,W";
    default: return "";
    }
}

/* The alias of option `name`, or NULL. */
static const char *alias_of(const cli_cmd *cmd, const char *name)
{
    for (const cli_alias *a = cmd->aliases; a && a->alias; a++)
        if (!strcmp(a->name, name))
            return a->alias;
    return NULL;
}

void cli_print_help(const cli_cmd *cmd, FILE *out)
{
    fprintf(out, "usage: cnnbench %s", cmd->name);
    for (int i = 0; i < cmd->nopts; i++) {
        const cli_opt *o = &cmd->opts[i];
        const char *mv = type_metavar(o);
        fprintf(out, o->required ? " --%s%s%s" : " [--%s%s%s]", o->name, *mv ? " " : "", mv);
    }
    fprintf(out, "\n\n%s\n\noptions:\n", cmd->summary);
    for (int i = 0; i < cmd->nopts; i++) {
        const cli_opt *o = &cmd->opts[i];
        char left[64];
        const char *mv = type_metavar(o);
        snprintf(left, sizeof left, "--%s%s%s", o->name, *mv ? " " : "", mv);
        const char *alias = alias_of(cmd, o->name);
        fprintf(out, "  %-24s %s%s%s%s%s\n", left, o->help ? o->help : "",
                o->required ? " (required)" : "", alias ? " (also --" : "", alias ? alias : "",
                alias ? ")" : "");
    }
    fprintf(out, "  %-24s %s\n", "--help", "show this help");
    if (cmd->details)
        fprintf(out, "\n%s\n", cmd->details);
}

int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cnnbench %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see: cnnbench %s --help)\n", cmd->name);
    return CLI_EXIT_USAGE;
}

static void list_options(const cli_cmd *cmd, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < cmd->nopts && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s--%s", i ? ", " : "", cmd->opts[i].name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static bool parse_long(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int set_value(const cli_cmd *cmd, cli_opt *o, const char *v)
{
    long long x;
    switch (o->type) {
    case CLI_STRING:
    case CLI_STRING_OPT:
        if (!*v)
            return cli_usage_error(cmd, "option --%s needs a non-empty value", o->name);
        *(const char **)o->dest = v;
        return -1;
    case CLI_INT:
        if (!parse_long(v, INT_MIN, INT_MAX, &x))
            return cli_usage_error(cmd, "option --%s expects an integer, got '%s'", o->name, v);
        *(int *)o->dest = (int)x;
        return -1;
    case CLI_U64: {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(v, &end, 0);
        if (errno || end == v || *end || *v == '-')
            return cli_usage_error(cmd, "option --%s expects a non-negative integer, got '%s'",
                                   o->name, v);
        *(uint64_t *)o->dest = (uint64_t)u;
        return -1;
    }
    case CLI_DOUBLE: {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (errno || end == v || *end)
            return cli_usage_error(cmd, "option --%s expects a number, got '%s'", o->name, v);
        *(double *)o->dest = d;
        return -1;
    }
    case CLI_PAIR: {
        int *p = o->dest;
        const char *comma = strchr(v, ',');
        if (!comma) {
            if (!parse_long(v, INT_MIN, INT_MAX, &x))
                return cli_usage_error(cmd, "option --%s expects N or H,W, got '%s'", o->name, v);
            p[0] = p[1] = (int)x;
            return -1;
        }
        char first[32];
        size_t len = (size_t)(comma - v);
        long long y;
        if (len == 0 || len >= sizeof first)
            return cli_usage_error(cmd, "option --%s expects N or H,W, got '%s'", o->name, v);
        memcpy(first, v, len);
        first[len] = '\0';
        if (!parse_long(first, INT_MIN, INT_MAX, &x) ||
            !parse_long(comma + 1, INT_MIN, INT_MAX, &y))
            return cli_usage_error(cmd, "option --%s expects N or H,W, got '%s'", o->name, v);
        p[0] = (int)x;
        p[1] = (int)y;
        return -1;
    }
    case CLI_FLAG: *(bool *)o->dest = true; return -1;
    }
    return -1;
}

/* Is opt the option name[0..len)? */
static bool named(const char *opt, const char *name, size_t len)
{
    return strlen(opt) == len && strncmp(opt, name, len) == 0;
}

/* Every command's --threads N, alike: negative or above CLI_THREADS_MAX is a
 * usage error; more than the machine's CPUs runs, with a warning, since the
 * threads then share cores (an oversubscription study is a valid run, but its
 * times are not those of N cores). 0 leaves the libraries' default. */
static int check_thread_count(const cli_cmd *cmd, long n)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 0)
        return cli_usage_error(cmd, "--threads must be >= 0 (0: the libraries' default), got %ld",
                               n);
    if (n > CLI_THREADS_MAX)
        return cli_usage_error(cmd, "--threads %ld is more than %d (this machine has %ld CPUs)", n,
                               CLI_THREADS_MAX, cpus);
    if (cpus > 0 && n > cpus)
        fprintf(stderr,
                "cnnbench %s: warning: --threads %ld is more than this machine's %ld CPUs; "
                "the threads will share them\n",
                cmd->name, n, cpus);
    return -1;
}

static int check_threads(const cli_cmd *cmd)
{
    for (int j = 0; j < cmd->nopts; j++) {
        const cli_opt *o = &cmd->opts[j];
        if (!o->seen || o->type != CLI_INT || strcmp(o->name, "threads") != 0)
            continue;
        int rc = check_thread_count(cmd, *(const int *)o->dest);
        if (rc >= 0)
            return rc;
    }
    return -1;
}

int cli_parse(cli_cmd *cmd, int argc, char **argv)
{
    cmd->npositional = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_print_help(cmd, stdout);
            return CLI_EXIT_OK;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (cmd->positional && cmd->npositional < cmd->max_positional) {
                cmd->positional[cmd->npositional++] = a;
                continue;
            }
            return cli_usage_error(cmd, "unexpected argument '%s'", a);
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        cli_opt *o = NULL;
        const char *key = name; /* the option's own name, for an alias */
        size_t klen = len;
        for (const cli_alias *al = cmd->aliases; al && al->alias; al++)
            if (named(al->alias, name, len)) {
                key = al->name;
                klen = strlen(key);
            }
        for (int j = 0; j < cmd->nopts; j++)
            if (named(cmd->opts[j].name, key, klen))
                o = &cmd->opts[j];
        if (!o) {
            char valid[1024];
            list_options(cmd, valid, sizeof valid);
            return cli_usage_error(cmd, "unknown option '%.*s'; valid options: %s", (int)len + 2, a,
                                   valid);
        }
        const char *alias = alias_of(cmd, o->name);
        if (o->seen)
            return cli_usage_error(cmd, "option --%s given twice%s%s%s", o->name,
                                   alias ? " (--" : "", alias ? alias : "",
                                   alias ? " is the same option)" : "");
        o->seen = true;
        if (o->type == CLI_FLAG) {
            if (eq)
                return cli_usage_error(cmd, "option --%s takes no value", o->name);
            *(bool *)o->dest = true;
            continue;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v && o->type == CLI_STRING_OPT && (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2))) {
            *(const char **)o->dest = "all";
            continue;
        }
        if (!v) {
            if (i + 1 >= argc)
                return cli_usage_error(cmd, "option --%s needs a value (%s)", o->name,
                                       type_metavar(o));
            v = argv[++i];
        }
        int rc = set_value(cmd, o, v);
        if (rc >= 0)
            return rc;
    }
    for (int j = 0; j < cmd->nopts; j++)
        if (cmd->opts[j].required && !cmd->opts[j].seen)
            return cli_usage_error(cmd, "missing required option --%s", cmd->opts[j].name);
    return check_threads(cmd);
}

int cli_check_choice(const cli_cmd *cmd, const char *opt, const char *value, const char *valid)
{
    size_t vlen = strlen(value);
    const char *p = valid;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        if ((size_t)(e - p) == vlen && strncmp(p, value, vlen) == 0)
            return -1;
        p = e;
    }
    return cli_usage_error(cmd, "unknown value '%s' for --%s; valid values: %s", value, opt, valid);
}

int cli_fail(const char *name, cnn_status st)
{
    const char *why = cnn_last_error();
    fprintf(stderr, "cnnbench %s: %s%s%s\n", name, cnn_status_str(st), *why ? ": " : "", why);
    return st == CNN_ERR_UNSUPPORTED ? CLI_EXIT_UNSUPPORTED : CLI_EXIT_FAIL;
}

int cli_set_threads(int threads)
{
    return cnn_set_process_threads(threads);
}

int cli_parse_thread_list(const cli_cmd *cmd, const char *list, int *out, int *n)
{
    char item[64];
    *n = 0;
    const bool one = !strchr(list, ',');
    for (const char *p = list; cli_next_item(&p, item, sizeof item);) {
        char *end;
        long v = strtol(item, &end, 10);
        const bool number = !*end && end != item;
        /* one count reads as every command's --threads N (0: the default) */
        if (one && number) {
            int rc = check_thread_count(cmd, v);
            if (rc >= 0)
                return rc;
        } else if (!number || v < 1 || v > CLI_THREADS_MAX) {
            return cli_usage_error(cmd, "--threads: '%s' is not a thread count (1 to %d)", item,
                                   CLI_THREADS_MAX);
        } else {
            (void)check_thread_count(cmd, v); /* in range: only its warning above the CPUs */
        }
        for (int k = 0; k < *n; k++)
            if (out[k] == (int)v)
                return cli_usage_error(cmd, "--threads lists %ld twice", v);
        if (*n == CLI_MAX_THREAD_COUNTS)
            return cli_usage_error(cmd, "--threads: at most %d counts", CLI_MAX_THREAD_COUNTS);
        out[(*n)++] = (int)v;
    }
    if (!*n)
        return cli_usage_error(cmd, "--threads is empty: give thread counts, e.g. 1,2");
    return -1;
}

bool cli_next_item(const char **p, char *name, size_t n)
{
    while (**p == ',' || **p == ' ')
        (*p)++;
    if (!**p)
        return false;
    const char *e = strchr(*p, ',');
    size_t len = e ? (size_t)(e - *p) : strlen(*p);
    if (len >= n)
        len = n - 1;
    memcpy(name, *p, len);
    name[len] = '\0';
    *p += len;
    return true;
}

bool cli_in_list(const char *list, const char *name)
{
    char item[256];
    for (const char *p = list; cli_next_item(&p, item, sizeof item);)
        if (!strcmp(item, name))
            return true;
    return false;
}

int cli_parse_passes(const cli_cmd *cmd, const char *list, bool want[CNN_PASS_COUNT])
{
    char name[32];
    int n = 0;
    for (int i = 0; i < CNN_PASS_COUNT; i++)
        want[i] = false;
    for (const char *p = list; cli_next_item(&p, name, sizeof name); n++) {
        int found = -1;
        for (int i = 0; i < CNN_PASS_COUNT; i++)
            if (!strcmp(name, cnn_pass_str((cnn_pass)i)))
                found = i;
        if (found < 0)
            return cli_usage_error(cmd, "unknown pass '%s' in --passes; valid passes: %s", name,
                                   "fwd, fwd_infer, bwd_data, bwd_weight, bwd_bias");
        want[found] = true;
    }
    return n ? -1 : cli_usage_error(cmd, "--passes: empty list '%s'", list);
}

bool cli_seen(const cli_cmd *cmd, const char *name)
{
    for (int i = 0; i < cmd->nopts; i++)
        if (!strcmp(cmd->opts[i].name, name))
            return cmd->opts[i].seen;
    return false;
}
