// Reference kernels of the gradient ops, in double precision: the oracle the Halide
// gradients are tested against, itself tested against finite differences.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/reference/reference.h"
#include "ir/error.h"
#include "ir/op_registry.h"

namespace strata::reference {

using In = std::vector<const HostTensor*>;

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

static double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// f'(x) of the activation named by the node's `activation` attribute. The piecewise ones
// test x in PyTorch's order, so a NaN takes PyTorch's branch (relu'(NaN) = 1: its
// threshold_backward passes the gradient where the output is not <= 0); the others are NaN.
static double derivative(const ir::Node& n, double x) {
  const std::string& a = n.attr_string("activation");
  double alpha = n.attr_float("alpha"), beta = n.attr_float("beta");
  if (a == "identity") return 1;
  if (a == "sigmoid") return sigmoid(x) * (1 - sigmoid(x));
  if (a == "tanh") return 1 - std::tanh(x) * std::tanh(x);
  if (a == "arctan") return 1 / (1 + x * x);
  if (a == "relu") return x <= 0 ? 0 : 1;
  if (a == "relu6") return x <= 0 || x >= 6 ? 0 : 1;
  if (a == "leaky_relu") return x > 0 ? 1 : alpha;
  if (a == "elu") return x <= 0 ? alpha * std::exp(x) : 1;
  if (a == "selu") return kSeluScale * (x <= 0 ? kSeluAlpha * std::exp(x) : 1);
  if (a == "softplus") return beta * x > n.attr_float("threshold") ? 1 : sigmoid(beta * x);
  if (a == "silu") return sigmoid(x) * (1 + x * (1 - sigmoid(x)));
  if (a == "gelu") {
    if (n.attr_string("approximate") == "tanh") {
      double c = std::sqrt(2 / M_PI), t = std::tanh(c * (x + 0.044715 * x * x * x));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
    }
    return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
  }
  if (a == "hard_sigmoid") {
    double v = alpha * x + beta;
    return v > 0 && v < 1 ? alpha : 0;
  }
  if (a == "hard_swish") return x < -3 ? 0 : x <= 3 ? (2 * x + 3) / 6 : 1;
  throw Error(fmt::format("node '{}': activation_grad has no derivative for '{}'", n.name(), a));
}

static HostTensor activation_grad(const ir::Node& n, const In& in) {
  HostTensor dx(in[0]->shape);
  for (int64_t i = 0; i < dx.numel(); ++i)
    dx.data[i] = static_cast<float>(in[1]->data[i] * derivative(n, in[0]->data[i]));
  return dx;
}

// The pools' windows, as the forward kernels define them.
struct PoolWindow {
  int64_t y0, x0, ya, xa, yb, xb, divisor;
};
static PoolWindow pool_window(const ir::Node& n, const Shape& xs, int64_t oy, int64_t ox, bool include_pad) {
  auto k = n.attr_ints("kernel_size");
  auto s = n.attr_ints("stride");
  if (s.empty()) s = k;
  auto p = ir::conv_padding(n);
  PoolWindow w;
  w.y0 = oy * s[0] - p[0];
  w.x0 = ox * s[1] - p[1];
  int64_t y1 = std::min(w.y0 + k[0], xs[2] + p[2]), x1 = std::min(w.x0 + k[1], xs[3] + p[3]);
  w.ya = std::max<int64_t>(w.y0, 0);
  w.xa = std::max<int64_t>(w.x0, 0);
  w.yb = std::min(y1, xs[2]);
  w.xb = std::min(x1, xs[3]);
  w.divisor = include_pad ? (y1 - w.y0) * (x1 - w.x0) : (w.yb - w.ya) * (w.xb - w.xa);
  return w;
}

static HostTensor max_pool2d_backward(const ir::Node& n, const In& in) {
  const HostTensor &x = *in[0], &dy = *in[1];
  std::vector<double> dx(x.numel(), 0.0);
  const Shape& ys = dy.shape;
  for (int64_t b = 0; b < ys[0]; ++b)
    for (int64_t c = 0; c < ys[1]; ++c)
      for (int64_t oy = 0; oy < ys[2]; ++oy)
        for (int64_t ox = 0; ox < ys[3]; ++ox) {
          PoolWindow w = pool_window(n, x.shape, oy, ox, false);
          int64_t best = -1;
          float best_v = -std::numeric_limits<float>::infinity();
          for (int64_t iy = w.ya; iy < w.yb; ++iy)  // first maximum in row-major order wins
            for (int64_t ix = w.xa; ix < w.xb; ++ix) {
              int64_t i = idx4(x.shape, b, c, iy, ix);
              if (best < 0 || x.data[i] > best_v) best = i, best_v = x.data[i];
            }
          dx[best] += dy.data[idx4(ys, b, c, oy, ox)];
        }
  return HostTensor(x.shape, std::vector<float>(dx.begin(), dx.end()));
}

static HostTensor avg_pool2d_backward(const ir::Node& n, const In& in) {
  const HostTensor& dy = *in[0];
  Shape xs = n.attr_ints("input_shape");
  std::vector<double> dx(num_elements(xs), 0.0);
  const Shape& ys = dy.shape;
  bool include_pad = n.attr_int("count_include_pad") != 0;
  for (int64_t b = 0; b < ys[0]; ++b)
    for (int64_t c = 0; c < ys[1]; ++c)
      for (int64_t oy = 0; oy < ys[2]; ++oy)
        for (int64_t ox = 0; ox < ys[3]; ++ox) {
          PoolWindow w = pool_window(n, xs, oy, ox, include_pad);
          double g = double(dy.data[idx4(ys, b, c, oy, ox)]) / w.divisor;
          for (int64_t iy = w.ya; iy < w.yb; ++iy)
            for (int64_t ix = w.xa; ix < w.xb; ++ix) dx[idx4(xs, b, c, iy, ix)] += g;
        }
  return HostTensor(xs, std::vector<float>(dx.begin(), dx.end()));
}

// y_c = x_c s_c^-beta with s_c = k + alpha / size * sum over the window W(c) of x^2, so
// dx_i = dy_i s_i^-beta - 2 alpha beta / size * x_i * sum over {c : i in W(c)} of dy_c x_c s_c^(-beta-1).
static HostTensor lrn_backward(const ir::Node& n, const In& in) {
  const HostTensor &x = *in[0], &dy = *in[1];
  int64_t size = n.attr_int("size");
  double alpha = n.attr_float("alpha"), beta = n.attr_float("beta"), k = n.attr_float("k");
  const Shape& s = x.shape;
  std::vector<double> scale(x.numel());
  for (int64_t b = 0; b < s[0]; ++b)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t h = 0; h < s[2]; ++h)
        for (int64_t w = 0; w < s[3]; ++w) {
          double sq = 0;
          for (int64_t cc = std::max<int64_t>(0, c - size / 2); cc <= std::min(s[1] - 1, c + (size - 1) / 2); ++cc) {
            double v = x.data[idx4(s, b, cc, h, w)];
            sq += v * v;
          }
          scale[idx4(s, b, c, h, w)] = k + alpha * sq / size;
        }
  HostTensor dx(s);
  for (int64_t b = 0; b < s[0]; ++b)
    for (int64_t i = 0; i < s[1]; ++i)
      for (int64_t h = 0; h < s[2]; ++h)
        for (int64_t w = 0; w < s[3]; ++w) {
          int64_t at = idx4(s, b, i, h, w);
          double acc = 0;
          for (int64_t c = std::max<int64_t>(0, i - (size - 1) / 2); c <= std::min(s[1] - 1, i + size / 2); ++c) {
            int64_t j = idx4(s, b, c, h, w);
            acc += double(dy.data[j]) * x.data[j] * std::pow(scale[j], -beta - 1);
          }
          dx.data[at] = static_cast<float>(dy.data[at] * std::pow(scale[at], -beta) -
                                           2 * alpha * beta / size * x.data[at] * acc);
        }
  return dx;
}

// With batch statistics: dx = gamma / sigma * (dy - mean(dy) - x_hat * mean(dy * x_hat));
// with running statistics: dx = gamma / sigma * dy.
static HostTensor batch_norm_backward(const ir::Node& n, const In& in, bool weight) {
  const HostTensor& x = *in[0];
  size_t dy_input = weight ? 3 : 4;
  const HostTensor& dy = *in[dy_input];
  bool training = n.attr_int("training") != 0;
  ChannelStats st = training ? batch_stats(n, in, dy_input + 1) : ChannelStats{*in[weight ? 1 : 2], *in[weight ? 2 : 3]};
  int64_t C = x.shape[1];
  double eps = n.attr_float("eps"), count = static_cast<double>(per_channel_count(x.shape));
  std::vector<double> sum_dy(C, 0.0), sum_dy_xhat(C, 0.0), inv_std(C);
  for (int64_t c = 0; c < C; ++c) inv_std[c] = 1.0 / std::sqrt(st.var[c] + eps);
  if (in.size() > dy_input + 2) {  // the weight and bias gradients, given
    sum_dy_xhat.assign(in[dy_input + 2]->data.begin(), in[dy_input + 2]->data.end());
    sum_dy.assign(in[dy_input + 3]->data.begin(), in[dy_input + 3]->data.end());
  } else {
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t c = channel_of(x.shape, i);
      sum_dy[c] += dy.data[i];
      sum_dy_xhat[c] += dy.data[i] * (x.data[i] - st.mean[c]) * inv_std[c];
    }
  }
  if (weight) {
    bool with_bias = n.attr_int("with_bias") != 0;
    HostTensor dgamma(with_bias ? Shape{2, C} : Shape{C});
    for (int64_t c = 0; c < C; ++c) {
      dgamma.data[c] = static_cast<float>(sum_dy_xhat[c]);
      if (with_bias) dgamma.data[C + c] = static_cast<float>(sum_dy[c]);
    }
    return dgamma;
  }
  HostTensor dx(x.shape);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t c = channel_of(x.shape, i);
    double g = in[1]->data[c] * inv_std[c];
    double xhat = (x.data[i] - st.mean[c]) * inv_std[c];
    dx.data[i] = static_cast<float>(training ? g * (dy.data[i] - sum_dy[c] / count - xhat * sum_dy_xhat[c] / count)
                                             : g * dy.data[i]);
  }
  return dx;
}

// softmax: dx = y (dy - sum(dy y)); log_softmax: dx = dy - exp(y) sum(dy).
static HostTensor softmax_backward(const ir::Node& n, const In& in) {
  const HostTensor &y = *in[0], &dy = *in[1];
  int axis = ir::normalize_axis(n, n.attr_int("axis"), static_cast<int>(y.shape.size()));
  bool log = n.attr_int("log") != 0;
  int64_t outer = 1, inner = 1, len = y.shape[axis];
  for (int i = 0; i < axis; ++i) outer *= y.shape[i];
  for (size_t i = axis + 1; i < y.shape.size(); ++i) inner *= y.shape[i];
  HostTensor dx(y.shape);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      auto at = [&](int64_t a) { return (o * len + a) * inner + j; };
      double s = 0;
      for (int64_t a = 0; a < len; ++a) s += log ? double(dy.data[at(a)]) : double(dy.data[at(a)]) * y.data[at(a)];
      for (int64_t a = 0; a < len; ++a) {
        double yv = y.data[at(a)], g = dy.data[at(a)];
        dx.data[at(a)] = static_cast<float>(log ? g - std::exp(yv) * s : yv * (g - s));
      }
    }
  return dx;
}

static HostTensor prelu_backward(const ir::Node& n, const In& in) {
  const HostTensor &x = *in[0], &a = *in[1], &dy = *in[2];
  bool shared = a.numel() == 1;
  auto slope_index = [&](int64_t i) { return shared ? 0 : channel_of(x.shape, i); };
  if (n.attr_string("wrt") == "input") {
    HostTensor dx(x.shape);
    for (int64_t i = 0; i < x.numel(); ++i) dx.data[i] = x.data[i] > 0 ? dy.data[i] : a.data[slope_index(i)] * dy.data[i];
    return dx;
  }
  std::vector<double> da(a.numel(), 0.0);
  for (int64_t i = 0; i < x.numel(); ++i)
    if (!(x.data[i] > 0)) da[slope_index(i)] += double(dy.data[i]) * x.data[i];  // (PyTorch's: a NaN x counts)
  return HostTensor(a.shape, std::vector<float>(da.begin(), da.end()));
}

// Where output index j of one padded dimension reads from (the forward pad's rule).
static int64_t pad_source(int64_t j, int64_t before, int64_t extent, bool reflect) {
  int64_t i = j - before;
  if (reflect) return i < 0 ? -i : i >= extent ? 2 * (extent - 1) - i : i;
  return std::clamp<int64_t>(i, 0, extent - 1);
}

static HostTensor pad_backward(const ir::Node& n, const In& in) {
  const HostTensor& dy = *in[0];
  Shape xs = n.attr_ints("input_shape");
  const auto& p = n.attr_ints("pads");
  bool reflect = n.attr_string("mode") == "reflect";
  std::vector<double> dx(num_elements(xs), 0.0);
  auto st = strides_of(xs);
  std::vector<int64_t> idx;
  for (int64_t j = 0; j < dy.numel(); ++j) {
    unravel(j, dy.shape, idx);
    int64_t at = 0;
    for (size_t d = 0; d < xs.size(); ++d) at += pad_source(idx[d], p[d], xs[d], reflect) * st[d];
    dx[at] += dy.data[j];
  }
  return HostTensor(xs, std::vector<float>(dx.begin(), dx.end()));
}

void register_gradient_kernels(std::map<std::string, Kernel>& t) {
  t["activation_grad"] = activation_grad;
  t["max_pool2d_backward"] = max_pool2d_backward;
  t["avg_pool2d_backward"] = avg_pool2d_backward;
  t["lrn_backward"] = lrn_backward;
  t["batch_norm_backward_input"] = [](const ir::Node& n, const In& in) { return batch_norm_backward(n, in, false); };
  t["batch_norm_backward_weight"] = [](const ir::Node& n, const In& in) { return batch_norm_backward(n, in, true); };
  t["softmax_backward"] = softmax_backward;
  t["prelu_backward"] = prelu_backward;
  t["pad_backward"] = pad_backward;
}

}  // namespace strata::reference
