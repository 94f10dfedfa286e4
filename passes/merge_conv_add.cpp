// merge-conv-add: the sum of two 1x1 convolutions is one 1x1 convolution over their
// inputs concatenated on the channel axis:
//   conv(a, Wa, ba) + conv(b, Wb, bb) = conv(concat(a, b), concat(Wa, Wb on Ci), ba + bb)
// ResNet's bottleneck with a projection shortcut ends in exactly that sum (the block's last
// 1x1 and the downsample, each with its batch norm folded). Merged, one kernel computes it
// with one longer reduction: neither product is stored and read back, and fold-concat lets
// the 3x3 before it write straight into the concatenation. A strided 1x1 reads every s-th
// position, so its input is subsampled first (max_pool2d with a 1x1 window and stride s:
// a copy, a quarter of the input at stride 2) to bring both to the output's resolution.
// Only where both weights (and biases) are static: their concatenation then runs once per
// parameter change, as bn-fold's folded weights do.
#include <fmt/format.h>

#include <map>

#include "ir/error.h"
#include "ir/fusion_group.h"
#include "ir/op_registry.h"
#include "passes/memory_plan.h"
#include "passes/pass_manager.h"
#include "passes/rewriter.h"

namespace strata::passes {

namespace {

// A 1x1, unpadded, undilated, ungrouped conv2d with static weight and bias, not yet fused,
// whose output is read by `add` alone.
bool mergeable(const ir::Graph& g, const ir::Value* v, const ir::Node& add) {
  const ir::Node* c = v->producer;
  if (!c || c->op != "conv2d" || ir::group_of(*c) >= 0 || !single_use(g, v) || v->users[0] != &add) return false;
  const Shape& w = c->inputs[1]->type.shape;
  if (w.size() != 4 || w[2] != 1 || w[3] != 1 || c->attr_int("groups") != 1) return false;
  if (c->attr_ints("dilation") != std::vector<int64_t>{1, 1}) return false;
  if (ir::conv_padding(*c) != std::array<int64_t, 4>{0, 0, 0, 0}) return false;
  for (size_t i = 1; i < c->inputs.size(); ++i)
    if (!is_static(c->inputs[i])) return false;
  return true;
}

}  // namespace

ir::Graph merge_conv_add(const ir::Graph& g, const PassContext&) {
  std::map<const ir::Node*, std::pair<const ir::Node*, const ir::Node*>> merged;  // add -> its two convs
  for (const auto& n : g.nodes()) {
    if (n->op != "add" || ir::group_of(*n) >= 0 || n->inputs.size() != 2 || n->inputs[0] == n->inputs[1]) continue;
    const ir::Value* y = n->outputs[0];
    if (n->inputs[0]->type != y->type || n->inputs[1]->type != y->type) continue;  // no broadcasting
    if (mergeable(g, n->inputs[0], *n) && mergeable(g, n->inputs[1], *n))
      merged[n.get()] = {n->inputs[0]->producer, n->inputs[1]->producer};
  }
  std::map<const ir::Node*, const ir::Node*> conv_to_add;
  for (auto& [add, convs] : merged) conv_to_add[convs.first] = conv_to_add[convs.second] = add;

  Rewriter rw(g);
  ir::Graph& out = rw.graph();
  for (const auto& n : g.nodes()) {
    if (conv_to_add.count(n.get())) continue;  // emitted as part of the merged convolution
    auto it = merged.find(n.get());
    if (it == merged.end()) {
      rw.copy(*n);
      continue;
    }
    const ir::Node& add = *n;
    const Shape& y = add.outputs[0]->type.shape;
    std::vector<ir::Value*> xs, ws, bs;
    for (const ir::Node* c : {it->second.first, it->second.second}) {
      ir::Value* x = rw(c->inputs[0]);
      auto stride = c->attr_ints("stride");
      if (stride != std::vector<int64_t>{1, 1}) {  // every s-th position, as the strided conv read them
        ir::AttrMap pool{{"kernel_size", std::vector<int64_t>{1, 1}}, {"stride", stride}};
        x = out.add_node("max_pool2d", {x}, pool, c->name() + ".subsample")->outputs[0];
      }
      xs.push_back(x);
      ws.push_back(rw(c->inputs[1]));
      if (c->inputs.size() > 2) bs.push_back(rw(c->inputs[2]));
    }
    ir::Value* x = out.add_node("concat", xs, {{"axis", int64_t{1}}}, add.name() + ".merged_input")->outputs[0];
    ir::Value* w = out.add_node("concat", ws, {{"axis", int64_t{1}}}, add.name() + ".merged_weight")->outputs[0];
    std::vector<ir::Value*> ins{x, w};
    if (bs.size() == 2) ins.push_back(out.add_node("add", bs, {}, add.name() + ".merged_bias")->outputs[0]);
    if (bs.size() == 1) ins.push_back(bs[0]);
    ir::Node* conv = rw.emit_for(add, "conv2d", ins, {});
    if (conv->outputs[0]->type.shape != y)
      throw Error(fmt::format("merge-conv-add: merging into %{} gave {} for {}", add.name(),
                              conv->outputs[0]->type.str(), add.outputs[0]->type.str()));
  }
  return rw.finish();
}

}  // namespace strata::passes
