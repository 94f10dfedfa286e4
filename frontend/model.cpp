#include "frontend/model.h"

#include <fmt/format.h>

#include "ir/error.h"

namespace strata::dsl {

Model& Tensor::model() const {
  if (!model_) throw Error("use of an undefined Tensor handle (default-constructed, never assigned)");
  return *model_;
}

ir::Value* Tensor::value() const {
  if (!value_) throw Error("use of an undefined Tensor handle (default-constructed, never assigned)");
  return value_;
}

int64_t Tensor::dim(int i) const {
  int r = rank();
  if (i < -r || i >= r) throw Error(fmt::format("tensor '{}' {}: dimension {} is out of range", name(), value()->type.str(), i));
  return shape()[i < 0 ? i + r : i];
}

Model::Model(std::string name) : graph_(std::move(name)) {}

Tensor Model::input(const std::string& name, Shape shape) {
  return Tensor(this, graph_.add_input(name, TensorType{DataType::f32, std::move(shape)}));
}

void Model::output(const std::string& name, Tensor t) {
  if (&t.model() != this) throw Error(fmt::format("output '{}': the tensor belongs to another model", name));
  graph_.add_output(name, t.value());
}

Tensor Model::parameter(const std::string& full_name, Shape shape, ir::InitSpec init, bool trainable) {
  return Tensor(this, graph_.add_parameter(full_name, TensorType{DataType::f32, std::move(shape)}, std::move(init), trainable));
}

Tensor Model::constant(const std::string& name, HostTensor data) {
  return Tensor(this, graph_.add_constant(graph_.unique_name(scoped(name)), std::move(data)));
}

Tensor Model::apply(const std::string& op, std::vector<Tensor> inputs, ir::AttrMap attrs, const std::string& name) {
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (&inputs[i].model() != this)
      throw Error(fmt::format("{} '{}': input {} ('{}') belongs to model '{}', not '{}'", op, name, i, inputs[i].name(),
                              inputs[i].model().name(), graph_.name()));
    ins.push_back(inputs[i].value());
  }
  std::string n = name.empty() ? layer_name("", op) : name;
  ir::Node* node = graph_.add_node(op, ins, std::move(attrs), n);
  return Tensor(this, node->outputs[0]);
}

Model::Scope::Scope(Model* m, const std::string& name) : m_(m) { m_->scopes_.push_back(name); }
Model::Scope::~Scope() { m_->scopes_.pop_back(); }

std::string Model::scoped(const std::string& local) const {
  std::string s;
  for (auto& p : scopes_) s += p + ".";
  return s + local;
}

std::string Model::layer_name(const std::string& given, const std::string& prefix) {
  if (!given.empty()) return scoped(given);
  std::string key = scoped("") + "|" + prefix;
  for (auto& [k, c] : counters_)
    if (k == key) return graph_.unique_name(scoped(fmt::format("{}{}", prefix, ++c)));
  counters_.emplace_back(key, 1);
  return graph_.unique_name(scoped(prefix + "1"));
}

void Model::hint_nonlinearity(const Tensor& pre, const std::string& nonlinearity, double a) {
  const ir::Node* n = pre.value()->producer;
  while (n && (n->op == "batch_norm" || n->op == "dropout" || n->op == "identity")) n = n->inputs[0]->producer;
  if (!n || (n->op != "conv2d" && n->op != "linear")) return;
  ir::Value* w = n->inputs[1];
  if (!default_init_.count(w)) return;  // set by the user, or already hinted
  default_init_.erase(w);
  // torchvision initialises conv weights with fan_out, linear layers with fan_in.
  std::string mode = n->op == "conv2d" ? "fan_out" : "fan_in";
  w->init = ir::InitSpec{"kaiming_normal", {{"mode", mode}, {"nonlinearity", nonlinearity}}};
  if (a != 0) w->init.args["a"] = a;
}

}  // namespace strata::dsl
