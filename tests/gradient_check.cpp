#include "tests/gradient_check.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <random>

#include "backends/reference/reference.h"
#include "passes/autodiff.h"
#include "tests/helpers.h"

namespace strata::testing {

// L = sum over outputs of sum(y * R_y), R_y fixed random weights.
static ir::Value* projected_loss(ir::Graph& g, uint64_t seed) {
  ir::Value* total = nullptr;
  auto outputs = g.outputs();
  for (auto& [name, y] : outputs) {
    ir::Value* r = g.add_constant(g.unique_name("R/" + name), random_tensor(y->type.shape, seed++, -1.f, 1.f));
    ir::Value* p = g.add_node("mul", {y, r}, {}, "L/" + name)->outputs[0];
    std::vector<int64_t> axes;
    for (int k = 0; k < y->type.rank(); ++k) axes.push_back(k);
    ir::Value* s = g.add_node("reduce_sum", {p}, {{"axes", axes}}, "L/" + name + ".sum")->outputs[0];
    total = total ? g.add_node("add", {total, s}, {}, "L/total")->outputs[0] : s;
  }
  return total;
}

ir::Graph gradient_graph(const ir::Graph& forward, bool inputs, uint64_t seed) {
  ir::Graph g = ir::clone(forward);
  ir::Value* loss = projected_loss(g, seed);
  std::vector<ir::Value*> wrt;
  if (inputs)
    for (ir::Value* v : g.inputs())
      if (v->name != "rng_seed") wrt.push_back(v);
  for (ir::Value* p : g.parameters())
    if (p->trainable) wrt.push_back(p);
  auto grads = passes::append_gradients(g, loss, wrt);
  g.add_output("L", loss);
  for (ir::Value* v : wrt) g.add_output("grad:" + v->name, grads.at(v));
  return g;
}

GradCheckResult check_gradients(const ir::Graph& forward, const GradCheckOptions& o) {
  ir::Graph g = gradient_graph(forward, o.inputs, o.seed + 500);
  ir::Graph loss_only = ir::clone(forward);
  projected_loss(loss_only, o.seed + 500);
  loss_only.add_output("L", loss_only.nodes().back()->outputs[0]);

  runtime::ParameterStore params = random_parameters(forward, o.seed);
  NamedTensors inputs = random_inputs(forward, o.seed + 1000, o.lo, o.hi);
  if (inputs.count("rng_seed")) inputs["rng_seed"] = HostTensor({1}, std::vector<float>{321.f});
  NamedTensors analytic = reference::run(g, inputs, params.tensors());

  auto loss_at = [&](const NamedTensors& in, const NamedTensors& p) {
    NamedTensors r = reference::run(loss_only, in, p);
    return double(r.at("L").data[0]);
  };
  NamedTensors p = params.tensors();
  GradCheckResult res;
  std::mt19937_64 rng(o.seed + 7);
  std::vector<std::string> names;
  for (auto& [name, grad] : analytic)
    if (name.starts_with("grad:") && inputs.count(name.substr(5))) names.push_back(name);
  std::vector<std::string> param_names;
  for (auto& [name, grad] : analytic)
    if (name.starts_with("grad:") && !inputs.count(name.substr(5))) param_names.push_back(name);
  size_t want = o.max_tensors > 0 ? static_cast<size_t>(o.max_tensors) : names.size() + param_names.size();
  size_t left = want > names.size() ? want - names.size() : 0;
  for (size_t k = 0; k < param_names.size() && left > 0; ++k)
    if (k % std::max<size_t>(1, param_names.size() / left) == 0 && names.size() < want) names.push_back(param_names[k]);
  for (const std::string& name : names) {
    const HostTensor& grad = analytic.at(name);
    std::string v = name.substr(5);
    bool is_input = inputs.count(v) > 0;
    NamedTensors& holder = is_input ? inputs : p;
    HostTensor& t = holder.at(v);
    for (int s = 0; s < o.samples && s < t.numel(); ++s) {
      int64_t i = t.numel() <= o.samples ? s : static_cast<int64_t>(rng() % t.numel());
      float saved = t.data[i];
      t.data[i] = saved + static_cast<float>(o.step);
      double up = loss_at(inputs, p);
      t.data[i] = saved - static_cast<float>(o.step);
      double down = loss_at(inputs, p);
      t.data[i] = saved;
      double numeric = (up - down) / (2 * o.step), a = grad.data[i];
      double bound = o.atol + o.rtol * std::max(std::fabs(a), std::fabs(numeric));
      INFO(fmt::format("graph {}: d L / d {}[{}]: autodiff {:.6g}, central difference {:.6g}", forward.name(), v, i, a,
                       numeric));
      CHECK(std::fabs(a - numeric) <= bound);
      res.worst = std::max(res.worst, std::fabs(a - numeric) / bound);
      ++res.checked;
    }
  }
  return res;
}

}  // namespace strata::testing
