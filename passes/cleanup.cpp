// Cleanup passes: shape inference, simplification, constant folding, common-subexpression
// and dead-code elimination. Each rebuilds the graph; annotations on kept nodes survive.
#include <fmt/format.h>

#include <map>
#include <set>

#include "ir/error.h"
#include "ir/op_registry.h"
#include "passes/pass_manager.h"
#include "passes/rewriter.h"

namespace strata::passes {

ir::Graph shape_infer(const ir::Graph& g, const PassContext&) {
  ir::Graph out = ir::clone(g);
  out.reinfer_shapes();
  return out;
}

// A node computing its input unchanged: inference-form dropout, the identity activation.
static bool is_identity(const ir::Node& n) {
  return (n.op == "dropout" && n.attr_int("training") == 0) || n.op == "identity";
}

ir::Graph simplify(const ir::Graph& g, const PassContext&) {
  Rewriter rw(g);
  for (const auto& n : g.nodes()) {
    if (is_identity(*n)) rw.replace(n->outputs[0], rw(n->inputs[0]));
    else rw.copy(*n);
  }
  return rw.finish();
}

ir::Graph constant_fold(const ir::Graph& g, const PassContext& ctx) {
  Rewriter rw(g);
  for (const auto& n : g.nodes()) {
    bool constant = ctx.evaluate && n->outputs.size() == 1 && !n->inputs.empty();
    std::vector<const HostTensor*> values;
    for (const ir::Value* v : n->inputs) {
      const ir::Value* now = rw(v);
      constant = constant && now->kind == ir::ValueKind::Constant;
      if (constant) values.push_back(now->data.get());
    }
    // Training-form ops draw random masks or batch statistics per run: never folded.
    constant = constant && !(n->attrs.count("training") && n->attr_int("training"));
    if (!constant) {
      rw.copy(*n);
      continue;
    }
    HostTensor result = ctx.evaluate(*n, values);
    rw.replace(n->outputs[0], rw.graph().add_constant(rw.graph().unique_name(n->name()), std::move(result)));
  }
  return rw.finish();
}

ir::Graph eliminate_common_subexpressions(const ir::Graph& g, const PassContext&) {
  Rewriter rw(g);
  std::map<std::string, const ir::Node*> seen;  // (op, attributes, new inputs) -> the node kept
  for (const auto& n : g.nodes()) {
    std::string key = n->op + "|";
    for (auto& [name, a] : n->attrs)
      if (!ir::is_annotation(name)) key += name + "=" + ir::attr_str(a) + ";";
    for (const ir::Value* v : n->inputs) key += fmt::format("|{}", static_cast<const void*>(rw(v)));
    if (auto it = seen.find(key); it != seen.end() && n->outputs.size() == it->second->outputs.size()) {
      for (size_t i = 0; i < n->outputs.size(); ++i) rw.replace(n->outputs[i], rw(it->second->outputs[i]));
      continue;
    }
    rw.copy(*n);
    seen[key] = n.get();
  }
  return rw.finish();
}

ir::Graph eliminate_dead_code(const ir::Graph& g, const PassContext&) {
  std::set<const ir::Value*> live;
  for (auto& [name, v] : g.outputs()) live.insert(v);
  std::set<const ir::Node*> keep;
  for (auto it = g.nodes().rbegin(); it != g.nodes().rend(); ++it) {
    const ir::Node& n = **it;
    bool used = false;
    for (const ir::Value* v : n.outputs) used |= live.count(v) > 0;
    if (!used) continue;
    keep.insert(&n);
    for (const ir::Value* v : n.inputs) live.insert(v);
  }
  Rewriter rw(g);  // constants nothing uses any more are not copied
  for (const auto& n : g.nodes())
    if (keep.count(n.get())) rw.copy(*n);
  return rw.finish();
}

}  // namespace strata::passes
