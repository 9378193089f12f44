/* The readers behind plot, compare and plan reuse (harness/csv_read.h,
 * harness/json_read.h): what they accept, and the exact error for each kind
 * of broken file, with its line. */
#include <math.h>
#include <string.h>

#include "csv_read.h"
#include "json_read.h"
#include "test_util.h"

static csv_table *csv_ok(const char *text)
{
    csv_table *t = NULL;
    TU_EXPECT_OK(csv_parse("t.csv", text, strlen(text), &t));
    return t;
}

static void csv_bad(const char *text, const char *want)
{
    csv_table *t = NULL;
    cnn_status st = csv_parse("t.csv", text, strlen(text), &t);
    TU_CHECK(st == CNN_ERR_INVALID_ARG && !t && strstr(cnn_last_error(), want),
             "%s: want an error with \"%s\", got %s: %s", text, want, cnn_status_str(st),
             cnn_last_error());
    csv_free(t);
}

static void check_csv(void)
{
    csv_table *t = csv_ok("a,b,c\n1,\"x, \"\"y\"\"\nz\",\r\n2,,3.5");
    if (t) {
        TU_CHECK(t->ncols == 3 && t->nrows == 2, "%d cols %d rows", t->ncols, t->nrows);
        TU_CHECK(!strcmp(csv_cell(t, 0, 1), "x, \"y\"\nz") && !strcmp(csv_cell(t, 0, 2), ""),
                 "quoted field: [%s] [%s]", csv_cell(t, 0, 1), csv_cell(t, 0, 2));
        TU_CHECK(t->line[0] == 2 && t->line[1] == 4, "lines %d %d", t->line[0], t->line[1]);
        TU_CHECK(csv_num(t, 1, 2) == 3.5 && isnan(csv_num(t, 1, 1)) && isnan(csv_num(t, 0, 1)),
                 "numbers");
        TU_CHECK(csv_col(t, "c") == 2 && csv_col(t, "d") == -1 && !*csv_cell(t, 5, 0), "cols");
        const char *need[] = {"a", "median_ms", NULL};
        TU_CHECK(csv_need(t, "results", need) == CNN_ERR_INVALID_ARG &&
                     strstr(cnn_last_error(), "t.csv: no column median_ms (is this a results"),
                 "csv_need: %s", cnn_last_error());
        csv_free(t);
    }
    t = csv_ok("h\n");
    TU_CHECK(t && t->nrows == 0, "a header alone has no rows");
    csv_free(t);
    csv_bad("", "t.csv: empty file");
    csv_bad("a,b\n1,2\n3\n", "t.csv:3: 1 fields, the header has 2");
    csv_bad("a,b\n1,\"2\n", "t.csv:2: a quoted field is not closed");
    csv_bad("a,b\n1,\"2\"x\n", "t.csv:2: text after a quoted field's closing quote");
    csv_bad("a,b\n1,2\"\n", "t.csv:2: a quote inside an unquoted field");
    const char nul[] = "a,b\n1,\0\n";
    csv_table *tn = NULL;
    TU_CHECK(csv_parse("t.csv", nul, sizeof nul - 1, &tn) == CNN_ERR_INVALID_ARG &&
                 strstr(cnn_last_error(), "a NUL byte"),
             "NUL: %s", cnn_last_error());
    TU_CHECK(csv_read("/nonexistent/r.csv", &tn) == CNN_ERR_IO &&
                 strstr(cnn_last_error(), "/nonexistent/r.csv: cannot open"),
             "missing file: %s", cnn_last_error());
    /* many empty fields: the storage is sized for a NUL per field */
    static char commas[20001];
    memset(commas, ',', 20000);
    csv_bad(commas, "more than 4096 fields");
}

static void json_bad(const char *text, const char *want)
{
    json_doc *d = NULL;
    cnn_status st = json_parse("m.json", text, strlen(text), &d);
    TU_CHECK(st == CNN_ERR_INVALID_ARG && !d && strstr(cnn_last_error(), want),
             "%s: want an error with \"%s\", got %s: %s", text, want, cnn_status_str(st),
             cnn_last_error());
    json_free(d);
}

static void check_json(void)
{
    const char *text = "{\n  \"run_id\": \"vm-1\",\n  \"complete\": true,\n  \"pid\": 12,\n"
                       "  \"ceilings\": {\"fma_peak_gflops\": 213.5, \"gpu\": null},\n"
                       "  \"list\": [1, [2, \"]\"]],\n  \"s\": \"a\\\"b\\u0041\\n\"\n}\n";
    json_doc *d = NULL;
    TU_EXPECT_OK(json_parse("m.json", text, strlen(text), &d));
    if (d) {
        TU_CHECK(!strcmp(json_str(d, "run_id", ""), "vm-1") && json_true(d, "complete") &&
                     json_num(d, "pid") == 12 && json_num(d, "ceilings.fma_peak_gflops") == 213.5,
                 "members");
        TU_CHECK(json_get(d, "ceilings.gpu") && json_get(d, "ceilings.gpu")->kind == JSON_NULL &&
                     isnan(json_num(d, "ceilings.gpu")) && isnan(json_num(d, "nope")),
                 "null and absent");
        TU_CHECK(!strcmp(json_str(d, "list", ""), "[1, [2, \"]\"]]"), "array text: %s",
                 json_str(d, "list", ""));
        TU_CHECK(!strcmp(json_str(d, "s", ""), "a\"bA\n"), "escapes: %s", json_str(d, "s", ""));
        json_free(d);
    }
    json_bad("", "m.json:1: expected a JSON object");
    json_bad("{\"a\": 1,\n\"b\" 2}", "m.json:2: expected ':' after a member name");
    json_bad("{\"a\": 1}\nx", "m.json:2: text after the object's closing '}'");
    json_bad("{\"a\": \"x", "a string is not closed");
    json_bad("{\"a\": 1.2.3}", "a malformed number");
    json_bad("{\"a\": tru}", "expected a value");
    static char deep[256];
    for (int i = 0; i < 40; i++)
        strcat(deep, "{\"a\":");
    json_bad(deep, "nested too deep");
}

int main(void)
{
    check_csv();
    check_json();
    return tu_finish("test_readers");
}
