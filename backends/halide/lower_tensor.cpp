// Halide algorithms of data movement, broadcasting arithmetic and softmax.
#include "backends/halide/lowering.h"
#include "ir/op_registry.h"

namespace strata::halide_backend {

using namespace Halide;

// Row-major reshape: the output's flat index, unravelled over the input's shape.
static Lowered reshape_like(LowerContext& c) {
  auto L = c.out.logical();
  const Shape& os = c.out.shape;
  const Shape& is = c.in[0].shape;
  Expr flat = 0;
  for (size_t d = 0; d < os.size(); ++d) flat = flat * static_cast<int>(os[d]) + L[d];
  std::vector<Expr> idx(is.size());
  int64_t stride = 1;
  for (int d = static_cast<int>(is.size()) - 1; d >= 0; --d) {
    idx[d] = clamp((flat / static_cast<int>(stride)) % static_cast<int>(is[d]), 0, static_cast<int>(is[d] - 1));
    stride *= is[d];
  }
  return pointwise_output(c, c.in[0].at(idx));
}

static Lowered concat(LowerContext& c) {
  auto L = c.out.logical();
  int axis = ir::normalize_axis(c.node, c.node.attr_int("axis"), static_cast<int>(c.out.shape.size()));
  // Every input is read with its index clamped into bounds, so bounds inference asks
  // each for exactly its own extent; select keeps the right one.
  Expr result;
  int64_t end = 0;
  std::vector<std::pair<Expr, Expr>> parts;
  for (size_t i = 0; i < c.in.size(); ++i) {
    int64_t len = c.in[i].shape[axis], begin = end;
    end += len;
    auto idx = L;
    idx[axis] = clamp(L[axis] - static_cast<int>(begin), 0, static_cast<int>(len - 1));
    parts.emplace_back(L[axis] < static_cast<int>(end), c.in[i].at(idx));
  }
  result = parts.back().second;
  for (int i = static_cast<int>(parts.size()) - 2; i >= 0; --i) result = select(parts[i].first, parts[i].second, result);
  return pointwise_output(c, result);
}

static Lowered pad(LowerContext& c) {
  auto L = c.out.logical();
  const auto& p = c.node.attr_ints("pads");
  const std::string& mode = c.node.attr_string("mode");
  const Shape& is = c.in[0].shape;
  size_t r = is.size();
  std::vector<Expr> idx(r);
  Expr inside = Internal::const_true();
  for (size_t d = 0; d < r; ++d) {
    int e = static_cast<int>(is[d]);
    Expr j = L[d] - static_cast<int>(p[d]);
    inside = inside && j >= 0 && j < e;
    if (mode == "reflect") j = select(j < 0, -j, select(j >= e, 2 * (e - 1) - j, j));
    idx[d] = clamp(j, 0, e - 1);
  }
  Expr v = c.in[0].at(idx);
  return pointwise_output(c, mode == "constant" ? select(inside, v, static_cast<float>(c.node.attr_float("value"))) : v);
}

// NumPy broadcasting: right-aligned; size-1 dimensions read index 0.
static Expr broadcast_read(const TensorRef& t, const std::vector<Expr>& L) {
  size_t lead = L.size() - t.shape.size();
  std::vector<Expr> idx(t.shape.size());
  for (size_t d = 0; d < t.shape.size(); ++d) idx[d] = t.shape[d] == 1 ? Expr(0) : L[lead + d];
  return t.at(idx);
}

static Lowering binary(std::function<Expr(Expr, Expr)> f) {
  return [f](LowerContext& c) {
    auto L = c.out.logical();
    return pointwise_output(c, f(broadcast_read(c.in[0], L), broadcast_read(c.in[1], L)));
  };
}

static Lowered softmax(LowerContext& c, bool log) {
  auto L = c.out.logical();
  int axis = ir::normalize_axis(c.node, c.node.attr_int("axis"), static_cast<int>(c.out.shape.size()));
  int len = static_cast<int>(c.out.shape[axis]);
  OtherAxes rest = other_axes(c, axis);  // max and sum are functions of the other axes only
  RDom r(0, len, "r");
  auto at_r = [&](Expr j) {
    std::vector<Expr> idx(L.size());
    for (size_t d = 0; d < L.size(); ++d) idx[d] = static_cast<int>(d) == axis ? j : L[d];
    return c.in[0].at(idx);
  };
  Func mx("max"), sum("sum");
  rest.define(mx, maximum(at_r(r)));
  rest.define(sum, Halide::sum(softmax_term(at_r(r), rest.call(mx))));
  Expr m = rest.call(mx), s = rest.call(sum);
  Expr x = c.in[0].at(L);
  // A NaN anywhere along the axis makes the sum, and so the whole row, NaN (as PyTorch).
  Lowered l = pointwise_output(c, keep_nan(s, log ? x - m - Halide::log(s) : exp(x - m) / s));
  l.roots.push_back({mx, rest.extents, false});
  l.roots.push_back({sum, rest.extents, false});
  return l;
}

static Lowered slice(LowerContext& c) {
  auto L = c.out.logical();
  const auto& b = c.node.attr_ints("starts");
  for (size_t d = 0; d < L.size(); ++d) L[d] = L[d] + static_cast<int>(b[d]);
  return pointwise_output(c, c.in[0].at(L));
}

static Lowered reduce_sum(LowerContext& c) {
  const Shape& xs = c.in[0].shape;
  std::vector<bool> reduced(xs.size(), false);
  for (int64_t a : c.node.attr_ints("axes")) reduced[ir::normalize_axis(c.node, a, static_cast<int>(xs.size()))] = true;
  auto [r, idx] = reduction_domain(xs, reduced);
  auto L = c.out.logical();
  bool keep = c.node.attr_int("keepdims") != 0;
  for (size_t d = 0, k = 0; d < xs.size(); ++d) {
    if (!reduced[d]) idx[d] = L[keep ? d : k];
    if (!reduced[d] || keep) ++k;
  }
  return sum_reduction(c, "sum", r, 0.f, c.in[0].at(idx));
}

static Lowered matmul(LowerContext& c) {
  auto L = c.out.logical();
  bool ta = c.node.attr_int("trans_a") != 0, tb = c.node.attr_int("trans_b") != 0;
  int64_t K = ta ? c.in[0].shape[0] : c.in[0].shape[1];
  RDom r(0, static_cast<int>(K), "k");
  Expr a = ta ? c.in[0].at({r, L[0]}) : c.in[0].at({L[0], r});
  Expr b = tb ? c.in[1].at({L[1], r}) : c.in[1].at({r, L[1]});
  return sum_reduction(c, "matmul", r, 0.f, a * b);
}

void register_tensor_lowerings(std::map<std::string, Lowering>& t) {
  t["slice"] = slice;
  t["reduce_sum"] = reduce_sum;
  t["matmul"] = matmul;
  t["flatten"] = reshape_like;
  t["reshape"] = reshape_like;
  t["concat"] = concat;
  t["pad"] = pad;
  t["add"] = binary([](Expr a, Expr b) { return a + b; });
  t["sub"] = binary([](Expr a, Expr b) { return a - b; });
  t["mul"] = binary([](Expr a, Expr b) { return a * b; });
  t["div"] = binary([](Expr a, Expr b) { return a / b; });
  t["softmax"] = [](LowerContext& c) { return softmax(c, false); };
  t["log_softmax"] = [](LowerContext& c) { return softmax(c, true); };
}

}  // namespace strata::halide_backend
