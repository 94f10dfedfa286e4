#include "frontend/summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "frontend/model.h"
#include "ir/op_registry.h"

namespace strata::dsl {

static std::string with_commas(int64_t v) {
  std::string s = std::to_string(v), out;
  int n = 0;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    if (n && n % 3 == 0 && *it != '-') out.insert(out.begin(), ',');
    out.insert(out.begin(), *it);
    ++n;
  }
  return out;
}

ModelStats model_stats(const ir::Graph& g) {
  ModelStats s;
  for (const ir::Value* p : g.parameters()) (p->trainable ? s.trainable_params : s.non_trainable_params) += p->type.numel();
  for (const auto& n : g.nodes()) {
    const auto& def = ir::op_def(n->op);
    if (def.macs) s.macs += def.macs(*n);
  }
  return s;
}

std::string summary(const ir::Graph& g) {
  std::string out;
  // The op column fits the longest op (a training step's batch_norm_backward_input).
  size_t op_w = 16;
  for (const auto& n : g.nodes()) op_w = std::max(op_w, n->op.size());
  const std::string rule(100 + op_w - 16, '-'), thick(100 + op_w - 16, '=');
  auto row = [&](const std::string& layer, const std::string& op, const std::string& shape, const std::string& params,
                 const std::string& macs) {
    return fmt::format("{:<36} {:<{}} {:<22} {:>12} {:>12}\n", layer, op, op_w, shape, params, macs);
  };
  out += fmt::format("Model: {}\n{}\n", g.name(), rule);
  out += row("Layer", "Op", "Output shape", "Param #", "Mult-Adds");
  out += thick + "\n";
  for (const ir::Value* in : g.inputs()) out += row(in->name, "input", shape_str(in->type.shape), "0", "0");
  std::set<const ir::Value*> counted;
  for (const auto& n : g.nodes()) {
    int64_t params = 0;
    for (const ir::Value* v : n->inputs)
      if (v->kind == ir::ValueKind::Parameter && counted.insert(v).second) params += v->type.numel();
    const auto& def = ir::op_def(n->op);
    int64_t macs = def.macs ? def.macs(*n) : 0;
    std::string name = n->name();
    if (name.size() > 36) name = "..." + name.substr(name.size() - 33);
    out += row(name, n->op, shape_str(n->outputs[0]->type.shape), with_commas(params), with_commas(macs));
  }
  ModelStats s = model_stats(g);
  out += thick + "\n";
  out += fmt::format("Total params: {}\nTrainable params: {}\nNon-trainable params: {}\n",
                     with_commas(s.trainable_params + s.non_trainable_params), with_commas(s.trainable_params),
                     with_commas(s.non_trainable_params));
  out += fmt::format("Mult-Adds: {} ({:.2f} M)\n", with_commas(s.macs), s.macs / 1e6);
  int64_t act_bytes = 0, param_bytes = 0;
  for (const auto& n : g.nodes())
    for (const ir::Value* v : n->outputs) act_bytes += v->type.numel() * 4;
  for (const ir::Value* p : g.parameters()) param_bytes += p->type.numel() * 4;
  out += fmt::format("Activations (all kept, unplanned): {:.2f} MB; parameters: {:.2f} MB\n{}\n", act_bytes / 1048576.0,
                     param_bytes / 1048576.0, rule);
  return out;
}

std::string Model::summary() const { return dsl::summary(graph_); }

}  // namespace strata::dsl
