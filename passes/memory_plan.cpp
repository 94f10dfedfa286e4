#include "passes/memory_plan.h"

#include <algorithm>
#include <set>

#include "ir/fusion_group.h"
#include "ir/op_registry.h"
#include "passes/pass_manager.h"
#include "passes/rewriter.h"

namespace strata::passes {

bool is_stored(const ir::Value* v) {
  if (v->kind != ir::ValueKind::NodeOutput) return false;
  int g = ir::group_of(*v->producer);
  if (g < 0) return true;
  // Inside a group only the last member's output is stored: it is read outside the group
  // or is a graph output, or it has no reader in the group (no member follows it).
  // A sibling (batch_norm_stats) reads it inside the group, and it is stored all the same.
  for (const ir::Node* u : v->users)
    if (ir::group_of(*u) == g && !ir::is_sibling(*u)) return false;
  return true;
}

bool is_static(const ir::Value* v) {
  if (v->kind == ir::ValueKind::Parameter || v->kind == ir::ValueKind::Constant) return true;
  if (v->kind != ir::ValueKind::NodeOutput) return false;
  const ir::Node* n = v->producer;
  if (n->inputs.empty() || (n->attrs.count("training") && n->attr_int("training"))) return false;
  return std::all_of(n->inputs.begin(), n->inputs.end(), is_static);
}

static bool is_folded_concat(const ir::Node& n) {
  return n.op == "concat" && n.attrs.count(kFoldAttr) && n.attr_int(kFoldAttr) != 0 && ir::group_of(n) < 0;
}

std::vector<bool> folded_concat_inputs(const ir::Graph& g, const ir::Node& concat) {
  std::vector<bool> folded(concat.inputs.size(), false);
  if (!is_folded_concat(concat)) return folded;
  for (size_t i = 0; i < concat.inputs.size(); ++i) {
    const ir::Value* v = concat.inputs[i];
    if (v->kind != ir::ValueKind::NodeOutput || !is_stored(v) || is_static(v) || v->users.size() != 1) continue;
    if (v->producer->outputs.size() != 1 || v->producer->op == "concat") continue;  // no views of views
    bool is_output = false;
    for (auto& [name, o] : g.outputs()) is_output |= o == v;
    folded[i] = !is_output;
  }
  return folded;
}

std::map<const ir::Value*, const ir::Node*> folded_concat_views(const ir::Graph& g) {
  std::map<const ir::Value*, const ir::Node*> views;
  for (const auto& n : g.nodes()) {
    if (!is_folded_concat(*n)) continue;
    auto folded = folded_concat_inputs(g, *n);
    for (size_t i = 0; i < folded.size(); ++i)
      if (folded[i]) views[n->inputs[i]] = n.get();
  }
  return views;
}

// The kernel (step) that reads a value: a group member's read counts at the group's last
// member, where the group's kernel runs.
static std::map<const ir::Node*, int> step_of_nodes(const ir::Graph& g) {
  std::map<const ir::Node*, int> step;
  int s = 0;
  const auto& nodes = g.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const ir::Node* n = nodes[i].get();
    int grp = ir::group_of(*n);
    bool last = grp < 0 || i + 1 == nodes.size() || ir::group_of(*nodes[i + 1]) != grp;
    step[n] = s;
    if (last) ++s;
  }
  // Members get their group's step (the index of its last member).
  for (size_t i = nodes.size(); i-- > 0;) {
    const ir::Node* n = nodes[i].get();
    if (i + 1 < nodes.size() && ir::group_of(*n) >= 0 && ir::group_of(*n) == ir::group_of(*nodes[i + 1]))
      step[n] = step[nodes[i + 1].get()];
  }
  return step;
}

// In place: a lone elementwise node (not a group: a tile's epilogue may read its inputs at
// other points) writing over a same-shaped input that dies there.
static const ir::Value* in_place_input(const ir::Node& n, const std::map<const ir::Value*, int>& last_use,
                                       const std::map<const ir::Node*, int>& step) {
  if (ir::group_of(n) >= 0 || !ir::is_elementwise(n)) return nullptr;  // (slices of a folded concat have one reader: the concat)
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const ir::Value* v = n.inputs[i];
    auto it = last_use.find(v);
    if (it == last_use.end() || !ir::chainable_input(n, static_cast<int>(i)) || it->second != step.at(&n)) continue;
    if (std::count(n.inputs.begin(), n.inputs.end(), v) == 1) return v;
  }
  return nullptr;
}

static void totals(MemoryPlan& plan) {
  for (size_t i = 0; i < plan.slot_floats.size(); ++i)
    (plan.slot_static[i] ? plan.static_bytes : plan.peak_bytes) += 4 * plan.slot_floats[i];
  for (auto& [v, slot] : plan.slot)
    if (!is_static(v)) plan.unplanned_bytes += 4 * v->type.numel();
}

MemoryPlan plan_memory(const ir::Graph& g) {
  MemoryPlan plan;
  auto step = step_of_nodes(g);
  std::set<const ir::Value*> pinned;  // own slot for the whole run: outputs, static values
  for (auto& [name, v] : g.outputs()) pinned.insert(v);
  std::map<const ir::Value*, int> last_use;
  for (const auto& n : g.nodes())
    for (const ir::Value* v : n->inputs)
      if (is_stored(v)) last_use[v] = std::max(last_use[v], step.at(n.get()));
  std::vector<std::pair<int, int>> free_at;  // (step after which it is free, slot)
  std::vector<int> free_slots;
  // A folded concat's buffer is taken when its first slice is written, and its slices are
  // views of it: they get its slot and no life of their own.
  auto views = folded_concat_views(g);
  for (const auto& n : g.nodes()) {
    const ir::Value* v = n->outputs[0];
    if (!is_stored(v)) continue;
    auto view = views.find(v);
    if (view != views.end()) v = view->second->outputs[0];  // allocate the concat now
    if (plan.slot.count(v)) {  // a concat allocated with its first slice
      if (view != views.end()) plan.slot[n->outputs[0]] = plan.slot.at(v);
      continue;
    }
    int s = step.at(n.get());
    // Slots freed by values whose last reader ran before this step.
    std::erase_if(free_at, [&](const std::pair<int, int>& f) {
      if (f.first >= s) return false;
      free_slots.push_back(f.second);
      return true;
    });
    int slot = -1;
    bool pin = pinned.count(v) || is_static(v);
    // In place only for a whole value: a concat's slice written over its producer's input
    // would overwrite parts of that input still to be read.
    if (!pin && view == views.end())
      if (const ir::Value* src = in_place_input(*n, last_use, step); src && !pinned.count(src) && !is_static(src) &&
                                                                      plan.slot.count(src)) {
        slot = plan.slot.at(src);
        std::erase_if(free_at, [&](const std::pair<int, int>& f) { return f.second == slot; });
      }
    if (slot < 0 && !pin && !free_slots.empty()) {
      // Best fit: the smallest free slot that holds v, else the largest (grown to fit).
      int64_t need = v->type.numel();
      auto fits = [&](int a) { return plan.slot_floats[a] >= need; };
      auto best = free_slots.end();
      for (auto it = free_slots.begin(); it != free_slots.end(); ++it)
        if (fits(*it) && (best == free_slots.end() || plan.slot_floats[*it] < plan.slot_floats[*best])) best = it;
      if (best == free_slots.end())
        best = std::max_element(free_slots.begin(), free_slots.end(),
                                [&](int a, int b) { return plan.slot_floats[a] < plan.slot_floats[b]; });
      slot = *best;
      free_slots.erase(best);
      plan.slot_floats[slot] = std::max(plan.slot_floats[slot], need);
    }
    if (slot < 0) {
      slot = static_cast<int>(plan.slot_floats.size());
      plan.slot_floats.push_back(v->type.numel());
      plan.slot_static.push_back(is_static(v));
    }
    plan.slot[v] = slot;
    if (view != views.end()) plan.slot[n->outputs[0]] = slot;
    if (!pin) {
      auto lu = last_use.find(v);
      free_at.push_back({lu == last_use.end() ? std::max(s, step.at(v->producer)) : lu->second, slot});
    }
  }
  totals(plan);
  return plan;
}

MemoryPlan annotated_plan(const ir::Graph& g) {
  MemoryPlan plan;
  for (const auto& n : g.nodes()) {
    const ir::Value* v = n->outputs[0];
    if (!is_stored(v) || !n->attrs.count(kBufferAttr)) continue;
    int slot = static_cast<int>(n->attr_int(kBufferAttr));
    if (slot >= static_cast<int>(plan.slot_floats.size())) {
      plan.slot_floats.resize(slot + 1, 0);
      plan.slot_static.resize(slot + 1, false);
    }
    plan.slot_floats[slot] = std::max(plan.slot_floats[slot], v->type.numel());
    plan.slot_static[slot] = plan.slot_static[slot] || is_static(v);
    plan.slot[v] = slot;
  }
  totals(plan);
  return plan;
}

// Concats whose inputs can be written in place get "_fold = 1" (runs before memory-plan).
ir::Graph fold_concat(const ir::Graph& g, const PassContext&) {
  Rewriter rw(g);
  for (const auto& n : g.nodes()) {
    ir::AttrMap a = n->attrs;
    a.erase(kFoldAttr);
    if (n->op == "concat" && ir::group_of(*n) < 0) {
      ir::Node probe = *n;  // the rule reads the annotation: ask it as if it were set
      probe.attrs[kFoldAttr] = int64_t{1};
      auto folded = folded_concat_inputs(g, probe);
      if (std::count(folded.begin(), folded.end(), true) > 0) a[kFoldAttr] = int64_t{1};
    }
    rw.copy(*n, a);
  }
  return rw.finish();
}

ir::Graph plan_memory_pass(const ir::Graph& g, const PassContext&) {
  MemoryPlan plan = plan_memory(g);
  Rewriter rw(g);
  for (const auto& n : g.nodes()) {
    ir::AttrMap a = n->attrs;
    a.erase(kBufferAttr);
    auto it = plan.slot.find(n->outputs[0]);
    if (it != plan.slot.end()) a[kBufferAttr] = int64_t{it->second};
    rw.copy(*n, a);
  }
  return rw.finish();
}

}  // namespace strata::passes
