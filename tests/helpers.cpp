#include "tests/helpers.h"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "backends/reference/reference.h"
#include "frontend/zoo/zoo.h"
#include "passes/pass_manager.h"

namespace strata::testing {

HostTensor random_tensor(const Shape& s, uint64_t seed, float lo, float hi) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  HostTensor t(s);
  for (auto& v : t.data) v = d(g);
  return t;
}

ir::Graph optimized(const ir::Graph& g, const std::string& pipeline, const std::set<std::string>& enable) {
  passes::PipelineOptions o;
  o.pipeline = pipeline;
  o.enabled = enable;
  o.verify_each = true;
  return passes::run_pipeline(g, o, reference::pass_context());
}

runtime::ParameterStore random_parameters(const ir::Graph& g, uint64_t seed) {
  runtime::ParameterStore p;
  uint64_t k = seed;
  for (const ir::Value* v : g.parameters()) {
    const Shape& s = v->type.shape;
    if (v->name.ends_with("running_var")) {
      p.set(v->name, random_tensor(s, ++k, 0.5f, 1.5f));
      continue;
    }
    int64_t fan_in = 1;
    for (size_t i = 1; i < s.size(); ++i) fan_in *= s[i];
    float scale = s.size() >= 2 ? 1.f / std::sqrt(static_cast<float>(fan_in)) : 1.f;
    p.set(v->name, random_tensor(s, ++k, -scale, scale));
  }
  return p;
}

NamedTensors random_inputs(const ir::Graph& g, uint64_t seed, float lo, float hi) {
  NamedTensors in;
  for (const ir::Value* v : g.inputs()) in[v->name] = random_tensor(v->type.shape, seed++, lo, hi);
  return in;
}

void check_follows_parameters(runtime::Executable& exe, runtime::Executable& ref, const ir::Graph& g,
                              const NamedTensors& inputs, const std::string& name) {
  for (uint64_t seed : {1, 2}) {
    auto p = random_parameters(g, seed);
    exe.set_parameters(p);
    ref.set_parameters(p);
    for (int repeat = 0; repeat < 2; ++repeat) {
      auto r = compare(exe.run(inputs).at(name), ref.run(inputs).at(name), 1e-4, 1e-5);
      INFO("seed " << seed << ", run " << repeat << ": " << r.detail);
      CHECK(r.ok);
    }
  }
}

Mismatch compare(const HostTensor& got, const HostTensor& want, double rtol, double atol) {
  if (got.shape != want.shape) return {false, fmt::format("shape {} vs {}", shape_str(got.shape), shape_str(want.shape))};
  for (size_t i = 0; i < got.data.size(); ++i) {
    double a = got.data[i], b = want.data[i];
    if (!(std::fabs(a - b) <= atol + rtol * std::fabs(b)))
      return {false, fmt::format("element {} of {}: got {} want {} (|diff| {:.3g})", i, shape_str(want.shape), a, b,
                                 std::fabs(a - b))};
  }
  return {};
}

BothBackends run_both(const ir::Graph& g, const NamedTensors& inputs, const runtime::ParameterStore& params,
                      const std::string& target, const std::string& schedule, const std::set<std::string>& enable) {
  runtime::CompileOptions ro;
  ro.backend = runtime::Backend::Reference;
  ro.passes.pipeline = "-O0";  // the oracle runs the graph as written; Halide runs it fused (-O2)
  runtime::Executable ref(g, ro);
  ref.set_parameters(params);
  runtime::CompileOptions ho;
  ho.halide.target = target;
  ho.halide.schedule = schedule;
  ho.passes.enabled = enable;
  runtime::Executable hal(g, ho);
  hal.set_parameters(params);
  return {ref.run(inputs), hal.run(inputs)};
}

double check_against_reference(const ir::Graph& g, const std::string& target, uint64_t seed, float lo, float hi,
                               const std::string& schedule, double rtol, double atol, const std::set<std::string>& enable) {
  auto [want, got] =
      run_both(g, random_inputs(g, seed + 1000, lo, hi), random_parameters(g, seed), target, schedule, enable);
  double worst = 0;
  for (auto& [name, w] : want) {
    Mismatch m = compare(got.at(name), w, rtol, atol);
    INFO("graph " << g.name() << ", output " << name << ", target " << target << ", schedule " << schedule << ": " << m.detail);
    CHECK(m.ok);
    for (size_t i = 0; i < w.data.size(); ++i) worst = std::max(worst, double(std::fabs(got.at(name).data[i] - w.data[i])));
  }
  return worst;
}

void check_same_on_reference(const ir::Graph& before, const ir::Graph& after, const NamedTensors& inputs,
                             uint64_t param_seed, double rtol, double atol) {
  auto store = random_parameters(before, param_seed);
  NamedTensors params;
  for (const ir::Value* v : before.parameters()) params[v->name] = store.at(v->name);
  NamedTensors want = reference::run(before, inputs, params), got = reference::run(after, inputs, params);
  for (auto& [name, w] : want) {
    Mismatch m = compare(got.at(name), w, rtol, atol);
    INFO("graph " << before.name() << ", output " << name << ": " << m.detail);
    CHECK(m.ok);
  }
}

std::vector<dsl::Model> reduced_zoo_models() {
  std::vector<dsl::Model> m;
  m.push_back(zoo::resnet(50, {.num_classes = 10, .height = 32, .width = 32, .width_multiplier = 0.125}));
  m.push_back(zoo::alexnet(true, {.num_classes = 10, .height = 67, .width = 67, .width_multiplier = 0.0625}));
  m.push_back(zoo::vgg(11, true, {.num_classes = 10, .height = 32, .width = 32, .width_multiplier = 0.0625}));
  m.push_back(zoo::googlenet(true, {.num_classes = 10, .height = 96, .width = 96, .width_multiplier = 0.0625}));
  m.push_back(zoo::inception_v3(false, {.num_classes = 10, .height = 107, .width = 107, .width_multiplier = 0.0625}));
  m.push_back(zoo::xception({.num_classes = 10, .height = 71, .width = 71, .width_multiplier = 0.125}));
  m.push_back(zoo::mobilenet_v1(0.25, 1.0, {.num_classes = 10, .height = 64, .width = 64}));
  m.push_back(zoo::mobilenet_v2({.num_classes = 10, .height = 64, .width = 64, .width_multiplier = 0.25}));
  m.push_back(zoo::densenet(121, {.num_classes = 10, .height = 64, .width = 64, .width_multiplier = 0.125}));
  m.push_back(zoo::efficientnet(0, {.num_classes = 10, .height = 64, .width = 64, .width_multiplier = 0.25}));
  return m;
}

}  // namespace strata::testing
