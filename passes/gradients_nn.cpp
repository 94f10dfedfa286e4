// Gradient rules of the layers, activations and losses (DESIGN.md fact 2). Each rule emits
// graph ops; the formulas live in the gradient ops' reference kernels.
#include <fmt/format.h>

#include "ir/error.h"
#include "ir/op_registry.h"
#include "passes/autodiff.h"

namespace strata::passes {

using Ints = std::vector<int64_t>;
using Values = std::vector<ir::Value*>;

static ir::AttrMap copy_attrs(const ir::Node& n, std::initializer_list<const char*> names) {
  ir::AttrMap a;
  for (const char* k : names) a[k] = n.attrs.at(k);
  return a;
}

static Values conv2d(GradContext& c) {
  const ir::Node& n = c.node;
  auto pad = ir::conv_padding(n);  // "same" resolved: the gradient ops take explicit padding
  ir::AttrMap a{{"stride", n.attrs.at("stride")}, {"padding", Ints(pad.begin(), pad.end())},
                {"dilation", n.attrs.at("dilation")}, {"groups", n.attrs.at("groups")}};
  Values d(n.inputs.size(), nullptr);
  if (c.needs[0]) {
    ir::AttrMap ai = a;
    ai["input_shape"] = c.x(0)->type.shape;
    d[0] = c.op("conv2d_backward_input", {c.dy, c.x(1)}, ai, "input");
  }
  if (c.needs[1]) {
    ir::AttrMap aw = a;
    aw["weight_shape"] = c.x(1)->type.shape;
    d[1] = c.op("conv2d_backward_weight", {c.x(0), c.dy}, aw, "weight");
  }
  if (n.inputs.size() > 2 && c.needs[2]) d[2] = c.op("reduce_sum", {c.dy}, {{"axes", Ints{0, 2, 3}}}, "bias");
  return d;
}

// y = x W^T + b: dx = dy W, dW = dy^T x, db = sum over the batch of dy.
static Values linear(GradContext& c) {
  Values d(c.node.inputs.size(), nullptr);
  if (c.needs[0]) d[0] = c.op("matmul", {c.dy, c.x(1)}, {}, "input");
  if (c.needs[1]) d[1] = c.op("matmul", {c.dy, c.x(0)}, {{"trans_a", 1}}, "weight");
  if (c.node.inputs.size() > 2 && c.needs[2]) d[2] = c.op("reduce_sum", {c.dy}, {{"axes", Ints{0}}}, "bias");
  return d;
}

static Values batch_norm(GradContext& c) {
  const ir::Node& n = c.node;
  if (c.needs[3] || c.needs[4])
    throw Error(fmt::format("autodiff: node '{}' (batch_norm): running statistics have no gradient", n.name()));
  if (n.inputs.size() > 5)
    throw Error(fmt::format("autodiff: node '{}' (batch_norm) reads shared batch statistics (fuse-bn-stats): "
                            "differentiate the graph before running the passes", n.name()));
  ir::AttrMap a = copy_attrs(n, {"eps", "training"});
  Values d(5, nullptr);
  if (c.needs[0]) d[0] = c.op("batch_norm_backward_input", {c.x(0), c.x(1), c.x(3), c.x(4), c.dy}, a, "input");
  if (c.needs[1]) d[1] = c.op("batch_norm_backward_weight", {c.x(0), c.x(3), c.x(4), c.dy}, a, "weight");
  if (c.needs[2]) {
    Ints axes{0};
    for (int k = 2; k < c.x(0)->type.rank(); ++k) axes.push_back(k);
    d[2] = c.op("reduce_sum", {c.dy}, {{"axes", axes}}, "bias");
  }
  return d;
}

static Values max_pool2d(GradContext& c) {
  return {c.op("max_pool2d_backward", {c.x(0), c.dy}, c.node.attrs, "input")};
}

static Values avg_pool2d(GradContext& c) {
  ir::AttrMap a = c.node.attrs;
  a["input_shape"] = c.x(0)->type.shape;
  return {c.op("avg_pool2d_backward", {c.dy}, a, "input")};
}

// The mean over H x W is an average pool with one H x W window.
static Values global_avg_pool(GradContext& c) {
  const Shape& x = c.x(0)->type.shape;
  return {c.op("avg_pool2d_backward", {c.dy}, {{"kernel_size", Ints{x[2], x[3]}}, {"input_shape", x}}, "input")};
}

static Values lrn(GradContext& c) { return {c.op("lrn_backward", {c.x(0), c.dy}, c.node.attrs, "input")}; }

// Training mode: the same mask (same seed and salt) applied to dy; inference: identity.
static Values dropout(GradContext& c) {
  if (c.node.inputs.size() > 1 && c.needs[1])
    throw Error(fmt::format("autodiff: node '{}' (dropout): the seed has no gradient", c.node.name()));
  if (!c.node.attr_int("training")) return {c.dy};
  return {c.op("dropout", {c.dy, c.x(1)}, c.node.attrs, "input"), nullptr};
}

// Elementwise activations: dy * f'(x) in one activation_grad op.
// ReLU, ReLU6 and leaky ReLU (slope > 0) read their derivative off the output as well as
// the input (y > 0 exactly where x > 0, 0 < y < 6 where 0 < x < 6, ties included), so the
// rule reads y: the pre-activation then has no other reader and fusion can keep it in
// registers (batch norm + ReLU, or add + ReLU, as one kernel in training).
static Values activation(GradContext& c) {
  ir::AttrMap a{{"activation", c.node.op}};
  for (const auto& [k, v] : c.node.attrs) a[k] = v;
  const std::string& op = c.node.op;
  bool from_output = op == "relu" || op == "relu6" || (op == "leaky_relu" && c.node.attr_float("alpha") > 0);
  return {c.op("activation_grad", {from_output ? c.y() : c.x(0), c.dy}, a, "input")};
}

static Values prelu(GradContext& c) {
  Values d(2, nullptr);
  if (c.needs[0]) d[0] = c.op("prelu_backward", {c.x(0), c.x(1), c.dy}, {{"wrt", std::string("input")}}, "input");
  if (c.needs[1]) d[1] = c.op("prelu_backward", {c.x(0), c.x(1), c.dy}, {{"wrt", std::string("slope")}}, "slope");
  return d;
}

static void no_target_gradient(GradContext& c) {
  if (c.needs[1])
    throw Error(fmt::format("autodiff: node '{}' ({}): the target has no gradient in this version", c.node.name(),
                            c.node.op));
}

static Values loss_backward(GradContext& c) {
  no_target_gradient(c);
  return {c.op(c.node.op + "_backward", {c.x(0), c.x(1), c.dy}, c.node.attrs, "input"), nullptr};
}

// mean((x - t)^2): dx = 2 (x - t) / numel * dy.
static Values mse_loss(GradContext& c) {
  no_target_gradient(c);
  ir::Value* diff = c.op("sub", {c.x(0), c.x(1)}, {}, "diff");
  ir::Value* k = c.op("mul", {c.dy, c.scalar(2.f / static_cast<float>(c.x(0)->type.numel()), "scale")}, {}, "factor");
  return {c.op("mul", {diff, k}, {}, "input"), nullptr};
}

void register_nn_gradients(std::map<std::string, GradEntry>& t) {
  t["conv2d"] = {conv2d, ""};
  t["linear"] = {linear, ""};
  t["batch_norm"] = {batch_norm, ""};
  t["max_pool2d"] = {max_pool2d, ""};
  t["avg_pool2d"] = {avg_pool2d, ""};
  t["global_avg_pool"] = {global_avg_pool, ""};
  t["lrn"] = {lrn, ""};
  t["dropout"] = {dropout, ""};
  t["identity"] = {[](GradContext& c) { return Values{c.dy}; }, ""};
  for (const char* a : {"sigmoid", "tanh", "arctan", "relu", "relu6", "leaky_relu", "elu", "selu", "softplus", "silu",
                        "gelu", "hard_sigmoid", "hard_swish"})
    t[a] = {activation, ""};
  // A step function is flat wherever it is differentiable: its gradient is zero almost
  // everywhere, so nothing before it learns through it (a straight-through estimator
  // would be a different op).
  t["binary_step"] = {[](GradContext&) { return Values{nullptr}; }, ""};
  t["prelu"] = {prelu, ""};
  t["cross_entropy"] = {loss_backward, ""};
  t["binary_cross_entropy"] = {loss_backward, ""};
  t["mse_loss"] = {mse_loss, ""};
  // Ops a training step is built from, never differentiated themselves.
  for (const char* op : {"conv2d_backward_input", "conv2d_backward_weight", "activation_grad", "max_pool2d_backward",
                         "avg_pool2d_backward", "lrn_backward", "batch_norm_backward_input",
                         "batch_norm_backward_weight", "softmax_backward", "prelu_backward", "pad_backward", "cross_entropy_backward",
                         "binary_cross_entropy_backward"})
    t[op] = {nullptr, "it is a gradient op (second derivatives are not supported)"};
  t["batch_norm_running_stats"] = {nullptr, "it updates running statistics, a side computation of training"};
  t["batch_norm_stats"] = {nullptr, "the fuse-bn-stats pass adds it to training graphs after autodiff"};
  t["optimizer_update"] = {nullptr, "it is an optimizer step"};
  t["clip_grad_norm_scale"] = {nullptr, "it rescales gradients"};
  for (const char* op : {"batch_norm_fold_weight", "batch_norm_fold_bias"})
    t[op] = {nullptr, "it folds inference batch norm into weights (bn-fold, an inference-only pass)"};
}

}  // namespace strata::passes
