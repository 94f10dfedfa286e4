// Reference kernels of the activations, in double precision.
#include <algorithm>
#include <cmath>

#include "backends/reference/reference.h"

namespace strata::reference {

using In = std::vector<const HostTensor*>;

// Klambauer et al. 2017, self-normalizing constants.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

template <typename F>
static Kernel unary(F f) {
  return [f](const ir::Node& n, const In& in) {
    HostTensor y(in[0]->shape);
    for (int64_t i = 0; i < y.numel(); ++i) y.data[i] = static_cast<float>(f(n, double(in[0]->data[i])));
    return y;
  };
}

static double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

void register_activation_kernels(std::map<std::string, Kernel>& t) {
  using N = const ir::Node&;
  t["identity"] = unary([](N, double x) { return x; });
  t["binary_step"] = unary([](N, double x) { return x >= 0 ? 1.0 : 0.0; });
  t["sigmoid"] = unary([](N, double x) { return sigmoid(x); });
  t["tanh"] = unary([](N, double x) { return std::tanh(x); });
  t["arctan"] = unary([](N, double x) { return std::atan(x); });
  t["relu"] = unary([](N, double x) { return std::max(x, 0.0); });
  t["relu6"] = unary([](N, double x) { return std::clamp(x, 0.0, 6.0); });
  t["leaky_relu"] = unary([](N n, double x) { return x > 0 ? x : n.attr_float("alpha") * x; });
  t["elu"] = unary([](N n, double x) { return x > 0 ? x : n.attr_float("alpha") * std::expm1(x); });
  t["selu"] = unary([](N, double x) { return kSeluScale * (x > 0 ? x : kSeluAlpha * std::expm1(x)); });
  t["softplus"] = unary([](N n, double x) {
    double b = n.attr_float("beta");
    return b * x > n.attr_float("threshold") ? x : std::log1p(std::exp(b * x)) / b;
  });
  t["silu"] = unary([](N, double x) { return x * sigmoid(x); });
  t["gelu"] = unary([](N n, double x) {
    if (n.attr_string("approximate") == "tanh")
      return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
  });
  t["hard_sigmoid"] = unary([](N n, double x) {
    return std::clamp(n.attr_float("alpha") * x + n.attr_float("beta"), 0.0, 1.0);
  });
  t["hard_swish"] = unary([](N, double x) { return x * std::clamp(x + 3, 0.0, 6.0) / 6; });
  t["prelu"] = [](const ir::Node&, const In& in) {
    const HostTensor &x = *in[0], &a = *in[1];
    HostTensor y(x.shape);
    int64_t C = x.shape.size() >= 2 ? x.shape[1] : 1, inner = 1;
    for (size_t i = 2; i < x.shape.size(); ++i) inner *= x.shape[i];
    for (int64_t i = 0; i < x.numel(); ++i) {
      float slope = a.numel() == 1 ? a.data[0] : a.data[(i / inner) % C];
      y.data[i] = x.data[i] > 0 ? x.data[i] : slope * x.data[i];
    }
    return y;
  };
}

}  // namespace strata::reference
