// Halide algorithms of the activations. activation_expr is shared with fused epilogues.
#include <fmt/format.h>

#include <cmath>

#include "backends/halide/lowering.h"
#include "ir/error.h"

namespace strata::halide_backend {

using namespace Halide;

// Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7): Halide has no erf.
static Expr erf_approx(Expr x) {
  Expr a = abs(x);
  Expr t = 1.f / (1.f + 0.3275911f * a);
  Expr poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  Expr y = 1.f - poly * exp(-a * a);
  return select(x < 0, -y, y);
}

// (Halide's exp of +inf is 0, not inf, which made sigmoid(-inf) 1; below -88 exp(-x)
// overflows and sigmoid is 0, as in the reference.)
static Expr sigmoid(Expr x) { return select(x < -88.f, 0.f, 1.f / (1.f + exp(-x))); }

static Expr activation_of_number(const ir::Node& n, Expr x);

// A NaN stays a NaN, as in the reference and PyTorch: Halide's max, min and clamp return
// the other operand (as x86's instructions do) and its exp of a NaN is 0, so relu(NaN)
// was 0 and elu(NaN) -alpha. Binary step maps a NaN to 0 in both backends.
Expr activation_expr(const ir::Node& n, Expr x) {
  if (n.op == "identity") return x;
  if (n.op == "binary_step") return select(x >= 0.f, 1.f, 0.f);
  return keep_nan(x, activation_of_number(n, x));
}

static Expr activation_of_number(const ir::Node& n, Expr x) {
  const std::string& op = n.op;
  if (op == "sigmoid") return sigmoid(x);
  if (op == "tanh") return tanh(x);
  if (op == "arctan") return atan(x);
  if (op == "relu") return max(x, 0.f);
  if (op == "relu6") return clamp(x, 0.f, 6.f);
  if (op == "leaky_relu") return select(x > 0.f, x, static_cast<float>(n.attr_float("alpha")) * x);
  if (op == "elu") return select(x > 0.f, x, static_cast<float>(n.attr_float("alpha")) * (exp(x) - 1.f));
  if (op == "selu") {
    const float alpha = 1.6732632423543772f, scale = 1.0507009873554805f;
    return scale * select(x > 0.f, x, alpha * (exp(x) - 1.f));
  }
  if (op == "softplus") {
    float b = n.attr_float("beta"), th = n.attr_float("threshold");
    // Clamp inside exp so the unselected branch cannot overflow to inf * 0.
    return select(b * x > th, x, log(1.f + exp(min(b * x, th))) / b);
  }
  if (op == "silu") return x * sigmoid(x);
  if (op == "gelu") {
    if (n.attr_string("approximate") == "tanh")
      return 0.5f * x * (1.f + tanh(static_cast<float>(std::sqrt(2.0 / M_PI)) * (x + 0.044715f * x * x * x)));
    return 0.5f * x * (1.f + erf_approx(x * static_cast<float>(M_SQRT1_2)));
  }
  if (op == "hard_sigmoid")
    return clamp(static_cast<float>(n.attr_float("alpha")) * x + static_cast<float>(n.attr_float("beta")), 0.f, 1.f);
  if (op == "hard_swish") return x * clamp(x + 3.f, 0.f, 6.f) / 6.f;
  throw Error(fmt::format("halide backend: '{}' is not an elementwise activation", op));
}

static Expr derivative_of_number(const ir::Node& n, Expr x) {
  const std::string& a = n.attr_string("activation");
  float alpha = n.attr_float("alpha"), beta = n.attr_float("beta");
  if (a == "identity") return 1.f;
  if (a == "sigmoid") return sigmoid(x) * (1.f - sigmoid(x));
  if (a == "tanh") return 1.f - tanh(x) * tanh(x);
  if (a == "arctan") return 1.f / (1.f + x * x);
  Expr nan = is_nan_bits(x);
  if (a == "relu") return select(x > 0.f || nan, 1.f, 0.f);
  if (a == "relu6") return select((x > 0.f && x < 6.f) || nan, 1.f, 0.f);
  if (a == "leaky_relu") return select(x > 0.f, 1.f, alpha);
  if (a == "elu") return select(x > 0.f || nan, 1.f, alpha * exp(min(x, 0.f)));
  if (a == "selu") {
    const float sa = 1.6732632423543772f, scale = 1.0507009873554805f;
    return scale * select(x > 0.f || nan, 1.f, sa * exp(min(x, 0.f)));
  }
  if (a == "softplus") return select(beta * x > static_cast<float>(n.attr_float("threshold")), 1.f, sigmoid(beta * x));
  if (a == "silu") return sigmoid(x) * (1.f + x * (1.f - sigmoid(x)));
  if (a == "gelu") {
    if (n.attr_string("approximate") == "tanh") {
      float k = static_cast<float>(std::sqrt(2.0 / M_PI));
      Expr t = tanh(k * (x + 0.044715f * x * x * x));
      return 0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * k * (1.f + 3.f * 0.044715f * x * x);
    }
    return 0.5f * (1.f + erf_approx(x * static_cast<float>(M_SQRT1_2))) +
           x * exp(-0.5f * x * x) * static_cast<float>(1.0 / std::sqrt(2 * M_PI));
  }
  if (a == "hard_sigmoid") {
    Expr v = alpha * x + beta;
    return select(v > 0.f && v < 1.f, alpha, 0.f);
  }
  if (a == "hard_swish") return select(x < -3.f, 0.f, select(x > 3.f || nan, 1.f, (2.f * x + 3.f) / 6.f));
  throw Error(fmt::format("halide backend: activation_grad has no derivative for '{}'", a));
}

// At a NaN input the derivatives that are formulas are NaN, as in the reference and PyTorch
// (Halide's exp of a NaN is 0: sigmoid'(NaN) was 0); the piecewise ones take PyTorch's
// branch (relu'(NaN) = 1, leaky_relu'(NaN) = alpha), tested on the bits above.
Expr activation_derivative(const ir::Node& n, Expr x) {
  const std::string& a = n.attr_string("activation");
  Expr d = derivative_of_number(n, x);
  for (const char* piecewise : {"identity", "relu", "relu6", "leaky_relu", "elu", "selu", "hard_sigmoid", "hard_swish"})
    if (a == piecewise) return d;
  return keep_nan(x, d);
}

void register_activation_lowerings(std::map<std::string, Lowering>& t) {
  auto unary = [](LowerContext& c) {
    return pointwise_output(c, activation_expr(c.node, c.in[0].at(c.out.logical())));
  };
  for (const char* op : {"identity", "binary_step", "sigmoid", "tanh", "arctan", "relu", "relu6", "leaky_relu", "elu",
                         "selu", "softplus", "silu", "gelu", "hard_sigmoid", "hard_swish"})
    t[op] = unary;
  t["prelu"] = [](LowerContext& c) {
    auto L = c.out.logical();
    Expr x = c.in[0].at(L);
    Expr slope = c.in[1].shape[0] == 1 ? c.in[1].at({Expr(0)}) : c.in[1].at({L[1]});
    return pointwise_output(c, select(x > 0.f, x, slope * x));
  };
}

}  // namespace strata::halide_backend
