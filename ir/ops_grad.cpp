// Shape rules of the gradient ops autodiff emits (DESIGN.md: the backward pass is itself
// a graph). conv2d's two gradient ops live with conv2d in ops_nn.cpp.
#include <fmt/format.h>

#include <algorithm>

#include "ir/op_registry.h"

namespace strata::ir {

using Ints = std::vector<int64_t>;

static void expect_same(const Node& n, int a, int b) {
  if (n.inputs[a]->type.shape != n.inputs[b]->type.shape)
    input_error(n, b, fmt::format("must have the shape of {} {}", input_name(n, a), n.inputs[a]->type.str()));
}

// The activations activation_grad knows, with the attributes each reads.
static const std::vector<std::string>& differentiable_activations() {
  static const std::vector<std::string> names{"identity", "sigmoid", "tanh", "arctan", "relu", "relu6",
                                              "leaky_relu", "elu", "selu", "softplus", "silu", "gelu",
                                              "hard_sigmoid", "hard_swish"};
  return names;
}

static std::vector<TensorType> infer_activation_grad(const Node& n) {
  expect_same(n, 0, 1);
  const std::string& a = n.attr_string("activation");
  const auto& known = differentiable_activations();
  if (std::find(known.begin(), known.end(), a) == known.end())
    shape_error(n, fmt::format("activation_grad has no derivative for '{}'", a));
  return {n.inputs[0]->type};
}

static std::vector<TensorType> infer_max_pool_backward(const Node& n) {
  expect_rank(n, 0, 4);
  Shape y = pool_output_shape(n, n.inputs[0]->type.shape);
  if (n.inputs[1]->type.shape != y)
    input_error(n, 1, fmt::format("pooling {} gives {}, grad_output is {}", n.inputs[0]->type.str(), shape_str(y),
                                  n.inputs[1]->type.str()));
  return {n.inputs[0]->type};
}

static std::vector<TensorType> infer_avg_pool_backward(const Node& n) {
  expect_rank(n, 0, 4);
  Shape x = n.attr_ints("input_shape");
  Shape y = pool_output_shape(n, x);
  if (n.inputs[0]->type.shape != y)
    input_error(n, 0, fmt::format("pooling {} gives {}, grad_output is {}", shape_str(x), shape_str(y),
                                  n.inputs[0]->type.str()));
  return {TensorType{DataType::f32, x}};
}

static std::vector<TensorType> infer_same_as_first_and_last(const Node& n) {
  expect_same(n, 0, static_cast<int>(n.inputs.size()) - 1);
  return {n.inputs[0]->type};
}

// Inputs: x, [weight,] running_mean, running_var, grad_output, then the optional batch_stats
// and, for the input gradient, grad_weight and grad_bias (the two sums the formula needs).
static std::vector<TensorType> infer_bn_backward(const Node& n, bool weight) {
  const TensorType& x = n.inputs[0]->type;
  if (x.rank() != 2 && x.rank() != 4) input_error(n, 0, "expected rank 2 (N, C) or 4 (N, C, H, W)");
  int dy = weight ? 3 : 4;
  expect_same(n, 0, dy);
  for (int i = 1; i < static_cast<int>(n.inputs.size()); ++i) {
    if (i == dy) continue;
    if (i == dy + 1) {
      expect_batch_stats(n, i, x.shape[1]);
      continue;
    }
    expect_rank(n, i, 1);
    if (n.inputs[i]->type.shape[0] != x.shape[1]) input_error(n, i, fmt::format("must have {} elements", x.shape[1]));
  }
  if (n.inputs.size() == static_cast<size_t>(dy + 3)) input_error(n, dy + 2, "grad_weight needs grad_bias after it");
  if (weight && n.attr_int("with_bias")) return {TensorType{DataType::f32, {2, x.shape[1]}}};
  if (weight) return {TensorType{DataType::f32, {x.shape[1]}}};
  return {x};
}

static std::vector<TensorType> infer_softmax_backward(const Node& n) {
  expect_same(n, 0, 1);
  normalize_axis(n, n.attr_int("axis"), n.inputs[0]->type.rank());
  return {n.inputs[0]->type};
}

static std::vector<TensorType> infer_prelu_backward(const Node& n) {
  expect_same(n, 0, 2);
  const std::string& wrt = n.attr_string("wrt");
  if (wrt == "input") return {n.inputs[0]->type};
  if (wrt == "slope") return {n.inputs[1]->type};
  shape_error(n, fmt::format("wrt must be \"input\" or \"slope\", got \"{}\"", wrt));
}

// The forward pad of input_shape must give grad_output's shape.
static std::vector<TensorType> infer_pad_backward(const Node& n) {
  Shape x = n.attr_ints("input_shape");
  const auto& p = n.attr_ints("pads");
  const Shape& dy = n.inputs[0]->type.shape;
  if (x.size() != dy.size() || p.size() != 2 * x.size())
    shape_error(n, fmt::format("input_shape {} and pads {} do not fit grad_output {}", shape_str(x), attr_str(n.attrs.at("pads")),
                               shape_str(dy)));
  const std::string& mode = n.attr_string("mode");
  if (mode != "reflect" && mode != "edge") shape_error(n, fmt::format("mode must be \"reflect\" or \"edge\", got \"{}\"", mode));
  for (size_t d = 0; d < x.size(); ++d) {
    if (p[d] < 0 || p[d + x.size()] < 0 || x[d] + p[d] + p[d + x.size()] != dy[d])
      shape_error(n, fmt::format("padding {} by {} does not give grad_output {}", shape_str(x), attr_str(n.attrs.at("pads")),
                                 shape_str(dy)));
    if (mode == "reflect" && (p[d] >= x[d] || p[d + x.size()] >= x[d]))
      shape_error(n, fmt::format("reflect padding of dimension {} must be smaller than its size {}", d, x[d]));
  }
  return {TensorType{DataType::f32, x}};
}

void register_gradient_ops(std::vector<OpDef>& t) {
  const Ints zero4{0, 0, 0, 0};
  t.push_back({"activation_grad", {"x", "grad_output"},
               {{"activation", AttrKind::String, std::string("relu")}, {"alpha", AttrKind::Float, 0.0},
                {"beta", AttrKind::Float, 0.0}, {"threshold", AttrKind::Float, 0.0},
                {"approximate", AttrKind::String, std::string("none")}},
               infer_activation_grad, nullptr, OpClass::Other,
               "grad_output * f'(x) for the elementwise activation f named by `activation` (its attributes copied)"});
  auto pool_attrs = [&](bool avg) {
    std::vector<AttrDef> a{{"kernel_size", AttrKind::Ints, Ints{2, 2}}, {"stride", AttrKind::Ints, Ints{}},
                           {"padding", AttrKind::Ints, zero4}, {"ceil_mode", AttrKind::Int, int64_t{0}}};
    if (avg) {
      a.push_back({"count_include_pad", AttrKind::Int, int64_t{1}});
      a.push_back({"input_shape", AttrKind::Ints, Ints{}});
    }
    return a;
  };
  t.push_back({"max_pool2d_backward", {"x", "grad_output"}, pool_attrs(false), infer_max_pool_backward, nullptr,
               OpClass::Other,
               "routes grad_output to the first maximum of each window, recomputed from x (PyTorch's tie rule)"});
  t.push_back({"avg_pool2d_backward", {"grad_output"}, pool_attrs(true), infer_avg_pool_backward, nullptr,
               OpClass::Other, "spreads grad_output over each window, divided by the forward divisor"});
  t.push_back({"lrn_backward", {"x", "grad_output"},
               {{"size", AttrKind::Int, int64_t{5}}, {"alpha", AttrKind::Float, 1e-4},
                {"beta", AttrKind::Float, 0.75}, {"k", AttrKind::Float, 1.0}},
               infer_same_as_first_and_last, nullptr, OpClass::Other, "gradient of lrn with respect to x"});
  t.push_back({"batch_norm_backward_input",
               {"x", "weight", "running_mean", "running_var", "grad_output", "batch_stats?", "grad_weight?", "grad_bias?"},
               {{"eps", AttrKind::Float, 1e-5}, {"training", AttrKind::Int, int64_t{1}}},
               [](const Node& n) { return infer_bn_backward(n, false); }, nullptr, OpClass::Other,
               "gradient of batch_norm with respect to x: through the batch statistics when training = 1, "
               "a per-channel scale with the running statistics otherwise; batch_stats, grad_weight and grad_bias, "
               "when given, are the batch statistics and the two per-channel sums the formula needs"});
  t.push_back({"batch_norm_backward_weight", {"x", "running_mean", "running_var", "grad_output", "batch_stats?"},
               {{"eps", AttrKind::Float, 1e-5}, {"training", AttrKind::Int, int64_t{1}}, {"with_bias", AttrKind::Int, int64_t{0}}},
               [](const Node& n) { return infer_bn_backward(n, true); }, nullptr, OpClass::Other,
               "gradient of batch_norm with respect to its weight (gamma): sum of grad_output * x_hat per channel; "
               "with_bias = 1 gives [2, C], the bias (beta) gradient, sum of grad_output, as its second row "
               "(both sums in one pass over grad_output)"});
  t.push_back({"softmax_backward", {"y", "grad_output"},
               {{"axis", AttrKind::Int, int64_t{-1}}, {"log", AttrKind::Int, int64_t{0}}}, infer_softmax_backward,
               nullptr, OpClass::Other,
               "gradient of softmax (log = 0) or log_softmax (log = 1) from its output y"});
  t.push_back({"pad_backward", {"grad_output"},
               {{"pads", AttrKind::Ints, Ints{}}, {"mode", AttrKind::String, std::string("reflect")},
                {"input_shape", AttrKind::Ints, Ints{}}},
               infer_pad_backward, nullptr, OpClass::Other,
               "gradient of pad in reflect or edge mode: each input element sums grad_output over the positions "
               "that copied it (constant mode's gradient is a slice)"});
  t.push_back({"prelu_backward", {"x", "slope", "grad_output"}, {{"wrt", AttrKind::String, std::string("input")}},
               infer_prelu_backward, nullptr, OpClass::Other,
               "gradient of prelu with respect to x (wrt = \"input\") or its slope (wrt = \"slope\")"});
}

}  // namespace strata::ir
