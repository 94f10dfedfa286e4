// Whole-model inference: every registered model (the examples and the whole zoo at full
// size) in images/s, GFLOP/s (2 x multiply-adds) and percent of the machine's FMA peak
// measured in the same run; compile time cold (empty kernel cache) and warm (kernels
// loaded from the disk cache). Examples run at batch 1 and 64, zoo models at 1 and 8.
// Everything takes about an hour on two cores: pick with --benchmark_filter, e.g.
//   build/bench/bench_models --benchmark_filter='resnet50|mobilenet_v2'
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "backends/halide/halide_backend.h"
#include "bench/peak.h"
#include "frontend/registry.h"
#include "frontend/summary.h"
#include "runtime/executable.h"

using namespace strata;

namespace {

void BM_Peak(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(bench::peaks());
  state.counters["fma_peak_GFLOP/s"] = bench::peaks().fma;
  state.counters["sgemm_GFLOP/s"] = bench::peaks().sgemm;
}

void BM_Inference(benchmark::State& state, std::string model, int64_t batch) {
  const auto* e = dsl::find_model(model);
  dsl::Model m = e->build(e->default_classes);
  runtime::CompileOptions o;
  o.batch = batch;
  runtime::Executable exe(m.graph(), o);
  exe.set_parameters(runtime::ParameterStore::initialize(exe.graph(), 0));
  const ir::Value* in = exe.graph().inputs()[0];
  NamedTensors x{{in->name, HostTensor(in->type.shape, 0.5f)}};
  exe.run(x);
  for (auto _ : state) benchmark::DoNotOptimize(exe.run(x));
  double flops = 2.0 * static_cast<double>(dsl::model_stats(m.graph()).macs) * static_cast<double>(batch);
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["pct_of_fma_peak"] =
      benchmark::Counter(100 * flops * 1e-9 / bench::peaks().fma, benchmark::Counter::kIsIterationInvariantRate);
}

// Cold: a fresh cache directory, nothing in memory. Warm: the same directory again.
void BM_Compile(benchmark::State& state, std::string model, bool warm) {
  const auto* e = dsl::find_model(model);
  dsl::Model m = e->build(e->default_classes);
  auto dir = std::filesystem::temp_directory_path() / ("strata-bench-cache-" + model);
  double secs = 0;
  int compiled = 0;
  for (auto _ : state) {
    state.PauseTiming();
    if (!warm) std::filesystem::remove_all(dir);
    setenv("STRATA_CACHE_DIR", dir.c_str(), 1);
    halide_backend::clear_memory_cache();
    if (warm) {  // make sure the disk cache is filled
      runtime::CompileOptions o;
      runtime::Executable fill(m.graph(), o);
      halide_backend::clear_memory_cache();
    }
    state.ResumeTiming();
    runtime::Executable exe(m.graph(), runtime::CompileOptions{});
    secs += exe.report().seconds;
    compiled = exe.report().compiled;
  }
  state.counters["seconds"] = secs / state.iterations();
  state.counters["kernels_compiled"] = compiled;
  std::filesystem::remove_all(dir);
}

int register_all() {
  benchmark::RegisterBenchmark("peak", BM_Peak)->Iterations(1);
  for (const auto& e : dsl::model_registry()) {
    bool example = e.default_classes != 1000;
    for (int64_t b : {int64_t{1}, example ? int64_t{64} : int64_t{8}})
      benchmark::RegisterBenchmark(("inference/" + e.name + "/batch" + std::to_string(b)).c_str(), BM_Inference, e.name, b)
          ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(example ? 0.5 : 2.0);
    benchmark::RegisterBenchmark(("compile_cold/" + e.name).c_str(), BM_Compile, e.name, false)
        ->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark(("compile_warm/" + e.name).c_str(), BM_Compile, e.name, true)
        ->Iterations(example ? 3 : 1)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
