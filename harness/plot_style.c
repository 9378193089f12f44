/* cnnbench plot: the fixed colour of each backend, point types, and the
 * cleaning of text from files before it goes into a gnuplot script. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "plot.h"

/* One colour per backend, the same in every chart (the Winograd variants in three greens). */
static const struct {
    const char *name, *colour;
} backend_colours[] = {
    {"naive", "#7f7f7f"},         {"im2col", "#1f77b4"},        {"winograd", "#2ca02c"},
    {"winograd_f2x3", "#8fd175"}, {"winograd_f4x3", "#00622a"}, {"onednn", "#ff7f0e"},
    {"cudnn", "#9467bd"},         {"auto", "#8c564b"},          {"plan", "#e377c2"},
    {"pytorch", "#d62728"},
};
#define NCOLOURS ((int)(sizeof backend_colours / sizeof backend_colours[0]))

/* For backends not in the table, picked by a hash of the name. */
static const char *const spare[] = {"#17becf", "#bcbd22", "#393b79", "#ad494a",
                                    "#637939", "#843c39", "#7b4173", "#3182bd"};

static int table_index(const char *backend)
{
    for (int i = 0; i < NCOLOURS; i++)
        if (!strcmp(backend_colours[i].name, backend))
            return i;
    return -1;
}

const char *plot_backend_colour(const char *backend)
{
    int i = table_index(backend);
    if (i >= 0)
        return backend_colours[i].colour;
    unsigned h = 5381;
    for (const unsigned char *p = (const unsigned char *)backend; *p; p++)
        h = h * 33 + *p;
    return spare[h % (sizeof spare / sizeof spare[0])];
}

int plot_backend_cmp(const char *a, const char *b)
{
    int ia = table_index(a), ib = table_index(b);
    if (ia >= 0 && ib >= 0)
        return ia - ib;
    if (ia >= 0 || ib >= 0)
        return ia >= 0 ? -1 : 1;
    return strcmp(a, b);
}

void plot_sort_backends(char names[][PLOT_LABEL_MAX], int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && plot_backend_cmp(names[j - 1], names[j]) > 0; j--) {
            char t[PLOT_LABEL_MAX];
            memcpy(t, names[j], sizeof t);
            memcpy(names[j], names[j - 1], sizeof t);
            memcpy(names[j - 1], t, sizeof t);
        }
}

int plot_pass_point(const char *pass)
{
    static const struct {
        const char *pass;
        int pt;
    } points[] = {{"fwd", 7},       {"fwd_infer", 5}, {"bwd_data", 9},  {"bwd_weight", 11},
                  {"bwd_bias", 13}, {"infer", 7},     {"train_step", 9}};
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++)
        if (!strcmp(points[i].pass, pass))
            return points[i].pt;
    return 3;
}

void plot_clean(char *out, size_t n, const char *s)
{
    size_t k = 0;
    for (; s && *s && k + 1 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"')
            c = '\'';
        else if (c == '\\' || c == '`' || c == '@' || c < 0x20 || c == 0x7f)
            c = c == '\t' || c == '\n' || c == '\r' ? ' ' : '_';
        out[k++] = (char)c;
    }
    out[k] = '\0';
}

void plot_file_part(char *out, size_t n, const char *s)
{
    size_t k = 0;
    for (; s && *s && k + 1 < n; s++) {
        char c = *s;
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
        out[k++] = keep ? c : '_';
    }
    out[k] = '\0';
    if (out[0] == '.' && n > 1) /* never a hidden file */
        out[0] = '_';
}

void plot_fmt(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}
