// Whole-model inference of the example models: images/s at batch 1 and 64, and compile
// time cold (empty kernel cache) and warm (kernels loaded from the disk cache).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "backends/halide/halide_backend.h"
#include "frontend/registry.h"
#include "runtime/executable.h"

using namespace strata;

namespace {

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
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
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

std::string fmt_name(const char* model, int64_t batch) {
  return std::string("inference/") + model + "/batch" + std::to_string(batch);
}

int register_all() {
  for (const char* model : {"small_resnet", "lenet"}) {
    for (int64_t b : {1, 64})
      benchmark::RegisterBenchmark(fmt_name(model, b).c_str(), BM_Inference, model, b)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("compile_cold/") + model).c_str(), BM_Compile, model, false)
        ->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("compile_warm/") + model).c_str(), BM_Compile, model, true)
        ->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
