#include "frontend/layers.h"

#include <fmt/format.h>

#include "ir/error.h"
#include "ir/op_registry.h"

namespace strata::dsl {

using Ints = std::vector<int64_t>;

static ir::InitSpec xavier() { return ir::InitSpec{"xavier_uniform", {}}; }
static ir::InitSpec constant_init(double v) { return ir::InitSpec{"constant", {{"value", v}}}; }

Tensor conv2d(Tensor x, int64_t out_channels, std::array<int64_t, 2> k, Conv2dOptions o) {
  Model& m = x.model();
  if (x.rank() != 4)
    throw Error(fmt::format("conv2d '{}': input '{}' must be N, C, H, W; got {}", o.name, x.name(), x.value()->type.str()));
  if (o.groups < 1 || x.channels() % o.groups != 0)
    throw Error(fmt::format("conv2d '{}': {} input channels of '{}' are not divisible by groups = {}", o.name, x.channels(),
                            x.name(), o.groups));
  if (out_channels < 1 || out_channels % o.groups != 0)
    throw Error(fmt::format("conv2d '{}': out_channels = {} must be positive and divisible by groups = {}", o.name,
                            out_channels, o.groups));
  std::string name = m.layer_name(o.name, "conv");
  Tensor w = m.parameter(name + ".weight", {out_channels, x.channels() / o.groups, k[0], k[1]}, o.init.value_or(xavier()));
  if (!o.init) m.mark_default_init(w.value());
  std::vector<Tensor> ins{x, w};
  if (o.bias) ins.push_back(m.parameter(name + ".bias", {out_channels}, ir::InitSpec{"zeros", {}}));
  std::array<int64_t, 4> p = o.pads.value_or(std::array<int64_t, 4>{o.padding, o.padding, o.padding, o.padding});
  ir::AttrMap attrs{{"stride", Ints{o.stride, o.stride}},
                    {"padding", Ints(p.begin(), p.end())},
                    {"dilation", Ints{o.dilation, o.dilation}},
                    {"groups", o.groups},
                    {"auto_pad", std::string(o.same ? "same" : "explicit")}};
  return m.apply("conv2d", ins, attrs, name);
}

Tensor conv2d(Tensor x, int64_t out_channels, int64_t kernel_size, Conv2dOptions o) {
  return conv2d(x, out_channels, {kernel_size, kernel_size}, std::move(o));
}

Tensor depthwise_conv2d(Tensor x, int64_t kernel_size, Conv2dOptions o, int64_t multiplier) {
  o.groups = x.channels();
  return conv2d(x, x.channels() * multiplier, kernel_size, std::move(o));
}

Tensor linear(Tensor x, int64_t out_features, LinearOptions o) {
  Model& m = x.model();
  if (x.rank() != 2)
    throw Error(fmt::format("linear '{}': input '{}' must be N, features (flatten it first); got {}", o.name, x.name(),
                            x.value()->type.str()));
  std::string name = m.layer_name(o.name, "fc");
  Tensor w = m.parameter(name + ".weight", {out_features, x.dim(1)}, o.init.value_or(xavier()));
  if (!o.init) m.mark_default_init(w.value());
  std::vector<Tensor> ins{x, w};
  if (o.bias) ins.push_back(m.parameter(name + ".bias", {out_features}, ir::InitSpec{"zeros", {}}));
  return m.apply("linear", ins, {}, name);
}

Tensor batch_norm(Tensor x, BatchNormOptions o) {
  Model& m = x.model();
  if (x.rank() != 2 && x.rank() != 4)
    throw Error(fmt::format("batch_norm '{}': input '{}' must be rank 2 or 4; got {}", o.name, x.name(), x.value()->type.str()));
  std::string name = m.layer_name(o.name, "bn");
  int64_t c = x.channels();
  Tensor gamma = m.parameter(name + ".weight", {c}, ir::InitSpec{"ones", {}});
  Tensor beta = m.parameter(name + ".bias", {c}, ir::InitSpec{"zeros", {}});
  // Running statistics are buffers (torchvision does not count them as parameters).
  Tensor mean = m.parameter(name + ".running_mean", {c}, ir::InitSpec{"zeros", {}}, false);
  Tensor var = m.parameter(name + ".running_var", {c}, ir::InitSpec{"ones", {}}, false);
  return m.apply("batch_norm", {x, gamma, beta, mean, var}, {{"eps", o.eps}, {"momentum", o.momentum}}, name);
}

static Tensor pool(const char* op, const char* prefix, Tensor x, int64_t k, const PoolOptions& o) {
  Model& m = x.model();
  int64_t s = o.stride == 0 ? k : o.stride;
  ir::AttrMap attrs{{"kernel_size", Ints{k, k}},
                    {"stride", Ints{s, s}},
                    {"padding", Ints{o.padding, o.padding, o.padding, o.padding}},
                    {"ceil_mode", int64_t{o.ceil_mode}}};
  if (std::string(op) == "avg_pool2d") attrs["count_include_pad"] = int64_t{o.count_include_pad};
  return m.apply(op, {x}, attrs, m.layer_name(o.name, prefix));
}

Tensor max_pool2d(Tensor x, int64_t k, PoolOptions o) { return pool("max_pool2d", "maxpool", x, k, o); }
Tensor avg_pool2d(Tensor x, int64_t k, PoolOptions o) { return pool("avg_pool2d", "avgpool", x, k, o); }

Tensor global_avg_pool(Tensor x, const std::string& name) {
  return x.model().apply("global_avg_pool", {x}, {}, x.model().layer_name(name, "avgpool"));
}

Tensor lrn(Tensor x, LrnOptions o) {
  return x.model().apply("lrn", {x}, {{"size", o.size}, {"alpha", o.alpha}, {"beta", o.beta}, {"k", o.k}},
                         x.model().layer_name(o.name, "lrn"));
}

Tensor dropout(Tensor x, double p, const std::string& name) {
  return x.model().apply("dropout", {x}, {{"p", p}}, x.model().layer_name(name, "dropout"));
}

Tensor stochastic_depth(Tensor x, double p, const std::string& name) {
  return x.model().apply("dropout", {x}, {{"p", p}, {"mode", std::string("row")}},
                         x.model().layer_name(name, "stochastic_depth"));
}

Tensor flatten(Tensor x, int64_t start_dim, int64_t end_dim) {
  return x.model().apply("flatten", {x}, {{"start_dim", start_dim}, {"end_dim", end_dim}}, x.model().layer_name("", "flatten"));
}

Tensor reshape(Tensor x, std::vector<int64_t> shape) {
  return x.model().apply("reshape", {x}, {{"shape", std::move(shape)}}, x.model().layer_name("", "reshape"));
}

Tensor concat(std::vector<Tensor> xs, int64_t axis, const std::string& name) {
  if (xs.empty()) throw Error("concat of no tensors");
  Model& m = xs[0].model();
  return m.apply("concat", xs, {{"axis", axis}}, m.layer_name(name, "concat"));
}

Tensor pad(Tensor x, std::vector<int64_t> pads, const std::string& mode, double value) {
  return x.model().apply("pad", {x}, {{"pads", std::move(pads)}, {"mode", mode}, {"value", value}},
                         x.model().layer_name("", "pad"));
}

static Tensor binary(const char* op, Tensor a, Tensor b, const std::string& name) {
  return a.model().apply(op, {a, b}, {}, a.model().layer_name(name, op));
}
Tensor add(Tensor a, Tensor b, const std::string& name) { return binary("add", a, b, name); }
Tensor sub(Tensor a, Tensor b, const std::string& name) { return binary("sub", a, b, name); }
Tensor mul(Tensor a, Tensor b, const std::string& name) { return binary("mul", a, b, name); }
Tensor div(Tensor a, Tensor b, const std::string& name) { return binary("div", a, b, name); }

Tensor scalar(Tensor like, double v) {
  return like.model().constant("scalar", HostTensor({1}, std::vector<float>{static_cast<float>(v)}));
}

Tensor cross_entropy(Tensor logits, Tensor target, double label_smoothing) {
  return logits.model().apply("cross_entropy", {logits, target}, {{"label_smoothing", label_smoothing}},
                              logits.model().layer_name("", "cross_entropy"));
}

Tensor binary_cross_entropy(Tensor input, Tensor target, bool from_logits) {
  return input.model().apply("binary_cross_entropy", {input, target}, {{"from_logits", int64_t{from_logits}}},
                             input.model().layer_name("", "binary_cross_entropy"));
}

Tensor mse_loss(Tensor input, Tensor target) {
  return input.model().apply("mse_loss", {input, target}, {}, input.model().layer_name("", "mse_loss"));
}

Tensor softmax(Tensor x, int64_t axis) {
  return x.model().apply("softmax", {x}, {{"axis", axis}}, x.model().layer_name("", "softmax"));
}
Tensor log_softmax(Tensor x, int64_t axis) {
  return x.model().apply("log_softmax", {x}, {{"axis", axis}}, x.model().layer_name("", "log_softmax"));
}

static Tensor act(const char* op, Tensor x, ir::AttrMap attrs = {}) {
  return x.model().apply(op, {x}, std::move(attrs), x.model().layer_name("", op));
}

Tensor identity(Tensor x) { return act("identity", x); }
Tensor binary_step(Tensor x) { return act("binary_step", x); }
Tensor sigmoid(Tensor x) { return act("sigmoid", x); }
Tensor tanh(Tensor x) {
  x.model().hint_nonlinearity(x, "tanh");
  return act("tanh", x);
}
Tensor arctan(Tensor x) { return act("arctan", x); }
Tensor relu(Tensor x) {
  x.model().hint_nonlinearity(x, "relu");
  return act("relu", x);
}
Tensor relu6(Tensor x) {
  x.model().hint_nonlinearity(x, "relu");
  return act("relu6", x);
}
Tensor leaky_relu(Tensor x, double alpha) {
  x.model().hint_nonlinearity(x, "leaky_relu", alpha);
  return act("leaky_relu", x, {{"alpha", alpha}});
}
Tensor prelu(Tensor x, bool per_channel, const std::string& name) {
  Model& m = x.model();
  x.model().hint_nonlinearity(x, "leaky_relu", 0.25);
  std::string n = m.layer_name(name, "prelu");
  Tensor slope = m.parameter(n + ".weight", {per_channel && x.rank() >= 2 ? x.channels() : 1}, constant_init(0.25));
  return m.apply("prelu", {x, slope}, {}, n);
}
Tensor elu(Tensor x, double alpha) {
  x.model().hint_nonlinearity(x, "relu");
  return act("elu", x, {{"alpha", alpha}});
}
Tensor selu(Tensor x) {
  // Klambauer et al.: LeCun normal initialisation keeps activations self-normalising.
  const ir::Node* n = x.value()->producer;
  if (n && (n->op == "conv2d" || n->op == "linear") && n->inputs[1]->init.name == "xavier_uniform")
    n->inputs[1]->init = ir::InitSpec{"lecun_normal", {}};
  return act("selu", x);
}
Tensor softplus(Tensor x, double beta, double threshold) { return act("softplus", x, {{"beta", beta}, {"threshold", threshold}}); }
Tensor silu(Tensor x) {
  x.model().hint_nonlinearity(x, "relu");
  return act("silu", x);
}
Tensor gelu(Tensor x, bool tanh_approximation) {
  x.model().hint_nonlinearity(x, "relu");
  return act("gelu", x, {{"approximate", std::string(tanh_approximation ? "tanh" : "none")}});
}
Tensor hard_sigmoid(Tensor x) { return act("hard_sigmoid", x); }
Tensor hard_swish(Tensor x) {
  x.model().hint_nonlinearity(x, "relu");
  return act("hard_swish", x);
}

Tensor activation(const std::string& op, Tensor x) {
  if (op == "relu") return relu(x);
  if (op == "prelu") return prelu(x);
  const ir::OpDef& def = ir::op_def(op);
  if (def.cls != ir::OpClass::Unary) throw Error(fmt::format("'{}' is not an activation", op));
  return act(def.name.c_str(), x);
}

}  // namespace strata::dsl
