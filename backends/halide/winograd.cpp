// Winograd convolution for the CPU (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015). An m x m output tile from an (m+2) x (m+2) input tile d and a 3x3 filter
// g is Y = A^T [(G g G^T) * (B^T d B)] A: (m+2)^2 multiplications per input channel where
// the direct form takes 9 m^2 (F(2x2, 3x3): 16 for 36; F(4x4, 3x3): 36 for 144). Summed over
// input channels, the products are (m+2)^2 matrix products [tiles x Ci] x [Ci x Co], so the
// convolution becomes V = B^T d B per tile (input transform), M_e = V_e U_e (the GEMMs),
// Y = A^T M A (output transform, with the group's epilogue), U = G g G^T computed once per
// weight (a static kernel: winograd_weight, into the Winograd layout). The GEMMs take the
// direct convolution's register tile. bench_conv (batch 1, warm, direct -> Winograd): 3x3
// 56x56x64 0.88 -> 0.33 ms and 28x28x128 0.73 -> 0.38 ms (F(4x4)), 14x14x256 0.80 -> 0.45 ms
// (F(2x2)). Odd sizes take F(2x2) with the last row and column of tiles part padding (the
// output's tiles guarded). Where U outgrows L2 and meets few tiles per run it streams from
// memory for little arithmetic, and which form wins depends on the machine: ResNet-50's
// layer 4 at batch 1 (7x7, 16 tiles, U 16.8 MB) measured 1.26 ms cold against 1.00 direct
// on an Intel host with full-width AVX-512, and 0.75-0.83 against 1.17-1.23 ms in the model
// on an AMD Zen 4 host, whose FMAs run at half width (Inception v3's 8x8x448->384, F(4x4)
// with 4 tiles: 0.73-0.77 against 1.00-1.04). So such layers keep the direct form unless
// the FMAs are half width (Options::half_width_fma, host_cpu.h).
#include <fmt/format.h>

#include "backends/halide/kernel_builder.h"
#include "backends/halide/lowering.h"
#include "ir/error.h"
#include "ir/op_registry.h"

namespace strata::halide_backend {

using namespace Halide;

// Per image, the transformed input and the GEMMs' results stay below this (bytes): VGG's
// 224x224x64 layers (51 MB each) keep the direct form.
constexpr int64_t kMaxTransformBytes = 16 << 20;
// (A weight gradient's transformed input and gradient, of the whole batch where it is summed
// in one chunk, each stay below Options::winograd_max_batch_transform_bytes, and the groups'
// partial Ms below Options::winograd_max_part_bytes: grad_chunks.)
constexpr int64_t kMinTilesPerWeightGrad = 256;
// Chunks of the weight gradient's tiles (grad_chunks); with one group, larger ones.
constexpr int64_t kChunkBytes = 256 << 10, kMaxChunkBytes = 1 << 20, kChunkTiles = 28, kMinChunkTiles = 8;
constexpr int64_t kOneGroupChunkBytes = 8 << 20;
// A transformed weight U past L2 is read from memory at every run; each of its elements
// then takes part in batch x tiles products. Below this many (ResNet-50's 7x7 layers at
// batch 1 have 16) the direct form, which reads the smaller weight for 49, stays where the
// FMAs are full width.
constexpr int64_t kStreamedWeightBytes = 1 << 20;
constexpr int64_t kMinTilesPerStreamedWeight = 32;
// A weight updated at every run (a training step) is transformed again at every run. Past
// L2 and met by few tiles (ResNet-50's layer 4 at batch 8: U 16.8 MB for 128 tiles) the
// transform and the Winograd GEMMs took longer than the direct form: bench_conv, dx 3x3
// 7x7x512 at batch 8, 6.92 ms direct against 7.14 + 1.48 (transform); in the training
// step, layer4.1's forward 6.76 + 2.48 ms and dx 6.78 + 3.59.
constexpr int64_t kMinTilesPerRecomputedWeight = 256;

// The transforms of F(m x m, 3x3), alpha = m + 2: Lavin & Gray's F(2x2, 3x3) and
// F(4x4, 3x3) (interpolation points 0, +-1, +-2, as in their paper).
struct Transforms {
  std::vector<std::vector<double>> BT, G, AT;  // alpha x alpha, alpha x 3, m x alpha
};
static const Transforms& transforms(int m) {
  static const Transforms f2{{{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}},
                             {{1, 0, 0}, {.5, .5, .5}, {.5, -.5, .5}, {0, 0, 1}},
                             {{1, 1, 1, 0}, {0, 1, -1, -1}}};
  static const Transforms f4{{{4, 0, -5, 0, 1, 0},
                              {0, -4, -4, 1, 1, 0},
                              {0, 4, -4, -1, 1, 0},
                              {0, -2, -1, 2, 1, 0},
                              {0, 2, -1, -2, 1, 0},
                              {0, 4, 0, -5, 0, 1}},
                             {{1. / 4, 0, 0},
                              {-1. / 6, -1. / 6, -1. / 6},
                              {-1. / 6, 1. / 6, -1. / 6},
                              {1. / 24, 1. / 12, 1. / 6},
                              {1. / 24, -1. / 12, 1. / 6},
                              {0, 0, 1}},
                             {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}}};
  if (m != 2 && m != 4) throw Error(fmt::format("Winograd F({0}x{0}, 3x3) is not implemented (F(2x2) and F(4x4) are)", m));
  return m == 4 ? f4 : f2;
}

// sum over k of c[k] * x[k], without the zero terms and the multiplications by +-1.
static Expr combine(const std::vector<double>& c, const std::vector<Expr>& x) {
  Expr sum;
  for (size_t k = 0; k < c.size(); ++k) {
    if (c[k] == 0) continue;
    Expr term = c[k] == 1 || c[k] == -1 ? x[k] : Expr(static_cast<float>(std::abs(c[k]))) * x[k];
    if (!sum.defined()) sum = c[k] < 0 ? -term : term;
    else sum = c[k] < 0 ? sum - term : sum + term;
  }
  return sum.defined() ? sum : Expr(0.f);
}

// L d R^T for a tile d(i, j) (i along x, j along y), separably (along y first): the
// values by e = xi + rows(L) * nu.
static std::vector<Expr> transform2d(const std::vector<std::vector<double>>& L, const std::function<Expr(int, int)>& d,
                                     int in) {
  int out = static_cast<int>(L.size());
  std::vector<std::vector<Expr>> s(in, std::vector<Expr>(out));
  for (int i = 0; i < in; ++i) {
    std::vector<Expr> col;
    for (int j = 0; j < in; ++j) col.push_back(d(i, j));
    for (int nu = 0; nu < out; ++nu) s[i][nu] = combine(L[nu], col);
  }
  std::vector<Expr> v(out * out);
  for (int nu = 0; nu < out; ++nu) {
    std::vector<Expr> row;
    for (int i = 0; i < in; ++i) row.push_back(s[i][nu]);
    for (int xi = 0; xi < out; ++xi) v[xi + out * nu] = combine(L[xi], row);
  }
  return v;
}

// The GEMMs' register tile: 6 rows (tiles) by 4 vectors of output channels, the direct
// convolution's 24 accumulators; where 6 rows waste more than 5% of a short GEMM and 7
// rows divide it, 7 rows by 2 vectors (bench_conv, 3x3 14x14x256 whose 49 tiles took 9
// tiles of 6, the last shifted: 0.48 -> 0.42 ms warm, 0.60 -> 0.58 cold; 6 by 4 stays
// better at 28x28 and 56x56). The block of output channels divides the channels.
// With 8-lane vectors (AVX2: 16 registers), 6 rows by 2 vectors.
struct WinogradTile {
  int rows = 6, block = 64;
};
static WinogradTile winograd_tile(int64_t tiles, int64_t out_channels, int lanes) {
  if (lanes < 16) return {6, 16};
  WinogradTile t;
  int64_t waste = (tiles + 5) / 6 * 6 - tiles;
  if (waste * 20 > tiles && tiles % 7 == 0) t = {7, 32};
  while (out_channels % t.block) t.block /= 2;
  return t;
}

// F(m x m, 3x3) for a 3x3, stride-1, pad-1 convolution `n` (or one of its gradients) of `ci`
// to `co` channels over `batch` images of H x W outputs, where the rules above let
// Winograd take it; else 0. weight_static: false where the weight is transformed at every run.
static int winograd_m(const ir::Node& n, int64_t co, int64_t ci, int64_t batch, int64_t H, int64_t W, const Options& o,
                      bool weight_static = true) {
  if (!o.winograd || o.schedule != "manual" || parse_target(o.target).has_gpu_feature()) return 0;
  ir::ConvGeometry g = ir::conv_geometry(n);
  if (g.groups != 1 || g.stride != std::vector<int64_t>{1, 1} || g.dilation != std::vector<int64_t>{1, 1} ||
      g.pad != std::array<int64_t, 4>{1, 1, 1, 1})
    return 0;
  if (H * W < 24 || co % 16 || ci % 16) return 0;
  // F(4x4, 3x3) where 4 divides the image: 36 products per 16 outputs against F(2x2)'s 16
  // per 4, and a smaller transformed input (bench_conv 3x3 56x56x64 0.49 -> 0.31-0.34 ms,
  // 28x28x128 0.41 -> 0.33-0.35 ms); ResNet-50's 14x14 layers keep F(2x2) (with 4x4 tiles
  // a quarter of the last row and column would be padding, and U 4x the weight).
  int m = H % 4 == 0 && W % 4 == 0 ? 4 : 2, alpha = m + 2;
  int64_t tiles = (H + m - 1) / m * ((W + m - 1) / m);
  if (tiles * alpha * alpha * std::max(ci, co) * 4 > kMaxTransformBytes) return 0;
  bool half_width = half_width_fma(o);
  if (!half_width && alpha * alpha * ci * co * 4 > kStreamedWeightBytes &&
      tiles * batch < (weight_static ? kMinTilesPerStreamedWeight : kMinTilesPerRecomputedWeight))
    return 0;
  return m;
}

Layout winograd_weight_layout(const ir::Node& n, const Options& o, bool weight_static) {
  // conv2d_backward_input of such a convolution is one too: of dy, by the flipped weight
  // with its channel axes swapped (the transposed layout).
  bool transposed = n.op == "conv2d_backward_input";
  if ((n.op != "conv2d" && !transposed) || n.inputs.size() < 2) return {};
  const Shape& w = n.inputs[1]->type.shape;
  const Shape& y = n.outputs[0]->type.shape;
  if (w.size() != 4 || w[2] != 3 || w[3] != 3 || y.size() != 4) return {};
  int64_t co = transposed ? w[1] : w[0], ci = transposed ? w[0] : w[1];
  int m = winograd_m(n, co, ci, y[0], y[2], y[3], o, weight_static);
  if (!m) return {};
  Layout l{0, 1, 2, 3};
  l.winograd = m;
  l.transposed = transposed;
  int64_t tiles = (y[2] + m - 1) / m * ((y[3] + m - 1) / m);
  l.block = winograd_tile(tiles, co, parse_target(o.target).natural_vector_size<float>()).block;
  return l;
}

// The weight gradient's tiles in chunks (WinogradGradInfo): chunks of tiles whose V and Z
// stay in L2 are transformed and summed in turn, into `groups` partial Ms summed in
// parallel (the chunks g, g + groups, ... each). Storing every tile's transforms first
// wrote and read them back from memory (29 MB for ResNet-50's 56x56x64 layer at batch 8).
// A chunk's transforms fill kChunkBytes, or more up to kMaxChunkBytes for kChunkTiles
// tiles: each chunk adds into all of its group's M, which fewer tiles would not pay for
// (bench_conv, batch 8, chunks of 256 KiB -> at least 28 tiles: 28x28x128 4.0-4.3 ->
// 3.2 ms, 14x14x256 5.4-6.0 -> 4.4-4.6; the small ResNet's 28x28x16 at batch 64 took
// 0.49-0.58 ms in chunks of 256 KiB, 0.66-0.69 in chunks of 1 MiB). Where a group's M
// would pass the options' limit (8 MiB), one chunk: the whole batch's transforms first.
// Where those would pass their limit (64 MB each), one group: the chunks in turn, each
// transformed by all cores and added into the one M by tasks over M's channel blocks.
// There every chunk reads and writes all of M, so chunks take up to 8 MiB of transforms
// (in L3), not 1: AlexNet's 3x3s at batch 64 (M 6.3 MB, 77 MB of transforms; `strata
// bench alexnet --train --batch 64 --profile`, STRATA_PROFILE_NODES=1), features.8's weight
// gradient with its momentum 112-123 ms direct, 103 in chunks of 1 MiB, 66 / 59 / 67 / 72 in
// chunks of 4 / 8 / 16 / 32 MiB; features.6's 66-67 -> 60 -> 48 / 44 / 46 / 46. VGG-16's
// training step at batch 32 8568 -> 6015 ms (features.14's 858 -> 283 ms). Where one chunk
// fits it stays: in one group VGG-16's features.12 at batch 8 took 96 ms against 68.
static WinogradGradPlan grad_chunks(int m, int64_t tiles, int64_t co, int64_t ci, const Options& o) {
  int alpha2 = (m + 2) * (m + 2);
  int64_t m_bytes = alpha2 * co * ci * 4, tile_bytes = alpha2 * (co + ci) * 4;
  int64_t most = std::min({tiles / 2, std::max(kChunkBytes / tile_bytes, kChunkTiles), kMaxChunkBytes / tile_bytes});
  // The largest chunk that divides the tiles into a multiple of groups.
  for (int64_t chunk = most; chunk >= kMinChunkTiles; --chunk) {
    if (tiles % chunk) continue;
    for (int g : {8, 4, 2})
      if ((tiles / chunk) % g == 0 && g * m_bytes <= o.winograd_max_part_bytes) return {m, chunk, tiles / chunk, g};
  }
  if (tiles * alpha2 * std::max(co, ci) * 4 <= o.winograd_max_batch_transform_bytes) return {m, tiles, 1, 1};
  for (int64_t chunk = std::min(tiles / 2, kOneGroupChunkBytes / tile_bytes); chunk >= kMinChunkTiles; --chunk)
    if (tiles % chunk == 0) return {m, chunk, tiles / chunk, 1};
  return {};
}

WinogradGradPlan winograd_weight_grad_plan(const ir::Node& n, const Options& o) {
  if (n.op != "conv2d_backward_weight" || n.inputs.size() != 2) return {};
  const Shape& w = n.outputs[0]->type.shape;
  const Shape& dy = n.inputs[1]->type.shape;
  if (w.size() != 4 || w[2] != 3 || w[3] != 3 || dy.size() != 4) return {};
  int m = winograd_m(n, w[0], w[1], dy[0], dy[2], dy[3], o);
  if (!m) return {};
  int64_t tiles = (dy[2] + m - 1) / m * ((dy[3] + m - 1) / m), alpha2 = (m + 2) * (m + 2);
  WinogradGradPlan plan = grad_chunks(m, dy[0] * tiles, w[0], w[1], o);
  if (!plan.m) return {};
  // M is written and read back, past L2, for few products per element where the batch has
  // few tiles (ResNet-50's layer 4 at batch 8: 16.8 MB for 128 tiles, 11.9-12.2 ms in the
  // fused training step against 11.0-11.1 direct, whose tiles write the new momentum from
  // their registers).
  if (alpha2 * w[0] * w[1] * 4 > kStreamedWeightBytes && dy[0] * tiles < kMinTilesPerWeightGrad) return {};
  return plan;
}

int winograd_weight_grad_m(const ir::Node& n, const Options& o) { return winograd_weight_grad_plan(n, o).m; }

Func winograd_weight(const TensorRef& w, int block, int m, bool transposed) {
  const Transforms& f = transforms(m);
  int alpha = m + 2;
  Var coi("coi"), ci("ci"), e("e"), cob("cob");
  Expr co = cob * block + coi;
  auto tap = [&](int kx, int ky) {
    return transposed ? w.at({ci, co, 2 - ky, 2 - kx}) : w.at_split({Expr(), ci, ky, kx}, 0, cob, coi, block);
  };
  Func U("winograd_weight");  // G g G^T
  U(coi, ci, e, cob) = mux(e, transform2d(f.G, tap, 3));
  // A vector of U's channels innermost, the transform's entries unrolled around it: with a
  // blocked weight (its block a multiple of U's, at_split) each tap is one dense load. LLVM
  // had vectorized the scalar loop over coi with gathers of 64-bit indices; ResNet-50's
  // training step at batch 8 (--profile) spent 0.74 ms per layer-3 transform, now 0.15
  // (the transposed one, dx's, 0.26 -> 0.20: its lanes stride through the weight).
  int vec = std::min(block, 16);
  Var coo("coo");
  U.bound(e, 0, alpha * alpha)
      .bound(coi, 0, block)
      .split(coi, coo, coi, vec)
      .reorder(coi, e, coo, ci, cob)
      .vectorize(coi)
      .unroll(e)
      .parallel(cob);
  return U;
}

Lowered winograd_conv2d(LowerContext& c) {
  const TensorRef& w = c.in[1];
  if (c.out.layout != channels_last())
    throw Error(fmt::format("Winograd {} '{}': its output must be channels-last, not {}", c.node.op, c.node.name(),
                            layout_str(c.out.layout)));
  int block = w.layout.block, m = w.layout.winograd, alpha = m + 2;
  const Transforms& f = transforms(m);
  const Shape& os = c.out.shape;  // n, co, y, x
  int TW = static_cast<int>((os[3] + m - 1) / m), T = static_cast<int>((os[2] + m - 1) / m) * TW;
  int ci_total = static_cast<int>(w.shape[w.layout.transposed ? 0 : 1]);  // (dy's channels, transposed)
  TensorRef x = padded_input(c, 0, 0.f, "padded");
  Var ci("ci"), t("t"), e("e"), co("co"), cb("cb"), n("n");
  Expr tx = t % TW, ty = t / TW;
  Func V("winograd_input");  // B^T d B
  V(ci, t, e, n) =
      mux(e, transform2d(f.BT, [&](int i, int j) { return x.at({n, ci, m * ty + j - 1, m * tx + i - 1}); }, alpha));
  RDom r(0, ci_total, "r");
  Func acc("winograd_acc"), M("winograd_gemm");
  acc(co, t, e, cb, n) = 0.f;
  acc(co, t, e, cb, n) += w.f(co, r, e, cb) * V(r, t, e, n);
  M(co, t, e, cb, n) = acc(co, t, e, cb, n);

  // Y = A^T M A: the output (x, y) is entry (x mod m, y mod m) of its tile's.
  const auto& v = c.out.vars;  // channels-last: (c, x, y, n)
  Expr vc = v[0], vx = v[1], vy = v[2], vn = v[3];
  Expr tt = vy / m * TW + vx / m;
  std::vector<Expr> y = transform2d(f.AT, [&](int xi, int nu) { return M(vc % block, tt, xi + alpha * nu, vc / block, vn); }, alpha);
  std::vector<Expr> by_row;
  for (int dy = 0; dy < m; ++dy) by_row.push_back(mux(vx % m, std::vector<Expr>(y.begin() + dy * m, y.begin() + (dy + 1) * m)));
  Expr value = mux(vy % m, by_row);
  if (c.in.size() > 2) value += c.in[2].at({vc});
  Lowered l;
  l.out = Func(c.out_name);
  l.out(v) = value;
  l.winograd = WinogradInfo{V, acc, M, r, block, T, TW, m};
  return l;
}

void schedule_winograd(Lowered& l, const LowerContext& ctx) {
  WinogradInfo wi = *l.winograd;
  const auto& v = ctx.out.vars;
  Var c = v[0], x = v[1], y = v[2], n = v[3];
  int vec = ctx.target.natural_vector_size<float>();
  int tile_rows = std::min(winograd_tile(wi.tiles, wi.block, vec).rows, wi.tiles);
  // One image at a time (its transformed input and products stay in L2 for the next
  // stage), each stage's parallel loop inside, for a batch of fewer than four. The zero
  // padding stays inline in the input transform's loads (a padded copy first: bench_conv
  // 3x3 56x56x64 0.49 -> 0.53 ms, 28x28x128 0.41 -> 0.45 ms, at F(2x2)).
  Var cob("cob"), coi("coi"), xo("xo"), xi("xi"), yo("yo"), yi("yi");
  Func out = l.out;
  // An odd size's last tile is partly outside the image: guarded, so x % m stays known.
  auto tail = [&](int dim) { return ctx.out.extent(dim) % wi.m ? TailStrategy::GuardWithIf : TailStrategy::Auto; };
  out.split(c, cob, coi, wi.block)
      .split(x, xo, xi, wi.m, tail(1))
      .split(y, yo, yi, wi.m, tail(2))
      .reorder(coi, xi, yi, cob, xo, yo, n)
      .unroll(xi)
      .unroll(yi)
      .vectorize(coi, vec);
  // Four images or more: the images are the parallel tasks, each stage serial inside (small
  // images gave each stage too little to share: small_resnet's training step at batch 64,
  // 16-64 channels at 28x28 to 7x7, ran 813 images/s with the stages parallel, 915 with
  // direct convolutions, 971-1004 with images in parallel; ResNet-50 at batch 8, inference
  // 200-205 -> 195-197 ms, training step 875-914 -> 874-887 ms).
  bool images_parallel = ctx.out.extent(3) >= 4;
  if (images_parallel) out.parallel(n);
  else out.parallel(yo);
  Var ci = wi.input.args()[0], t = wi.input.args()[1], e = wi.input.args()[2];
  Var ty("ty"), tx("tx");
  wi.input.compute_at(out, n)
      .bound(e, 0, (wi.m + 2) * (wi.m + 2))
      .split(t, ty, tx, wi.tiles_w)
      .reorder(ci, e, tx, ty)
      .vectorize(ci, vec)
      .unroll(e);
  if (!images_parallel) wi.input.parallel(ty);
  if (l.prologue) {
    // x computed by a prologue (a training batch norm and its ReLU): an image at a time,
    // in vectors of channels, for the input transform to read from L2, rather than inline
    // in each of its (m + 2)^2 loads per tile, where each value was computed 2.25 (F(4x4))
    // or 4 (F(2x2)) times (ResNet-50's training step at batch 8: the stride-1 3x3s took
    // 0.4-2 ms more each).
    Func p = *l.prologue;
    std::vector<Var> pv = p.args();  // channels-last: c, x, y, n
    p.compute_at(out, n);
    if (int pw = pick_vec(ctx.in[0].shape[1], vec); pw > 1) p.vectorize(pv[0], pw);
    if (!images_parallel) p.parallel(pv[2]);
  }
  // The GEMMs: a task per (e, block of output channels), tiles of 6 rows by the block's
  // vectors in registers, the input channels innermost (broadcasts of V, U's block rows).
  Func M = wi.gemm;
  Var mc = M.args()[0], mt = M.args()[1], me = M.args()[2], mb = M.args()[3];
  Var to("to"), ti("ti"), task("task");
  M.compute_at(out, n)
      .bound(mc, 0, wi.block)
      .split(mt, to, ti, tile_rows)
      .reorder(mc, ti, to, me, mb)
      .vectorize(mc, vec)
      .unroll(mc)
      .unroll(ti)
      .fuse(me, mb, task);
  if (!images_parallel) M.parallel(task);
  Func acc = wi.acc;
  Var ac = acc.args()[0], at = acc.args()[1];
  acc.compute_at(M, to).vectorize(ac, vec).unroll(ac).unroll(at);
  acc.update().reorder(ac, at, wi.r.x).vectorize(ac, vec).unroll(ac).unroll(at);
}

static std::vector<std::vector<double>> transposed_matrix(const std::vector<std::vector<double>>& a) {
  std::vector<std::vector<double>> t(a[0].size(), std::vector<double>(a.size()));
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < a[0].size(); ++j) t[j][i] = a[i][j];
  return t;
}

// The weight gradient (Lavin & Gray's section 4 applies to it as to the forward): Y = A^T
// [(G g G^T) * V] A is linear in g, so for a tile dL/dg = G^T [V * (A dy A^T)] G, and summed
// over the batch's tiles dW = G^T M G with M_e = Z_e^T V_e, the (m+2)^2 GEMMs [Co x tiles]
// x [tiles x Ci] of Z = A dy A^T and V = B^T d B. (m+2)^2 products per tile and channel
// pair where the direct form takes 9 m^2.
Lowered winograd_conv2d_backward_weight(LowerContext& c) {
  const WinogradGradPlan& g = c.winograd;
  int m = g.m, alpha = m + 2;
  const Transforms& f = transforms(m);
  const Shape& ys = c.in[1].shape;  // n, co, y, x
  int TW = static_cast<int>((ys[3] + m - 1) / m), T = static_cast<int>((ys[2] + m - 1) / m) * TW;
  TensorRef x = padded_input(c, 0, 0.f, "x_padded");
  TensorRef dy = padded_input(c, 1, 0.f, "dy_padded");  // (odd sizes: the last tiles reach past dy)
  Var ci("ci"), co("co"), q("q"), e("e"), k("k"), gr("g");
  Expr n = q / T, t = q % T, tx = t % TW, ty = t / TW;
  Func V("winograd_input"), Z("winograd_grad");
  V(ci, q, e) =
      mux(e, transform2d(f.BT, [&](int i, int j) { return x.at({n, ci, m * ty + j - 1, m * tx + i - 1}); }, alpha));
  Z(co, q, e) =
      mux(e, transform2d(transposed_matrix(f.AT), [&](int i, int j) { return dy.at({n, co, m * ty + j, m * tx + i}); }, m));
  int chunk = static_cast<int>(g.chunk);
  RDom ri(0, chunk, "ri");
  Func acc("winograd_wacc"), part("winograd_wpart"), M("winograd_wgemm");
  acc(co, ci, e, k) = 0.f;
  acc(co, ci, e, k) += Z(co, k * chunk + ri, e) * V(ci, k * chunk + ri, e);
  RDom rc(0, static_cast<int>(g.chunks / g.groups), "rc");
  if (g.chunks == 1) {
    M(co, ci, e) = acc(co, ci, e, 0);
  } else {
    part(co, ci, e, gr) = 0.f;
    part(co, ci, e, gr) += acc(co, ci, e, rc * g.groups + gr);
    Expr sum = part(co, ci, e, 0);
    for (int i = 1; i < g.groups; ++i) sum += part(co, ci, e, i);
    M(co, ci, e) = sum;
  }
  auto L = c.out.logical();  // co, ci, ky, kx
  std::vector<Expr> taps = transform2d(transposed_matrix(f.G), [&](int i, int j) { return M(L[0], L[1], i + alpha * j); }, alpha);
  Lowered l;
  l.out = Func(c.out_name);
  l.out(c.out.vars) = mux(L[3] + 3 * L[2], taps);
  l.winograd_wgrad = WinogradGradInfo{V, Z, acc, part, M, ri, rc, g};
  return l;
}

void schedule_winograd_weight_grad(Lowered& l, const LowerContext& ctx) {
  WinogradGradInfo& wi = *l.winograd_wgrad;
  int vec = ctx.target.natural_vector_size<float>(), alpha2 = (wi.plan.m + 2) * (wi.plan.m + 2);
  int64_t CO = ctx.out.shape[0], CI = ctx.out.shape[1];
  bool chunked = wi.plan.chunks > 1;
  // The transforms: each tile's (m+2)^2 values at once, vectors of channels; the whole
  // batch's first, tiles in parallel, or a chunk's inside its group's task.
  for (Func f : {wi.input, wi.grad}) {
    std::vector<Var> a = f.args();  // channel, q, e
    if (chunked) f.compute_at(wi.part, wi.rc.x);
    else f.compute_root().parallel(a[1], 8);
    f.bound(a[2], 0, alpha2).reorder(a[0], a[2], a[1]).vectorize(a[0], vec).unroll(a[2]);
  }
  // The GEMMs: register tiles of 4 (AVX2: 2) vectors of output channels by 6 input
  // channels summing a chunk's tiles (acc), then stored into M, or added into the group's
  // part. A part's tile takes 6 or 4 rows, whichever divides the input channels (an update
  // cannot recompute a shifted last tile as M's pure definition does).
  int tile_co = vec;
  for (int k : {4, 2})
    if ((vec == 16 || k == 2) && CO % (k * vec) == 0) {
      tile_co = k * vec;
      break;
    }
  int rows = 6;
  if (chunked)
    for (int r : {6, 4, 2, 1})
      if (CI % r == 0) {
        rows = r;
        break;
      }
  Var coo("coo"), coi("coi"), cio("cio"), cii("cii"), task("task");
  Func acc = wi.acc;
  std::vector<Var> aa = acc.args();  // co, ci, e, k
  if (chunked) {
    // Parts summed in parallel, a group's chunks in turn each; or with one group (one M),
    // the chunks in turn, each transformed by all cores, then added into M by tasks over its
    // blocks of output channels and transform entries.
    bool one_group = wi.plan.groups == 1;
    Func part = wi.part;
    std::vector<Var> a = part.args();  // co, ci, e, g
    part.compute_root().vectorize(a[0], vec);
    Stage sum = part.update();
    sum.split(a[0], coo, coi, tile_co).split(a[1], cio, cii, rows);
    if (one_group) {
      for (Func f : {wi.input, wi.grad}) f.parallel(f.args()[1]);
      sum.reorder(coi, cii, cio, coo, a[2], a[3], wi.rc.x).fuse(coo, a[2], task).parallel(task);
    } else {
      part.parallel(a[3]);
      sum.reorder(coi, cii, cio, coo, a[2], wi.rc.x, a[3]).parallel(a[3]);
    }
    sum.vectorize(coi, vec).unroll(coi).unroll(cii);
    acc.compute_at(part, cio);
    std::vector<Var> ma = wi.gemm.args();
    wi.gemm.compute_root().vectorize(ma[0], vec).parallel(ma[2]);
  } else {
    Func M = wi.gemm;
    std::vector<Var> a = M.args();  // co, ci, e
    M.compute_root()
        .bound(a[2], 0, alpha2)
        .split(a[0], coo, coi, tile_co)
        .split(a[1], cio, cii, rows)
        .reorder(coi, cii, cio, coo, a[2])
        .vectorize(coi, vec)
        .unroll(coi)
        .unroll(cii)
        .fuse(coo, a[2], task)
        .parallel(task);
    acc.compute_at(M, cio);
  }
  acc.vectorize(aa[0], vec).unroll(aa[0]).unroll(aa[1]);
  acc.update().reorder(aa[0], aa[1], wi.ri).vectorize(aa[0], vec).unroll(aa[0]).unroll(aa[1]);
  // dW = G^T M G (with the group's epilogue: a fused optimizer update): the taps unrolled,
  // so each picks its own entry of the transform; vectors of channels where innermost.
  Func out = l.out;
  const Layout& ol = ctx.out.layout;
  const auto& v = ctx.out.vars;
  bool vectorized = false, parallel = false;
  for (size_t k = 0; k < ol.size(); ++k)
    if (ol[k] >= 2) out.unroll(v[k]);
  if (ol[0] < 2 && ctx.out.extent(0) % vec == 0) {
    out.vectorize(v[0], vec);
    vectorized = true;
  }
  for (int k = static_cast<int>(v.size()) - 1; k >= (vectorized ? 1 : 0) && !parallel; --k)
    if ((static_cast<size_t>(k) >= ol.size() || ol[k] < 2) && ctx.out.extent(k) > 1) {
      out.parallel(v[k]);
      parallel = true;
    }
}

}  // namespace strata::halide_backend
