// Halide algorithms of the training-only ops; formulas as in the reference kernels.
#include "backends/halide/lowering.h"

namespace strata::halide_backend {

using namespace Halide;

static Lowered running_stats(LowerContext& c) {
  Lowered l;
  auto [mean, var] = batch_statistics(c, 0, l, 2);
  float m = c.node.attr_float("momentum");
  float count = static_cast<float>(num_elements(c.in[0].shape) / c.in[0].shape[1]);
  Expr ch = c.out.logical()[0];
  Expr batch = c.node.attr_string("stat") == "var" ? var(ch) * (count / (count - 1.f)) : mean(ch);
  l.out = Func(c.out_name);
  l.out(c.out.vars) = (1.f - m) * c.in[1].at({ch}) + m * batch;
  return l;
}

// Per row of the logits: the log of softmax's denominator (max + log sum exp) and the sum
// of the smoothed target.
struct RowTerms {
  Func lse, q_sum;
  Expr q(Expr n, Expr cls) const { return (1.f - e) * target.at({n, cls}) + e / static_cast<float>(C); }
  TensorRef target;
  float e;
  int64_t C;
};
static RowTerms row_terms(LowerContext& c, Lowered& l) {
  RowTerms t{Func("lse"), Func("q_sum"), c.in[1], static_cast<float>(c.node.attr_float("label_smoothing")),
             c.in[0].shape[1]};
  Var n("n");
  RDom r(0, static_cast<int>(t.C), "cls");
  Func mx("row_max"), se("sum_exp");
  mx(n) = maximum(c.in[0].at({n, r}));
  se(n) = sum(softmax_term(c.in[0].at({n, r}), mx(n)));
  t.lse(n) = keep_nan(se(n), mx(n) + log(se(n)));  // (a row with a NaN: NaN)
  t.q_sum(n) = sum(t.q(n, r));
  int64_t N = c.in[0].shape[0];
  l.roots.push_back({mx, {N}, false});
  l.roots.push_back({se, {N}, false});
  l.roots.push_back({t.lse, {N}, false});
  l.roots.push_back({t.q_sum, {N}, false});
  return t;
}

static Lowered cross_entropy(LowerContext& c) {
  Lowered roots;
  RowTerms t = row_terms(c, roots);
  int64_t N = c.in[0].shape[0];
  RDom r({{0, static_cast<int>(t.C)}, {0, static_cast<int>(N)}}, "r");
  Expr term = t.q(r.y, r.x) * (c.in[0].at({r.y, r.x}) - t.lse(r.y));
  Lowered l = sum_reduction(c, "loss", r, 0.f, term, [&](Expr e) { return -e / static_cast<float>(N); });
  l.roots = roots.roots;
  return l;
}

static Lowered cross_entropy_backward(LowerContext& c) {
  Lowered roots;
  RowTerms t = row_terms(c, roots);
  auto L = c.out.logical();
  Expr g = c.in[2].at({Expr(0)}) / static_cast<float>(c.in[0].shape[0]);
  Expr lse = t.lse(L[0]);
  Lowered l = pointwise_output(c, g * keep_nan(lse, exp(c.in[0].at(L) - lse) * t.q_sum(L[0]) - t.q(L[0], L[1])));
  l.roots = roots.roots;
  return l;
}

// Every element of input 0 (and its target) visited once: the mean losses.
static Lowered mean_loss(LowerContext& c, const std::function<Expr(Expr, Expr)>& term) {
  const Shape& s = c.in[0].shape;
  auto [r, idx] = reduction_domain(s, std::vector<bool>(s.size(), true));
  float count = static_cast<float>(num_elements(s));
  return sum_reduction(c, "loss", r, 0.f, term(c.in[0].at(idx), c.in[1].at(idx)),
                       [&](Expr e) { return e / count; });
}

// (A NaN input gives NaN, as in the reference: Halide's max would clamp log(NaN) to -100.)
static Expr bce_term(Expr x, Expr t, bool from_logits) {
  Expr v = from_logits ? max(x, 0.f) - x * t + log(1.f + exp(-abs(x)))
                       : -(t * max(log(x), -100.f) + (1.f - t) * max(log(1.f - x), -100.f));
  return keep_nan(x, v);
}

static Lowered bce_backward(LowerContext& c) {
  auto L = c.out.logical();
  Expr x = c.in[0].at(L), t = c.in[1].at(L);
  Expr g = c.in[2].at({Expr(0)}) / static_cast<float>(num_elements(c.out.shape));
  Expr d = c.node.attr_int("from_logits") ? 1.f / (1.f + exp(-x)) - t : (x - t) / max(x * (1.f - x), 1e-12f);
  return pointwise_output(c, g * keep_nan(x, d));
}

static Lowered optimizer_update(LowerContext& c) {
  const ir::Node& n = c.node;
  auto L = c.out.logical();
  const std::string& opt = n.attr_string("optimizer");
  float wd = n.attr_float("weight_decay"), l1 = n.attr_float("l1"), cv = n.attr_float("clip_value");
  Expr p = c.in[0].at(L), g = c.in[1].at(L);
  Expr lr = c.in[2].at({Expr(0)}), step = c.in[2].at({Expr(1)});
  if (cv > 0) g = keep_nan(g, clamp(g, -cv, cv));  // (a NaN gradient stays NaN, as PyTorch's clip_grad_value_)
  if (opt != "adamw" && wd != 0) g = g + wd * p;
  if (l1 != 0) g = g + l1 * select(p > 0.f, 1.f, select(p < 0.f, -1.f, 0.f));
  Expr s1 = c.in.size() > 3 ? c.in[3].at(L) : Expr(0.f), s2 = c.in.size() > 4 ? c.in[4].at(L) : Expr(0.f);
  std::vector<Expr> results;
  if (opt == "sgd") {
    results = {p - lr * g};
  } else if (opt == "momentum" || opt == "nesterov") {
    float mu = n.attr_float("momentum");
    Expr b = mu * s1 + g;
    results = {p - lr * (opt == "nesterov" ? g + mu * b : b), b};
  } else if (opt == "rmsprop") {
    float a = n.attr_float("alpha"), eps = n.attr_float("eps");
    Expr v = a * s1 + (1.f - a) * g * g;
    results = {p - lr * g / (sqrt(v) + eps), v};
  } else {
    float b1 = n.attr_float("beta1"), b2 = n.attr_float("beta2"), eps = n.attr_float("eps");
    Expr m = b1 * s1 + (1.f - b1) * g, v = b2 * s2 + (1.f - b2) * g * g;
    Expr m_hat = m / (1.f - pow(b1, step)), v_hat = v / (1.f - pow(b2, step));
    Expr decayed = opt == "adamw" ? p * (1.f - lr * wd) : p;
    results = {decayed - lr * m_hat / (sqrt(v_hat) + eps), m, v};
  }
  return pointwise_output(c, results.at(n.attr_int("result")));
}

// Row 0 the batch mean, row 1 the biased variance, per channel.
static Lowered batch_norm_stats(LowerContext& c) {
  Lowered l;
  auto [mean, var] = batch_statistics(c, 0, l);
  auto L = c.out.logical();
  l.out = Func(c.out_name);
  l.out(c.out.vars) = select(L[0] == 0, mean(L[1]), var(L[1]));
  return l;
}

void register_training_lowerings(std::map<std::string, Lowering>& t) {
  t["batch_norm_stats"] = batch_norm_stats;
  t["batch_norm_running_stats"] = running_stats;
  t["cross_entropy"] = cross_entropy;
  t["cross_entropy_backward"] = cross_entropy_backward;
  t["binary_cross_entropy"] = [](LowerContext& c) {
    bool fl = c.node.attr_int("from_logits") != 0;
    return mean_loss(c, [fl](Expr x, Expr t) { return bce_term(x, t, fl); });
  };
  t["binary_cross_entropy_backward"] = bce_backward;
  t["mse_loss"] = [](LowerContext& c) { return mean_loss(c, [](Expr x, Expr t) { return (x - t) * (x - t); }); };
  t["optimizer_update"] = optimizer_update;
  t["clip_grad_norm_scale"] = [](LowerContext& c) {
    float max_norm = c.node.attr_float("max_norm");
    Expr s = max_norm / (sqrt(c.in[0].at({Expr(0)})) + 1e-6f);
    return pointwise_output(c, keep_nan(s, min(1.f, s)));  // (a NaN norm: a NaN scale, as PyTorch's)
  };
}

}  // namespace strata::halide_backend
