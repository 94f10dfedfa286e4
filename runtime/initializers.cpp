#include "runtime/initializers.h"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "ir/error.h"

namespace strata::runtime {

double init_gain(const std::string& nl, double a) {
  if (nl == "linear" || nl == "identity" || nl == "sigmoid" || nl == "conv2d") return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1 + a * a));
  if (nl == "selu") return 0.75;
  throw Error(fmt::format("unknown nonlinearity '{}' for an initializer gain", nl));
}

template <typename T>
static T arg(const ir::InitSpec& s, const std::string& k, T dflt) {
  auto it = s.args.find(k);
  if (it == s.args.end()) return dflt;
  if constexpr (std::is_same_v<T, double>) {
    if (auto* i = std::get_if<int64_t>(&it->second)) return static_cast<double>(*i);
  }
  if (auto* v = std::get_if<T>(&it->second)) return *v;
  throw Error(fmt::format("initializer {}: argument '{}' has the wrong type", s.name, k));
}

// A small, portable generator: std::normal_distribution differs between libraries, and
// checkpoints must not.
class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  double uniform() { return (g_() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
  double normal() {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  }

 private:
  std::mt19937_64 g_;
};

static uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

HostTensor initialize(const ir::Value& p, uint64_t seed) {
  const ir::InitSpec& s = p.init;
  const Shape& shape = p.type.shape;
  HostTensor t(shape);
  Rng rng(seed ^ name_hash(p.name));
  int64_t receptive = 1;
  for (size_t i = 2; i < shape.size(); ++i) receptive *= shape[i];
  int64_t fan_in = shape.size() >= 2 ? shape[1] * receptive : shape.empty() ? 1 : shape[0];
  int64_t fan_out = shape.empty() ? 1 : shape[0] * receptive;
  auto fill_uniform = [&](double lo, double hi) {
    for (auto& v : t.data) v = static_cast<float>(lo + (hi - lo) * rng.uniform());
  };
  auto fill_normal = [&](double mean, double std) {
    for (auto& v : t.data) v = static_cast<float>(mean + std * rng.normal());
  };
  const std::string& n = s.name;
  if (n == "zeros") return t;
  if (n == "ones") fill_uniform(1, 1);
  else if (n == "constant") fill_uniform(arg<double>(s, "value", 0), arg<double>(s, "value", 0));
  else if (n == "uniform") fill_uniform(arg<double>(s, "a", 0), arg<double>(s, "b", 1));
  else if (n == "normal") fill_normal(arg<double>(s, "mean", 0), arg<double>(s, "std", 1));
  else if (n == "xavier_uniform" || n == "xavier_normal") {
    double gain = arg<double>(s, "gain", 1.0);
    double std = gain * std::sqrt(2.0 / double(fan_in + fan_out));
    if (n == "xavier_uniform") fill_uniform(-std * std::sqrt(3.0), std * std::sqrt(3.0));
    else fill_normal(0, std);
  } else if (n == "kaiming_uniform" || n == "kaiming_normal") {
    std::string mode = arg<std::string>(s, "mode", "fan_in");
    if (mode != "fan_in" && mode != "fan_out")
      throw Error(fmt::format("parameter '{}': kaiming mode must be fan_in or fan_out, got '{}'", p.name, mode));
    double a = arg<double>(s, "a", 0.0);
    double gain = init_gain(arg<std::string>(s, "nonlinearity", "leaky_relu"), a);
    double std = gain / std::sqrt(double(mode == "fan_in" ? fan_in : fan_out));
    if (n == "kaiming_uniform") fill_uniform(-std * std::sqrt(3.0), std * std::sqrt(3.0));
    else fill_normal(0, std);
  } else if (n == "lecun_normal") {
    fill_normal(0, 1.0 / std::sqrt(double(fan_in)));
  } else {
    throw Error(fmt::format("parameter '{}': unknown initializer '{}' (expected zeros, ones, constant, uniform, normal, "
                            "xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal, lecun_normal)", p.name, n));
  }
  return t;
}

}  // namespace strata::runtime
