#include "ir/verifier.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "ir/error.h"
#include "ir/fusion_group.h"
#include "ir/op_registry.h"

namespace strata::ir {

static void check(const Graph& g) {
  std::set<const Value*> defined;
  std::set<std::string> names;
  auto define = [&](const Value* v) {
    if (!names.insert(v->name).second) throw Error(fmt::format("value name '{}' is defined twice", v->name));
    defined.insert(v);
  };
  auto check_dtype = [](const Value* v) {
    if (v->type.dtype != DataType::f32)
      throw Error(fmt::format("value '{}' has dtype {}; only f32 is computed so far", v->name, dtype_name(v->type.dtype)));
    for (auto d : v->type.shape)
      if (d < 1) throw Error(fmt::format("value '{}' has a non-positive dimension in {}", v->name, v->type.str()));
  };
  for (const Value* v : g.inputs()) define(v), check_dtype(v);
  for (const Value* v : g.parameters()) define(v), check_dtype(v);
  for (const Value* v : g.constants()) {
    define(v), check_dtype(v);
    if (!v->data || v->data->shape != v->type.shape)
      throw Error(fmt::format("constant '{}' has no data of shape {}", v->name, v->type.str()));
  }
  for (const auto& up : g.nodes()) {
    const Node& n = *up;
    const OpDef& def = op_def(n.op);
    if (n.outputs.empty()) throw Error(fmt::format("a node of op {} has no outputs", n.op));
    check_inputs(def, n);
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const Value* v = n.inputs[i];
      if (!defined.count(v))
        input_error(n, static_cast<int>(i), fmt::format("%{} is used before it is defined", v->name));
      if (std::count(v->users.begin(), v->users.end(), &n) == 0)
        input_error(n, static_cast<int>(i), fmt::format("%{}'s use list does not record this node", v->name));
    }
    Node copy = n;  // complete_attrs normalises; the stored attributes must already be complete
    complete_attrs(def, copy);
    if (copy.attrs != n.attrs) shape_error(n, "attributes are incomplete or of the wrong kind");
    std::vector<TensorType> want = def.infer(n);
    if (want.size() != n.outputs.size())
      shape_error(n, fmt::format("produces {} outputs, the op defines {}", n.outputs.size(), want.size()));
    for (size_t i = 0; i < want.size(); ++i) {
      if (n.outputs[i]->type != want[i])
        shape_error(n, fmt::format("output %{} is declared {} but the shape rule gives {}", n.outputs[i]->name,
                                   n.outputs[i]->type.str(), want[i].str()));
      if (n.outputs[i]->producer != &n) shape_error(n, "output's producer link is broken");
      define(n.outputs[i]);
    }
  }
  if (g.outputs().empty()) throw Error(fmt::format("graph '{}' has no outputs", g.name()));
  for (auto& [name, v] : g.outputs())
    if (!defined.count(v)) throw Error(fmt::format("output '{}' refers to an undefined value", name));
  verify_groups(g);
}

void verify(const Graph& g, const std::string& context) {
  try {
    check(g);
  } catch (const Error& e) {
    if (context.empty()) throw Error(fmt::format("verifier: graph '{}': {}", g.name(), e.what()));
    throw Error(fmt::format("verifier ({}): graph '{}': {}", context, g.name(), e.what()));
  }
}

}  // namespace strata::ir
