// Training-step throughput: forward, loss, backward and optimizer update of one batch, as
// compiled by passes::benchmark_training_step (images/s). The small ResNet at batch 64 on
// 28x28, ResNet-18 and ResNet-50 at batch 8 on 224x224; bench/torch_train.py runs the same
// steps in PyTorch for the side-by-side in bench/README.md.
#include <benchmark/benchmark.h>

#include "frontend/registry.h"
#include "passes/training.h"
#include "runtime/executable.h"

using namespace strata;

namespace {

void BM_TrainStep(benchmark::State& state, std::string model, int64_t batch) {
  const auto* e = dsl::find_model(model);
  dsl::Model m = e->build(e->default_classes);
  ir::Graph g = ir::clone(m.graph());
  g.set_batch_size(batch);
  passes::TrainingStep step = passes::benchmark_training_step(g);
  runtime::CompileOptions o;
  o.updates = step.updates;
  runtime::Executable exe(step.graph, o);
  exe.set_parameters(runtime::ParameterStore::initialize(step.graph, 0));
  NamedTensors x = passes::synthetic_step_inputs(step);
  exe.run(x);
  for (auto _ : state) benchmark::DoNotOptimize(exe.run(x));
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["compile_s"] = exe.report().seconds;
  state.counters["kernels"] = exe.report().distinct_kernels;
}

}  // namespace

BENCHMARK_CAPTURE(BM_TrainStep, small_resnet_b64, std::string("small_resnet"), 64)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TrainStep, resnet18_224_b8, std::string("resnet18"), 8)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5);
BENCHMARK_CAPTURE(BM_TrainStep, resnet50_224_b8, std::string("resnet50"), 8)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(10);

BENCHMARK_MAIN();
