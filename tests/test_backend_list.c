/* The one parser of backend lists ("winograd,im2col"), cnn_backend_list_parse,
 * and its callers: cnn_model_bind, `cnnbench run --backends` (or its old
 * spelling --backend), `cnnbench verify --backends` and `cnnbench bench
 * --backends`. Every bad list is refused with a reason that says what is
 * wrong. And the fallback order after a list, cnn_backend_order. */
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "model.h"
#include "registry.h"
#include "test_util.h"

static const cnn_backend *naive;
static cnn_backend fake, shadow; /* extra tables: "fake", and one more "naive" */
static const cnn_backend *const extra[] = {&fake, &shadow, NULL};

static void expect_list(const char *list, int max, const char *want)
{
    const cnn_backend *out[CNN_BACKEND_LIST_MAX];
    int n = -1;
    cnn_status st = cnn_backend_list_parse(list, extra, max, out, &n);
    char got[256] = "";
    for (int i = 0; st == CNN_OK && i < n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s%s", i ? "," : "",
                 out[i] == &shadow ? "shadow:" : "", out[i]->name);
    TU_CHECK(st == CNN_OK && !strcmp(got, want), "'%s': %s (%s), got '%s', want '%s'", list,
             cnn_status_str(st), cnn_last_error(), got, want);
}

/* The list is refused; the reason holds every one of `words`. */
static void expect_refused(const char *list, int max, const char *const *words)
{
    const cnn_backend *out[CNN_BACKEND_LIST_MAX];
    int n = -1;
    cnn_status st = cnn_backend_list_parse(list, extra, max, out, &n);
    TU_CHECK(st == CNN_ERR_INVALID_ARG, "'%s': %s, expected invalid argument", list ? list : "NULL",
             cnn_status_str(st));
    TU_CHECK(n == 0, "'%s': refused, but n = %d", list ? list : "NULL", n);
    for (const char *const *w = words; *w; w++)
        TU_CHECK(strstr(cnn_last_error(), *w), "'%s': reason lacks '%s': %s", list ? list : "NULL",
                 *w, cnn_last_error());
}

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_parse(void)
{
    expect_list("fake", 4, "fake");
    expect_list(" fake ,\tnaive\n", 4, "fake,shadow:naive"); /* extra tables come first */
    expect_list("naive,fake", 2, "shadow:naive,fake");       /* exactly max is fine */
    const cnn_backend *out[2];
    int n = 0;
    TU_EXPECT_OK(cnn_backend_list_parse("naive", NULL, 2, out, &n));
    TU_CHECK(n == 1 && out[0] == naive, "'naive' without extras is not the registry's naive");

    expect_refused(NULL, 4, WORDS("empty", "naive"));
    expect_refused("", 4, WORDS("empty", "naive"));
    expect_refused(" \t", 4, WORDS("empty"));
    expect_refused("fake,", 4, WORDS("'fake,'", "item 2 is empty"));
    expect_refused(",fake", 4, WORDS("item 1 is empty"));
    expect_refused("fake, ,naive", 4, WORDS("item 2 is empty"));
    expect_refused("fake,nosuch", 4, WORDS("unknown backend 'nosuch'", "naive", "fake"));
    expect_refused("naiv", 4, WORDS("unknown backend 'naiv'"));
    expect_refused("naivee", 4, WORDS("unknown backend 'naivee'"));
    expect_refused("fake,naive, fake", 4, WORDS("'fake,naive, fake'", "fake is given twice"));
    expect_refused("fake,naive", 1, WORDS("more than 1 backends"));

    const cnn_backend *be = NULL;
    TU_EXPECT_OK(cnn_backend_resolve("naive", NULL, &be));
    TU_CHECK(be == naive, "resolve 'naive' gave another table");
    TU_EXPECT_OK(cnn_backend_resolve("fake", extra, &be));
    TU_CHECK(be == &fake, "resolve 'fake' with extras gave another table");
    TU_CHECK(cnn_backend_resolve("fake", NULL, &be) == CNN_ERR_INVALID_ARG && be == NULL,
             "'fake' resolved without the extra tables");
    TU_CHECK(strstr(cnn_last_error(), "unknown backend 'fake'") &&
                 strstr(cnn_last_error(), "naive"),
             "resolve's reason: %s", cnn_last_error());
}

/* cnn_backend_order(list) as "a,b,c" (a table of extra_tables marked). */
static void expect_order(const cnn_backend *const *list, int n, int max, const char *want)
{
    const cnn_backend *out[CNN_BACKEND_ORDER_MAX];
    int k = cnn_backend_order(list, n, extra, out, max);
    char got[256] = "";
    for (int i = 0; i < k; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s%s", i ? "," : "",
                 out[i] == &shadow ? "shadow:" : "", out[i]->name);
    TU_CHECK(!strcmp(got, want), "order after %s (%d): got '%s', want '%s'", list[0]->name, n, got,
             want);
}

/* The list as given, then the fallbacks the listed backends name, then the
 * device's default fallbacks that this build has, then naive; each once. */
static void test_order(void)
{
    char defaults[64] = ""; /* registry.h: onednn, then im2col */
#ifdef CNN_HAVE_ONEDNN
    strcat(defaults, ",onednn");
#endif
#ifdef CNN_HAVE_IM2COL
    strcat(defaults, ",im2col");
#endif
    const char *const *d = cnn_default_fallbacks(CNN_DEVICE_HOST);
    TU_CHECK(d[0] && d[1] && !strcmp(d[0], "onednn") && !strcmp(d[1], "im2col") && !d[2],
             "host default fallbacks are not onednn, im2col");
    for (; *d; d++)
        TU_CHECK(strcmp(*d, "naive"), "naive is among the default fallbacks");
    /* the extra tables shadow the registry's naive: the last resort is shadow */
    char want[256];
    cnn_backend part = fake;
    part.name = "part";
    snprintf(want, sizeof want, "part%s,shadow:naive", defaults);
    expect_order((const cnn_backend *const[]){&part}, 1, CNN_BACKEND_ORDER_MAX, want);
    /* a named fallback comes before the defaults, after the whole list */
    part.fallback = "fake";
    snprintf(want, sizeof want, "part,shadow:naive,fake%s", defaults);
    expect_order((const cnn_backend *const[]){&part, &shadow}, 2, CNN_BACKEND_ORDER_MAX, want);
    /* one that names nothing known, or itself, adds nothing */
    part.fallback = "nosuch";
    snprintf(want, sizeof want, "part%s,shadow:naive", defaults);
    expect_order((const cnn_backend *const[]){&part}, 1, CNN_BACKEND_ORDER_MAX, want);
    part.fallback = "part";
    expect_order((const cnn_backend *const[]){&part}, 1, CNN_BACKEND_ORDER_MAX, want);
    expect_order((const cnn_backend *const[]){&part, &fake}, 2, 2, "part,fake"); /* max */
#ifdef CNN_HAVE_WINOGRAD
    const cnn_backend *wino = cnn_backend_find("winograd");
    /* im2col is Winograd's own fallback, so first after it */
    expect_order(&wino, 1, CNN_BACKEND_ORDER_MAX,
#ifdef CNN_HAVE_ONEDNN
                 "winograd,im2col,onednn,shadow:naive"
#else
                 "winograd,im2col,shadow:naive"
#endif
    );
#endif
    /* another device: only its own backends, no naive */
    cnn_backend dev = fake;
    dev.name = "dev";
    dev.device = CNN_DEVICE_CUDA;
    dev.fallback = "fake";
    char why[256];
    const cnn_backend *cudnn = cnn_backend_find("cudnn");
    bool gpu = cudnn && cnn_backend_available(cudnn, why, sizeof why);
    expect_order((const cnn_backend *const[]){&dev, &fake}, 2, CNN_BACKEND_ORDER_MAX,
                 gpu ? "dev,cudnn" : "dev");
    TU_CHECK(cnn_backend_order((const cnn_backend *const[]){&dev}, 0, NULL, NULL, 4) == 0,
             "an empty list has an order");
}

/* cnn_model_bind refuses the same lists with the same reasons. */
static void test_model_bind(void)
{
    const char *bad[][2] = {{"naive, naive", "given twice"},
                            {"naive,", "item 2 is empty"},
                            {"nosuch", "unknown backend 'nosuch'"},
                            {"  ", "empty"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cnn_model *m = NULL;
        TU_EXPECT_OK(cnn_model_create("lenet5", NULL, &m));
        if (!m)
            return;
        cnn_exec_opts e = {.backends = bad[i][0], .threads = 1};
        cnn_status st = cnn_model_bind(m, &e);
        TU_CHECK(st == CNN_ERR_INVALID_ARG && strstr(cnn_last_error(), bad[i][1]),
                 "bind '%s': %s (%s), expected '%s'", bad[i][0], cnn_status_str(st),
                 cnn_last_error(), bad[i][1]);
        cnn_model_destroy(m);
    }
    cnn_model *m = NULL;
    TU_EXPECT_OK(cnn_model_create("lenet5", NULL, &m));
    cnn_exec_opts e = {.backends = "naive", .overrides = "conv1=nosuch", .threads = 1};
    cnn_status st = m ? cnn_model_bind(m, &e) : CNN_OK;
    TU_CHECK(st == CNN_ERR_INVALID_ARG && strstr(cnn_last_error(), "conv1=nosuch") &&
                 strstr(cnn_last_error(), "unknown backend 'nosuch'"),
             "bind with override conv1=nosuch: %s (%s)", cnn_status_str(st), cnn_last_error());
    cnn_model_destroy(m);
}

static int call(int (*cmd)(int, char **), char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    return cmd(argc, argv);
}

/* The commands turn a bad list into a usage error (exit 2) before doing any
 * work. Each call is set up to fail fast with exit 1 right after the list
 * check (a missing input or folder, a folder that cannot be made), so a list that got
 * through would show as exit 1, not run a whole verify or bench. */
static void test_commands(void)
{
    fprintf(stderr, "(the usage errors below are expected)\n");
    const char *lists[] = {"naive,naive", "naive,,naive", "nosuch", "naive,", "naive"};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        char *l = (char *)lists[i];
        int want = strcmp(l, "naive") ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
        int rc = call(cmd_verify, (char *[]){"--backends", l, "--results", "/dev/null/r", NULL});
        TU_CHECK(rc == want, "verify --backends %s: exit %d, want %d", l, rc, want);
        /* --backend is the old spelling of the same option */
        char *opt = i % 2 ? "--backend" : "--backends";
        rc = call(cmd_run, (char *[]){"--model", "lenet5", opt, l, "--input", "/nonexistent/x.npy",
                                      "--out", "/nonexistent/out", NULL});
        TU_CHECK(rc == want, "run %s %s: exit %d, want %d", opt, l, rc, want);
    }
    int rc = call(cmd_run,
                  (char *[]){"--model", "lenet5", "--backends", "naive", "--backend", "naive",
                             "--input", "/nonexistent/x.npy", "--out", "/nonexistent/out", NULL});
    TU_CHECK(rc == CLI_EXIT_USAGE, "run --backends naive --backend naive: exit %d, want %d", rc,
             CLI_EXIT_USAGE);
    /* bench checks its list only where Google Benchmark is built in. */
    if (call(cmd_bench, (char *[]){"--batch", "0", NULL}) != CLI_EXIT_USAGE) {
        printf("  (no Google Benchmark in this build: bench's list check not run)\n");
        return;
    }
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        char *l = (char *)lists[i];
        int want = strcmp(l, "naive") ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
        /* a selection that passes, and a results folder that cannot be made */
        int rc = call(cmd_bench, (char *[]){"--model", "lenet5", "--backends", l, "--results",
                                            "/dev/null/results", NULL});
        TU_CHECK(rc == want, "bench --backends %s: exit %d, want %d", l, rc, want);
    }
}

int main(void)
{
    naive = cnn_backend_find("naive");
    if (!naive) {
        fprintf(stderr, "test_backend_list: no naive backend\n");
        return 1;
    }
    fake = shadow = *naive;
    fake.name = "fake";
    test_parse();
    test_order();
    test_model_bind();
    test_commands();
    return tu_finish("test_backend_list");
}
