// Fusion passes: they mark fusion groups (ir/fusion_group.h) with the "_group" annotation
// and move each group's members next to each other; the Halide backend compiles a group
// as one kernel with the anchor's schedule and the epilogue computed per output tile.
// One engine grows groups; the passes differ in which anchors and members they accept.
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "ir/fusion_group.h"
#include "ir/op_registry.h"
#include "passes/pass_manager.h"
#include "passes/rewriter.h"

namespace strata::passes {

namespace {

using Members = std::vector<const ir::Node*>;
// May `n` join the group whose members so far are `group` (anchor first)?
using Accept = std::function<bool(const Members& group, const ir::Node& n)>;

bool is_activation(const ir::Node& n) { return ir::op_def(n.op).cls == ir::OpClass::Unary; }
bool is_conv_or_linear(const ir::Node& n) { return n.op == "conv2d" || n.op == "linear"; }
const ir::Node& anchor_of(const Members& g) { return *g[ir::anchor_index(g)]; }
bool has_op(const Members& g, const std::string& op) {
  return std::any_of(g.begin(), g.end(), [&](const ir::Node* m) { return m->op == op; });
}

ir::Graph grow_groups(const ir::Graph& g, const std::function<bool(const ir::Node&)>& anchor, const Accept& accept) {
  std::vector<const ir::Value*> graph_outputs;
  for (auto& [name, v] : g.outputs()) graph_outputs.push_back(v);
  auto leaves_only_to = [&](const ir::Value* v, const ir::Node& n) {
    return v->users.size() == 1 && v->users[0] == &n &&
           std::find(graph_outputs.begin(), graph_outputs.end(), v) == graph_outputs.end();
  };
  // Existing groups first (earlier passes), then grow: a group's tail is its last member.
  std::vector<Members> groups;
  std::map<const ir::Node*, int> group_of;
  for (const auto& grp : ir::fusion_groups(g)) {
    for (const ir::Node* m : grp) group_of[m] = static_cast<int>(groups.size());
    groups.push_back(grp);
  }
  for (const auto& up : g.nodes()) {
    const ir::Node& n = *up;
    if (group_of.count(&n) || !ir::is_elementwise(n) || n.outputs.size() != 1) continue;
    // Candidates: chainable inputs produced by a group's tail or an ungrouped anchor,
    // used by nothing else. The latest-produced wins (the other operand is stored anyway).
    const ir::Node* best = nullptr;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const ir::Value* v = n.inputs[i];
      const ir::Node* p = v->producer;
      if (!p || !ir::chainable_input(n, static_cast<int>(i)) || !leaves_only_to(v, n) || p->outputs.size() != 1) continue;
      auto it = group_of.find(p);
      if (it != group_of.end() ? groups[it->second].back() != p : !anchor(*p)) continue;
      Members so_far = it != group_of.end() ? groups[it->second] : Members{p};
      if (!accept(so_far, n)) continue;
      if (!best || best->id < p->id) best = p;
    }
    if (!best) continue;
    auto it = group_of.find(best);
    int id = it != group_of.end() ? it->second : static_cast<int>(groups.size());
    if (it == group_of.end()) {
      groups.push_back({best});
      group_of[best] = id;
    }
    groups[id].push_back(&n);
    group_of[&n] = id;
  }
  // Rebuild with each group emitted where its last member stood (all of the group's
  // outside inputs exist by then; its output's users come later), ids renumbered in order.
  std::map<const ir::Node*, int> last_of;
  for (size_t i = 0; i < groups.size(); ++i) last_of[groups[i].back()] = static_cast<int>(i);
  Rewriter rw(g);
  int next_id = 0;
  for (const auto& up : g.nodes()) {
    const ir::Node& n = *up;
    auto gi = group_of.find(&n);
    if (gi == group_of.end()) {
      rw.copy(n);
      continue;
    }
    auto li = last_of.find(&n);
    if (li == last_of.end()) continue;  // emitted with its group's last member
    const Members& members = groups[li->second];
    if (members.size() == 1) {  // a lone anchor is no group
      ir::AttrMap a = n.attrs;
      a.erase(ir::kGroupAttr);
      rw.copy(n, a);
      continue;
    }
    int id = next_id++;
    for (const ir::Node* m : members) {
      ir::AttrMap a = m->attrs;
      a[ir::kGroupAttr] = int64_t{id};
      rw.copy(*m, a);
    }
  }
  return rw.finish();
}

}  // namespace

// conv2d / linear, then an eval-form batch norm (when bn-fold did not remove it), then
// activations. Training-form batch norm needs the whole batch's statistics of the
// convolution's output, so it cannot run inside the convolution's tiles: not fused.
ir::Graph fuse_conv_bn_act(const ir::Graph& g, const PassContext&) {
  return grow_groups(g, is_conv_or_linear, [](const Members& grp, const ir::Node& n) {
    if (!is_conv_or_linear(anchor_of(grp))) return false;
    if (n.op == "batch_norm") return grp.back() == &anchor_of(grp);
    return is_activation(n) && std::all_of(grp.begin() + ir::anchor_index(grp) + 1, grp.end(), [](const ir::Node* m) {
             return m->op == "batch_norm" || is_activation(*m);
           });
  });
}

// add(shortcut, branch) where the branch comes from a convolution (bare or already with its
// batch norm and activation fused), and the activation after the add.
ir::Graph fold_residual_add(const ir::Graph& g, const PassContext&) {
  return grow_groups(g, is_conv_or_linear, [](const Members& grp, const ir::Node& n) {
    if (!is_conv_or_linear(anchor_of(grp))) return false;
    if (n.op == "add") return !has_op(grp, "add");
    return is_activation(n) && grp.back()->op == "add";
  });
}

// A convolution's input x made by an elementwise op read by nothing else (squeeze-and-
// excitation's x * scale, with the scale broadcast over H and W) becomes the group's
// prologue: computed inside the convolution's loads instead of stored and read back.
static ir::Graph attach_prologues(const ir::Graph& g) {
  std::map<const ir::Node*, const ir::Node*> prologue_of;  // anchor -> prologue
  std::set<const ir::Node*> prologues;
  int next_group = 0;
  for (const auto& n : g.nodes()) next_group = std::max(next_group, ir::group_of(*n) + 1);
  for (const auto& grp : ir::fusion_groups(g))
    for (const ir::Node* m : grp)
      if (ir::is_prologue(*m)) prologues.insert(m);
  const auto& nodes = g.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const ir::Node& n = *nodes[i];
    if (n.op != "conv2d") continue;
    int grp = ir::group_of(n);
    if (grp >= 0 && i > 0 && ir::group_of(*nodes[i - 1]) == grp) continue;  // in a group, but not its first: no anchor
    const ir::Value* x = n.inputs[0];
    const ir::Node* p = x->producer;
    if (!p || ir::group_of(*p) >= 0 || !ir::is_elementwise(*p) || p->outputs.size() != 1 || x->users.size() != 1) continue;
    bool is_output = false;
    for (auto& [name, v] : g.outputs()) is_output |= v == x;
    if (is_output || n.inputs[1] == x) continue;
    prologue_of[&n] = p;
    prologues.insert(p);
  }
  if (prologue_of.empty()) return ir::clone(g);
  Rewriter rw(g);
  for (const auto& up : g.nodes()) {
    const ir::Node& n = *up;
    auto it = prologue_of.find(&n);
    if (it == prologue_of.end()) {
      if (!prologues.count(&n) || ir::is_prologue(n)) rw.copy(n);  // new prologues are emitted with their anchor
      continue;
    }
    int id = ir::group_of(n) >= 0 ? ir::group_of(n) : next_group++;
    ir::AttrMap pa = it->second->attrs;
    pa[ir::kGroupAttr] = int64_t{id};
    pa[ir::kPrologueAttr] = int64_t{1};
    rw.copy(*it->second, pa);
    ir::AttrMap na = n.attrs;
    na[ir::kGroupAttr] = int64_t{id};
    rw.copy(n, na);
  }
  return rw.finish();
}

// A copy of `n` (its attributes but the annotations, then `annotations`) reading `inputs`,
// its output named "<n's>.for_<reader>": a value recomputed for one reader.
static ir::Value* recompute(Rewriter& rw, const ir::Node& n, std::vector<ir::Value*> inputs, const std::string& reader,
                            const ir::AttrMap& annotations) {
  ir::AttrMap attrs;
  for (auto& [name, a] : n.attrs)
    if (!ir::is_annotation(name)) attrs[name] = a;
  for (auto& [name, a] : annotations) attrs[name] = a;
  std::string name = rw.graph().unique_name(n.outputs[0]->name + ".for_" + reader);
  return rw.graph().add_node_typed(n.op, std::move(inputs), attrs, {{name, n.outputs[0]->type}})->outputs[0];
}

// ReLU's gradient in a kernel (an input gradient's epilogue) reads the ReLU's output
// a = relu(bn(y)) for its sign alone. Where a training batch norm and its ReLU made a, the
// mask reads z = bn(y) instead, from a copy of the batch norm placed before the gradient's
// group, which attach_member_prologues then computes inside it (a > 0 exactly where z > 0):
// the kernel's batch-norm weight-gradient sibling reads y at the same positions anyway, so
// the kernel no longer reads a.
static ir::Graph recompute_relu_masks(const ir::Graph& g) {
  std::map<int, std::vector<const ir::Node*>> groups;
  for (const auto& grp : ir::fusion_groups(g)) groups[ir::group_of(*grp[0])] = grp;
  std::map<const ir::Node*, const ir::Node*> bn_of;     // ReLU gradient -> the batch norm it recomputes
  std::map<const ir::Node*, const ir::Node*> before;    // a group's first member -> that ReLU gradient
  for (const auto& up : g.nodes()) {
    const ir::Node& n = *up;
    int id = ir::group_of(n);
    if (n.op != "activation_grad" || n.attr_string("activation") != "relu" || id < 0) continue;
    const auto& mine = groups.at(id);
    if (mine[0] == &n || ir::is_prologue(*mine[0]) || before.count(mine[0])) continue;  // (one prologue a group)
    size_t k = std::find(mine.begin(), mine.end(), &n) - mine.begin();
    if (ir::chained_input(mine, k) != 1) continue;  // (dy chained, the ReLU's output from outside)
    const ir::Node* relu = n.inputs[0]->producer;
    if (!relu || relu->op != "relu" || ir::group_of(*relu) < 0) continue;
    const auto& theirs = groups.at(ir::group_of(*relu));
    if (theirs.size() != 2 || theirs[1] != relu || theirs[0]->op != "batch_norm" || !ir::prologue_fits(*theirs[0]))
      continue;
    bn_of[&n] = theirs[0];
    before[mine[0]] = &n;
  }
  if (bn_of.empty()) return ir::clone(g);
  Rewriter rw(g);
  std::map<const ir::Node*, ir::Value*> z_of;  // ReLU gradient -> its recomputed z
  for (const auto& up : g.nodes()) {
    const ir::Node& n = *up;
    if (auto b = before.find(&n); b != before.end()) {
      const ir::Node& bn = *bn_of.at(b->second);
      std::vector<ir::Value*> ins;
      for (const ir::Value* v : bn.inputs) ins.push_back(rw(v));
      z_of[b->second] = recompute(rw, bn, ins, "relu_grad", {});
    }
    auto z = z_of.find(&n);
    if (z == z_of.end()) {
      rw.copy(n);
      continue;
    }
    std::vector<ir::Value*> ins{z->second};
    for (size_t i = 1; i < n.inputs.size(); ++i) ins.push_back(rw(n.inputs[i]));
    ir::Node* m = rw.graph().add_node_typed(n.op, ins, n.attrs, {{n.outputs[0]->name, n.outputs[0]->type}});
    rw.replace(n.outputs[0], m->outputs[0]);
  }
  return rw.finish();
}

// recompute-bn-act (opt-in: `--enable-pass=recompute-bn-act`; after fuse-elementwise). A
// training batch norm and its activation, a = act(bn(y)), in a kernel of their own (the
// statistics of y need the whole batch first, so they cannot be the convolution's epilogue)
// whose output only convolutions read as their input x, forward and weight gradient (the
// ReLU's gradient reads bn(y), recompute_relu_masks): each reader gets its own copy of the
// two as its group's prologue chain, computed inside its copy of x (the zero-padded input,
// the weight gradient's packed x, a Winograd convolution's image) or per task, and a is
// never stored: in-place activated batch norm's trade (Rota Bulo et al., 2018), memory for
// arithmetic. ResNet-50's training step at batch 8 on the Zen 5 machine: activation memory
// 883.0 -> 782.7 MiB, 727 -> 695 kernels, but 632.4 -> 641.4 ms (eight alternating runs):
// there the 32 kernels it removes cost 5 ms in all (their tensors stay in the L3 cache) and
// the recomputation more, so -O2 leaves it out.
ir::Graph recompute_bn_act(const ir::Graph& g, const PassContext&) {
  std::vector<const ir::Value*> graph_outputs;
  for (auto& [name, v] : g.outputs()) graph_outputs.push_back(v);
  std::set<const ir::Node*> firsts;  // each group's first member
  for (const auto& grp : ir::fusion_groups(g)) firsts.insert(grp[0]);
  auto may_read = [&](const ir::Node& u, const ir::Value* a) {
    return ir::reads_prologue_as_x(u) && u.inputs[0] == a && std::count(u.inputs.begin(), u.inputs.end(), a) == 1 &&
           (ir::group_of(u) < 0 || (firsts.count(&u) && !ir::is_prologue(u)));
  };
  std::set<const ir::Node*> pairs;  // the batch norms and activations recomputed (and no longer emitted)
  std::map<const ir::Node*, std::pair<const ir::Node*, const ir::Node*>> chain_of;  // reader -> (bn, act)
  for (const auto& grp : ir::fusion_groups(g)) {
    if (grp.size() != 2 || grp[0]->op != "batch_norm" || !ir::prologue_fits(*grp[0]) || !is_activation(*grp[1]) ||
        grp[1]->inputs.size() != 1)
      continue;
    const ir::Value* a = grp[1]->outputs[0];
    if (a->users.empty() || std::count(graph_outputs.begin(), graph_outputs.end(), a)) continue;
    if (!std::all_of(a->users.begin(), a->users.end(), [&](const ir::Node* u) { return may_read(*u, a); })) continue;
    for (const ir::Node* u : a->users) chain_of[u] = {grp[0], grp[1]};
    pairs.insert(grp.begin(), grp.end());
  }
  if (chain_of.empty()) return ir::clone(g);
  int64_t next_group = 0;
  for (const auto& n : g.nodes()) next_group = std::max<int64_t>(next_group, ir::group_of(*n) + 1);
  Rewriter rw(g);
  for (const auto& up : g.nodes()) {
    const ir::Node& n = *up;
    if (pairs.count(&n)) continue;
    auto it = chain_of.find(&n);
    if (it == chain_of.end()) {
      rw.copy(n);
      continue;
    }
    int64_t id = ir::group_of(n) >= 0 ? ir::group_of(n) : next_group++;
    const ir::Value* a = n.inputs[0];
    ir::Value* v = nullptr;
    for (const ir::Node* p : {it->second.first, it->second.second}) {
      std::vector<ir::Value*> ins;
      for (const ir::Value* in : p->inputs) ins.push_back(v && in == p->inputs[0] ? v : rw(in));
      v = recompute(rw, *p, ins, n.name(), {{ir::kGroupAttr, id}, {ir::kPrologueAttr, int64_t{1}}});
    }
    rw.replace(a, v);
    ir::AttrMap na = n.attrs;
    na[ir::kGroupAttr] = id;
    rw.copy(n, na);
  }
  ir::Graph out = rw.finish();
  ir::renumber_groups(out);  // the pairs' groups are gone
  return out;
}

// An epilogue member's other input made by a pointwise node that nothing else reads (a
// downsample block's second batch norm, which the add after the first reads) becomes the
// group's prologue: computed where the member reads it instead of stored and read back.
static ir::Graph attach_member_prologues(const ir::Graph& g) {
  std::vector<const ir::Value*> graph_outputs;
  for (auto& [name, v] : g.outputs()) graph_outputs.push_back(v);
  std::map<const ir::Node*, const ir::Node*> prologue_of;  // a group's first member -> its new prologue
  std::set<const ir::Node*> prologues;
  for (const auto& grp : ir::fusion_groups(g)) {
    if (ir::is_prologue(*grp[0])) continue;
    for (size_t k = 1; k < grp.size() && !prologue_of.count(grp[0]); ++k) {
      const ir::Node& m = *grp[k];
      if (ir::is_sibling(m)) continue;
      int chained = ir::chained_input(grp, k);
      for (size_t i = 0; i < m.inputs.size(); ++i) {
        const ir::Value* v = m.inputs[i];
        const ir::Node* p = v->producer;
        if (static_cast<int>(i) == chained || !p || ir::group_of(*p) >= 0 || !ir::prologue_fits(*p) ||
            v->users.size() != 1 || prologues.count(p) ||
            std::find(graph_outputs.begin(), graph_outputs.end(), v) != graph_outputs.end())
          continue;
        prologue_of[grp[0]] = p;
        prologues.insert(p);
        break;
      }
    }
  }
  if (prologue_of.empty()) return ir::clone(g);
  Rewriter rw(g);
  for (const auto& up : g.nodes()) {
    const ir::Node& n = *up;
    if (prologues.count(&n)) continue;  // emitted first in its group
    if (auto it = prologue_of.find(&n); it != prologue_of.end()) {
      ir::AttrMap pa = it->second->attrs;
      pa[ir::kGroupAttr] = int64_t{ir::group_of(n)};
      pa[ir::kPrologueAttr] = int64_t{1};
      rw.copy(*it->second, pa);
    }
    rw.copy(n);
  }
  return rw.finish();
}

// Momentum SGD's parameter step p' = p - lr * b', emitted by fuse-optimizer right after the
// momentum update b' of the same parameter, joins b's kernel as a pointwise sibling (ir/
// fusion_group.h): b' and p' are written from the same loops, where the step was a pass of
// its own reading p and b' back (a weight gradient's group, or the momentum update alone).
static ir::Graph attach_update_siblings(const ir::Graph& g) {
  std::map<const ir::Node*, int64_t> join;  // step -> the group it joins
  int64_t next_group = 0;
  for (const auto& n : g.nodes()) next_group = std::max<int64_t>(next_group, ir::group_of(*n) + 1);
  std::map<const ir::Node*, const ir::Node*> anchor_of;  // a group's last member -> its anchor
  for (const auto& grp : ir::fusion_groups(g)) anchor_of[grp.back()] = grp[ir::anchor_index(grp)];
  const auto& nodes = g.nodes();
  for (size_t i = 1; i < nodes.size(); ++i) {
    const ir::Node &n = *nodes[i], &prev = *nodes[i - 1];
    if (ir::group_of(n) >= 0 || !ir::is_pointwise_sibling_op(n) || ir::is_sibling(prev)) continue;
    int grp = ir::group_of(prev);
    if (!ir::sibling_fits(grp >= 0 ? *anchor_of.at(&prev) : prev, prev, n)) continue;
    join[&n] = grp >= 0 ? grp : next_group++;
  }
  if (join.empty()) return ir::clone(g);
  std::map<const ir::Node*, int64_t> anchor_group;  // lone momentum updates that become a group
  for (auto& [step, id] : join)
    if (ir::group_of(*step->inputs[1]->producer) < 0) anchor_group[step->inputs[1]->producer] = id;
  Rewriter rw(g);
  for (const auto& up : g.nodes()) {
    const ir::Node& n = *up;
    ir::AttrMap a = n.attrs;
    if (auto it = join.find(&n); it != join.end()) {
      a[ir::kGroupAttr] = it->second;
      a[ir::kSiblingAttr] = int64_t{1};
    } else if (auto jt = anchor_group.find(&n); jt != anchor_group.end()) {
      a[ir::kGroupAttr] = jt->second;
    }
    rw.copy(n, a);
  }
  return rw.finish();
}

// Any producer followed by elementwise ops: the ops join its kernel; then prologues (of
// convolutions, then of epilogue members: ReLU masks recomputed from batch norms among
// them), and momentum SGD's parameter steps beside their momentum updates.
ir::Graph fuse_elementwise(const ir::Graph& g, const PassContext&) {
  auto anchor = [](const ir::Node& n) { return n.outputs.size() == 1 && n.op != "optimizer_update"; };
  ir::Graph grown = grow_groups(g, anchor, [](const Members&, const ir::Node&) { return true; });
  return attach_update_siblings(attach_member_prologues(recompute_relu_masks(attach_prologues(grown))));
}

}  // namespace strata::passes
