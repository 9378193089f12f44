/* `cnnbench compare` and `cnnbench plot` on hostile run folders, copies of a
 * real lenet5 bench run with one file spoiled: results.csv cut in the middle
 * of a row, of a quoted field, of the header, or to nothing; binary bytes; a
 * symlink loop or a folder in its place; another tool's CSV; no meta.json.
 * Each: the exact message naming the file (and line), exit 1, the folder
 * untouched (no plots/), compare's --out not created. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_hostile_util.h"

static char run_a[1100];
static char fp_before[1 << 15], fp_after[1 << 15], text[1 << 16];

static const char *copy_run(const char *name)
{
    const char *dst = th_path(name);
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", run_a, dst);
    TU_CHECK(system(cmd) == 0, "%s", cmd);
    return dst;
}

static const char *file_in(const char *dir, const char *name)
{
    static char buf[4][1400];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static void write_bytes(const char *path, const char *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    TU_CHECK(f != NULL, "cannot write %s", path);
    if (f) {
        fwrite(bytes, 1, n, f);
        fclose(f);
    }
}

/* compare RUN_A B and plot B both refuse with `words` (exit 1), B unchanged. */
static void refused(const char *what, const char *b, const char *const *words, bool plot_too)
{
    th_fingerprint(b, fp_before, sizeof fp_before);
    const char *out = th_path("compare_out");
    char label[200];
    snprintf(label, sizeof label, "compare: %s", what);
    th_expect(label, th_run(ARGS("compare", run_a, b, "--out", out), 0), 1, words);
    TU_CHECK(!tu_exists(out), "%s: compare created --out", label);
    if (plot_too) {
        snprintf(label, sizeof label, "plot: %s", what);
        th_expect(label, th_run(ARGS("plot", b), 0), 1, words);
    }
    th_fingerprint(b, fp_after, sizeof fp_after);
    TU_CHECK(!strcmp(fp_before, fp_after), "%s: the folder changed:\n%s\n%s", what, fp_before,
             fp_after);
}

int main(void)
{
    if (!th_init("hostile_results"))
        return 2;
    int rc = th_run(ARGS("bench", "--models", "lenet5", "--batch", "2", "--backends", "naive",
                         "--repetitions", "1", "--threads", "1", "--results", th_path("res")),
                    0);
    th_expect("bench", rc, 0, NULL);
    char names[4][256];
    if (rc != 0 || tu_list_runs(th_path("res"), names, 4) != 1)
        return th_finish("test_hostile_results");
    snprintf(run_a, sizeof run_a, "%s/%s", th_path("res"), names[0]);
    tu_slurp(file_in(run_a, "results.csv"), text, sizeof text);
    size_t len = strlen(text);
    int lines = 0, header_fields = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    for (const char *p = text; *p && *p != '\n'; p++)
        header_fields += *p == ',';
    TU_CHECK(len > 100 && lines >= 3, "results.csv is %zu bytes, %d lines", len, lines);
    char msg[1600];

    /* cut 3 bytes into its last row: that row has one field */
    const char *b = copy_run("cut_row");
    const char *last = text + len - 1;
    while (last > text && last[-1] != '\n')
        last--;
    write_bytes(file_in(b, "results.csv"), text, (size_t)(last - text) + 3);
    snprintf(msg, sizeof msg, "%s:%d: 1 fields, the header has %d", file_in(b, "results.csv"),
             lines, header_fields);
    refused("results.csv cut in a row", b, ARGS(msg), true);

    /* cut inside a quoted field */
    b = copy_run("cut_quote");
    char cut[1 << 16];
    snprintf(cut, sizeof cut, "%.*snaive,\"lenet", (int)(last - text), text);
    write_bytes(file_in(b, "results.csv"), cut, strlen(cut));
    snprintf(msg, sizeof msg, "%s:%d: a quoted field is not closed", file_in(b, "results.csv"),
             lines);
    refused("results.csv cut in a quoted field", b, ARGS(msg), true);

    /* cut inside the header: the columns a results.csv has are missing */
    b = copy_run("cut_header");
    write_bytes(file_in(b, "results.csv"), text, 12);
    snprintf(msg, sizeof msg, "%s: no column ", file_in(b, "results.csv"));
    refused("results.csv cut in its header", b, ARGS(msg, "results.csv file?)"), true);

    b = copy_run("cut_empty");
    write_bytes(file_in(b, "results.csv"), "", 0);
    snprintf(msg, sizeof msg, "%s: empty file", file_in(b, "results.csv"));
    refused("results.csv cut to nothing", b, ARGS(msg), true);

    /* binary: a PNG's first bytes where the CSV should be */
    b = copy_run("binary");
    write_bytes(file_in(b, "results.csv"), "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
    snprintf(msg, sizeof msg, "%s:", file_in(b, "results.csv"));
    refused("a binary results.csv", b, ARGS(msg, "a NUL byte"), true);

    /* a symlink loop and a folder in its place */
    b = copy_run("loop");
    unlink(file_in(b, "results.csv"));
    TU_CHECK(symlink("results.csv", file_in(b, "results.csv")) == 0, "symlink");
    snprintf(msg, sizeof msg, "%s: cannot open: Too many levels of symbolic links",
             file_in(b, "results.csv"));
    refused("results.csv a symlink loop", b, ARGS(msg), true);
    b = copy_run("folder");
    unlink(file_in(b, "results.csv"));
    TU_CHECK(mkdir(file_in(b, "results.csv"), 0777) == 0, "mkdir");
    snprintf(msg, sizeof msg, "%s:", file_in(b, "results.csv"));
    refused("results.csv a folder", b, ARGS(msg, "Is a directory"), true);

    /* another tool's CSV: well formed, not ours */
    b = copy_run("foreign");
    const char *torch = "name,device,median_ms,iqr_ms\nconv1,cpu,1.25,0.01\nfc1,cpu,0.5,0.02\n";
    write_bytes(file_in(b, "results.csv"), torch, strlen(torch));
    snprintf(msg, sizeof msg, "%s: no column ", file_in(b, "results.csv"));
    refused("another tool's results.csv", b, ARGS(msg, "results.csv file?)"), true);

    /* no meta.json: compare refuses (nothing says the run finished); plot draws with a note */
    b = copy_run("nometa");
    unlink(file_in(b, "meta.json"));
    snprintf(msg, sizeof msg, "RUN_B %s: no meta.json: not a run folder", b);
    refused("no meta.json", b, ARGS(msg, "compare refuses it"), false);
    return th_finish("test_hostile_results");
}
