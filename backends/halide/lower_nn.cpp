// Halide algorithms of the layers. Every lowering reads its inputs with logical (NCHW)
// indices through TensorRef, so it is correct in any layout; schedules make it fast.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "backends/halide/lowering.h"
#include "ir/op_registry.h"
#include "ir/random.h"

namespace strata::halide_backend {

using namespace Halide;

// One input and one output channel per group: the CPU schedules read such a convolution's
// padded input in place and store its input gradient's weight channels innermost.
static bool depthwise(int64_t cig, int64_t cog, int64_t groups) { return cig == 1 && cog == 1 && groups > 1; }

static Lowered conv2d(LowerContext& c) {
  const TensorRef& w = c.in[1];
  if (w.layout.winograd) return winograd_conv2d(c);
  auto [pad, st, dl, groups] = ir::conv_geometry(c.node);
  int64_t cig = w.shape[1], co_total = w.shape[0], cog = co_total / groups;
  bool padded = pad[0] || pad[1] || pad[2] || pad[3];
  TensorRef x = padded ? padded_input(c, 0, 0.f, "padded", depthwise(cig, cog, groups)) : c.in[0];

  auto L = c.out.logical();  // n, co, y, x
  Expr b = L[0], co = L[1], oy = L[2], ox = L[3];
  RDom r({{0, static_cast<int>(cig)}, {0, static_cast<int>(w.shape[3])}, {0, static_cast<int>(w.shape[2])}}, "r");
  Expr ci = groups == 1 ? Expr(r.x) : (co / static_cast<int>(cog)) * static_cast<int>(cig) + r.x;
  Expr iy = oy * static_cast<int>(st[0]) + r.z * static_cast<int>(dl[0]) - static_cast<int>(pad[0]);
  Expr ix = ox * static_cast<int>(st[1]) + r.y * static_cast<int>(dl[1]) - static_cast<int>(pad[1]);

  Func conv("conv");
  conv(c.out.vars) = c.in.size() > 2 ? c.in[2].at({co}) : Expr(0.f);
  conv(c.out.vars) += w.at({co, r.x, r.z, r.y}) * x.at({b, ci, iy, ix});

  Lowered l;
  l.out = Func(c.out_name);
  l.out(c.out.vars) = conv(c.out.vars);
  l.reductions.push_back({conv, r});
  ConvInfo info{conv, r, c.params[1], std::nullopt, groups, c.in[0].shape[1], co_total};
  if (padded) {
    info.padded = x.f;
    l.roots.push_back({x.f, physical_extents(x.shape, x.layout)});
  }
  l.conv = info;
  return l;
}

// conv2d_backward_input reads the weight transposed (input channels innermost, the order
// its register tiles want), copied once per call. On the CPU the copy is blocked by the
// schedule's tile of input channels, as the forward's weight is by its tile of output
// channels (preferred_layout), so a tile streams its filter contiguously; elsewhere it is
// plain, with padded channels where the plain stride would alias in the caches.
struct TransposedWeight {
  Func f{"weight_t"};
  std::vector<int64_t> extents;
  int block = 0;
  // dy's channels innermost: summed in lanes (dx_reduction_lanes), or depthwise, where they
  // are dx's channels, the vector (taps innermost, a vector of 16 channels was a gather at
  // a stride of 9 for every tap).
  bool co_inner = false;
  Expr at(Expr ci, Expr kx, Expr ky, Expr co) const {
    if (co_inner) return f(co, ci, kx, ky);
    return block > 0 ? f(ci % block, kx, ky, co, ci / block) : f(ci, kx, ky, co);
  }
};

static TransposedWeight transposed_weight(LowerContext& c, int64_t tile_columns, bool co_inner = false) {
  const TensorRef& w = c.in[1];
  int64_t cig = w.shape[1];
  TransposedWeight t;
  Var wi("ci"), wx("kx"), wy("ky"), wo("co"), wb("cb");
  if (co_inner) {
    t.co_inner = true;
    t.f(wo, wi, wx, wy) = w.at({wo, wi, wy, wx});
    t.extents = {w.shape[0], cig, w.shape[3], w.shape[2]};
    return t;
  }
  if (ir::conv_geometry(c.node).groups == 1) t.block = conv_channel_block(cig, tile_columns, c.target);
  if (t.block > 0) {
    t.f(wi, wx, wy, wo, wb) = w.at({wo, wb * t.block + wi, wy, wx});
    t.extents = {t.block, w.shape[3], w.shape[2], w.shape[0], cig / t.block};
    return t;
  }
  int64_t cig_pad = w.shape[2] * w.shape[3] > 1 ? unaliased_channels(cig, num_elements(w.shape), c.target) : cig;
  t.f(wi, wx, wy, wo) = w.at({wo, min(wi, static_cast<int>(cig) - 1), wy, wx});
  if (cig_pad != cig) t.f.bound(wi, 0, static_cast<int>(cig_pad));
  t.extents = {cig_pad, w.shape[3], w.shape[2], w.shape[0]};
  return t;
}

// dx's zero-padded copy of dy, where it makes one: a root computed before the convolution.
static void keep_dy_copy(Lowered& l, ConvInfo& info, const TensorRef& dy, bool copied) {
  if (!copied) return;
  info.padded = dy.f;
  l.roots.push_back({dy.f, physical_extents(dy.shape, dy.layout)});
}

// conv2d_backward_input of a strided, undilated convolution on the CPU (channels-last dx):
// one accumulator per column phase px = ix mod stride, over that phase's columns only
// (xq = ix / stride) and with exactly its taps kx = kx0 + j * stride, so no tile computes
// products that the phase's taps never reach (a 1x1 stride-2 convolution's dx is zero in
// three of four positions: computed and discarded, ResNet-50's layer4 downsample took 75 ms
// at batch 8). Rows keep one tile per row; a row's taps past the kernel are excluded by the
// reduction's predicate, which Halide turns into a shorter (or empty) tap loop.
static Lowered column_phases(LowerContext& c, const TensorRef& dy, bool copied) {
  const TensorRef& w = c.in[1];
  auto [pad, st, dl, groups] = ir::conv_geometry(c.node);
  int cig = static_cast<int>(w.shape[1]), cog = static_cast<int>(w.shape[0] / groups);
  int KH = static_cast<int>(w.shape[2]), KW = static_cast<int>(w.shape[3]);
  int s0 = static_cast<int>(st[0]), s1 = static_cast<int>(st[1]);
  int p0 = static_cast<int>(pad[0]), p1 = static_cast<int>(pad[1]);
  const auto& v = c.out.vars;  // channels-last: (ci, x, y, n); an accumulator's x is xq
  Var vc = v[0], vx = v[1], vy = v[2], vn = v[3];
  Lowered l;
  ConvInfo info{Func(), RDom(), c.params[1], std::nullopt, groups, w.shape[0], c.out.shape[1]};
  info.column_stride = s1;
  TransposedWeight wt = transposed_weight(c, (c.out.shape[3] + s1 - 1) / s1,
                                         dx_reduction_lanes(cig * groups, cog, c.target) > 0 || depthwise(cig, cog, groups));
  Expr value = 0.f;
  for (int px = s1 - 1; px >= 0; --px) {
    int kx0 = (px + p1) % s1, taps = kx0 < KW ? (KW - kx0 + s1 - 1) / s1 : 0;
    Expr phase_value = 0.f;  // no tap reaches these columns
    if (taps > 0) {
      RDom r({{0, cog}, {0, taps}, {0, (KH + s0 - 1) / s0}}, fmt::format("r{}", px));
      Expr ky = (vy + p0) % s0 + r.z * s0;
      if (s0 > 1) r.where(ky < KH);
      Expr co = (vc / cig) * cog + r.x;
      Expr oy = (vy + p0) / s0 - r.z, ox = vx + (px + p1 - kx0) / s1 - r.y;
      Func acc(fmt::format("dx_phase{}", px));
      acc(v) = 0.f;
      acc(v) += dy.at({vn, co, oy, ox}) * wt.at(vc % cig, kx0 + r.y * s1, clamp(ky, 0, KH - 1), co);
      phase_value = acc(vc, vx / s1, vy, vn);
      info.phases.push_back({acc, r});
    }
    value = px == s1 - 1 ? phase_value : select(vx % s1 == px, phase_value, value);
  }
  std::reverse(info.phases.begin(), info.phases.end());
  l.out = Func(c.out_name);
  l.out(v) = value;
  for (const Reduction& p : info.phases) l.reductions.push_back(p);
  if (!info.phases.empty()) info.conv = info.phases[0].f, info.r = info.phases[0].r;
  keep_dy_copy(l, info, dy, copied);
  l.roots.push_back({wt.f, wt.extents});
  l.conv = info;
  return l;
}

// dx[n, ci, iy, ix] = sum over (co in ci's group, ky, kx) of dy[n, co, oy, ox] * w[co, ci, ky, kx]
// where iy = oy * stride + ky * dilation - pad: a transposed convolution of dy, reading dy
// only where (iy + pad - ky * dilation) is a multiple of the stride. It has the forward
// convolution's shape (output channels ci, reduction over co and taps), so it takes the
// forward convolution's register-tiled schedule; the weight is first copied with ci
// innermost, the order that schedule reads it in.
static Lowered conv2d_backward_input(LowerContext& c) {
  const TensorRef& w = c.in[1];
  if (w.layout.winograd) return winograd_conv2d(c);  // (3x3, stride 1, pad 1: winograd.cpp)
  auto [pad, st, dl, groups] = ir::conv_geometry(c.node);
  int64_t cig = w.shape[1], cog = w.shape[0] / groups;
  // 1x1, unpadded: dy read where it is, no zero-padded copy. The copy was a whole pass
  // over dy per call (bench_conv, two alternating rounds: 1x1 56x56 64 -> 256 3.42 / 3.39 ->
  // 2.33 / 2.03 ms, 14x14 256 -> 1024 2.74 / 2.59 -> 2.03 / 2.07, the stride-2 downsample
  // 14x14 1024 -> 2048 6.31 / 5.70 -> 5.59 / 4.53).
  // (Larger unpadded filters read dy before its first row: they keep the zero-padded copy.)
  bool copied = pad[0] || pad[1] || pad[2] || pad[3] || w.shape[2] > 1 || w.shape[3] > 1;
  TensorRef dy = copied ? padded_input(c, 0, 0.f, "dy_padded", depthwise(cig, cog, groups)) : c.in[0];
  auto L = c.out.logical();  // n, ci, iy, ix
  int KH = static_cast<int>(w.shape[2]), KW = static_cast<int>(w.shape[3]);
  int s0 = static_cast<int>(st[0]), s1 = static_cast<int>(st[1]);
  bool phased = (s0 > 1 || s1 > 1) && dl[0] == 1 && dl[1] == 1;
  // Strided, undilated: only taps with ky = (iy + pad) mod stride (mod stride) reach row iy,
  // so the reduction visits ceil(K / stride) taps per axis instead of K.
  if (phased && s1 > 1 && !c.target.has_gpu_feature() && c.out.layout == channels_last())
    return column_phases(c, dy, copied);
  int ry = phased ? (KH + s0 - 1) / s0 : KH, rx = phased ? (KW + s1 - 1) / s1 : KW;
  RDom r({{0, static_cast<int>(cog)}, {0, rx}, {0, ry}}, "r");
  TransposedWeight wt = transposed_weight(c, c.out.shape[3], depthwise(cig, cog, groups));
  Expr g = L[1] / static_cast<int>(cig);
  Expr co = g * static_cast<int>(cog) + r.x;
  Expr ky = phased ? (L[2] + static_cast<int>(pad[0])) % s0 + r.z * s0 : Expr(r.z);
  Expr kx = phased ? (L[3] + static_cast<int>(pad[1])) % s1 + r.y * s1 : Expr(r.y);
  Expr ny = L[2] + static_cast<int>(pad[0]) - ky * static_cast<int>(dl[0]);
  Expr nx = L[3] + static_cast<int>(pad[1]) - kx * static_cast<int>(dl[1]);
  // ci % cig (not ci - g * cig) lets bounds inference see the weight's extent exactly.
  Expr wv = wt.at(L[1] % static_cast<int>(cig), phased ? clamp(kx, 0, KW - 1) : kx, phased ? clamp(ky, 0, KH - 1) : ky, co);
  Expr term = dy.at({L[0], co, ny / s0, nx / s1}) * wv;
  if (phased) term = select(ky < KH && kx < KW, term, 0.f);
  else if (s0 > 1 || s1 > 1) term = select(ny % s0 == 0 && nx % s1 == 0, term, 0.f);
  Func acc("dx");
  acc(c.out.vars) = 0.f;
  acc(c.out.vars) += term;
  Lowered l;
  l.out = Func(c.out_name);
  l.out(c.out.vars) = acc(c.out.vars);
  l.reductions.push_back({acc, r});
  ConvInfo info{acc, r, c.params[1], std::nullopt, groups, w.shape[0], c.out.shape[1]};
  keep_dy_copy(l, info, dy, copied);
  l.roots.push_back({wt.f, wt.extents});
  l.conv = info;
  return l;
}

// dw[co, ci, ky, kx] = sum over (n, oy, ox) of dy[n, co, oy, ox] * x[n, g * cig + ci, iy, ix]:
// a matrix product of dy (co by positions) and the input's patches, accumulated in a root
// with co innermost so the CPU schedule can keep a co-by-ci tile in registers.
static Lowered conv2d_backward_weight(LowerContext& c) {
  if (c.winograd.m) return winograd_conv2d_backward_weight(c);  // (3x3, stride 1, pad 1: winograd.cpp)
  const TensorRef& dy = c.in[1];
  auto [pad, st, dl, groups] = ir::conv_geometry(c.node);
  int64_t cig = c.out.shape[1], cog = c.out.shape[0] / groups;
  bool padded = pad[0] || pad[1] || pad[2] || pad[3];
  TensorRef x = padded ? padded_input(c, 0, 0.f, "x_padded", depthwise(cig, cog, groups)) : c.in[0];
  const Shape& ys = dy.shape;
  RDom r({{0, static_cast<int>(ys[3])}, {0, static_cast<int>(ys[2])}, {0, static_cast<int>(ys[0])}}, "r");
  WeightGradInfo info{Func("dw"), Func("dw_acc"), r, Var("co"), Var("ci"), Var("kx"), Var("ky"), c.out.shape[0], cig, groups,
                      std::nullopt, Func(), c.in[0].shape, ys, c.out.shape, st[0], st[1]};
  Expr ci = (info.co / static_cast<int>(cog)) * static_cast<int>(cig) + info.ci;
  Expr iy = r.y * static_cast<int>(st[0]) + info.ky * static_cast<int>(dl[0]) - static_cast<int>(pad[0]);
  Expr ix = r.x * static_cast<int>(st[1]) + info.kx * static_cast<int>(dl[1]) - static_cast<int>(pad[1]);
  // x in blocks of the CPU register tile's input channels: a tile reads t channels of
  // every position, one short piece of each row of x (see schedule_weight_grad).
  int t = plan_weight_grad_tile(c.out.shape[0], cig, c.out.shape[3], c.target).t;
  if (cig % t) t = 1;
  Var cii("cii"), px("px"), py("py"), pn("pn"), cib("cib");
  info.packed = Func("x_packed");
  Expr x_sum;  // x at the position a tap of the sum reads
  if (c.out.shape[2] == 1 && c.out.shape[3] == 1) {
    // 1x1: blocks over output positions, so a strided convolution packs only what it reads.
    info.packed(cii, px, py, pn, cib) = x.at({pn, cib * t + cii, py * static_cast<int>(st[0]) - static_cast<int>(pad[0]),
                                              px * static_cast<int>(st[1]) - static_cast<int>(pad[1])});
    x_sum = info.packed(ci % t, r.x, r.y, r.z, ci / t);
  } else {
    info.packed(cii, px, py, pn, cib) = x.at({pn, cib * t + cii, py, px});
    x_sum = info.packed(ci % t, ix, iy, r.z, ci / t);
  }
  info.acc(info.co, info.ci, info.kx, info.ky) = 0.f;
  info.acc(info.co, info.ci, info.kx, info.ky) += dy.at({r.z, info.co, r.y, r.x}) * x_sum;
  info.tile(info.co, info.ci, info.kx, info.ky) = info.acc(info.co, info.ci, info.kx, info.ky);
  auto L = c.out.logical();  // co, ci, ky, kx
  Lowered l;
  l.out = Func(c.out_name);
  l.out(c.out.vars) = info.tile(L[0], L[1], L[3], L[2]);
  if (padded) {
    info.padded = x.f;
    l.roots.push_back({x.f, physical_extents(x.shape, x.layout)});
  }
  l.roots.push_back({info.tile, {c.out.shape[0], cig, c.out.shape[3], c.out.shape[2]}});
  l.wgrad = info;
  return l;
}

static Lowered linear(LowerContext& c) {
  auto L = c.out.logical();  // i (batch), j (feature)
  int64_t K = c.in[0].shape[1];
  RDom r(0, static_cast<int>(K), "k");
  // The row clamped: the CPU's GEMM schedule rounds its last tile of rows up
  // (schedule_linear_gemm), and those rows read the last one again.
  Expr row = min(L[0], static_cast<int>(c.in[0].shape[0] - 1));
  return sum_reduction(c, "linear", r, c.in.size() > 2 ? c.in[2].at({L[1]}) : Expr(0.f),
                       c.in[0].at({row, r}) * c.in[1].at({L[1], r}));
}

static Lowered batch_norm(LowerContext& c) {
  // Per-channel scale and shift are computed once, so each element costs one FMA.
  Lowered l;
  // (Named after the member: a kernel with two batch norms, a downsample block's add, reads
  // clearly in a .stmt dump; Halide itself keeps same-named Funcs apart.)
  Func mean(c.out_name + "_mean"), var(c.out_name + "_var");
  Var ch("ch");
  if (c.node.attr_int("training")) {
    std::tie(mean, var) = batch_statistics(c, 0, l, 5);
  } else {
    mean(ch) = c.in[3].at({ch});
    var(ch) = c.in[4].at({ch});
  }
  Expr eps = static_cast<float>(c.node.attr_float("eps"));
  Func scale(c.out_name + "_bn_scale"), shift(c.out_name + "_bn_shift");
  scale(ch) = c.in[1].at({ch}) / sqrt(var(ch) + eps);
  shift(ch) = c.in[2].at({ch}) - mean(ch) * scale(ch);
  auto L = c.out.logical();
  l.out = Func(c.out_name);
  l.out(c.out.vars) = c.in[0].at(L) * scale(L[1]) + shift(L[1]);
  int64_t C = c.in[0].shape[1];
  l.roots.push_back({scale, {C}});
  l.roots.push_back({shift, {C}});
  return l;
}

static Lowered pool(LowerContext& c, bool is_max) {
  const ir::Node& n = c.node;
  auto k = n.attr_ints("kernel_size");
  auto s = n.attr_ints("stride");
  if (s.empty()) s = k;
  auto p = ir::conv_padding(n);
  int64_t H = c.in[0].shape[2], W = c.in[0].shape[3];
  TensorRef x = padded_input(c, 0, is_max ? -std::numeric_limits<float>::infinity() : 0.f, "padded");
  auto L = c.out.logical();
  RDom r({{0, static_cast<int>(k[1])}, {0, static_cast<int>(k[0])}}, "r");
  Expr y0 = L[2] * static_cast<int>(s[0]) - static_cast<int>(p[0]);
  Expr x0 = L[3] * static_cast<int>(s[1]) - static_cast<int>(p[1]);
  Func acc(is_max ? "maxpool" : "sumpool");
  acc(c.out.vars) = is_max ? Expr(-std::numeric_limits<float>::infinity()) : Expr(0.f);
  // Windows may reach past the padded input in ceil mode: such taps are skipped.
  Expr iy = y0 + r.y, ix = x0 + r.x;
  Expr inside = iy < static_cast<int>(H + p[2]) && ix < static_cast<int>(W + p[3]);
  Expr v = x.at({L[0], L[1], iy, ix});
  Expr a = acc(c.out.vars);
  if (is_max) {
    // A NaN wins and stays, as in PyTorch: Halide's max returns the other operand.
    Expr w = select(inside, v, a);
    acc(c.out.vars) = select(is_nan_bits(a), a, select(is_nan_bits(w), w, max(a, w)));
  } else {
    acc(c.out.vars) = a + select(inside, v, 0.f);
  }
  Lowered l;
  l.out = Func(c.out_name);
  if (is_max) {
    l.out(c.out.vars) = acc(c.out.vars);
  } else {
    // PyTorch's divisor: the window clipped to the padded input, or to the input alone.
    Expr y1 = min(y0 + static_cast<int>(k[0]), static_cast<int>(H + p[2]));
    Expr x1 = min(x0 + static_cast<int>(k[1]), static_cast<int>(W + p[3]));
    Expr count = n.attr_int("count_include_pad")
                     ? (y1 - y0) * (x1 - x0)
                     : (min(y1, static_cast<int>(H)) - max(y0, 0)) * (min(x1, static_cast<int>(W)) - max(x0, 0));
    l.out(c.out.vars) = acc(c.out.vars) / cast<float>(count);
  }
  l.reductions.push_back({acc, r});
  return l;
}

static Lowered global_avg_pool(LowerContext& c) {
  auto L = c.out.logical();
  int64_t H = c.in[0].shape[2], W = c.in[0].shape[3];
  RDom r({{0, static_cast<int>(W)}, {0, static_cast<int>(H)}}, "r");
  float count = static_cast<float>(H * W);
  return sum_reduction(c, "sum", r, 0.f, c.in[0].at({L[0], L[1], r.y, r.x}), [&](Expr e) { return e / count; });
}

static Lowered lrn(LowerContext& c) {
  const ir::Node& n = c.node;
  int64_t size = n.attr_int("size");
  float alpha = n.attr_float("alpha"), beta = n.attr_float("beta"), k = n.attr_float("k");
  TensorRef x = padded_input(c, 0, 0.f, "padded");
  auto L = c.out.logical();
  RDom r(0, static_cast<int>(size), "r");
  Expr v = x.at({L[0], L[1] + r - static_cast<int>(size / 2), L[2], L[3]});
  Expr center = c.in[0].at(L);
  return sum_reduction(c, "sqsum", r, 0.f, v * v, [&](Expr sq) {
    return center / pow(k + alpha / static_cast<float>(size) * sq, beta);
  });
}

static Lowered copy_input(LowerContext& c) {
  return pointwise_output(c, c.in[0].at(c.out.logical()));
}

static Lowered bn_fold_weight(LowerContext& c) {
  auto L = c.out.logical();
  Expr eps = static_cast<float>(c.node.attr_float("eps"));
  return pointwise_output(c, c.in[0].at(L) * (c.in[1].at({L[0]}) / sqrt(c.in[2].at({L[0]}) + eps)));
}

static Lowered bn_fold_bias(LowerContext& c) {
  Expr ch = c.out.logical()[0];
  Expr scale = c.in[0].at({ch}) / sqrt(c.in[3].at({ch}) + static_cast<float>(c.node.attr_float("eps")));
  Expr bias = c.in.size() > 4 ? c.in[4].at({ch}) : Expr(0.f);
  return pointwise_output(c, (bias - c.in[2].at({ch})) * scale + c.in[1].at({ch}));
}

// Training mode: the mask is ir/random.h's hash of (seed, salt, flat index), bit for bit.
static Expr dropout_keep(const ir::Node& n, Expr seed_f32, Expr flat) {
  auto u32 = [](uint32_t v) { return Internal::make_const(UInt(32), static_cast<uint64_t>(v)); };
  Expr seed = cast<uint32_t>(seed_f32), salt = u32(static_cast<uint32_t>(n.attr_int("salt")));
  Expr h = (cast<uint32_t>(flat) * u32(ir::kHashIndexMul)) ^ (seed * u32(ir::kHashSeedMul) + salt * u32(ir::kHashSaltMul));
  h = h ^ (h >> 16);
  h = h * u32(ir::kHashMix1);
  h = h ^ (h >> 15);
  h = h * u32(ir::kHashMix2);
  h = h ^ (h >> 16);
  Expr u = cast<float>(h >> 8) * (1.0f / 16777216.0f);
  return u >= static_cast<float>(n.attr_float("p"));
}

static Lowered dropout(LowerContext& c) {
  if (!c.node.attr_int("training")) return copy_input(c);  // inference: identity
  auto L = c.out.logical();
  float scale = 1.f / (1.f - static_cast<float>(c.node.attr_float("p")));
  Expr index = c.node.attr_string("mode") == "row" ? L[0] : flat_index(c.out.shape, L);  // row: one draw per sample
  Expr keep = dropout_keep(c.node, c.in[1].at({Expr(0)}), index);
  // A dropped NaN stays NaN: PyTorch multiplies by its mask.
  Expr x = c.in[0].at(L);
  return pointwise_output(c, select(keep || is_nan_bits(x), x * scale, 0.f));
}

void register_nn_lowerings(std::map<std::string, Lowering>& t) {
  t["conv2d"] = conv2d;
  t["conv2d_backward_input"] = conv2d_backward_input;
  t["conv2d_backward_weight"] = conv2d_backward_weight;
  t["linear"] = linear;
  t["batch_norm"] = batch_norm;
  t["max_pool2d"] = [](LowerContext& c) { return pool(c, true); };
  t["avg_pool2d"] = [](LowerContext& c) { return pool(c, false); };
  t["global_avg_pool"] = global_avg_pool;
  t["lrn"] = lrn;
  t["dropout"] = dropout;
  t["batch_norm_fold_weight"] = bn_fold_weight;
  t["batch_norm_fold_bias"] = bn_fold_bias;
}

}  // namespace strata::halide_backend
