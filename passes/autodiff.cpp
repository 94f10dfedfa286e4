#include "passes/autodiff.h"

#include <fmt/format.h>

#include <set>

#include "ir/error.h"
#include "ir/op_registry.h"

namespace strata::passes {

const std::map<std::string, GradEntry>& gradient_table() {
  static const std::map<std::string, GradEntry> t = [] {
    std::map<std::string, GradEntry> m;
    register_nn_gradients(m);
    register_tensor_gradients(m);
    return m;
  }();
  return t;
}

ir::Value* GradContext::op(const std::string& o, std::vector<ir::Value*> inputs, ir::AttrMap attrs, const std::string& what) {
  return g.add_node(o, std::move(inputs), std::move(attrs), fmt::format("{}.grad/{}", node.name(), what))->outputs[0];
}

ir::Value* GradContext::scalar(float v, const std::string& what) {
  return g.add_constant(g.unique_name(fmt::format("{}.grad/{}", node.name(), what)),
                        HostTensor({1}, std::vector<float>{v}));
}

ir::Value* GradContext::unbroadcast(ir::Value* d, const Shape& shape, const std::string& what) {
  const Shape& ds = d->type.shape;
  if (ds == shape) return d;
  std::vector<int64_t> axes;
  size_t lead = ds.size() - shape.size();
  for (size_t k = 0; k < ds.size(); ++k)
    if (k < lead || (shape[k - lead] == 1 && ds[k] != 1)) axes.push_back(static_cast<int64_t>(k));
  ir::Value* r = axes.empty() ? d : op("reduce_sum", {d}, {{"axes", axes}, {"keepdims", int64_t{0}}}, what + "_sum");
  if (r->type.shape == shape) return r;
  return op("reshape", {r}, {{"shape", shape}}, what);
}

std::map<ir::Value*, ir::Value*> append_gradients(ir::Graph& g, ir::Value* loss, const std::vector<ir::Value*>& wrt) {
  if (loss->type.shape != Shape{1})
    throw Error(fmt::format("autodiff: the loss '{}' must be f32[1], it is {}", loss->name, loss->type.str()));
  // Forward: values that depend on a wrt value. Backward: values the loss depends on.
  std::set<const ir::Value*> depends(wrt.begin(), wrt.end()), reaches{loss};
  std::vector<ir::Node*> order;
  for (const auto& n : g.nodes()) order.push_back(n.get());
  for (ir::Node* n : order)
    for (ir::Value* v : n->inputs)
      if (depends.count(v)) depends.insert(n->outputs[0]);
  for (auto it = order.rbegin(); it != order.rend(); ++it)
    if (reaches.count((*it)->outputs[0]))
      for (ir::Value* v : (*it)->inputs) reaches.insert(v);

  // Gradient contributions per value, summed when a value has several users.
  std::map<const ir::Value*, std::vector<ir::Value*>> partial;
  partial[loss].push_back(g.add_constant(g.unique_name("loss.grad/seed"), HostTensor({1}, std::vector<float>{1.f})));
  auto total = [&](const ir::Value* v) -> ir::Value* {
    auto it = partial.find(v);
    if (it == partial.end() || it->second.empty()) return nullptr;
    auto& parts = it->second;
    while (parts.size() > 1) {  // pairwise, in a fixed order: deterministic sums
      ir::Value* s = g.add_node("add", {parts[0], parts[1]}, {}, fmt::format("{}.grad/sum", v->name))->outputs[0];
      parts.erase(parts.begin(), parts.begin() + 2);
      parts.push_back(s);
    }
    return parts[0];
  };
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    ir::Node* n = *it;
    if (!depends.count(n->outputs[0]) || !reaches.count(n->outputs[0])) continue;
    ir::Value* dy = total(n->outputs[0]);
    if (!dy) continue;
    auto entry = gradient_table().find(n->op);
    if (entry == gradient_table().end() || !entry->second.rule)
      throw Error(fmt::format("autodiff: node '{}' ({}) lies between the parameters and the loss but is not "
                              "differentiable{}",
                              n->name(), n->op,
                              entry == gradient_table().end() ? "" : ": " + entry->second.not_differentiable));
    GradContext ctx{g, *n, dy, {}};
    for (ir::Value* v : n->inputs) ctx.needs.push_back(depends.count(v) > 0);
    std::vector<ir::Value*> dx = entry->second.rule(ctx);
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      if (!ctx.needs[i] || i >= dx.size() || !dx[i]) continue;
      if (dx[i]->type.shape != n->inputs[i]->type.shape)
        throw Error(fmt::format("autodiff: the gradient rule of {} gave {} for input {} of node '{}' ({})", n->op,
                                dx[i]->type.str(), i, n->name(), n->inputs[i]->type.str()));
      partial[n->inputs[i]].push_back(dx[i]);
    }
  }
  std::map<ir::Value*, ir::Value*> result;
  for (ir::Value* v : wrt) {
    ir::Value* d = total(v);
    if (!d) d = g.add_constant(g.unique_name(v->name + ".grad/zero"), HostTensor(v->type.shape));
    result[v] = d;
  }
  return result;
}

}  // namespace strata::passes
