/* cnnbench backends: what this build holds, what is usable on this machine,
 * and which passes of which operations each backend implements. */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "cli.h"
#include "commands.h"
#include "registry.h"

/* One row per operation kind, one column per pass: "yes" implemented,
 * "yes*" implemented with a note, "partial" implemented for some shapes only
 * (the note says which), "-" not implemented (reported as SKIPPED by
 * verify), blank: the operation has no such pass. */
static const char *cell(const cnn_backend *be, cnn_op_kind kind, cnn_pass pass)
{
    cnn_op op = {.kind = kind};
    if (!cnn_op_has_pass(&op, pass))
        return "";
    if (!cnn_backend_implements(be, kind, pass))
        return "-";
    cnn_coverage c = cnn_backend_coverage(be, kind, pass);
    return c.partial ? "partial" : c.note ? "yes*" : "yes";
}

static void print_matrix(const cnn_backend *be)
{
    printf("    %-8s", "");
    for (int p = 0; p < CNN_PASS_COUNT; p++)
        printf(p + 1 < CNN_PASS_COUNT ? " %-10s" : " %s", cnn_pass_str((cnn_pass)p));
    printf("\n");
    for (int k = 0; k < CNN_OP_KIND_COUNT; k++) {
        char line[128];
        int used = snprintf(line, sizeof line, "    %-8s", cnn_op_kind_str((cnn_op_kind)k));
        for (int p = 0; p < CNN_PASS_COUNT && used > 0 && used < (int)sizeof line; p++)
            used += snprintf(line + used, sizeof line - (size_t)used, " %-10s",
                             cell(be, (cnn_op_kind)k, (cnn_pass)p));
        while (used > 0 && line[used - 1] == ' ')
            line[--used] = '\0';
        printf("%s\n", line);
    }
}

/* The notes of the matrix, one line per kind and note: "conv fwd, bwd_data:
 * 3x3 stride 1 only". Returns whether any cell is partial or missing. */
static bool print_notes(const cnn_backend *be)
{
    bool declines = false, header = false;
    for (int k = 0; k < CNN_OP_KIND_COUNT; k++) {
        bool done[CNN_PASS_COUNT] = {false};
        for (int p = 0; p < CNN_PASS_COUNT; p++) {
            const char *c = cell(be, (cnn_op_kind)k, (cnn_pass)p);
            declines |= !strcmp(c, "partial") || !strcmp(c, "-");
            const char *note = cnn_backend_coverage(be, (cnn_op_kind)k, (cnn_pass)p).note;
            if (done[p] || !note)
                continue;
            if (!header)
                printf("    notes:\n");
            header = true;
            printf("      %s %s", cnn_op_kind_str((cnn_op_kind)k), cnn_pass_str((cnn_pass)p));
            for (int q = p + 1; q < CNN_PASS_COUNT; q++) {
                cnn_coverage o = cnn_backend_coverage(be, (cnn_op_kind)k, (cnn_pass)q);
                if (o.note && !strcmp(o.note, note)) {
                    done[q] = true;
                    printf(", %s", cnn_pass_str((cnn_pass)q));
                }
            }
            printf(": %s\n", note);
        }
    }
    return declines;
}

/* Where what the backend declines runs in a model run on it alone: the
 * executor's order (cnn_backend_order) after the backend itself. */
static void print_fallbacks(const cnn_backend *be)
{
    const cnn_backend *order[CNN_BACKEND_ORDER_MAX];
    int n = cnn_backend_order(&be, 1, NULL, order, CNN_BACKEND_ORDER_MAX);
    if (n < 2) {
        printf("    what it declines: no other usable backend on its device runs it\n");
        return;
    }
    printf("    what it declines runs on the first of:");
    for (int i = 1; i < n; i++)
        printf("%s %s%s", i > 1 ? "," : "", order[i]->name,
               be->fallback && !strcmp(order[i]->name, be->fallback) ? " (its fallback)" : "");
    printf("\n");
}

static void print_backend(const cnn_backend *be, bool matrix)
{
    char why[256];
    bool ok = cnn_backend_available(be, why, sizeof why);
    char usable[300];
    snprintf(usable, sizeof usable, ok ? "usable" : "not usable: %s", *why ? why : "no reason");
    printf("%-14s %-5s %s\n", be->name, cnn_device_str(be->device), usable);
    if (be->about && *be->about)
        printf("    %s\n", be->about);
    if (matrix) {
        print_matrix(be);
        if (print_notes(be))
            print_fallbacks(be);
        printf("\n");
    }
}

int cmd_backends(int argc, char **argv)
{
    const char *only = NULL;
    bool brief = false;
    cli_opt opts[] = {
        {"backend", CLI_STRING, &only, "NAME", "show only this backend", false, false},
        {"brief", CLI_FLAG, &brief, "", "one line each, without the op x pass matrix", false,
         false},
    };
    cli_cmd cmd = {
        .name = "backends",
        .summary = "List the backends in this build: device, whether usable on this machine "
                   "(and why not),\nwhat each is, and which pass of which operation it "
                   "implements.",
        .details = "Matrix cells: yes = implemented, yes* = implemented, see its note, partial ="
                   "\nimplemented for the shapes its note says, - = not implemented (verify "
                   "reports\nSKIPPED), blank = the operation has no such pass. The optimizer "
                   "step (optim:\nSGD, Adam) is its one pass, under fwd. What a backend declines "
                   "runs, in a model\nrun, on the backends listed after the matrix (its own "
                   "fallback, then the default\nfallbacks of its device, then naive).",
        .opts = opts,
        .nopts = (int)(sizeof opts / sizeof opts[0]),
    };
    int rc = cli_parse(&cmd, argc, argv);
    if (rc >= 0)
        return rc;
    if (only) {
        const cnn_backend *be = cnn_backend_find(only);
        if (!be) {
            char names[512];
            return cli_usage_error(&cmd, "unknown backend '%s'; valid backends: %s", only,
                                   cnn_backend_names(names, sizeof names));
        }
        print_backend(be, !brief);
        return CLI_EXIT_OK;
    }
    printf("%d backend%s in this build\n\n", cnn_backend_count(),
           cnn_backend_count() == 1 ? "" : "s");
    for (int i = 0; i < cnn_backend_count(); i++)
        print_backend(cnn_backend_at(i), !brief);
    return CLI_EXIT_OK;
}
