// The activations: elementwise, one input (prelu also takes its learned slope).
#include <fmt/format.h>

#include "ir/op_registry.h"

namespace strata::ir {

static std::vector<TensorType> same_type(const Node& n) { return {n.inputs[0]->type}; }

static std::vector<TensorType> infer_prelu(const Node& n) {
  const TensorType& x = n.inputs[0]->type;
  const TensorType& a = n.inputs[1]->type;
  int64_t channels = x.rank() >= 2 ? x.shape[1] : 1;
  if (a.rank() != 1 || (a.shape[0] != 1 && a.shape[0] != channels))
    input_error(n, 1, fmt::format("slope must be [1] (shared) or [{}] (one per channel)", channels));
  return {x};
}

static std::vector<TensorType> infer_gelu(const Node& n) {
  const std::string& a = n.attr_string("approximate");
  if (a != "none" && a != "tanh") shape_error(n, fmt::format("approximate must be \"none\" or \"tanh\", got \"{}\"", a));
  return {n.inputs[0]->type};
}

void register_activation_ops(std::vector<OpDef>& t) {
  auto unary = [&](const char* name, std::vector<AttrDef> attrs, const char* doc) {
    t.push_back({name, {"x"}, std::move(attrs), same_type, nullptr, OpClass::Unary, doc});
  };
  unary("identity", {}, "x");
  unary("binary_step", {}, "1 if x >= 0 else 0; its gradient is zero almost everywhere");
  unary("sigmoid", {}, "1 / (1 + exp(-x))");
  unary("tanh", {}, "tanh(x)");
  unary("arctan", {}, "atan(x)");
  unary("relu", {}, "max(x, 0)");
  unary("relu6", {}, "min(max(x, 0), 6)");
  unary("leaky_relu", {{"alpha", AttrKind::Float, 0.01}}, "x if x > 0 else alpha * x");
  unary("elu", {{"alpha", AttrKind::Float, 1.0}}, "x if x > 0 else alpha * (exp(x) - 1)");
  unary("selu", {}, "scale * elu(x, alpha) with the self-normalizing constants of Klambauer et al.");
  unary("softplus", {{"beta", AttrKind::Float, 1.0}, {"threshold", AttrKind::Float, 20.0}},
        "log(1 + exp(beta x)) / beta; x where beta x > threshold (PyTorch)");
  unary("silu", {}, "x * sigmoid(x) (swish with beta = 1)");
  unary("hard_sigmoid", {{"alpha", AttrKind::Float, 1.0 / 6.0}, {"beta", AttrKind::Float, 0.5}},
        "max(0, min(1, alpha x + beta)); the defaults are PyTorch's relu6(x + 3) / 6");
  unary("hard_swish", {}, "x * relu6(x + 3) / 6 (MobileNet v3)");
  t.push_back({"gelu", {"x"}, {{"approximate", AttrKind::String, std::string("none")}}, infer_gelu, nullptr,
               OpClass::Unary, "x * Phi(x); approximate = \"tanh\" uses Hendrycks and Gimpel's tanh form"});
  t.push_back({"prelu", {"x", "slope"}, {}, infer_prelu, nullptr, OpClass::Other,
               "x if x > 0 else slope * x, slope learned per channel or shared (He et al. 2015)"});
}

}  // namespace strata::ir
