// Folding passes: batch norm into the convolution or linear layer before it (inference),
// explicit zero padding into the convolution that reads it.
#include <fmt/format.h>

#include <set>

#include "ir/fusion_group.h"
#include "ir/op_registry.h"
#include "passes/pass_manager.h"
#include "passes/rewriter.h"

namespace strata::passes {

// y = BN(conv(x, w, b)) = conv(x, w * s, (b - mean) * s + beta) with s = gamma / sqrt(var + eps)
// per output channel. The folded weight and bias are computed from the parameters by two
// nodes that read only parameters: the runtime evaluates such nodes once per parameter
// change, not per inference, and the parameter names (and weight files) stay as they were.
ir::Graph fold_batch_norm(const ir::Graph& g, const PassContext&) {
  std::set<const ir::Node*> folded_into;  // producers whose batch norm is folded
  for (const auto& n : g.nodes()) {
    if (n->op != "batch_norm" || n->attr_int("training")) continue;
    const ir::Node* p = n->inputs[0]->producer;
    if (!p || (p->op != "conv2d" && p->op != "linear") || !single_use(g, n->inputs[0])) continue;
    if (ir::group_of(*p) >= 0 || ir::group_of(*n) >= 0) continue;  // already fused
    folded_into.insert(p);
  }
  Rewriter rw(g);
  for (const auto& n : g.nodes()) {
    if (folded_into.count(n.get())) continue;  // emitted with its batch norm below
    const ir::Node* p = n->op == "batch_norm" ? n->inputs[0]->producer : nullptr;
    if (!p || !folded_into.count(p)) {
      rw.copy(*n);
      continue;
    }
    ir::AttrMap eps{{"eps", n->attr_float("eps")}};
    ir::Graph& out = rw.graph();
    ir::Value* w = out.add_node("batch_norm_fold_weight", {rw(p->inputs[1]), rw(n->inputs[1]), rw(n->inputs[4])}, eps,
                                p->name() + ".weight_folded")->outputs[0];
    std::vector<ir::Value*> bias_in{rw(n->inputs[1]), rw(n->inputs[2]), rw(n->inputs[3]), rw(n->inputs[4])};
    if (p->inputs.size() > 2) bias_in.push_back(rw(p->inputs[2]));
    ir::Value* b = out.add_node("batch_norm_fold_bias", bias_in, eps, p->name() + ".bias_folded")->outputs[0];
    ir::Node* conv = out.add_node(p->op, {rw(p->inputs[0]), w, b}, p->attrs, p->name());
    rw.replace(p->outputs[0], conv->outputs[0]);
    rw.replace(n->outputs[0], conv->outputs[0]);
  }
  return rw.finish();
}

// pad(x, zeros on H and W only) read only by convolutions (as their input): each
// convolution pads instead, reading x, and the padded copy is never made.
ir::Graph fold_pad(const ir::Graph& g, const PassContext&) {
  std::set<const ir::Node*> pads;
  for (const auto& n : g.nodes()) {
    if (n->op != "pad" || n->attr_string("mode") != "constant" || n->attr_float("value") != 0.0) continue;
    const auto& p = n->attr_ints("pads");
    if (p.size() != 8 || p[0] || p[1] || p[4] || p[5]) continue;
    bool ok = p[2] >= 0 && p[3] >= 0 && p[6] >= 0 && p[7] >= 0 && !n->outputs[0]->users.empty();
    for (const ir::Node* u : n->outputs[0]->users)
      ok = ok && u->op == "conv2d" && u->inputs[0] == n->outputs[0] && u->inputs[1] != n->outputs[0] &&
           u->attr_string("auto_pad") == "explicit";
    for (auto& [name, o] : g.outputs()) ok = ok && o != n->outputs[0];
    if (ok) pads.insert(n.get());
  }
  Rewriter rw(g);
  for (const auto& n : g.nodes()) {
    if (pads.count(n.get())) continue;
    const ir::Node* p = n->op == "conv2d" ? n->inputs[0]->producer : nullptr;
    if (!p || !pads.count(p)) {
      rw.copy(*n);
      continue;
    }
    auto cp = ir::conv_padding(*n);
    const auto& pp = p->attr_ints("pads");  // {n0, c0, h0, w0, n1, c1, h1, w1}
    ir::AttrMap attrs = n->attrs;
    attrs["padding"] = std::vector<int64_t>{cp[0] + pp[2], cp[1] + pp[3], cp[2] + pp[6], cp[3] + pp[7]};
    std::vector<ir::Value*> ins{rw(p->inputs[0])};
    for (size_t i = 1; i < n->inputs.size(); ++i) ins.push_back(rw(n->inputs[i]));
    rw.emit_for(*n, "conv2d", ins, attrs);
  }
  return rw.finish();
}

}  // namespace strata::passes
