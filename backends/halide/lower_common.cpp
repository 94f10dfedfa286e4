// Building blocks shared by the lowerings: padded inputs, reductions, batch statistics.
#include <fmt/format.h>

#include "backends/halide/lowering.h"
#include "ir/error.h"

namespace strata::halide_backend {

using namespace Halide;

TensorRef padded_input(LowerContext& c, int i, float value, const char* name, bool read_in_place) {
  const TensorRef& x = c.in[i];
  std::vector<int64_t> extents = physical_extents(x.shape, x.layout);
  Func named(name);
  std::vector<Var> v(extents.size());
  Expr border = value;
  if (read_in_place && !c.target.has_gpu_feature()) {
    // Read where it is by a kernel's loops (the CPU's depthwise convolutions). The border's
    // value is loaded from a scalar computed first: as a constant, Halide's simplifier
    // folded a product with it to 0 wherever it proved a tap outside (the loops it splits at
    // the border), and a NaN or infinite weight (or dy) no longer reached the border
    // outputs, where the reference's 0 * NaN is NaN.
    Func b(std::string(name) + "_border");
    b() = value;
    b.compute_root();
    border = b();
  }
  Region bounds;
  for (int64_t e : extents) bounds.push_back({0, static_cast<int>(e)});
  // Through the Func, not the ImageParam: a fusion group's prologue feeds it no buffer.
  Func p = BoundaryConditions::constant_exterior(x.f, border, bounds);
  named(v) = p(v);
  return TensorRef{named, x.layout, x.shape};
}

Expr is_nan_bits(Expr x) { return (reinterpret<uint32_t>(x) & Expr(0x7fffffffu)) > Expr(0x7f800000u); }

Expr keep_nan(Expr x, Expr value) { return select(is_nan_bits(x), x, value); }

Expr softmax_term(Expr v, Expr m) { return keep_nan(v, exp(v - m)); }

Lowered pointwise_output(LowerContext& c, Expr e) {
  Lowered l;
  l.out = Func(c.out_name);
  l.out(c.out.vars) = e;
  return l;
}

Lowered sum_reduction(LowerContext& c, const char* name, const RDom& r, Expr init, Expr term,
                      const std::function<Expr(Expr)>& finish) {
  Func acc(name);
  acc(c.out.vars) = init;
  acc(c.out.vars) += term;
  Lowered l;
  l.out = Func(c.out_name);
  l.out(c.out.vars) = finish ? finish(acc(c.out.vars)) : acc(c.out.vars);
  l.reductions.push_back({acc, r});
  return l;
}

// A 4-D tensor's positions are summed in chunks of rows of one image, then over the chunks:
// each chunk is a parallel task reading one contiguous stretch of a channels-last tensor,
// every channel vector of a pixel before the next pixel. One channel vector per task over
// every position (the schedule before) fetched each pixel's lines once per vector, and ran
// at 12-14 GB/s on ResNet-50's batch statistics at batch 8 (now 36-45 GB/s). An NCHW
// tensor is read at a stride there: correct, not fast (the CPU keeps 4-D activations
// channels-last).
static int64_t rows_per_chunk(const Shape& shape) {
  // Up to 256 KB of floats per chunk: thousands of additions per partial sum written.
  int64_t rows = 1;
  for (int64_t r = 1; r <= shape[2]; ++r)
    if (shape[2] % r == 0 && r * shape[3] * shape[1] <= 64 * 1024) rows = r;
  return rows;
}

Func channel_sums(const char* name, const Shape& shape, const std::function<std::vector<Expr>(std::vector<Expr>)>& term,
                  Lowered& l) {
  Var ch("ch");
  Func total(name);
  auto accumulate = [](Func f, const std::vector<Expr>& pure, const std::vector<Expr>& t) {
    if (t.size() == 1) {
      f(pure) = 0.f;
      f(pure) += t[0];
      return;
    }
    f(pure) = Tuple(std::vector<Expr>(t.size(), Expr(0.f)));
    std::vector<Expr> next;
    for (size_t i = 0; i < t.size(); ++i) next.push_back(f(pure)[static_cast<int>(i)] + t[i]);
    f(pure) = Tuple(next);
  };
  if (shape.size() != 4) {
    RDom r(0, static_cast<int>(shape[0]), "r");
    accumulate(total, {ch}, term({r.x, ch}));
    l.roots.push_back(Root{total, {shape[1]}});
    return total;
  }
  int64_t rows = rows_per_chunk(shape), per_image = shape[2] / rows, chunks = shape[0] * per_image;
  Var k("chunk");
  Func partial(std::string(name) + "_partial");
  RDom r({{0, static_cast<int>(shape[3])}, {0, static_cast<int>(rows)}}, "r");  // w innermost
  Expr n = k / static_cast<int>(per_image), y = k % static_cast<int>(per_image) * static_cast<int>(rows) + r.y;
  accumulate(partial, {ch, k}, term({n, ch, y, r.x}));
  RDom rk(0, static_cast<int>(chunks), "rk");
  std::vector<Expr> parts;
  if (partial.outputs() == 1) parts.push_back(partial(ch, rk));
  else
    for (int i = 0; i < partial.outputs(); ++i) parts.push_back(partial(ch, rk)[i]);
  accumulate(total, {ch}, parts);
  Root pr{partial, {shape[1], chunks}};
  pr.chunked = true;
  l.roots.push_back(pr);
  l.roots.push_back(Root{total, {shape[1]}});
  return total;
}

int64_t unaliased_extent(int64_t channels) {
  return (channels * 4) % 1024 == 0 ? channels + 16 : channels;  // 64 bytes: one cache line more per row
}

int64_t unaliased_channels(int64_t channels, int64_t weight_elements, const Target& t) {
  if (t.has_gpu_feature() || weight_elements * 4 < (int64_t{1} << 20)) return channels;
  return unaliased_extent(channels);
}

std::pair<Func, Func> batch_statistics(LowerContext& c, int i, Lowered& l, int stats_input) {
  const TensorRef& x = c.in[i];
  if (stats_input >= 0 && static_cast<int>(c.in.size()) > stats_input) {  // computed once, by batch_norm_stats
    Var ch("ch");
    // (Named after the member, as batch_norm's Funcs are.)
    Func mean(c.out_name + "_batch_mean"), var(c.out_name + "_batch_var");
    mean(ch) = c.in[stats_input].at({0, ch});
    var(ch) = c.in[stats_input].at({1, ch});
    return {mean, var};
  }
  float count = static_cast<float>(num_elements(x.shape) / x.shape[1]);
  Func sum = channel_sums("batch_sum", x.shape, [&](std::vector<Expr> L) { return std::vector<Expr>{x.at(L)}; }, l);
  Var ch("ch");
  Func mean("batch_mean");
  mean(ch) = sum(ch) / count;
  l.roots.push_back({mean, {x.shape[1]}});
  // Two passes (mean, then squared deviations): exact enough where E[x^2] - E[x]^2 is not.
  Func sq = channel_sums("batch_sqdev", x.shape, [&](std::vector<Expr> L) {
    Expr d = x.at(L) - mean(L[1]);
    return std::vector<Expr>{d * d};
  }, l);
  Func var("batch_var");
  var(ch) = sq(ch) / count;
  l.roots.push_back({var, {x.shape[1]}});
  return {mean, var};
}

std::pair<RDom, std::vector<Expr>> reduction_domain(const Shape& shape, const std::vector<bool>& reduced) {
  Region region;
  std::vector<int> axes;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d)
    if (reduced[d]) {
      region.push_back({0, static_cast<int>(shape[d])});
      axes.push_back(d);
    }
  if (region.empty()) region.push_back({0, 1});  // nothing to reduce: one iteration
  RDom r(region, "r");
  std::vector<Expr> idx(shape.size());
  for (size_t k = 0; k < axes.size(); ++k) idx[axes[k]] = r[static_cast<int>(k)];
  return {r, idx};
}

OtherAxes other_axes(const LowerContext& c, int axis) {
  if (c.out.layout.block > 0)  // its axes are not one var each
    throw Error(fmt::format("halide backend: node '{}' ({}) cannot write a blocked layout", c.node.name(), c.node.op));
  OtherAxes o;
  for (size_t k = 0; k < c.out.vars.size(); ++k) {
    if (c.out.layout[k] == axis) continue;
    o.vars.push_back(c.out.vars[k]);
    o.extents.push_back(c.out.extent(static_cast<int>(k)));
  }
  return o;
}

void OtherAxes::define(Func f, Expr value) const {
  if (vars.empty()) f() = value;
  else f(vars) = value;
}

Expr OtherAxes::call(Func f) const {
  if (vars.empty()) return f();
  return f(std::vector<Expr>(vars.begin(), vars.end()));
}

Expr flat_index(const Shape& shape, const std::vector<Expr>& L) {
  Expr flat = 0;
  for (size_t d = 0; d < shape.size(); ++d) flat = flat * static_cast<int>(shape[d]) + L[d];
  return flat;
}

}  // namespace strata::halide_backend
