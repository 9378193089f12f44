/* cnnbench backends: what this build holds, what is usable on this machine,
 * and which passes of which operations each backend implements. */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "cli.h"
#include "commands.h"
#include "registry.h"

/* One row per operation kind, one column per pass: "yes" implemented, "-"
 * not implemented (reported as SKIPPED by verify), blank: the operation has
 * no such pass. */
static void print_matrix(const cnn_backend *be)
{
    printf("    %-8s", "");
    for (int p = 0; p < CNN_PASS_COUNT; p++)
        printf(p + 1 < CNN_PASS_COUNT ? " %-10s" : " %s", cnn_pass_str((cnn_pass)p));
    printf("\n");
    for (int k = 0; k < CNN_OP_KIND_COUNT; k++) {
        cnn_op op = {.kind = (cnn_op_kind)k};
        char line[128];
        int used = snprintf(line, sizeof line, "    %-8s", cnn_op_kind_str((cnn_op_kind)k));
        for (int p = 0; p < CNN_PASS_COUNT && used > 0 && used < (int)sizeof line; p++) {
            const char *cell = !cnn_op_has_pass(&op, (cnn_pass)p)                        ? ""
                               : cnn_backend_implements(be, (cnn_op_kind)k, (cnn_pass)p) ? "yes"
                                                                                         : "-";
            used += snprintf(line + used, sizeof line - (size_t)used, " %-10s", cell);
        }
        while (used > 0 && line[used - 1] == ' ')
            line[--used] = '\0';
        printf("%s\n", line);
    }
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
        .details = "Matrix cells: yes = implemented, - = not implemented (verify reports SKIPPED),"
                   "\nblank = the operation has no such pass.",
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
