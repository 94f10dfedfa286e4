// The executable on CUDA keeps every tensor in device memory between kernels: what the host
// writes (parameters, inputs) crosses once, updates stay on the device, and outputs and
// parameters read back on request. Without a GPU the model still compiles for host-cuda
// (the device is touched only by run()); the output says which happened.
#include <strata/dsl.h>

#include "backends/halide/halide_backend.h"
#include "passes/training.h"
#include "runtime/executable.h"
#include "tests/helpers.h"

using namespace strata;
using namespace strata::dsl;

// Conv + BN + ReLU, a residual add and a concat (fold-concat's slices are views into the
// device buffer), trained with momentum SGD: updated parameters, momenta and running
// statistics all live on the device from one step to the next.
static ir::Graph small_net() {
  Model m("device_net");
  Tensor x = m.input("x", {2, 8, 8, 8});
  Tensor a = relu(batch_norm(conv2d(x, 16, 3, {.padding = 1, .bias = false})));
  Tensor b = relu(add(a, batch_norm(conv2d(a, 16, 3, {.padding = 1, .bias = false}))));
  Tensor c = concat({conv2d(b, 8, 1), relu(conv2d(b, 8, 3, {.padding = 1}))});
  m.output("logits", linear(flatten(global_avg_pool(c)), 5));
  return ir::clone(m.graph());
}

static void check_all(const NamedTensors& got, const NamedTensors& want, const std::string& when) {
  for (const auto& [name, w] : want) {
    REQUIRE(got.count(name));
    testing::Mismatch d = testing::compare(got.at(name), w, 2e-3, 2e-4);
    INFO(when << ", " << name << ": " << d.detail);
    CHECK(d.ok);
  }
}

TEST_CASE("training steps with device-resident tensors on CUDA equal the reference", "[cuda][training]") {
  passes::OptimizerSpec opt{.name = "momentum", .momentum = 0.9, .weight_decay = 1e-3};
  passes::TrainingStep step = passes::build_training_step(small_net(), {}, opt);
  auto params = testing::random_parameters(step.graph, 21);
  auto inputs = testing::random_inputs(step.graph, 22);
  inputs.at(step.hyper_input) = HostTensor({2}, {0.05f, 1.f});
  runtime::CompileOptions co;
  co.updates = step.updates;
  co.halide.target = "host-cuda";
  runtime::Executable gpu(step.graph, co);  // compiles every kernel; no device needed yet
  CHECK(gpu.report().kernels > 0);
  CHECK(gpu.report().fused_groups > 0);
  if (!halide_backend::gpu_available()) {
    WARN("no GPU answers (libcuda.so.1): the training step compiled for host-cuda; its runs are skipped");
    gpu.set_parameters(params);
    CHECK_THROWS_WITH(gpu.run(inputs), Catch::Contains("no CUDA device answers") && Catch::Contains("host-cuda"));
    return;
  }
  WARN("GPU present: training steps run on CUDA against the reference");
  runtime::CompileOptions ro;
  ro.backend = runtime::Backend::Reference;
  ro.updates = step.updates;
  runtime::Executable ref(step.graph, ro);
  ref.set_parameters(params);
  gpu.set_parameters(params);
  // Three steps: the second and third read what the previous wrote on the device.
  NamedTensors first;
  for (int k = 1; k <= 3; ++k) {
    inputs.at(step.hyper_input) = HostTensor({2}, {0.05f, static_cast<float>(k)});
    NamedTensors got = gpu.run(inputs);
    check_all(got, ref.run(inputs), "step " + std::to_string(k));
    if (k == 1) first = got;
  }
  CHECK(gpu.parameters_finite());
  CHECK(gpu.first_nonfinite() == "");
  runtime::ParameterStore want = ref.parameters(), got = gpu.parameters();
  REQUIRE(got.size() == want.size());
  for (const auto& [name, w] : want.tensors()) {
    testing::Mismatch d = testing::compare(got.at(name), w, 2e-3, 2e-4);
    INFO("parameter " << name << " after 3 steps: " << d.detail);
    CHECK(d.ok);
  }
  // New parameters from the host replace the device's: step 1 again gives step 1's outputs.
  gpu.set_parameters(params);
  inputs.at(step.hyper_input) = HostTensor({2}, {0.05f, 1.f});
  check_all(gpu.run(inputs), first, "step 1 after set_parameters");
}
