// Fused (-O2) against unfused (-O0), by pattern and by model: the patterns fusion is for
// (conv + BN + ReLU, conv + residual add + ReLU, a projection shortcut's two 1x1s summed,
// depthwise + BN + ReLU6, a squeeze-and-excitation block, a DenseNet concat), every zoo model at full size (inference, batch 1
// and 8), and training steps of the projection block with a classifier head, the small ResNet, ResNet-18 and ResNet-50. Counters:
// images/s and activation memory (bytes, with the memory plan for -O2). Each pair runs in
// one process; compare a pair's two lines only. Pick with --benchmark_filter, e.g.
//   build/bench/bench_fusion --benchmark_filter='pattern|resnet50/'
#include <benchmark/benchmark.h>

#include <strata/dsl.h>

#include "frontend/registry.h"
#include "passes/training.h"
#include "runtime/executable.h"

using namespace strata;
using namespace strata::dsl;

namespace {

Model pattern(const std::string& name) {
  Model m(name);
  if (name == "densenet_concat") {  // a dense block's layer: BN-ReLU-conv1x1-BN-ReLU-conv3x3, concat
    Tensor x = m.input("x", {kBatch, 256, 28, 28});
    Tensor y = conv2d(relu(batch_norm(x)), 128, 1, {.bias = false});
    y = conv2d(relu(batch_norm(y)), 32, 3, {.padding = 1, .bias = false});
    m.output("y", concat({x, y}));
    return m;
  }
  if (name == "projection_shortcut" || name == "projection_block_head") {
    // ResNet-50 layer2.0's end: conv3 + strided projection, add, ReLU; with a classifier head
    // for training steps (their weight gradients with both momentum-SGD updates, and the two
    // batch norms summed in one kernel).
    Tensor x = m.input("x", {kBatch, 256, 56, 56});  // (h from a strided 1x1: the block's 3x3 would dominate)
    Tensor h = relu(batch_norm(conv2d(x, 128, 1, {.stride = 2, .bias = false})));
    Tensor y = batch_norm(conv2d(h, 512, 1, {.bias = false}));
    y = relu(y + batch_norm(conv2d(x, 512, 1, {.stride = 2, .bias = false})));
    if (name == "projection_shortcut") m.output("y", y);
    else m.output("logits", linear(flatten(global_avg_pool(y)), 10));
    return m;
  }
  Tensor x = m.input("x", {kBatch, 64, 56, 56});
  if (name == "conv_bn_relu") {
    m.output("y", relu(batch_norm(conv2d(x, 64, 3, {.padding = 1, .bias = false}))));
  } else if (name == "conv_add_relu") {
    m.output("y", relu(batch_norm(conv2d(x, 64, 3, {.padding = 1, .bias = false})) + x));
  } else if (name == "depthwise_bn_relu6") {
    m.output("y", relu6(batch_norm(depthwise_conv2d(x, 3, {.padding = 1, .bias = false}))));
  } else if (name == "se_block") {  // EfficientNet's: pool, reduce, SiLU, expand, sigmoid, scale
    Tensor s = silu(conv2d(global_avg_pool(x), 16, 1));
    s = sigmoid(conv2d(s, 64, 1));
    m.output("y", conv2d(x * s, 64, 1, {.bias = false}));
  }
  return m;
}

void run_pair(benchmark::State& state, const ir::Graph& g, int64_t batch, bool train, const std::string& level) {
  ir::Graph model = ir::clone(g);
  model.set_batch_size(batch);
  runtime::CompileOptions o;
  o.passes.pipeline = level;
  if (level == "-O2-merge-conv-add") o.passes.pipeline = "-O2", o.passes.disabled = {"merge-conv-add"};
  const ir::Value* in = model.inputs()[0];
  NamedTensors x{{in->name, HostTensor(in->type.shape, 0.5f)}};
  ir::Graph run_graph = ir::clone(model);
  if (train) {
    passes::TrainingStep step = passes::benchmark_training_step(model);
    x = passes::synthetic_step_inputs(step);
    o.updates = step.updates;
    run_graph = std::move(step.graph);
  }
  runtime::Executable exe(run_graph, o);
  exe.set_parameters(runtime::ParameterStore::initialize(exe.graph(), 0));
  exe.run(x);
  for (auto _ : state) benchmark::DoNotOptimize(exe.run(x));
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["activation_MiB"] = exe.report().activation_bytes / 1048576.0;
  state.counters["kernels"] = exe.report().kernels;
}

void BM_Pattern(benchmark::State& state, std::string name, int64_t batch, bool train, std::string level) {
  run_pair(state, pattern(name).graph(), batch, train, level);
}

void BM_Model(benchmark::State& state, std::string model, int64_t batch, bool train, std::string level) {
  const auto* e = find_model(model);
  run_pair(state, e->build(e->default_classes).graph(), batch, train, level);
}

int register_all() {
  auto reg = [](const std::string& name, auto fn, auto... args) {
    for (const char* level : {"-O0", "-O2"})
      benchmark::RegisterBenchmark((name + "/" + level).c_str(), fn, args..., std::string(level))
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  };
  // "-O2-merge-conv-add": -O2 less merge-conv-add, so the projection's two 1x1s are fused as
  // a residual add (fold-residual-add) but not merged into one convolution.
  for (int64_t b : {1, 8})
    benchmark::RegisterBenchmark(("pattern/projection_shortcut/batch" + std::to_string(b) + "/-O2-merge-conv-add").c_str(),
                                 BM_Pattern, std::string("projection_shortcut"), b, false, std::string("-O2-merge-conv-add"))
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  for (const char* p : {"conv_bn_relu", "conv_add_relu", "projection_shortcut", "depthwise_bn_relu6", "se_block",
                        "densenet_concat"})
    for (int64_t b : {1, 8}) reg(std::string("pattern/") + p + "/batch" + std::to_string(b), BM_Pattern, std::string(p), b, false);
  reg("train/pattern/projection_block_head/batch8", BM_Pattern, std::string("projection_block_head"), int64_t{8}, true);
  for (const auto& e : model_registry()) {
    if (e.default_classes != 1000) continue;
    for (int64_t b : {1, 8}) reg("inference/" + e.name + "/batch" + std::to_string(b), BM_Model, e.name, b, false);
  }
  reg("train/small_resnet/batch64", BM_Model, std::string("small_resnet"), int64_t{64}, true);
  reg("train/resnet18/batch8", BM_Model, std::string("resnet18"), int64_t{8}, true);
  reg("train/resnet50/batch8", BM_Model, std::string("resnet50"), int64_t{8}, true);
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
