// The one C++ file: a thin shim over Google Benchmark so the C harness can
// time kernels with it. Everything else of cnnbench is C.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "gbench.h"
#include "status.h"
}

namespace {

struct Case {
    std::string name;
    cnn_gbench_fn fn;
    cnn_gbench_prep prep;
    void *arg;
};

// Collects the time per iteration of every repetition; prints nothing, the
// C side makes the tables.
class Collector : public benchmark::BenchmarkReporter {
  public:
    explicit Collector(std::vector<cnn_gbench_result> *out) : out_(out) {}
    bool ReportContext(const Context &) override { return true; }
    void ReportRuns(const std::vector<Run> &runs) override
    {
        for (const Run &r : runs) {
            if (r.run_type != Run::RT_Iteration)
                continue;
            size_t idx = static_cast<size_t>(r.family_index);
            if (idx >= out_->size())
                continue;
            cnn_gbench_result &res = (*out_)[idx];
            if (r.error_occurred) {
                res.error = true;
                std::snprintf(res.error_msg, sizeof res.error_msg, "%s", r.error_message.c_str());
                continue;
            }
            if (res.repetitions < CNN_GBENCH_MAX_REPS) {
                // GetAdjustedRealTime() is the manual time per iteration, in
                // r.time_unit.
                double scale = 1.0 / benchmark::GetTimeUnitMultiplier(r.time_unit);
                res.rep_s[res.repetitions++] = r.GetAdjustedRealTime() * scale;
                res.iterations = r.iterations;
            }
        }
    }

  private:
    std::vector<cnn_gbench_result> *out_;
};

// A case with a prep step (--cold) reports manual time without the prep, so
// a MinTime of manual time would run min_time / (call time) iterations, each
// paying the prep: minutes per repetition for a microsecond op behind a
// 32 MB eviction. Such a case runs a fixed count instead, as many as fill
// min_time of wall clock with the prep, estimated from one untimed trial
// (at least 1; 1 when the trial fails, which the timed run then reports).
benchmark::IterationCount wall_iterations(const Case *c, double min_time)
{
    const auto t0 = std::chrono::steady_clock::now();
    c->prep(c->arg);
    double s = 0;
    const int rc = c->fn(c->arg, &s);
    const double w = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rc != 0 || !(w > 0))
        return 1;
    return static_cast<benchmark::IterationCount>(
        std::min(1e6, std::max(1.0, std::ceil(min_time / w))));
}

} // namespace

struct cnn_gbench {
    int repetitions;
    double min_time;
    std::vector<Case> cases;
    std::vector<cnn_gbench_result> results;
};

extern "C" cnn_gbench *cnn_gbench_create(int repetitions, double min_time_s)
{
    try {
        cnn_gbench *g = new cnn_gbench;
        g->repetitions = std::max(1, std::min(repetitions, CNN_GBENCH_MAX_REPS));
        g->min_time = min_time_s > 0 ? min_time_s : 0.1;
        return g;
    } catch (...) {
        return nullptr;
    }
}

extern "C" void cnn_gbench_destroy(cnn_gbench *g) { delete g; }

extern "C" int cnn_gbench_add(cnn_gbench *g, const char *name, cnn_gbench_fn fn,
                              cnn_gbench_prep prep, void *arg)
{
    try {
        g->cases.push_back(Case{name, fn, prep, arg});
        return static_cast<int>(g->cases.size()) - 1;
    } catch (...) {
        return -1;
    }
}

extern "C" int cnn_gbench_run(cnn_gbench *g)
{
    try {
        static bool initialised = false;
        if (!initialised) {
            int argc = 1;
            char name[] = "cnnbench";
            char *argv[] = {name, nullptr};
            benchmark::Initialize(&argc, argv);
            initialised = true;
        }
        benchmark::ClearRegisteredBenchmarks();
        g->results.assign(g->cases.size(), cnn_gbench_result{});
        for (size_t i = 0; i < g->cases.size(); i++) {
            const Case *c = &g->cases[i];
            std::snprintf(g->results[i].name, sizeof g->results[i].name, "%s", c->name.c_str());
            benchmark::internal::Benchmark *b =
                benchmark::RegisterBenchmark(c->name.c_str(), [c](benchmark::State &state) {
                    for (auto _ : state) {
                        if (c->prep)
                            c->prep(c->arg);
                        double s = 0;
                        if (c->fn(c->arg, &s) != 0) {
                            state.SkipWithError(cnn_last_error());
                            break;
                        }
                        state.SetIterationTime(s);
                    }
                });
            b->UseManualTime()->Unit(benchmark::kMillisecond)->Repetitions(g->repetitions);
            if (c->prep)
                b->Iterations(wall_iterations(c, g->min_time));
            else
                b->MinTime(g->min_time);
        }
        Collector collector(&g->results);
        benchmark::RunSpecifiedBenchmarks(&collector);
        benchmark::ClearRegisteredBenchmarks();
        for (cnn_gbench_result &r : g->results) {
            if (r.repetitions == 0)
                continue;
            std::vector<double> t(r.rep_s, r.rep_s + r.repetitions);
            std::sort(t.begin(), t.end());
            size_t n = t.size();
            r.median_s = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
            r.min_s = t.front();
            r.max_s = t.back();
        }
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" int cnn_gbench_count(const cnn_gbench *g) { return static_cast<int>(g->results.size()); }

extern "C" const cnn_gbench_result *cnn_gbench_result_at(const cnn_gbench *g, int i)
{
    if (i < 0 || static_cast<size_t>(i) >= g->results.size())
        return nullptr;
    return &g->results[static_cast<size_t>(i)];
}

extern "C" const char *cnn_gbench_version(void) { return CNN_BENCHMARK_VERSION; }
