#include "passes/training.h"

#include <fmt/format.h>

#include <map>
#include <string_view>

#include "ir/error.h"
#include "passes/autodiff.h"

namespace strata::passes {

std::vector<std::string> optimizer_state_names(const std::string& o) {
  if (o == "sgd") return {};
  if (o == "momentum" || o == "nesterov") return {"momentum_buffer"};
  if (o == "rmsprop") return {"square_avg"};
  if (o == "adam" || o == "adamw") return {"exp_avg", "exp_avg_sq"};
  throw Error(fmt::format("unknown optimizer '{}' (sgd, momentum, nesterov, rmsprop, adam, adamw)", o));
}

// Copies `model` into a fresh graph, node by node, switching batch norm and dropout to
// training form. Values keep their names.
static ir::Graph copy_for_training(const ir::Graph& model, std::map<const ir::Value*, ir::Value*>& map, bool& dropout) {
  ir::Graph g(model.name() + ".train");
  for (const ir::Value* v : model.inputs()) map[v] = g.add_input(v->name, v->type);
  for (const ir::Value* v : model.parameters()) map[v] = g.add_parameter(v->name, v->type, v->init, v->trainable);
  for (const ir::Value* v : model.constants()) map[v] = g.add_constant(v->name, *v->data);
  ir::Value* seed = nullptr;
  int64_t salt = 0;
  dropout = false;
  for (const auto& n : model.nodes())
    if (n->op == "dropout") dropout = true;
  if (dropout) seed = g.add_input(g.unique_name("rng_seed"), TensorType{DataType::f32, {1}});
  for (const auto& n : model.nodes()) {
    std::vector<ir::Value*> in;
    for (const ir::Value* v : n->inputs) in.push_back(map.at(v));
    ir::AttrMap attrs = n->attrs;
    if (n->op == "batch_norm") attrs["training"] = int64_t{1};
    if (n->op == "dropout") {
      attrs["training"] = int64_t{1};
      attrs["salt"] = salt++;  // each dropout its own mask
      in.resize(1);
      in.push_back(seed);
    }
    ir::Node* m = g.add_node(n->op, in, attrs, n->name());
    if (m->name() != n->name())
      throw Error(fmt::format("training step: node name '{}' clashes with a name the step adds", n->name()));
    map[n->outputs[0]] = m->outputs[0];
  }
  for (const auto& [name, v] : model.outputs()) g.add_output(name, map.at(v));
  return g;
}

ir::Graph training_forward(const ir::Graph& model, bool* has_dropout) {
  std::map<const ir::Value*, ir::Value*> map;
  bool d = false;
  ir::Graph g = copy_for_training(model, map, d);
  if (has_dropout) *has_dropout = d;
  return g;
}

static ir::Value* add_loss(ir::Graph& g, const LossSpec& spec, ir::Value* out, ir::Value* target, const std::string& name) {
  if (spec.kind == "cross_entropy") {
    if (out->type.rank() != 2)
      throw Error(fmt::format("cross_entropy needs [batch, classes] logits; output '{}' is {}", out->name, out->type.str()));
    return g.add_node("cross_entropy", {out, target}, {{"label_smoothing", spec.label_smoothing}}, name)->outputs[0];
  }
  if (spec.kind == "binary_cross_entropy")
    return g.add_node("binary_cross_entropy", {out, target}, {{"from_logits", int64_t{spec.from_logits}}}, name)->outputs[0];
  if (spec.kind == "mse") return g.add_node("mse_loss", {out, target}, {}, name)->outputs[0];
  throw Error(fmt::format("unknown loss '{}' (cross_entropy, binary_cross_entropy, mse)", spec.kind));
}

TrainingStep benchmark_training_step(const ir::Graph& model, const std::string& optimizer) {
  return build_training_step(model, {}, {.name = optimizer, .weight_decay = 5e-4});
}

TrainingStep build_training_step(const ir::Graph& model, const LossSpec& loss, const OptimizerSpec& opt) {
  TrainingStep step;
  auto states = optimizer_state_names(opt.name);
  std::map<const ir::Value*, ir::Value*> map;
  bool dropout = false;
  step.graph = copy_for_training(model, map, dropout);
  ir::Graph& g = step.graph;
  if (!dropout) step.seed_input.clear();

  // The loss: a weighted sum over the chosen outputs, all against one target.
  auto heads = loss.outputs;
  if (heads.empty()) {
    if (g.outputs().empty()) throw Error(fmt::format("model '{}' has no output to train", model.name()));
    heads.push_back({g.outputs()[0].first, 1.0});
  }
  auto output = [&](const std::string& name) {
    for (auto& [n, v] : g.outputs())
      if (n == name) return v;
    throw Error(fmt::format("model '{}' has no output '{}' to put a loss on", model.name(), name));
  };
  ir::Value* target = g.add_input(step.target_input, output(heads[0].first)->type);
  ir::Value* total = nullptr;
  for (auto& [name, weight] : heads) {
    ir::Value* l = add_loss(g, loss, output(name), target, "loss/" + name);
    if (weight != 1.0) {
      ir::Value* w = g.add_constant(g.unique_name("loss/" + name + ".weight"),
                                    HostTensor({1}, std::vector<float>{static_cast<float>(weight)}));
      l = g.add_node("mul", {l, w}, {}, "loss/" + name + ".weighted")->outputs[0];
    }
    total = total ? g.add_node("add", {total, l}, {}, "loss/sum")->outputs[0] : l;
  }
  g.add_output(step.loss_output, total);

  // Running statistics of every batch norm, updated from the batch.
  std::vector<ir::Node*> bns;
  for (const auto& n : g.nodes())
    if (n->op == "batch_norm") bns.push_back(n.get());
  for (ir::Node* bn : bns) {
    double momentum = bn->attr_float("momentum");
    for (auto [input, stat] : {std::pair{3, "mean"}, std::pair{4, "var"}}) {
      ir::Value* running = bn->inputs[input];
      if (running->kind != ir::ValueKind::Parameter) continue;
      ir::Value* u = g.add_node("batch_norm_running_stats", {bn->inputs[0], running},
                                {{"stat", std::string(stat)}, {"momentum", momentum}}, "update/" + running->name)
                         ->outputs[0];
      g.add_output(u->name, u);
      step.updates.push_back({u->name, running->name});
    }
  }

  // Gradients of every trainable parameter.
  std::vector<ir::Value*> params;
  for (ir::Value* p : g.parameters())
    if (p->trainable) params.push_back(p);
  if (params.empty()) throw Error(fmt::format("model '{}' has no trainable parameters", model.name()));
  auto grads = append_gradients(g, total, params);

  if (opt.clip_norm > 0) {  // torch.nn.utils.clip_grad_norm_ over all parameters
    ir::Value* sum_sq = nullptr;
    for (ir::Value* p : params) {
      ir::Value* gv = grads.at(p);
      ir::Value* sq = g.add_node("mul", {gv, gv}, {}, "clip/" + p->name + ".sq")->outputs[0];
      std::vector<int64_t> axes;
      for (int k = 0; k < gv->type.rank(); ++k) axes.push_back(k);
      ir::Value* s = g.add_node("reduce_sum", {sq}, {{"axes", axes}}, "clip/" + p->name + ".sum")->outputs[0];
      sum_sq = sum_sq ? g.add_node("add", {sum_sq, s}, {}, "clip/total")->outputs[0] : s;
    }
    ir::Value* scale = g.add_node("clip_grad_norm_scale", {sum_sq}, {{"max_norm", opt.clip_norm}}, "clip/scale")->outputs[0];
    for (ir::Value* p : params) grads[p] = g.add_node("mul", {grads.at(p), scale}, {}, "clip/" + p->name)->outputs[0];
  }

  // One optimizer update per parameter and per state tensor.
  ir::Value* hyper = g.add_input(step.hyper_input, TensorType{DataType::f32, {2}});
  ir::AttrMap attrs{{"optimizer", opt.name},         {"momentum", opt.momentum}, {"beta1", opt.beta1},
                    {"beta2", opt.beta2},            {"alpha", opt.alpha},       {"eps", opt.eps},
                    {"weight_decay", opt.weight_decay}, {"l1", opt.l1},          {"clip_value", opt.clip_value}};
  for (ir::Value* p : params) {
    std::vector<ir::Value*> in{p, grads.at(p), hyper};
    for (const std::string& s : states) {
      std::string name = p->name + "." + s;
      in.push_back(g.add_parameter(name, p->type, ir::InitSpec{"zeros", {}}, false));
      step.state_parameters.push_back(name);
    }
    for (size_t result = 0; result < in.size() - 2; ++result) {
      ir::AttrMap a = attrs;
      a["result"] = static_cast<int64_t>(result);
      const std::string& replaced = result == 0 ? p->name : in[2 + result]->name;
      ir::Value* u = g.add_node("optimizer_update", in, a, "update/" + replaced)->outputs[0];
      g.add_output(u->name, u);
      step.updates.push_back({u->name, replaced});
    }
  }
  return step;
}

NamedTensors synthetic_step_inputs(const TrainingStep& step, float lr) {
  NamedTensors x;
  for (const ir::Value* in : step.graph.inputs()) {
    const Shape& s = in->type.shape;
    if (in->name == step.target_input) {
      // One-hot rows over the last axis: row i of class i mod C.
      HostTensor target(s);
      int64_t classes = s.empty() ? 1 : s.back(), rows = num_elements(s) / std::max<int64_t>(classes, 1);
      for (int64_t i = 0; i < rows; ++i) target.data[i * classes + i % classes] = 1.f;
      x[in->name] = std::move(target);
    } else if (in->name == step.hyper_input) {
      x[in->name] = HostTensor({2}, std::vector<float>{lr, 1.f});
    } else if (in->name == step.seed_input) {
      x[in->name] = HostTensor({1}, std::vector<float>{1.f});
    } else {
      x[in->name] = HostTensor(s, 0.5f);
    }
  }
  return x;
}

std::optional<TrainingStep> printed_training_step(const ir::Graph& g) {
  constexpr std::string_view kUpdate = "update/";  // (build_training_step's outputs)
  TrainingStep step;
  auto input = [&](const std::string& name) -> const ir::Value* {
    for (const ir::Value* v : g.inputs())
      if (v->name == name) return v;
    return nullptr;
  };
  const ir::Value* hyper = input(step.hyper_input);
  bool updates = false;
  for (const auto& [name, v] : g.outputs()) updates |= name.starts_with(kUpdate);
  if (!hyper || !updates) return std::nullopt;
  auto where = [&] { return fmt::format("training step '{}'", g.name()); };
  if (hyper->type != TensorType{DataType::f32, {2}})
    throw Error(fmt::format("{}: input '{}' is {}, where a step's learning rate and step number are f32[2]", where(),
                            hyper->name, hyper->type.str()));
  if (!input(step.target_input)) throw Error(fmt::format("{}: no input '{}' for the loss's target", where(), step.target_input));
  if (!input(step.seed_input)) step.seed_input.clear();
  bool loss = false;
  for (const auto& [name, v] : g.outputs()) {
    loss |= name == step.loss_output;
    if (!name.starts_with(kUpdate)) continue;
    std::string replaced = name.substr(kUpdate.size());
    const ir::Value* p = nullptr;
    for (const ir::Value* q : g.parameters())
      if (q->name == replaced) p = q;
    if (!p) throw Error(fmt::format("{}: output '{}' updates no parameter (there is no parameter '{}')", where(), name, replaced));
    if (p->type != v->type)
      throw Error(fmt::format("{}: output '{}' is {}, its parameter '{}' {}", where(), name, v->type.str(), replaced,
                              p->type.str()));
    step.updates.push_back({name, replaced});
    if (!p->trainable && v->producer && v->producer->op == "optimizer_update") step.state_parameters.push_back(replaced);
  }
  if (!loss) throw Error(fmt::format("{}: no output '{}'", where(), step.loss_output));
  step.graph = ir::clone(g);
  return step;
}

}  // namespace strata::passes
