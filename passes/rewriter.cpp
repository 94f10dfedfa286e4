#include "passes/rewriter.h"

#include <fmt/format.h>

#include "ir/error.h"

namespace strata::passes {

bool single_use(const ir::Graph& g, const ir::Value* v) {
  if (v->users.size() != 1) return false;
  for (auto& [name, o] : g.outputs())
    if (o == v) return false;
  return true;
}

Rewriter::Rewriter(const ir::Graph& source) : src_(source), out_(source.name()) {
  for (const ir::Value* v : source.inputs()) map_[v] = out_.add_input(v->name, v->type);
  for (const ir::Value* v : source.parameters()) map_[v] = out_.add_parameter(v->name, v->type, v->init, v->trainable);
}

ir::Value* Rewriter::operator()(const ir::Value* v) {
  auto it = map_.find(v);
  if (it != map_.end()) return it->second;
  if (v->kind != ir::ValueKind::Constant)
    throw Error(fmt::format("pass rewriter: %{} is used before it was emitted", v->name));
  // Constants are copied at their first use, so the ones nothing uses any more disappear.
  ir::Value* c = out_.add_constant(v->name, HostTensor{});
  c->type = v->type;
  c->data = v->data;
  return map_[v] = c;
}

ir::Node* Rewriter::copy(const ir::Node& n) { return copy(n, n.attrs); }

ir::Node* Rewriter::copy(const ir::Node& n, ir::AttrMap attrs) {
  std::vector<ir::Value*> ins;
  for (const ir::Value* v : n.inputs) ins.push_back((*this)(v));
  std::vector<std::pair<std::string, TensorType>> outs;
  for (const ir::Value* v : n.outputs) outs.emplace_back(v->name, v->type);
  ir::Node* m = out_.add_node_typed(n.op, ins, std::move(attrs), outs);
  for (size_t i = 0; i < n.outputs.size(); ++i) map_[n.outputs[i]] = m->outputs[i];
  return m;
}

ir::Node* Rewriter::emit_for(const ir::Node& n, const std::string& op, std::vector<ir::Value*> inputs, ir::AttrMap attrs) {
  ir::Node* m = out_.add_node(op, std::move(inputs), std::move(attrs), n.name());
  map_[n.outputs[0]] = m->outputs[0];
  return m;
}

ir::Graph Rewriter::finish() {
  for (auto& [name, v] : src_.outputs()) out_.add_output(name, (*this)(v));
  return std::move(out_);
}

}  // namespace strata::passes
