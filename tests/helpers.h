#pragma once
// Shared test helpers: seeded random tensors and parameters, tolerant comparison, and
// running a graph on both backends.
#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "frontend/model.h"
#include "runtime/executable.h"

namespace strata::testing {

HostTensor random_tensor(const Shape& s, uint64_t seed, float lo = -1.f, float hi = 1.f);
// `g` through a pass pipeline (the verifier after every pass), with the reference backend's
// constant folding.
// `enable`: a preset's optional passes to run too (passes::PipelineOptions::enabled).
ir::Graph optimized(const ir::Graph& g, const std::string& pipeline = "-O2", const std::set<std::string>& enable = {});
// Every parameter uniform in [-1, 1] / sqrt(fan_in) (running variances in [0.5, 1.5]).
runtime::ParameterStore random_parameters(const ir::Graph& g, uint64_t seed);
NamedTensors random_inputs(const ir::Graph& g, uint64_t seed, float lo = -1.f, float hi = 1.f);

struct Mismatch {
  bool ok = true;
  std::string detail;
};
// |a - b| <= atol + rtol * |b| everywhere.
Mismatch compare(const HostTensor& got, const HostTensor& want, double rtol = 1e-4, double atol = 1e-5);

// Runs `g` with `inputs` and `params` as written on the reference backend (want) and
// through the default pass pipeline (-O2: folded, fused, memory-planned) on the Halide
// backend with `target` and `schedule` (got).
struct BothBackends {
  NamedTensors want, got;
};
BothBackends run_both(const ir::Graph& g, const NamedTensors& inputs, const runtime::ParameterStore& params = {},
                      const std::string& target = "host", const std::string& schedule = "manual",
                      const std::set<std::string>& enable = {});

// run_both on seeded random inputs and parameters; checks every output with CHECK and
// returns the worst absolute difference.
double check_against_reference(const ir::Graph& g, const std::string& target = "host", uint64_t seed = 1,
                               float lo = -1.f, float hi = 1.f, const std::string& schedule = "manual",
                               double rtol = 1e-4, double atol = 1e-5, const std::set<std::string>& enable = {});

// Sets the same random parameters (seeds 1, then 2) on `exe` and `ref` (both compiled from
// `g`) and checks output `name` of each against the other's, over two runs per seed: the
// first recomputes what static kernels derive from the parameters (folded and Winograd
// weights), the second reuses it.
void check_follows_parameters(runtime::Executable& exe, runtime::Executable& ref, const ir::Graph& g,
                              const NamedTensors& inputs, const std::string& name);

// Runs `before` and `after` (a pass's input and output) on the reference backend with the
// same random parameters (seeded) and `inputs`; checks every output of `before` with CHECK.
void check_same_on_reference(const ir::Graph& before, const ir::Graph& after, const NamedTensors& inputs,
                             uint64_t param_seed, double rtol = 1e-4, double atol = 1e-5);

// One reduced model of every zoo family (10 classes, small inputs and widths), at sizes
// every layer of which still has a spatial extent: ResNet-50, the paper's AlexNet,
// VGG-11-BN, GoogLeNet with aux heads, Inception v3 without, Xception, MobileNet v1 and v2,
// DenseNet-121, EfficientNet-B0.
std::vector<dsl::Model> reduced_zoo_models();

}  // namespace strata::testing
