// Reference kernels of the training-only ops: losses, running statistics, optimizer
// updates, gradient clipping. Formulas follow PyTorch's documentation.
#include <algorithm>
#include <array>
#include <cmath>

#include "backends/reference/reference.h"

namespace strata::reference {

using In = std::vector<const HostTensor*>;

static HostTensor scalar(double v) { return HostTensor({1}, std::vector<float>{static_cast<float>(v)}); }

static HostTensor running_stats(const ir::Node& n, const In& in) {
  ChannelStats st = batch_stats(n, in, 2);
  double m = n.attr_float("momentum"), count = static_cast<double>(per_channel_count(in[0]->shape));
  bool var = n.attr_string("stat") == "var";
  HostTensor r(in[1]->shape);
  for (int64_t c = 0; c < r.numel(); ++c) {
    double batch = var ? st.var[c] * count / (count - 1) : st.mean[c];  // PyTorch keeps the unbiased variance
    r.data[c] = static_cast<float>((1 - m) * in[1]->data[c] + m * batch);
  }
  return r;
}

// Row n of the logits: its log-softmax and the smoothed target q' = (1 - e) q + e / C.
struct CrossEntropyRow {
  std::vector<double> log_p, q;
};
static CrossEntropyRow cross_entropy_row(const ir::Node& n, const In& in, int64_t row) {
  int64_t C = in[0]->shape[1];
  double e = n.attr_float("label_smoothing");
  const float* x = in[0]->ptr() + row * C;
  const float* t = in[1]->ptr() + row * C;
  double mx = *std::max_element(x, x + C), sum = 0;
  for (int64_t c = 0; c < C; ++c) sum += std::exp(x[c] - mx);
  CrossEntropyRow r{std::vector<double>(C), std::vector<double>(C)};
  for (int64_t c = 0; c < C; ++c) {
    r.log_p[c] = x[c] - mx - std::log(sum);
    r.q[c] = (1 - e) * t[c] + e / C;
  }
  return r;
}

static HostTensor cross_entropy(const ir::Node& n, const In& in) {
  int64_t N = in[0]->shape[0];
  double loss = 0;
  for (int64_t row = 0; row < N; ++row) {
    CrossEntropyRow r = cross_entropy_row(n, in, row);
    for (size_t c = 0; c < r.q.size(); ++c) loss -= r.q[c] * r.log_p[c];
  }
  return scalar(loss / N);
}

// d/dx_c = (softmax_c * sum(q') - q'_c) / N, times the incoming gradient.
static HostTensor cross_entropy_backward(const ir::Node& n, const In& in) {
  int64_t N = in[0]->shape[0], C = in[0]->shape[1];
  double g = in[2]->data[0] / N;
  HostTensor dx(in[0]->shape);
  for (int64_t row = 0; row < N; ++row) {
    CrossEntropyRow r = cross_entropy_row(n, in, row);
    double q_sum = 0;
    for (double q : r.q) q_sum += q;
    for (int64_t c = 0; c < C; ++c) dx.data[row * C + c] = static_cast<float>(g * (std::exp(r.log_p[c]) * q_sum - r.q[c]));
  }
  return dx;
}

static double bce_term(double x, double t, bool from_logits) {
  if (from_logits) return std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::abs(x)));
  return -(t * std::max(std::log(x), -100.0) + (1 - t) * std::max(std::log1p(-x), -100.0));
}

static double bce_grad(double x, double t, bool from_logits) {
  if (from_logits) return 1 / (1 + std::exp(-x)) - t;
  return (x - t) / std::max(x * (1 - x), 1e-12);
}

static HostTensor binary_cross_entropy(const ir::Node& n, const In& in) {
  bool fl = n.attr_int("from_logits") != 0;
  double loss = 0;
  for (int64_t i = 0; i < in[0]->numel(); ++i) loss += bce_term(in[0]->data[i], in[1]->data[i], fl);
  return scalar(loss / in[0]->numel());
}

static HostTensor binary_cross_entropy_backward(const ir::Node& n, const In& in) {
  bool fl = n.attr_int("from_logits") != 0;
  double g = in[2]->data[0] / in[0]->numel();
  HostTensor dx(in[0]->shape);
  for (int64_t i = 0; i < dx.numel(); ++i) dx.data[i] = static_cast<float>(g * bce_grad(in[0]->data[i], in[1]->data[i], fl));
  return dx;
}

static HostTensor mse_loss(const ir::Node&, const In& in) {
  double loss = 0;
  for (int64_t i = 0; i < in[0]->numel(); ++i) {
    double d = double(in[0]->data[i]) - in[1]->data[i];
    loss += d * d;
  }
  return scalar(loss / in[0]->numel());
}

// One element of one optimizer step; returns {param, state1, state2}.
static std::array<double, 3> optimizer_step(const ir::Node& n, double p, double grad, double lr, double step, double s1,
                                            double s2) {
  const std::string& opt = n.attr_string("optimizer");
  double wd = n.attr_float("weight_decay"), l1 = n.attr_float("l1"), cv = n.attr_float("clip_value");
  double g = cv > 0 ? std::clamp(grad, -cv, cv) : grad;
  if (opt != "adamw") g += wd * p;
  g += l1 * ((p > 0) - (p < 0));
  if (opt == "sgd") return {p - lr * g, 0, 0};
  if (opt == "momentum" || opt == "nesterov") {
    double mu = n.attr_float("momentum"), b = mu * s1 + g;
    return {p - lr * (opt == "nesterov" ? g + mu * b : b), b, 0};
  }
  double eps = n.attr_float("eps");
  if (opt == "rmsprop") {
    double a = n.attr_float("alpha"), v = a * s1 + (1 - a) * g * g;
    return {p - lr * g / (std::sqrt(v) + eps), v, 0};
  }
  double b1 = n.attr_float("beta1"), b2 = n.attr_float("beta2");
  double m = b1 * s1 + (1 - b1) * g, v = b2 * s2 + (1 - b2) * g * g;
  double m_hat = m / (1 - std::pow(b1, step)), v_hat = v / (1 - std::pow(b2, step));
  double decayed = opt == "adamw" ? p * (1 - lr * wd) : p;
  return {decayed - lr * m_hat / (std::sqrt(v_hat) + eps), m, v};
}

static HostTensor optimizer_update(const ir::Node& n, const In& in) {
  const HostTensor &p = *in[0], &g = *in[1];
  double lr = in[2]->data[0], step = in[2]->data[1];
  auto result = n.attr_int("result");
  HostTensor out(p.shape);
  for (int64_t i = 0; i < p.numel(); ++i) {
    double s1 = in.size() > 3 ? in[3]->data[i] : 0, s2 = in.size() > 4 ? in[4]->data[i] : 0;
    out.data[i] = static_cast<float>(optimizer_step(n, p.data[i], g.data[i], lr, step, s1, s2)[result]);
  }
  return out;
}

static HostTensor batch_norm_stats(const ir::Node&, const In& in) {
  ChannelStats st = channel_stats(*in[0]);
  int64_t C = static_cast<int64_t>(st.mean.size());
  HostTensor s({2, C});
  for (int64_t c = 0; c < C; ++c) {
    s.data[c] = static_cast<float>(st.mean[c]);
    s.data[C + c] = static_cast<float>(st.var[c]);
  }
  return s;
}

void register_training_kernels(std::map<std::string, Kernel>& t) {
  t["batch_norm_stats"] = batch_norm_stats;
  t["batch_norm_running_stats"] = running_stats;
  t["cross_entropy"] = cross_entropy;
  t["cross_entropy_backward"] = cross_entropy_backward;
  t["binary_cross_entropy"] = binary_cross_entropy;
  t["binary_cross_entropy_backward"] = binary_cross_entropy_backward;
  t["mse_loss"] = mse_loss;
  t["optimizer_update"] = optimizer_update;
  t["clip_grad_norm_scale"] = [](const ir::Node& n, const In& in) {
    // A NaN norm gives a NaN scale (PyTorch's clamp keeps it), so every gradient turns NaN.
    double s = n.attr_float("max_norm") / (std::sqrt(double(in[0]->data[0])) + 1e-6);
    return scalar(std::isnan(s) ? s : std::min(1.0, s));
  };
}

}  // namespace strata::reference
