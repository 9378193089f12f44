/* The backend timer (cnn_timer_start/stop) and Google Benchmark's manual
 * time: a host backend is timed by the wall clock after a sync, misuse is
 * an error, and the time the shim reports is the time each iteration says
 * its work took, not the wall time of the iteration around it. */
#include <string.h>
#include <time.h>

#include "backend.h"
#include "registry.h"
#include "test_util.h"
#ifdef CNN_HAVE_BENCHMARK
#include "gbench.h"
#endif

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void check_host_timer(void)
{
    cnn_ctx *ctx = NULL;
    TU_EXPECT_OK(cnn_ctx_create(cnn_backend_find("naive"), NULL, &ctx));
    if (!ctx)
        return;
    double s = -1;
    TU_CHECK(cnn_timer_stop(ctx, &s) == CNN_ERR_INVALID_ARG && s == 0,
             "stop without a start: want CNN_ERR_INVALID_ARG and 0 s");
    TU_CHECK(strstr(cnn_last_error(), "stopped without a start") != NULL, "message: %s",
             cnn_last_error());
    TU_EXPECT_OK(cnn_timer_start(ctx));
    TU_CHECK(cnn_timer_start(ctx) == CNN_ERR_INVALID_ARG, "second start: want an error");
    TU_CHECK(strstr(cnn_last_error(), "started twice") != NULL, "message: %s", cnn_last_error());
    sleep_ms(20);
    TU_EXPECT_OK(cnn_timer_stop(ctx, &s));
    /* a lower bound only: a loaded machine may sleep longer */
    TU_CHECK(s >= 0.019, "20 ms of sleep timed as %g s", s);
    TU_EXPECT_OK(cnn_timer_start(ctx)); /* usable again after a stop */
    TU_EXPECT_OK(cnn_timer_stop(ctx, &s));
    TU_CHECK(s >= 0 && s < 0.019, "an empty interval timed as %g s", s);
    size_t used, total;
    TU_CHECK(cnn_device_memory(ctx, &used, &total) == CNN_ERR_UNSUPPORTED,
             "host backends report no device memory");
    TU_CHECK(cnn_device_cache_bytes(ctx) == 0, "host backends report no device cache");
    cnn_ctx_destroy(ctx);
}

#ifdef CNN_HAVE_BENCHMARK
/* Sleeps 3 ms outside the time it reports (2 ms). */
static int fake_work(void *arg, double *seconds)
{
    (void)arg;
    sleep_ms(3);
    *seconds = 0.002;
    return 0;
}

static void check_manual_time(void)
{
    cnn_gbench *g = cnn_gbench_create(3, 0.01);
    TU_CHECK(g != NULL, "cnn_gbench_create");
    if (!g)
        return;
    TU_CHECK(cnn_gbench_add(g, "fake", fake_work, NULL, NULL) == 0, "add");
    TU_CHECK(cnn_gbench_run(g) == 0, "run");
    const cnn_gbench_result *r = cnn_gbench_result_at(g, 0);
    TU_CHECK(r && !r->error && r->repetitions == 3, "three repetitions");
    if (r)
        for (int i = 0; i < r->repetitions; i++)
            TU_CHECK(r->rep_s[i] > 0.00199 && r->rep_s[i] < 0.00201,
                     "repetition %d: %g s, want the reported 0.002 s", i, r->rep_s[i]);
    cnn_gbench_destroy(g);
}
#endif

int main(void)
{
    check_host_timer();
#ifdef CNN_HAVE_BENCHMARK
    check_manual_time();
#endif
    return tu_finish("test_timer");
}
