#include "ir/fusion_group.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "ir/error.h"
#include "ir/op_registry.h"

namespace strata::ir {

int group_of(const Node& n) {
  auto it = n.attrs.find(kGroupAttr);
  return it == n.attrs.end() ? -1 : static_cast<int>(std::get<int64_t>(it->second));
}

void renumber_groups(Graph& g) {
  std::map<int, int64_t> id;
  for (const auto& n : g.nodes()) {
    int old = group_of(*n);
    if (old < 0) continue;
    n->attrs[kGroupAttr] = id.emplace(old, static_cast<int64_t>(id.size())).first->second;
  }
}

bool is_prologue(const Node& n) {
  auto it = n.attrs.find(kPrologueAttr);
  return it != n.attrs.end() && std::get<int64_t>(it->second) != 0;
}

bool is_sibling(const Node& n) {
  auto it = n.attrs.find(kSiblingAttr);
  return it != n.attrs.end() && std::get<int64_t>(it->second) != 0;
}

bool is_pointwise_sibling_op(const Node& n) {
  return n.op == "optimizer_update" && n.attr_string("optimizer") == "sgd" && n.attr_int("result") == 0 &&
         n.inputs.size() == 3;
}

int sibling_input(const Node& n) {
  if (n.op == "batch_norm_stats") return 0;
  if (n.op == "batch_norm_backward_weight" && n.attr_int("training") && n.attr_int("with_bias") && n.inputs.size() == 5)
    return 3;
  if (is_pointwise_sibling_op(n)) return 1;
  return -1;
}

const char* sibling_anchor(const Node& n) {
  if (is_pointwise_sibling_op(n)) return nullptr;
  return n.op == "batch_norm_stats" ? "conv2d" : "conv2d_backward_input";
}

bool sibling_fits(const Node& anchor, const Node& prev, const Node& sib) {
  int in = sibling_input(sib);
  if (in < 0 || sib.inputs[in]->producer != &prev) return false;
  if (!is_pointwise_sibling_op(sib)) return anchor.op == sibling_anchor(sib);
  // p - lr * b' after b' = mu * b + g (+ weight decay) of the same parameter p.
  return prev.op == "optimizer_update" && prev.attr_string("optimizer") == "momentum" && prev.attr_int("result") == 1 &&
         prev.inputs[0] == sib.inputs[0];
}

std::vector<const Value*> group_outputs(const std::vector<const Node*>& group) {
  if (group.size() >= 2 && is_sibling(*group.back())) return {group[group.size() - 2]->outputs[0], group.back()->outputs[0]};
  return {group.back()->outputs[0]};
}

size_t anchor_index(const std::vector<const Node*>& group) {
  size_t k = 0;
  while (k + 1 < group.size() && is_prologue(*group[k])) ++k;
  return k;
}

bool is_elementwise(const Node& n) {
  OpClass c = op_def(n.op).cls;
  if (c == OpClass::Unary || c == OpClass::Binary) return true;
  if (n.op == "batch_norm") return n.attr_int("training") == 0;
  if (n.op == "dropout") return n.attr_int("training") == 0;
  // Gradient ops that are elementwise: the derivative of an activation times dy.
  if (n.op == "activation_grad") return true;
  // An optimizer step is pointwise over the parameter (hyper is two scalars).
  if (n.op == "optimizer_update") return true;
  return false;
}

bool chainable_input(const Node& n, int input) {
  if (!is_elementwise(n)) return false;
  if ((n.op == "batch_norm" || n.op == "dropout") && input != 0) return false;
  if (n.op == "optimizer_update" && input != 1) return false;  // chained through its gradient
  return n.inputs[input]->type == n.outputs[0]->type;
}

bool reads_prologue_as_x(const Node& n) { return n.op == "conv2d" || n.op == "conv2d_backward_weight"; }

bool prologue_fits(const Node& n) {
  if (n.outputs.size() != 1) return false;
  return is_elementwise(n) || (n.op == "batch_norm" && n.attr_int("training") && n.inputs.size() == 6);
}

int chained_input(const std::vector<const Node*>& group, size_t k) {
  for (size_t i = 0; i < group[k]->inputs.size(); ++i)
    if (group[k]->inputs[i]->producer == group[k - 1]) return static_cast<int>(i);
  if (is_prologue(*group[k - 1])) return -1;  // the prologue feeds a later member
  throw Error(fmt::format("fusion group: node '{}' does not read the previous member", group[k]->name()));
}

int prologue_input(const std::vector<const Node*>& group, size_t k) {
  size_t ai = anchor_index(group);
  if (ai == 0 || k < ai) return -1;
  for (size_t i = 0; i < group[k]->inputs.size(); ++i)
    if (group[k]->inputs[i]->producer == group[ai - 1]) return static_cast<int>(i);
  return -1;
}

std::vector<const Value*> group_inputs(const std::vector<const Node*>& group) {
  std::vector<const Value*> ins;
  for (const Node* n : group)
    for (const Value* v : n->inputs)
      if (std::find(group.begin(), group.end(), v->producer) == group.end()) ins.push_back(v);
  return ins;
}

std::vector<std::vector<const Node*>> fusion_groups(const Graph& g) {
  std::vector<std::vector<const Node*>> groups;
  int current = -1;
  for (const auto& n : g.nodes()) {
    int id = group_of(*n);
    if (id < 0) {
      current = -1;
      continue;
    }
    if (id != current) groups.emplace_back();
    groups.back().push_back(n.get());
    current = id;
  }
  return groups;
}

void verify_groups(const Graph& g) {
  std::map<int, int> seen;  // group id -> how many runs of consecutive nodes carry it
  for (const auto& grp : fusion_groups(g)) {
    int id = group_of(*grp[0]);
    if (++seen[id] > 1)
      throw Error(fmt::format("fusion group {}: its nodes are not consecutive (node '{}' starts a second run)", id,
                              grp[0]->name()));
    std::vector<const Value*> outputs_of_graph;
    for (auto& [name, v] : g.outputs()) outputs_of_graph.push_back(v);
    size_t anchor = anchor_index(grp);
    for (size_t k = 0; k < grp.size(); ++k) {
      const Node& n = *grp[k];
      if (n.outputs.size() != 1)
        throw Error(fmt::format("fusion group {}: node '{}' ({}) has {} outputs; members have one", id, n.name(), n.op,
                                n.outputs.size()));
      if (is_sibling(n) && (k == 0 || k + 1 != grp.size() || k == anchor || !sibling_fits(*grp[anchor], *grp[k - 1], n)))
        throw Error(fmt::format("fusion group {}: sibling '{}' ({}) must end a group whose anchor is a conv2d "
                                "(batch_norm_stats) or a conv2d_backward_input (training batch_norm_backward_weight "
                                "with with_bias = 1 and its batch_stats), or follow the momentum update of its "
                                "parameter (optimizer_update {{optimizer = \"sgd\"}})",
                                id, n.name(), n.op));
      if (k >= anchor && is_prologue(n))
        throw Error(fmt::format("fusion group {}: node '{}' is marked a prologue but does not lead the group", id, n.name()));
      if (k + 1 == anchor) {  // the last prologue: read by the anchor or a later member
        const std::vector<Node*>& readers = n.outputs[0]->users;
        auto at = readers.size() == 1 ? std::find(grp.begin() + anchor, grp.end(), readers[0]) : grp.end();
        bool by_anchor = at == grp.begin() + static_cast<long>(anchor);
        bool ok = prologue_fits(n) && at != grp.end() &&
                  std::count(readers[0]->inputs.begin(), readers[0]->inputs.end(), n.outputs[0]) == 1 &&
                  !std::count(outputs_of_graph.begin(), outputs_of_graph.end(), n.outputs[0]);
        if (ok && by_anchor) ok = reads_prologue_as_x(**at) && (*at)->inputs[0] == n.outputs[0];
        if (ok && !by_anchor) ok = !is_sibling(**at);
        if (!ok)
          throw Error(fmt::format("fusion group {}: prologue '{}' ({}) must be pointwise and read once, by nothing but "
                                  "the convolution (or its weight gradient) after it as its input x or a later "
                                  "elementwise member (and no graph output)",
                                  id, n.name(), n.op));
      } else if (k < anchor && !prologue_fits(n)) {
        throw Error(fmt::format("fusion group {}: prologue '{}' ({}) is not pointwise", id, n.name(), n.op));
      }
      if (k > 0) {
        if (k > anchor && !is_elementwise(n) && !is_sibling(n))
          throw Error(fmt::format("fusion group {}: node '{}' ({}) follows the anchor but is not elementwise", id,
                                  n.name(), n.op));
        int chained = 0;
        for (size_t i = 0; i < n.inputs.size(); ++i) {
          const Node* p = n.inputs[i]->producer;
          bool inside = p && std::find(grp.begin(), grp.begin() + static_cast<long>(k), p) != grp.begin() + static_cast<long>(k);
          if (!inside || (k > anchor && p == grp[anchor - 1])) continue;  // (the last prologue, checked above)
          bool chain_ok = is_sibling(n) ? static_cast<int>(i) == sibling_input(n)
                          : k == anchor ? i == 0
                                        : chainable_input(n, static_cast<int>(i));
          if (p != grp[k - 1] || !chain_ok)
            throw Error(fmt::format("fusion group {}: node '{}' ({}) reads %{} from inside the group other than as "
                                    "its chained, same-shaped input",
                                    id, n.name(), n.op, n.inputs[i]->name));
          ++chained;
        }
        bool after_unread_prologue = k == anchor && anchor >= 1 && chained == 0;  // (a later member reads it)
        if (chained != 1 && !after_unread_prologue)
          throw Error(fmt::format("fusion group {}: node '{}' ({}) must read the previous member's output exactly once",
                                  id, n.name(), n.op));
      }
      if (k + 1 < grp.size() && !is_sibling(*grp[k + 1])) {
        const Value* v = n.outputs[0];
        bool prologue = k + 1 == anchor;  // (its one reader is checked above)
        for (const Node* u : v->users)
          if (u != grp[k + 1] && !prologue)
            throw Error(fmt::format("fusion group {}: %{} (inside the group) is also used by '{}'; only the last "
                                    "member's output leaves a group",
                                    id, v->name, u->name()));
        if (std::count(outputs_of_graph.begin(), outputs_of_graph.end(), v))
          throw Error(fmt::format("fusion group {}: %{} (inside the group) is a graph output", id, v->name));
      }
    }
  }
}

}  // namespace strata::ir
