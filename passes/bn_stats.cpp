// fuse-bn-stats: a training step reads one batch norm's batch statistics in up to five
// kernels (forward, the running mean and variance updates, both gradients), and the input
// gradient also recomputes the two per-channel sums that are the weight and bias gradients.
// This pass computes the statistics once per tensor (a batch_norm_stats node every kernel
// reads) and hands the input gradient the weight and bias gradients' nodes: XLA's
// multi-output fusion of sibling reductions, done as sharing in the graph. The weight and
// bias gradients themselves, two reductions over the same dy, become one pass: the rows of
// a [2, C] batch_norm_backward_weight {with_bias = 1} (ResNet-50's training step at batch 8:
// 49 reduce_sum kernels, 15.8 ms, gone; the combined kernels take what the weight
// gradients alone took, 43.5 ms; the slices and reshapes 0.5 ms).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "ir/fusion_group.h"
#include "passes/pass_manager.h"
#include "passes/rewriter.h"

namespace strata::passes {

using Ints = std::vector<int64_t>;

namespace {

// Which input a node would read batch statistics from, or -1 when it computes none
// (eval form) or already has them.
int stats_input(const ir::Node& n) {
  int at = -1;
  if (n.op == "batch_norm_running_stats") at = 2;
  if (n.op == "batch_norm" && n.attr_int("training")) at = 5;
  if (n.op == "batch_norm_backward_input" && n.attr_int("training")) at = 5;
  if (n.op == "batch_norm_backward_weight" && n.attr_int("training")) at = 4;
  return at == static_cast<int>(n.inputs.size()) ? at : -1;
}

// Is n the bias gradient of a batch norm whose grad_output is dy: the sum of dy over every
// axis but the channels?
bool is_channel_sum_of(const ir::Node& n, const ir::Value* dy) {
  if (n.op != "reduce_sum" || n.inputs[0] != dy || n.attr_int("keepdims")) return false;
  int rank = dy->type.rank();
  std::set<int> axes;
  for (int64_t a : n.attr_ints("axes")) axes.insert(static_cast<int>(a < 0 ? a + rank : a));
  std::set<int> want;
  for (int d = 0; d < rank; ++d)
    if (d != 1) want.insert(d);
  return axes == want;
}

struct Sums {
  const ir::Node* weight = nullptr;  // batch_norm_backward_weight (sum of dy * x_hat)
  const ir::Node* bias = nullptr;    // reduce_sum of dy
};

}  // namespace

ir::Graph fuse_bn_stats(const ir::Graph& g, const PassContext&) {
  std::map<const ir::Node*, size_t> position;
  for (const auto& n : g.nodes()) position[n.get()] = position.size();
  // Tensors whose statistics two or more kernels compute: those get a batch_norm_stats node.
  std::map<const ir::Value*, int> readers;
  for (const auto& n : g.nodes())
    if (stats_input(*n) >= 0 && ir::group_of(*n) < 0) ++readers[n->inputs[0]];
  // Input gradients that can take the weight and bias gradients as inputs: both exist (same
  // x, statistics, eps and dy) and nothing reads dx before the later of them (the input
  // gradient moves there).
  std::map<const ir::Node*, Sums> sums;
  for (const auto& n : g.nodes()) {
    if (n->op != "batch_norm_backward_input" || stats_input(*n) < 0 || readers[n->inputs[0]] < 2) continue;
    const ir::Value* dy = n->inputs[4];
    Sums s;
    for (const ir::Node* u : dy->users) {
      if (u->op == "batch_norm_backward_weight" && stats_input(*u) >= 0 && u->inputs[0] == n->inputs[0] &&
          u->inputs[1] == n->inputs[2] && u->inputs[2] == n->inputs[3] && u->attr_float("eps") == n->attr_float("eps"))
        s.weight = u;
      if (is_channel_sum_of(*u, dy) && ir::group_of(*u) < 0) s.bias = u;
    }
    if (!s.weight || !s.bias) continue;
    size_t ready = std::max(position[s.weight], position[s.bias]);
    bool read_early = false;
    for (const ir::Node* u : n->outputs[0]->users) read_early |= position[u] <= ready;
    if (!read_early) sums[n.get()] = s;
  }

  Rewriter rw(g);
  std::map<const ir::Value*, ir::Value*> stats;  // source x -> its batch_norm_stats output
  std::map<const ir::Node*, const ir::Node*> emit_after;  // the later sum node -> input gradient waiting for it
  for (const auto& [dx, s] : sums) emit_after[position[s.weight] > position[s.bias] ? s.weight : s.bias] = dx;
  auto with_stats = [&](const ir::Node& n) {
    const ir::Value* x = n.inputs[0];
    auto it = stats.find(x);
    if (it == stats.end()) {
      std::string name = x->name + ".batch_stats";
      it = stats.emplace(x, rw.graph().add_node("batch_norm_stats", {rw(x)}, {}, name)->outputs[0]).first;
    }
    std::vector<ir::Value*> in;
    for (const ir::Value* v : n.inputs) in.push_back(rw(v));
    in.push_back(it->second);
    return in;
  };
  // The weight and bias gradients an input gradient reads are sibling reductions over the
  // same dy: one batch_norm_backward_weight {with_bias = 1} computes both in one pass, and
  // each is a row of its [2, C] output, emitted where the first of the two was.
  std::map<const ir::Node*, const Sums*> sibling;
  for (const auto& [dx, s] : sums) sibling[s.weight] = sibling[s.bias] = &s;
  auto emit_both = [&](const Sums& s) {
    const ir::Node& w = *s.weight;
    ir::AttrMap a = w.attrs;
    a["with_bias"] = int64_t{1};
    int64_t C = w.outputs[0]->type.shape[0];
    ir::Value* both = rw.graph().add_node(w.op, with_stats(w), a, w.name() + "_and_bias")->outputs[0];
    auto row = [&](int64_t k, const ir::Node& of) {
      ir::Value* r = rw.graph().add_node("slice", {both}, {{"starts", Ints{k, 0}}, {"ends", Ints{k + 1, C}}},
                                         of.name() + ".row")->outputs[0];
      rw.replace(of.outputs[0], rw.graph().add_node("reshape", {r}, {{"shape", Ints{C}}}, of.name())->outputs[0]);
    };
    row(0, w);
    row(1, *s.bias);
  };
  for (const auto& up : g.nodes()) {
    const ir::Node& n = *up;
    if (auto sib = sibling.find(&n); sib != sibling.end()) {
      if (!rw.mapped(n.outputs[0])) emit_both(*sib->second);
    } else if (stats_input(n) < 0 || ir::group_of(n) >= 0 || readers[n.inputs[0]] < 2) {
      rw.copy(n);
    } else if (!sums.count(&n)) {
      rw.emit_for(n, n.op, with_stats(n), n.attrs);
    }
    auto w = emit_after.find(&n);
    if (w == emit_after.end()) continue;
    const ir::Node& dx = *w->second;
    std::vector<ir::Value*> in = with_stats(dx);
    in.push_back(rw(sums[&dx].weight->outputs[0]));
    in.push_back(rw(sums[&dx].bias->outputs[0]));
    rw.emit_for(dx, dx.op, in, dx.attrs);
  }
  return rw.finish();
}

// fuse-conv-bn-stats: batch norm's per-channel sums join the kernel of the convolution that
// makes the tensor they sum, as a sibling (ir/fusion_group.h), moved to just after it: each
// output tile is summed while it is still in registers, where a kernel of their own read
// the whole tensor back from memory. The kernel stores both outputs. Two kinds:
// - the batch statistics (batch_norm_stats) of a conv2d's output;
// - the scale and bias gradients (batch_norm_backward_weight {with_bias = 1}) of the dy a
//   conv2d_backward_input makes, with its epilogue (the ReLU's gradient, a residual add):
//   they also read x at the tile's positions.
// Input gradients only at stride 1 (a strided one's column phases have no tile to sum).
// Every convolution gains in the model, the 1x1s with few multiply-adds per output
// included: bench_conv's pair alone (warm caches) has the 1x1 64 -> 256 at 56x56 lose
// (3.86 -> 4.04 ms), but inside ResNet-50's step the separate pass it removes costs 1.3 ms;
// the step at batch 8 with a floor of 512 multiply-adds per output gained ~10 ms less.
ir::Graph fuse_conv_bn_stats(const ir::Graph& g, const PassContext&) {
  int next_group = 0;
  for (const auto& n : g.nodes()) next_group = std::max(next_group, ir::group_of(*n) + 1);
  std::map<const ir::Node*, size_t> position;
  for (const auto& n : g.nodes()) position[n.get()] = position.size();
  // Each group's anchor and last member.
  std::map<int, const ir::Node*> anchor_of, last_of;
  for (const auto& grp : ir::fusion_groups(g)) {
    anchor_of[ir::group_of(*grp[0])] = grp[ir::anchor_index(grp)];
    last_of[ir::group_of(*grp[0])] = grp.back();
  }
  std::map<const ir::Node*, const ir::Node*> sibling_of;  // producer (a group's last member or a lone node) -> sibling
  std::set<const ir::Node*> moved;
  for (const auto& n : g.nodes()) {
    int in = ir::sibling_input(*n);
    if (in < 0 || ir::is_pointwise_sibling_op(*n) || ir::group_of(*n) >= 0) continue;
    const ir::Node* p = n->inputs[in]->producer;
    if (!p || p->outputs.size() != 1 || sibling_of.count(p)) continue;
    int grp = ir::group_of(*p);
    const ir::Node* anchor = grp < 0 ? p : anchor_of.at(grp);
    if (grp >= 0 && last_of.at(grp) != p) continue;
    if (anchor->op != ir::sibling_anchor(*n) || anchor->attr_int("groups") != 1) continue;
    if (anchor->op == "conv2d_backward_input") {
      bool unit_stride = true;
      for (int64_t s : anchor->attr_ints("stride")) unit_stride &= s == 1;
      if (!unit_stride) continue;
    }
    // Its other inputs (x, the statistics) must exist where it moves to.
    bool ready = true;
    for (size_t i = 0; i < n->inputs.size(); ++i)
      if (static_cast<int>(i) != in && n->inputs[i]->producer) ready &= position[n->inputs[i]->producer] < position[p];
    if (!ready) continue;
    sibling_of[p] = n.get();
    moved.insert(n.get());
  }
  if (sibling_of.empty()) return ir::clone(g);
  Rewriter rw(g);
  for (const auto& up : g.nodes()) {
    const ir::Node& n = *up;
    if (moved.count(&n)) continue;  // emitted with the node it reads
    auto it = sibling_of.find(&n);
    if (it == sibling_of.end()) {
      rw.copy(n);
      continue;
    }
    int64_t id = ir::group_of(n) >= 0 ? ir::group_of(n) : next_group++;
    ir::AttrMap pa = n.attrs, sa = it->second->attrs;
    pa[ir::kGroupAttr] = id;
    sa[ir::kGroupAttr] = id;
    sa[ir::kSiblingAttr] = int64_t{1};
    rw.copy(n, pa);
    rw.copy(*it->second, sa);
  }
  return rw.finish();
}

}  // namespace strata::passes
