// Shape rules of the ops only a training step uses: losses, batch norm's running-statistics
// update, optimizer updates and gradient clipping.
#include <fmt/format.h>

#include <algorithm>

#include "ir/op_registry.h"

namespace strata::ir {

static const TensorType kScalar{DataType::f32, {1}};

static void expect_same(const Node& n, int a, int b) {
  if (n.inputs[a]->type.shape != n.inputs[b]->type.shape)
    input_error(n, b, fmt::format("must have the shape of {} {}", input_name(n, a), n.inputs[a]->type.str()));
}

static void expect_scalar(const Node& n, int i) {
  if (n.inputs[i]->type.shape != Shape{1}) input_error(n, i, fmt::format("must be f32[1], got {}", n.inputs[i]->type.str()));
}

static std::vector<TensorType> infer_running_stats(const Node& n) {
  const TensorType& x = n.inputs[0]->type;
  if (x.rank() != 2 && x.rank() != 4) input_error(n, 0, "expected rank 2 (N, C) or 4 (N, C, H, W)");
  expect_rank(n, 1, 1);
  if (n.inputs[1]->type.shape[0] != x.shape[1]) input_error(n, 1, fmt::format("must have {} elements", x.shape[1]));
  const std::string& s = n.attr_string("stat");
  if (s != "mean" && s != "var") shape_error(n, fmt::format("stat must be \"mean\" or \"var\", got \"{}\"", s));
  if (x.numel() / x.shape[1] < 2 && s == "var") input_error(n, 0, "the unbiased variance needs 2 or more values per channel");
  expect_batch_stats(n, 2, x.shape[1]);
  return {n.inputs[1]->type};
}

static std::vector<TensorType> infer_batch_stats(const Node& n) {
  const TensorType& x = n.inputs[0]->type;
  if (x.rank() != 2 && x.rank() != 4) input_error(n, 0, "expected rank 2 (N, C) or 4 (N, C, H, W)");
  if (x.numel() / x.shape[1] < 1) input_error(n, 0, "needs at least one value per channel");
  return {TensorType{DataType::f32, {2, x.shape[1]}}};
}

static std::vector<TensorType> infer_loss(const Node& n, bool backward) {
  expect_same(n, 0, 1);
  if (n.op.starts_with("cross_entropy")) {
    expect_rank(n, 0, 2);
    double ls = n.attr_float("label_smoothing");
    if (ls < 0 || ls > 1) shape_error(n, fmt::format("label_smoothing must be in [0, 1], got {}", ls));
  }
  if (!backward) return {kScalar};
  expect_scalar(n, 2);
  return {n.inputs[0]->type};
}

// PyTorch's optimizers, one state tensor each for momentum / RMSprop, two for Adam(W).
static int state_count(const std::string& opt) {
  if (opt == "sgd") return 0;
  if (opt == "momentum" || opt == "nesterov" || opt == "rmsprop") return 1;
  if (opt == "adam" || opt == "adamw") return 2;
  return -1;
}

static std::vector<TensorType> infer_optimizer_update(const Node& n) {
  const std::string& opt = n.attr_string("optimizer");
  int states = state_count(opt);
  if (states < 0)
    shape_error(n, fmt::format("unknown optimizer \"{}\" (sgd, momentum, nesterov, rmsprop, adam, adamw)", opt));
  if (static_cast<int>(n.inputs.size()) != 3 + states)
    shape_error(n, fmt::format("{} takes param, grad, hyper and {} state tensor(s), got {} inputs", opt, states,
                               n.inputs.size()));
  expect_same(n, 0, 1);
  for (int i = 3; i < 3 + states; ++i) expect_same(n, 0, i);
  if (n.inputs[2]->type.shape != Shape{2}) input_error(n, 2, "hyper must be f32[2] = {learning rate, step (from 1)}");
  int64_t result = n.attr_int("result");
  if (result < 0 || result > states)
    shape_error(n, fmt::format("result {} is out of range: 0 is the parameter, 1..{} its states", result, states));
  return {n.inputs[0]->type};
}

void register_training_ops(std::vector<OpDef>& t) {
  t.push_back({"batch_norm_stats", {"x"}, {}, infer_batch_stats, nullptr, OpClass::Other,
               "per channel: row 0 the batch mean, row 1 the biased variance (two passes over x); one node shared by "
               "a training batch norm's forward, running-statistics and gradient kernels (pass fuse-bn-stats)"});
  t.push_back({"batch_norm_running_stats", {"x", "running", "batch_stats?"},
               {{"stat", AttrKind::String, std::string("mean")}, {"momentum", AttrKind::Float, 0.1}},
               infer_running_stats, nullptr, OpClass::Other,
               "(1 - momentum) * running + momentum * the batch's mean or unbiased variance per channel (PyTorch)"});
  t.push_back({"cross_entropy", {"logits", "target"}, {{"label_smoothing", AttrKind::Float, 0.0}},
               [](const Node& n) { return infer_loss(n, false); }, nullptr, OpClass::Other,
               "mean over the batch of -sum_c q_c log_softmax(logits)_c, q = target (one-hot or probabilities) "
               "smoothed as (1 - label_smoothing) q + label_smoothing / C"});
  t.push_back({"cross_entropy_backward", {"logits", "target", "grad_output"}, {{"label_smoothing", AttrKind::Float, 0.0}},
               [](const Node& n) { return infer_loss(n, true); }, nullptr, OpClass::Other,
               "gradient of cross_entropy with respect to the logits"});
  t.push_back({"binary_cross_entropy", {"input", "target"}, {{"from_logits", AttrKind::Int, int64_t{0}}},
               [](const Node& n) { return infer_loss(n, false); }, nullptr, OpClass::Other,
               "mean of -(t log p + (1 - t) log(1 - p)); from_logits = 1 takes p = sigmoid(input), computed stably; "
               "log is clamped at -100 as in PyTorch"});
  t.push_back({"binary_cross_entropy_backward", {"input", "target", "grad_output"},
               {{"from_logits", AttrKind::Int, int64_t{0}}}, [](const Node& n) { return infer_loss(n, true); },
               nullptr, OpClass::Other, "gradient of binary_cross_entropy with respect to its input"});
  t.push_back({"mse_loss", {"input", "target"}, {}, [](const Node& n) { return infer_loss(n, false); }, nullptr,
               OpClass::Other, "mean of (input - target)^2"});
  t.push_back({"optimizer_update", {"param", "grad", "hyper", "state1?", "state2?"},
               {{"optimizer", AttrKind::String, std::string("sgd")}, {"result", AttrKind::Int, int64_t{0}},
                {"momentum", AttrKind::Float, 0.9}, {"beta1", AttrKind::Float, 0.9}, {"beta2", AttrKind::Float, 0.999},
                {"alpha", AttrKind::Float, 0.99}, {"eps", AttrKind::Float, 1e-8}, {"weight_decay", AttrKind::Float, 0.0},
                {"l1", AttrKind::Float, 0.0}, {"clip_value", AttrKind::Float, 0.0}},
               infer_optimizer_update, nullptr, OpClass::Other,
               "one optimizer step of one parameter, as PyTorch's SGD (momentum, nesterov), RMSprop, Adam and "
               "AdamW compute it; result 0 is the new parameter, 1 and 2 the new state tensors; hyper = "
               "{learning rate, step}; the gradient is clamped to +-clip_value first when clip_value > 0"});
  t.push_back({"clip_grad_norm_scale", {"sum_of_squares"}, {{"max_norm", AttrKind::Float, 1.0}},
               [](const Node& n) {
                 expect_scalar(n, 0);
                 if (n.attr_float("max_norm") <= 0) shape_error(n, "max_norm must be positive");
                 return std::vector<TensorType>{kScalar};
               },
               nullptr, OpClass::Other,
               "min(1, max_norm / (sqrt(sum_of_squares) + 1e-6)): the factor clip_grad_norm_ multiplies gradients by"});
}

}  // namespace strata::ir
