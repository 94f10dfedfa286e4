// Shape rules of the layers: conv2d, linear, batch_norm, pools, lrn, dropout.
#include <fmt/format.h>

#include "ir/op_registry.h"

namespace strata::ir {

using Ints = std::vector<int64_t>;

static void expect_pair(const Node& n, const std::string& attr, bool allow_empty = false) {
  const auto& v = n.attr_ints(attr);
  if (allow_empty && v.empty()) return;
  if (v.size() != 2)
    shape_error(n, fmt::format("attribute '{}' must have 2 values {{h, w}}, got {}", attr, attr_str(n.attrs.at(attr))));
  for (auto x : v)
    if (x < 1) shape_error(n, fmt::format("attribute '{}' must be positive, got {}", attr, attr_str(n.attrs.at(attr))));
}

static void expect_nonneg_padding(const Node& n, const std::array<int64_t, 4>& p) {
  for (auto x : p)
    if (x < 0) shape_error(n, fmt::format("padding must not be negative, got {}", attr_str(n.attrs.at("padding"))));
}

static int64_t conv_out(const Node& n, int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1) {
  int64_t span = d * (k - 1) + 1;
  if (in + p0 + p1 < span)
    shape_error(n, fmt::format("the (dilated) kernel extent {} is larger than the padded input {}", span, in + p0 + p1));
  return (in + p0 + p1 - span) / s + 1;
}

static std::vector<TensorType> infer_conv2d(const Node& n) {
  expect_rank(n, 0, 4);
  expect_rank(n, 1, 4);
  expect_pair(n, "stride");
  expect_pair(n, "dilation");
  const std::string& ap = n.attr_string("auto_pad");
  if (ap != "explicit" && ap != "same") shape_error(n, fmt::format("auto_pad must be \"explicit\" or \"same\", got \"{}\"", ap));
  const Shape& x = n.inputs[0]->type.shape;
  const Shape& w = n.inputs[1]->type.shape;
  int64_t g = n.attr_int("groups");
  if (g < 1) shape_error(n, fmt::format("groups must be >= 1, got {}", g));
  if (x[1] % g != 0) input_error(n, 0, fmt::format("{} input channels are not divisible by groups = {}", x[1], g));
  if (w[0] % g != 0) input_error(n, 1, fmt::format("{} output channels are not divisible by groups = {}", w[0], g));
  if (w[1] != x[1] / g)
    input_error(n, 1, fmt::format("weight expects {} input channels per group, but the input has {} channels / {} groups = {}",
                                  w[1], x[1], g, x[1] / g));
  if (n.inputs.size() == 3) {
    expect_rank(n, 2, 1);
    if (n.inputs[2]->type.shape[0] != w[0])
      input_error(n, 2, fmt::format("bias must have {} elements (one per output channel)", w[0]));
  }
  auto p = conv_padding(n);
  expect_nonneg_padding(n, p);
  const auto& s = n.attr_ints("stride");
  const auto& d = n.attr_ints("dilation");
  int64_t oh = conv_out(n, x[2], w[2], s[0], d[0], p[0], p[2]);
  int64_t ow = conv_out(n, x[3], w[3], s[1], d[1], p[1], p[3]);
  return {TensorType{DataType::f32, {x[0], w[0], oh, ow}}};
}

// Pool output size with PyTorch's ceil_mode rule: the last window must start inside the
// input or the left padding.
static int64_t pool_out(const Node& n, int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1, bool ceil_mode) {
  if (in + p0 + p1 < k) shape_error(n, fmt::format("kernel {} is larger than the padded input {}", k, in + p0 + p1));
  int64_t num = in + p0 + p1 - k;
  int64_t out = (ceil_mode ? (num + s - 1) / s : num / s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p0) --out;
  return out;
}

Shape pool_output_shape(const Node& n, const Shape& x) {
  if (x.size() != 4) shape_error(n, fmt::format("pooling needs a rank-4 input, got {}", shape_str(x)));
  expect_pair(n, "kernel_size");
  expect_pair(n, "stride", true);
  auto k = n.attr_ints("kernel_size");
  auto s = n.attr_ints("stride");
  if (s.empty()) s = k;
  auto p = conv_padding(n);
  expect_nonneg_padding(n, p);
  for (int i = 0; i < 2; ++i)
    if (std::max(p[i], p[i + 2]) * 2 > k[i])
      shape_error(n, fmt::format("padding {} must be at most half the kernel size {}", std::max(p[i], p[i + 2]), k[i]));
  bool cm = n.attr_int("ceil_mode") != 0;
  return {x[0], x[1], pool_out(n, x[2], k[0], s[0], p[0], p[2], cm), pool_out(n, x[3], k[1], s[1], p[1], p[3], cm)};
}

static std::vector<TensorType> infer_pool(const Node& n) {
  expect_rank(n, 0, 4);
  return {TensorType{DataType::f32, pool_output_shape(n, n.inputs[0]->type.shape)}};
}

// The gradients of conv2d (as aten::convolution_backward): the convolution's attributes
// (explicit padding) plus the shape of what is differentiated.
static void check_conv_backward(const Node& n, const Shape& x, const Shape& w, const Shape& dy) {
  expect_pair(n, "stride");
  expect_pair(n, "dilation");
  int64_t g = n.attr_int("groups");
  if (x.size() != 4 || w.size() != 4) shape_error(n, "input_shape and weight shape must have 4 dimensions");
  if (g < 1 || x[1] % g || w[0] % g || w[1] != x[1] / g)
    shape_error(n, fmt::format("input {} and weight {} do not fit groups = {}", shape_str(x), shape_str(w), g));
  auto p = conv_padding(n);
  expect_nonneg_padding(n, p);
  const auto& s = n.attr_ints("stride");
  const auto& d = n.attr_ints("dilation");
  Shape want{x[0], w[0], conv_out(n, x[2], w[2], s[0], d[0], p[0], p[2]), conv_out(n, x[3], w[3], s[1], d[1], p[1], p[3])};
  if (dy != want)
    shape_error(n, fmt::format("grad_output is {} but the convolution of {} by {} gives {}", shape_str(dy), shape_str(x),
                               shape_str(w), shape_str(want)));
}

static std::vector<TensorType> infer_conv2d_backward_input(const Node& n) {
  expect_rank(n, 0, 4);
  expect_rank(n, 1, 4);
  Shape x = n.attr_ints("input_shape");
  check_conv_backward(n, x, n.inputs[1]->type.shape, n.inputs[0]->type.shape);
  return {TensorType{DataType::f32, x}};
}

static std::vector<TensorType> infer_conv2d_backward_weight(const Node& n) {
  expect_rank(n, 0, 4);
  expect_rank(n, 1, 4);
  Shape w = n.attr_ints("weight_shape");
  check_conv_backward(n, n.inputs[0]->type.shape, w, n.inputs[1]->type.shape);
  return {TensorType{DataType::f32, w}};
}

static std::vector<TensorType> infer_linear(const Node& n) {
  expect_rank(n, 0, 2);
  expect_rank(n, 1, 2);
  const Shape& x = n.inputs[0]->type.shape;
  const Shape& w = n.inputs[1]->type.shape;
  if (w[1] != x[1])
    input_error(n, 1, fmt::format("weight [out, in] expects {} input features, but the input has {}", w[1], x[1]));
  if (n.inputs.size() == 3) {
    expect_rank(n, 2, 1);
    if (n.inputs[2]->type.shape[0] != w[0]) input_error(n, 2, fmt::format("bias must have {} elements", w[0]));
  }
  return {TensorType{DataType::f32, {x[0], w[0]}}};
}

static std::vector<TensorType> infer_batch_norm(const Node& n) {
  const TensorType& x = n.inputs[0]->type;
  if (x.rank() != 2 && x.rank() != 4) input_error(n, 0, "expected rank 2 (N, C) or 4 (N, C, H, W)");
  for (int i = 1; i < 5; ++i) {
    expect_rank(n, i, 1);
    if (n.inputs[i]->type.shape[0] != x.shape[1])
      input_error(n, i, fmt::format("must have {} elements (one per channel)", x.shape[1]));
  }
  if (n.attr_float("eps") <= 0) shape_error(n, "eps must be positive");
  expect_batch_stats(n, 5, x.shape[1]);
  return {x};
}

static std::vector<TensorType> infer_lrn(const Node& n) {
  expect_rank(n, 0, 4);
  if (n.attr_int("size") < 1) shape_error(n, "size must be >= 1");
  return {n.inputs[0]->type};
}

static std::vector<TensorType> infer_global_avg_pool(const Node& n) {
  expect_rank(n, 0, 4);
  const Shape& x = n.inputs[0]->type.shape;
  return {TensorType{DataType::f32, {x[0], x[1], 1, 1}}};
}

static std::vector<TensorType> infer_dropout(const Node& n) {
  double p = n.attr_float("p");
  if (p < 0 || p >= 1) shape_error(n, fmt::format("p must be in [0, 1), got {}", p));
  if (n.attr_int("training") && n.inputs.size() < 2)
    shape_error(n, "training-mode dropout needs its seed input (the step's random seed, f32[1])");
  if (n.inputs.size() == 2 && n.inputs[1]->type.shape != Shape{1}) input_error(n, 1, "seed must be f32[1]");
  const std::string& mode = n.attr_string("mode");
  if (mode != "element" && mode != "row")
    shape_error(n, fmt::format("mode must be \"element\" or \"row\", got \"{}\"", mode));
  return {n.inputs[0]->type};
}

// bn-fold's ops: the folded weight keeps the weight's shape (output channels first), the
// folded bias is one value per output channel.
static std::vector<TensorType> infer_bn_fold_weight(const Node& n) {
  const Shape& w = n.inputs[0]->type.shape;
  if (w.size() < 2) input_error(n, 0, "weight must have the output channels first and rank >= 2");
  for (int i : {1, 2})
    if (n.inputs[i]->type.shape != Shape{w[0]}) input_error(n, i, fmt::format("must be [{}]", w[0]));
  return {n.inputs[0]->type};
}

static std::vector<TensorType> infer_bn_fold_bias(const Node& n) {
  const Shape& c = n.inputs[0]->type.shape;
  if (c.size() != 1) input_error(n, 0, "must be rank 1 (one value per channel)");
  for (size_t i = 1; i < n.inputs.size(); ++i)
    if (n.inputs[i]->type.shape != c) input_error(n, static_cast<int>(i), fmt::format("must be [{}]", c[0]));
  return {n.inputs[0]->type};
}

void register_nn_ops(std::vector<OpDef>& t) {
  const Ints one{1, 1}, zero4{0, 0, 0, 0};
  t.push_back({"conv2d", {"x", "weight", "bias?"},
               {{"stride", AttrKind::Ints, one}, {"padding", AttrKind::Ints, zero4},
                {"dilation", AttrKind::Ints, one}, {"groups", AttrKind::Int, int64_t{1}},
                {"auto_pad", AttrKind::String, std::string("explicit")}},
               infer_conv2d,
               [](const Node& n) {
                 const Shape& o = n.outputs[0]->type.shape;
                 const Shape& w = n.inputs[1]->type.shape;
                 return num_elements(o) * w[1] * w[2] * w[3];
               },
               OpClass::Other,
               "2-D convolution, NCHW input, OIHW weight; padding {top, left, bottom, right}; "
               "groups == channels is depthwise"});
  auto conv_attrs = [&](const char* shape_attr) {
    return std::vector<AttrDef>{{"stride", AttrKind::Ints, one}, {"padding", AttrKind::Ints, zero4},
                                {"dilation", AttrKind::Ints, one}, {"groups", AttrKind::Int, int64_t{1}},
                                {shape_attr, AttrKind::Ints, Ints{}}};
  };
  auto conv_backward_macs = [](const Node& n) {  // the forward convolution's count
    const Shape& dy = n.op == "conv2d_backward_input" ? n.inputs[0]->type.shape : n.inputs[1]->type.shape;
    const Shape& w = n.op == "conv2d_backward_input" ? n.inputs[1]->type.shape : n.outputs[0]->type.shape;
    return num_elements(dy) * w[1] * w[2] * w[3];
  };
  t.push_back({"conv2d_backward_input", {"grad_output", "weight"}, conv_attrs("input_shape"), infer_conv2d_backward_input,
               conv_backward_macs, OpClass::Other,
               "gradient of conv2d with respect to its input (a transposed convolution of grad_output)"});
  t.push_back({"conv2d_backward_weight", {"x", "grad_output"}, conv_attrs("weight_shape"), infer_conv2d_backward_weight,
               conv_backward_macs, OpClass::Other,
               "gradient of conv2d with respect to its weight (input correlated with grad_output)"});
  t.push_back({"linear", {"x", "weight", "bias?"}, {}, infer_linear,
               [](const Node& n) { return num_elements(n.outputs[0]->type.shape) * n.inputs[1]->type.shape[1]; },
               OpClass::Other, "y = x W^T + b, weight [out, in] as in PyTorch"});
  t.push_back({"batch_norm", {"x", "weight", "bias", "running_mean", "running_var", "batch_stats?"},
               {{"eps", AttrKind::Float, 1e-5}, {"momentum", AttrKind::Float, 0.1}, {"training", AttrKind::Int, int64_t{0}}},
               infer_batch_norm, nullptr, OpClass::Other,
               "(x - mean) / sqrt(var + eps) * weight + bias per channel; mean and var are the running statistics, "
               "or with training = 1 the batch's (biased) statistics, read from batch_stats when given"});
  t.push_back({"max_pool2d", {"x"},
               {{"kernel_size", AttrKind::Ints, Ints{2, 2}}, {"stride", AttrKind::Ints, Ints{}},
                {"padding", AttrKind::Ints, zero4}, {"ceil_mode", AttrKind::Int, int64_t{0}}},
               infer_pool, nullptr, OpClass::Other, "max pooling; empty stride means stride = kernel_size"});
  t.push_back({"avg_pool2d", {"x"},
               {{"kernel_size", AttrKind::Ints, Ints{2, 2}}, {"stride", AttrKind::Ints, Ints{}},
                {"padding", AttrKind::Ints, zero4}, {"ceil_mode", AttrKind::Int, int64_t{0}},
                {"count_include_pad", AttrKind::Int, int64_t{1}}},
               infer_pool, nullptr, OpClass::Other, "average pooling with PyTorch's divisor rules"});
  t.push_back({"global_avg_pool", {"x"}, {}, infer_global_avg_pool, nullptr, OpClass::Other,
               "mean over H and W, keeps them as 1x1"});
  t.push_back({"lrn", {"x"},
               {{"size", AttrKind::Int, int64_t{5}}, {"alpha", AttrKind::Float, 1e-4},
                {"beta", AttrKind::Float, 0.75}, {"k", AttrKind::Float, 1.0}},
               infer_lrn, nullptr, OpClass::Other,
               "local response normalization across channels (AlexNet; PyTorch's LocalResponseNorm)"});
  t.push_back({"batch_norm_fold_weight", {"weight", "bn_weight", "running_var"}, {{"eps", AttrKind::Float, 1e-5}},
               infer_bn_fold_weight, nullptr, OpClass::Other,
               "weight * bn_weight / sqrt(running_var + eps) per output channel (axis 0): batch norm folded into "
               "the conv2d or linear before it (bn-fold)"});
  t.push_back({"batch_norm_fold_bias", {"bn_weight", "bn_bias", "running_mean", "running_var", "bias?"},
               {{"eps", AttrKind::Float, 1e-5}}, infer_bn_fold_bias, nullptr, OpClass::Other,
               "(bias - running_mean) * bn_weight / sqrt(running_var + eps) + bn_bias, bias 0 when absent (bn-fold)"});
  t.push_back({"dropout", {"x", "seed?"},
               {{"p", AttrKind::Float, 0.5}, {"training", AttrKind::Int, int64_t{0}}, {"salt", AttrKind::Int, int64_t{0}},
                {"mode", AttrKind::String, std::string("element")}},
               infer_dropout, nullptr, OpClass::Other,
               "identity at inference; with training = 1, zeroes each element (mode \"element\") or each sample's "
               "whole tensor (mode \"row\": stochastic depth, Huang et al. 2016, torchvision's StochasticDepth) with "
               "probability p and scales the rest by 1 / (1 - p); the mask is a hash of (seed, salt, element or "
               "sample index), so it is reproducible"});
}

}  // namespace strata::ir
