// Halide algorithms of the gradient ops. Like the forward lowerings they read inputs with
// logical (NCHW) indices, so they are correct in any layout.
#include <limits>

#include "backends/halide/lowering.h"
#include "ir/op_registry.h"

namespace strata::halide_backend {

using namespace Halide;

static Lowered activation_grad(LowerContext& c) {
  auto L = c.out.logical();
  return pointwise_output(c, c.in[1].at(L) * activation_derivative(c.node, c.in[0].at(L)));
}

struct PoolGeometry {
  std::vector<int64_t> k, s;
  std::array<int64_t, 4> p;
  int64_t H, W, OH, OW;
};
static PoolGeometry pool_geometry(const ir::Node& n, const Shape& x, const Shape& y) {
  PoolGeometry g{n.attr_ints("kernel_size"), n.attr_ints("stride"), ir::conv_padding(n), x[2], x[3], y[2], y[3]};
  if (g.s.empty()) g.s = g.k;
  return g;
}

// The output windows that may contain input row iy (column ix): oy = (iy + pad) / stride - j
// for j < ceil(kernel / stride) (candidate (jy, jx)); `valid` says the candidate exists.
struct Candidates {
  RDom r;
  Expr oy, ox, valid;
};
static int candidates_along(const PoolGeometry& g, int d) { return static_cast<int>((g.k[d] + g.s[d] - 1) / g.s[d]); }
static Candidates window_candidate(const PoolGeometry& g, Expr iy, Expr ix, Expr jy, Expr jx) {
  Expr oy = (iy + static_cast<int>(g.p[0])) / static_cast<int>(g.s[0]) - jy;
  Expr ox = (ix + static_cast<int>(g.p[1])) / static_cast<int>(g.s[1]) - jx;
  Expr valid = oy >= 0 && oy < static_cast<int>(g.OH) && ox >= 0 && ox < static_cast<int>(g.OW);
  return {RDom(), clamp(oy, 0, static_cast<int>(g.OH - 1)), clamp(ox, 0, static_cast<int>(g.OW - 1)), valid};
}
static Candidates window_candidates(const PoolGeometry& g, Expr iy, Expr ix) {
  RDom r({{0, candidates_along(g, 1)}, {0, candidates_along(g, 0)}}, "win");
  Candidates w = window_candidate(g, iy, ix, r.y, r.x);
  w.r = r;
  return w;
}

// Each window's first maximum (as iy * W + ix) is found once, in a root vectorized over
// channels; every input position then collects the gradient of the windows that chose it.
static Lowered max_pool2d_backward(LowerContext& c) {
  const TensorRef& dy = c.in[1];
  PoolGeometry g = pool_geometry(c.node, c.in[0].shape, dy.shape);
  TensorRef x = padded_input(c, 0, -std::numeric_limits<float>::infinity(), "x_padded");
  Var vc("c"), vx("ox"), vy("oy"), vn("n");
  // The window's taps unrolled in one expression (row by row, the first maximum kept), not
  // an update over an RDom: an update stored and reloaded the running pair per tap after a
  // separate, serial pass initializing the whole root.
  Func am("argmax");
  Expr best_i = -1, best_v = Expr(-std::numeric_limits<float>::infinity());
  for (int ky = 0; ky < static_cast<int>(g.k[0]); ++ky)
    for (int kx = 0; kx < static_cast<int>(g.k[1]); ++kx) {
      Expr iy = vy * static_cast<int>(g.s[0]) - static_cast<int>(g.p[0]) + ky;
      Expr ix = vx * static_cast<int>(g.s[1]) - static_cast<int>(g.p[1]) + kx;
      Expr inside = iy >= 0 && iy < static_cast<int>(g.H) && ix >= 0 && ix < static_cast<int>(g.W);
      Expr v = x.at({vn, vc, iy, ix});
      Expr better = inside && (best_i < 0 || v > best_v);
      best_i = select(better, iy * static_cast<int>(g.W) + ix, best_i);
      best_v = select(better, v, best_v);
    }
  am(vc, vx, vy, vn) = best_i;  // (the maximum itself is not stored: only where it was)
  auto L = c.out.logical();  // n, c, iy, ix
  // The candidate windows unrolled too (a sum of ceil(k / s)^2 terms, 4 for ResNet's 3x3
  // stride 2), so the rows and columns at the edges are no loops of varying extent.
  Expr dx = 0.f;
  for (int jy = 0; jy < candidates_along(g, 0); ++jy)
    for (int jx = 0; jx < candidates_along(g, 1); ++jx) {
      Candidates w = window_candidate(g, L[2], L[3], jy, jx);
      Expr chosen = am(L[1], w.ox, w.oy, L[0]) == L[2] * static_cast<int>(g.W) + L[3];
      dx += select(w.valid && chosen, dy.at({L[0], L[1], w.oy, w.ox}), 0.f);
    }
  Lowered l = pointwise_output(c, dx);
  l.roots.push_back({am, {dy.shape[1], g.OW, g.OH, dy.shape[0]}});
  return l;
}

static Lowered avg_pool2d_backward(LowerContext& c) {
  const TensorRef& dy = c.in[0];
  PoolGeometry g = pool_geometry(c.node, c.out.shape, dy.shape);
  auto L = c.out.logical();
  Candidates w = window_candidates(g, L[2], L[3]);
  Expr y0 = w.oy * static_cast<int>(g.s[0]) - static_cast<int>(g.p[0]);
  Expr x0 = w.ox * static_cast<int>(g.s[1]) - static_cast<int>(g.p[1]);
  Expr y1 = min(y0 + static_cast<int>(g.k[0]), static_cast<int>(g.H + g.p[2]));
  Expr x1 = min(x0 + static_cast<int>(g.k[1]), static_cast<int>(g.W + g.p[3]));
  Expr count = c.node.attr_int("count_include_pad")
                   ? (y1 - y0) * (x1 - x0)
                   : (min(y1, static_cast<int>(g.H)) - max(y0, 0)) * (min(x1, static_cast<int>(g.W)) - max(x0, 0));
  Expr covers = w.valid && y0 <= L[2] && L[2] < y1 && x0 <= L[3] && L[3] < x1;
  return sum_reduction(c, "dx", w.r, 0.f, select(covers, dy.at({L[0], L[1], w.oy, w.ox}) / cast<float>(count), 0.f));
}

// See the reference kernel for the formula; the window sums are unrolled (size is small).
static Lowered lrn_backward(LowerContext& c) {
  int64_t size = c.node.attr_int("size");
  float alpha = c.node.attr_float("alpha"), beta = c.node.attr_float("beta"), k = c.node.attr_float("k");
  TensorRef x = padded_input(c, 0, 0.f, "x_padded");
  const TensorRef& dy = c.in[1];
  auto L = c.out.logical();
  auto shifted = [&](std::vector<Expr> idx, int dc) {
    idx[1] = idx[1] + dc;
    return idx;
  };
  Func scale("lrn_scale");
  Expr sq = 0.f;
  for (int j = 0; j < size; ++j) {
    Expr v = x.at(shifted(L, j - static_cast<int>(size / 2)));
    sq += v * v;
  }
  scale(c.out.vars) = k + alpha / static_cast<float>(size) * sq;
  TensorRef scale_ref{scale, c.out.layout, c.out.shape};
  Func t("lrn_t");
  t(c.out.vars) = dy.at(L) * c.in[0].at(L) * pow(scale_ref.at(L), -beta - 1.f);
  Region bounds;
  for (size_t d = 0; d < c.out.vars.size(); ++d) bounds.push_back({0, static_cast<int>(c.out.extent(static_cast<int>(d)))});
  TensorRef t_ref{BoundaryConditions::constant_exterior(t, 0.f, bounds), c.out.layout, c.out.shape};
  Expr acc = 0.f;
  for (int j = -static_cast<int>((size - 1) / 2); j <= static_cast<int>(size / 2); ++j) acc += t_ref.at(shifted(L, j));
  std::vector<int64_t> ext;
  for (size_t d = 0; d < c.out.vars.size(); ++d) ext.push_back(c.out.extent(static_cast<int>(d)));
  Lowered l = pointwise_output(c, dy.at(L) * pow(scale_ref.at(L), -beta) -
                                2.f * alpha * beta / static_cast<float>(size) * c.in[0].at(L) * acc);
  l.roots.push_back({scale, ext});
  l.roots.push_back({t, ext});
  return l;
}

// Batch norm's backward pass; see the reference kernel for the formulas.
static Lowered batch_norm_backward(LowerContext& c, bool weight) {
  const TensorRef& x = c.in[0];
  int dy_input = weight ? 3 : 4;
  const TensorRef& dy = c.in[dy_input];
  bool training = c.node.attr_int("training") != 0;
  float eps = c.node.attr_float("eps"), count = static_cast<float>(num_elements(x.shape) / x.shape[1]);
  Lowered l;
  Var ch("ch");
  Func mean("mean"), var("var"), inv_std("inv_std");
  if (training) {
    std::tie(mean, var) = batch_statistics(c, 0, l, dy_input + 1);
  } else {
    mean(ch) = c.in[weight ? 1 : 2].at({ch});
    var(ch) = c.in[weight ? 2 : 3].at({ch});
  }
  inv_std(ch) = 1.f / sqrt(var(ch) + eps);
  l.roots.push_back({inv_std, {x.shape[1]}});
  auto xhat = [&](const std::vector<Expr>& L) { return (x.at(L) - mean(L[1])) * inv_std(L[1]); };
  if (weight) {
    // The scale's gradient, with the bias's (sum of dy) in the same pass where asked: rows 0
    // and 1 of the [2, C] output.
    bool with_bias = c.node.attr_int("with_bias") != 0;
    Func sums = channel_sums("dgamma_dbeta", x.shape, [&](std::vector<Expr> i) {
      std::vector<Expr> t{dy.at(i) * xhat(i)};
      if (with_bias) t.push_back(dy.at(i));
      return t;
    }, l);
    auto L = c.out.logical();
    l.out = Func(c.out_name);
    if (with_bias) l.out(c.out.vars) = select(L[0] == 0, sums(L[1])[0], sums(L[1])[1]);
    else l.out(c.out.vars) = sums(L[0]);
    return l;
  }
  auto L = c.out.logical();
  Expr g = c.in[1].at({L[1]}) * inv_std(L[1]);
  if (!training) {
    Lowered e = pointwise_output(c, g * dy.at(L));
    e.roots = l.roots;
    return e;
  }
  Func sum_dy("sum_dy"), sum_dy_xhat("sum_dy_xhat");
  if (static_cast<int>(c.in.size()) > dy_input + 2) {  // the weight and bias gradients, computed by their own nodes
    sum_dy_xhat(ch) = c.in[dy_input + 2].at({ch});
    sum_dy(ch) = c.in[dy_input + 3].at({ch});
  } else {
    // Both sums in one pass over dy and x.
    Func sums = channel_sums("sum_dy_and_dy_xhat", x.shape, [&](std::vector<Expr> i) {
      return std::vector<Expr>{dy.at(i), dy.at(i) * xhat(i)};
    }, l);
    sum_dy(ch) = sums(ch)[0];
    sum_dy_xhat(ch) = sums(ch)[1];
  }
  l.out = Func(c.out_name);
  l.out(c.out.vars) = g * (dy.at(L) - sum_dy(L[1]) / count - xhat(L) * sum_dy_xhat(L[1]) / count);
  return l;
}

static Lowered softmax_backward(LowerContext& c) {
  auto L = c.out.logical();
  int axis = ir::normalize_axis(c.node, c.node.attr_int("axis"), static_cast<int>(c.out.shape.size()));
  bool log = c.node.attr_int("log") != 0;
  OtherAxes rest = other_axes(c, axis);
  RDom r(0, static_cast<int>(c.out.shape[axis]), "r");
  std::vector<Expr> idx = L;
  idx[axis] = r;
  Expr term = log ? c.in[1].at(idx) : c.in[1].at(idx) * c.in[0].at(idx);
  Func s("dot");
  rest.define(s, sum(term));
  Expr sv = rest.call(s);
  Expr y = c.in[0].at(L), dy = c.in[1].at(L);
  Lowered l = pointwise_output(c, log ? keep_nan(y, dy - exp(y) * sv) : y * (dy - sv));
  l.roots.push_back({s, rest.extents, false});
  return l;
}

static Lowered prelu_backward(LowerContext& c) {
  const TensorRef &x = c.in[0], &a = c.in[1], &dy = c.in[2];
  bool shared = a.shape[0] == 1 || x.rank() < 2;
  if (c.node.attr_string("wrt") == "input") {
    auto L = c.out.logical();
    Expr slope = shared ? a.at({Expr(0)}) : a.at({L[1]});
    return pointwise_output(c, select(x.at(L) > 0.f, dy.at(L), slope * dy.at(L)));
  }
  std::vector<bool> reduced(x.shape.size(), true);
  if (!shared) reduced[1] = false;
  auto [r, idx] = reduction_domain(x.shape, reduced);
  if (!shared) idx[1] = c.out.logical()[0];
  // PyTorch's: every x not above 0 counts, a NaN too (a bit test: under no-NaNs the
  // comparison alone may be flipped).
  Expr xv = x.at(idx);
  return sum_reduction(c, "dslope", r, 0.f, select(xv <= 0.f || is_nan_bits(xv), dy.at(idx) * xv, 0.f));
}

// dx[i] sums dy over the positions that copied element i: per dimension, its own position
// i + before and every padding position (at most before + after of them) whose source is i.
static Lowered pad_backward(LowerContext& c) {
  const Shape& xs = c.out.shape;
  const auto& p = c.node.attr_ints("pads");
  bool reflect = c.node.attr_string("mode") == "reflect";
  size_t rank = xs.size();
  Region region;
  std::vector<int> dims;
  for (int d = static_cast<int>(rank) - 1; d >= 0; --d)
    if (p[d] + p[d + rank] > 0) {
      region.push_back({0, static_cast<int>(1 + p[d] + p[d + rank])});
      dims.push_back(d);
    }
  if (region.empty()) region.push_back({0, 1});
  RDom r(region, "cand");
  auto L = c.out.logical();
  std::vector<Expr> j(L.begin(), L.end());
  Expr hit = Internal::const_true();
  for (size_t k = 0; k < dims.size(); ++k) {
    int d = dims[k];
    int before = static_cast<int>(p[d]), e = static_cast<int>(xs[d]);
    // Candidate 0 is the element's own position; candidate m >= 1 the m-th padding position.
    Expr m = r[static_cast<int>(k)];
    Expr pad_pos = select(m <= before, m - 1, e + m - 1);  // output index of padding position m
    Expr jd = select(m == 0, L[d] + before, pad_pos);
    Expr i = jd - before;
    Expr src = reflect ? select(i < 0, -i, select(i >= e, 2 * (e - 1) - i, i)) : clamp(i, 0, e - 1);
    hit = hit && src == L[d];
    j[d] = clamp(jd, 0, static_cast<int>(c.in[0].shape[d]) - 1);
  }
  return sum_reduction(c, "dx", r, 0.f, select(hit, c.in[0].at(j), 0.f));
}

void register_gradient_lowerings(std::map<std::string, Lowering>& t) {
  t["activation_grad"] = activation_grad;
  t["max_pool2d_backward"] = max_pool2d_backward;
  t["avg_pool2d_backward"] = avg_pool2d_backward;
  t["lrn_backward"] = lrn_backward;
  t["batch_norm_backward_input"] = [](LowerContext& c) { return batch_norm_backward(c, false); };
  t["batch_norm_backward_weight"] = [](LowerContext& c) { return batch_norm_backward(c, true); };
  t["softmax_backward"] = softmax_backward;
  t["prelu_backward"] = prelu_backward;
  t["pad_backward"] = pad_backward;
}

}  // namespace strata::halide_backend
