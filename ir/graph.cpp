#include "ir/graph.h"

#include <fmt/format.h>

#include <map>
#include <optional>

#include "ir/error.h"
#include "ir/op_registry.h"

namespace strata::ir {

template <typename T>
static const T& get_attr(const Node& n, const std::string& k) {
  auto it = n.attrs.find(k);
  if (it == n.attrs.end())
    throw Error(fmt::format("node '{}' ({}): missing attribute '{}'", n.name(), n.op, k));
  if (auto* p = std::get_if<T>(&it->second)) return *p;
  throw Error(fmt::format("node '{}' ({}): attribute '{}' has the wrong type", n.name(), n.op, k));
}

int64_t Node::attr_int(const std::string& k) const { return get_attr<int64_t>(*this, k); }
double Node::attr_float(const std::string& k) const { return get_attr<double>(*this, k); }
const std::string& Node::attr_string(const std::string& k) const { return get_attr<std::string>(*this, k); }
const std::vector<int64_t>& Node::attr_ints(const std::string& k) const {
  return get_attr<std::vector<int64_t>>(*this, k);
}
const std::vector<double>& Node::attr_floats(const std::string& k) const {
  return get_attr<std::vector<double>>(*this, k);
}

Value* Graph::new_value(const std::string& name, TensorType type, ValueKind kind) {
  if (name.empty()) throw Error("a value needs a name");
  if (find_value(name))
    throw Error(fmt::format("graph '{}': the name '{}' is already defined", name_, name));
  auto v = std::make_unique<Value>();
  v->id = next_id_++;
  v->name = name;
  v->type = std::move(type);
  v->kind = kind;
  by_name_[v->name] = v.get();
  values_.push_back(std::move(v));
  return values_.back().get();
}

Value* Graph::add_input(const std::string& name, TensorType type) {
  Value* v = new_value(name, std::move(type), ValueKind::Input);
  inputs_.push_back(v);
  return v;
}

Value* Graph::add_parameter(const std::string& name, TensorType type, InitSpec init, bool trainable) {
  Value* v = new_value(name, std::move(type), ValueKind::Parameter);
  v->init = std::move(init);
  v->trainable = trainable;
  params_.push_back(v);
  return v;
}

Value* Graph::add_constant(const std::string& name, HostTensor data) {
  Value* v = new_value(name, TensorType{DataType::f32, data.shape}, ValueKind::Constant);
  v->data = std::make_shared<const HostTensor>(std::move(data));
  constants_.push_back(v);
  return v;
}

std::string Graph::unique_name(const std::string& base) const {
  if (!find_value(base)) return base;
  for (int i = 1;; ++i) {
    std::string n = fmt::format("{}_{}", base, i);
    if (!find_value(n)) return n;
  }
}

Node* Graph::add_node(const std::string& op, std::vector<Value*> inputs, AttrMap attrs,
                      const std::string& name) {
  const OpDef& def = op_def(op);
  auto node = std::make_unique<Node>();
  node->op = op;
  node->inputs = std::move(inputs);
  node->attrs = std::move(attrs);
  std::string out_name = unique_name(name.empty() ? op : name);
  // Output values are created after the checks so a failed add leaves the graph as it was.
  Value tmp;
  tmp.name = out_name;
  node->outputs = {&tmp};
  complete_attrs(def, *node);
  check_inputs(def, *node);
  std::vector<TensorType> types = def.infer(*node);
  node->outputs.clear();
  for (size_t i = 0; i < types.size(); ++i) {
    Value* v = new_value(i == 0 ? out_name : unique_name(fmt::format("{}.{}", out_name, i)),
                         types[i], ValueKind::NodeOutput);
    v->producer = node.get();
    v->output_index = static_cast<int>(i);
    node->outputs.push_back(v);
  }
  node->id = static_cast<int>(nodes_.size());
  for (Value* in : node->inputs) in->users.push_back(node.get());
  nodes_.push_back(std::move(node));
  return nodes_.back().get();
}

Node* Graph::add_node_typed(const std::string& op, std::vector<Value*> inputs, AttrMap attrs,
                            std::vector<std::pair<std::string, TensorType>> outputs) {
  const OpDef& def = op_def(op);  // throws for unknown ops
  for (Value* in : inputs)
    if (!in) throw Error(fmt::format("node of op {}: null input", op));
  auto node = std::make_unique<Node>();
  node->op = op;
  node->inputs = std::move(inputs);
  node->attrs = std::move(attrs);
  for (size_t i = 0; i < outputs.size(); ++i) {
    Value* v = new_value(outputs[i].first, outputs[i].second, ValueKind::NodeOutput);
    v->producer = node.get();
    v->output_index = static_cast<int>(i);
    node->outputs.push_back(v);
  }
  if (node->outputs.empty()) throw Error(fmt::format("a node of op {} needs at least one output", op));
  complete_attrs(def, *node);
  node->id = static_cast<int>(nodes_.size());
  for (Value* in : node->inputs) in->users.push_back(node.get());
  nodes_.push_back(std::move(node));
  return nodes_.back().get();
}

void Graph::add_output(const std::string& name, Value* v) {
  for (auto& [n, _] : outputs_)
    if (n == name) throw Error(fmt::format("graph '{}': output '{}' defined twice", name_, name));
  outputs_.emplace_back(name, v);
}

Value* Graph::find_value(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

Value* Graph::value(const std::string& name) const {
  Value* v = find_value(name);
  if (!v) throw Error(fmt::format("graph '{}' has no value named '{}'", name_, name));
  return v;
}

void Graph::reinfer_shapes(const std::function<void(Node&)>& before_each) {
  for (auto& n : nodes_) {
    if (before_each) before_each(*n);
    std::vector<TensorType> types = op_def(n->op).infer(*n);
    for (size_t i = 0; i < types.size() && i < n->outputs.size(); ++i) n->outputs[i]->type = types[i];
  }
}

// The attributes that hold a batched value's batch (autodiff writes them: a training step's
// backward), moved from `old` to `batch` where the value they describe was re-batched:
// the input's shape of a backward op (conv2d_backward_input, the pools', pad's), a reshape's
// target shape, a slice over the whole batch. `rebatched(i)`: whether input i's leading
// dimension went from old to batch.
static void rebatch_attrs(Node& n, int64_t old, int64_t batch, const std::function<bool(size_t)>& rebatched) {
  auto lead = [&](const char* attr) -> int64_t* {
    auto it = n.attrs.find(attr);
    if (it == n.attrs.end()) return nullptr;
    auto* v = std::get_if<std::vector<int64_t>>(&it->second);
    return v && !v->empty() && (*v)[0] == old ? &(*v)[0] : nullptr;
  };
  if (n.inputs.empty() || !rebatched(0)) return;  // (each of these reads the value first)
  if (int64_t* d = lead("input_shape")) *d = batch;
  if (n.op == "reshape")
    if (int64_t* d = lead("shape")) *d = batch;
  if (n.op == "slice" && !n.attr_ints("starts").empty() && n.attr_ints("starts")[0] == 0)
    if (int64_t* d = lead("ends")) *d = batch;
}

int64_t Graph::batch_size() const {
  for (const Value* in : inputs_)
    if (in->type.rank() >= 2) return in->type.shape[0];
  return 1;
}

void Graph::set_batch_size(int64_t batch) {
  if (batch < 1) throw Error(fmt::format("batch size must be >= 1, got {}", batch));
  // The batched inputs: rank 2 or more, with the first such input's leading dimension. A
  // training step's hyper-parameters (f32[2]) and dropout seed (f32[1]) are no batch.
  std::optional<int64_t> old;
  std::map<const Value*, int64_t> old_lead;  // leading dimensions before, of what has one
  for (const auto& n : nodes_)
    for (const Value* v : n->outputs)
      if (v->type.rank() > 0) old_lead[v] = v->type.shape[0];
  for (Value* in : inputs_) {
    if (in->type.rank() < 2) continue;
    if (!old) old = in->type.shape[0];
    old_lead[in] = in->type.shape[0];
    if (in->type.shape[0] == *old) in->type.shape[0] = batch;
  }
  // Node by node, so each node's attributes follow the inputs inference has just re-batched.
  reinfer_shapes([&](Node& n) {
    if (!old || *old == batch) return;
    rebatch_attrs(n, *old, batch, [&](size_t i) {
      const Value* v = i < n.inputs.size() ? n.inputs[i] : nullptr;
      auto it = v ? old_lead.find(v) : old_lead.end();
      return it != old_lead.end() && it->second == *old && v->type.rank() > 0 && v->type.shape[0] == batch;
    });
  });
}

Graph clone(const Graph& g) {
  Graph out(g.name());
  std::map<const Value*, Value*> map;
  for (Value* v : g.inputs()) map[v] = out.add_input(v->name, v->type);
  for (Value* v : g.parameters()) map[v] = out.add_parameter(v->name, v->type, v->init, v->trainable);
  for (Value* v : g.constants()) {
    Value* c = out.add_constant(v->name, HostTensor{});
    c->type = v->type;
    c->data = v->data;
    map[v] = c;
  }
  for (auto& n : g.nodes()) {
    std::vector<Value*> ins;
    for (Value* v : n->inputs) ins.push_back(map.at(v));
    std::vector<std::pair<std::string, TensorType>> outs;
    for (Value* v : n->outputs) outs.emplace_back(v->name, v->type);
    Node* m = out.add_node_typed(n->op, ins, n->attrs, outs);
    for (size_t i = 0; i < n->outputs.size(); ++i) map[n->outputs[i]] = m->outputs[i];
  }
  for (auto& [name, v] : g.outputs()) out.add_output(name, map.at(v));
  return out;
}

}  // namespace strata::ir
