// Winograd F(2x2, 3x3) convolution for the CPU (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2015). A 2x2 output tile from a 4x4 input tile d and a
// 3x3 filter g is Y = A^T [(G g G^T) * (B^T d B)] A: 16 multiplications per input channel
// where the direct form takes 36. Summed over input channels, the 16 products are 16
// matrix products [tiles x Ci] x [Ci x Co], so the convolution becomes
//   V = B^T d B per tile (input transform), M_e = V_e U_e (16 GEMMs), Y = A^T M A,
// with U = G g G^T computed once per weight (a static kernel: winograd_weight, into the
// Winograd layout). The GEMMs take the direct convolution's register tile (6 rows by 4
// vectors of output channels) with 9/4 fewer multiply-adds; the transforms are additions.
// bench_conv (batch 1, warm): 3x3 56x56x64 0.80 -> 0.54 ms, 28x28x128 0.76 -> 0.44 ms,
// 14x14x256 0.74 -> 0.46 ms. At 7x7 (ResNet-50's layer 4) U's 16/9 larger weight, read
// from memory at batch 1, cost more than the arithmetic saved, and the odd size wastes a
// tile row: odd sizes keep the direct form.
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

// The GEMMs' register tile: 6 rows (tiles) by 4 vectors of output channels, the direct
// convolution's 24 accumulators; where 6 rows waste more than 5% of a short GEMM and 7
// rows divide it, 7 rows by 2 vectors (bench_conv, 3x3 14x14x256 whose 49 tiles took 9
// tiles of 6, the last shifted: 0.48 -> 0.42 ms warm, 0.60 -> 0.58 cold; 6 by 4 stays
// better at 28x28 and 56x56). The block of output channels divides the channels.
struct WinogradTile {
  int rows = 6, block = 64;
};
static WinogradTile winograd_tile(int64_t tiles, int64_t out_channels) {
  WinogradTile t;
  int64_t waste = (tiles + 5) / 6 * 6 - tiles;
  if (waste * 20 > tiles && tiles % 7 == 0) t = {7, 32};
  while (out_channels % t.block) t.block /= 2;
  return t;
}

Layout winograd_weight_layout(const ir::Node& n, const Options& o) {
  Layout none;
  if (!o.winograd || o.schedule != "manual" || n.op != "conv2d" || n.inputs.size() < 2) return none;
  if (parse_target(o.target).has_gpu_feature()) return none;
  const Shape& w = n.inputs[1]->type.shape;
  const Shape& y = n.outputs[0]->type.shape;
  if (w.size() != 4 || w[2] != 3 || w[3] != 3 || y.size() != 4) return none;
  ir::ConvGeometry g = ir::conv_geometry(n);
  if (g.groups != 1 || g.stride != std::vector<int64_t>{1, 1} || g.dilation != std::vector<int64_t>{1, 1} ||
      g.pad != std::array<int64_t, 4>{1, 1, 1, 1})
    return none;
  int64_t co = w[0], ci = w[1], H = y[2], W = y[3];
  if (H % 2 || W % 2 || H * W < 24 || co % 16 || ci % 16) return none;
  int64_t tiles = H / 2 * (W / 2);
  if (tiles * 16 * std::max(ci, co) * 4 > kMaxTransformBytes) return none;
  Layout l{0, 1, 2, 3};
  l.winograd = true;
  l.block = winograd_tile(tiles, co).block;
  return l;
}

// B^T d B for a 4x4 tile d(i, j) (i along x, j along y): the 16 values by e = xi + 4 nu.
static std::vector<Expr> input_transform(const std::function<Expr(int, int)>& d) {
  Expr s[4][4];  // along y first
  for (int i = 0; i < 4; ++i) {
    s[i][0] = d(i, 0) - d(i, 2);
    s[i][1] = d(i, 1) + d(i, 2);
    s[i][2] = d(i, 2) - d(i, 1);
    s[i][3] = d(i, 1) - d(i, 3);
  }
  std::vector<Expr> v(16);
  for (int nu = 0; nu < 4; ++nu) {
    v[0 + 4 * nu] = s[0][nu] - s[2][nu];
    v[1 + 4 * nu] = s[1][nu] + s[2][nu];
    v[2 + 4 * nu] = s[2][nu] - s[1][nu];
    v[3 + 4 * nu] = s[1][nu] - s[3][nu];
  }
  return v;
}

Func winograd_weight(const TensorRef& w, int block) {
  // U = G g G^T, G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]].
  static const float G[4][3] = {{1, 0, 0}, {.5f, .5f, .5f}, {.5f, -.5f, .5f}, {0, 0, 1}};
  Var coi("coi"), ci("ci"), e("e"), cob("cob");
  Expr co = cob * block + coi;
  std::vector<Expr> u(16);
  for (int xi = 0; xi < 4; ++xi)
    for (int nu = 0; nu < 4; ++nu) {
      Expr sum = 0.f;
      for (int ky = 0; ky < 3; ++ky)
        for (int kx = 0; kx < 3; ++kx)
          if (float c = G[xi][kx] * G[nu][ky]; c != 0) sum += c * w.at({co, ci, ky, kx});
      u[xi + 4 * nu] = sum;
    }
  Func U("winograd_weight");
  U(coi, ci, e, cob) = mux(e, u);
  U.bound(e, 0, 16).reorder(e, coi, ci, cob).unroll(e).parallel(cob);
  return U;
}

Lowered winograd_conv2d(LowerContext& c) {
  const TensorRef& w = c.in[1];
  if (c.out.layout != channels_last())
    throw Error(fmt::format("Winograd conv2d '{}': its output must be channels-last, not {}", c.node.name(),
                            layout_str(c.out.layout)));
  int block = w.layout.block;
  const Shape& os = c.out.shape;  // n, co, y, x
  int TW = static_cast<int>(os[3] / 2), T = static_cast<int>(os[2] / 2) * TW;
  int ci_total = static_cast<int>(w.shape[1]);
  TensorRef x = padded_input(c, 0, 0.f, "padded");
  Var ci("ci"), t("t"), e("e"), co("co"), cb("cb"), n("n");
  Expr tx = t % TW, ty = t / TW;
  Func V("winograd_input");
  V(ci, t, e, n) = mux(e, input_transform([&](int i, int j) { return x.at({n, ci, 2 * ty + j - 1, 2 * tx + i - 1}); }));
  RDom r(0, ci_total, "r");
  Func acc("winograd_acc"), M("winograd_gemm");
  acc(co, t, e, cb, n) = 0.f;
  acc(co, t, e, cb, n) += w.f(co, r, e, cb) * V(r, t, e, n);
  M(co, t, e, cb, n) = acc(co, t, e, cb, n);

  // Y = A^T M A, A^T = [[1, 1, 1, 0], [0, 1, -1, -1]] along x (xi) and y (nu).
  const auto& v = c.out.vars;  // channels-last: (c, x, y, n)
  Expr vc = v[0], vx = v[1], vy = v[2], vn = v[3];
  Expr tt = vy / 2 * TW + vx / 2;
  auto m = [&](int xi, int nu) { return M(vc % block, tt, xi + 4 * nu, vc / block, vn); };
  Expr col[2][4];
  for (int nu = 0; nu < 4; ++nu) {
    col[0][nu] = m(0, nu) + m(1, nu) + m(2, nu);
    col[1][nu] = m(1, nu) - m(2, nu) - m(3, nu);
  }
  auto row = [&](int dx, int dy) {
    return dy == 0 ? col[dx][0] + col[dx][1] + col[dx][2] : col[dx][1] - col[dx][2] - col[dx][3];
  };
  Expr value = select(vx % 2 == 0, select(vy % 2 == 0, row(0, 0), row(0, 1)), select(vy % 2 == 0, row(1, 0), row(1, 1)));
  if (c.in.size() > 2) value += c.in[2].at({vc});
  Lowered l;
  l.out = Func(c.out_name);
  l.out(v) = value;
  l.winograd = WinogradInfo{V, acc, M, r, block, T, TW};
  return l;
}

void schedule_winograd(Lowered& l, const LowerContext& ctx) {
  WinogradInfo wi = *l.winograd;
  const auto& v = ctx.out.vars;
  Var c = v[0], x = v[1], y = v[2], n = v[3];
  int vec = 16, tile_rows = std::min(winograd_tile(wi.tiles, 64).rows, wi.tiles);
  // One image at a time (its transformed input and products stay in L2 for the next
  // stage), each stage's parallel loop inside. The zero padding stays inline in the input
  // transform's loads (a padded copy first: bench_conv 3x3 56x56x64 0.49 -> 0.53 ms,
  // 28x28x128 0.41 -> 0.45 ms).
  Var cob("cob"), coi("coi"), xo("xo"), xi("xi"), yo("yo"), yi("yi");
  Func out = l.out;
  out.split(c, cob, coi, wi.block)
      .split(x, xo, xi, 2)
      .split(y, yo, yi, 2)
      .reorder(coi, xi, yi, cob, xo, yo, n)
      .unroll(xi)
      .unroll(yi)
      .vectorize(coi, vec)
      .parallel(yo);
  Var ci = wi.input.args()[0], t = wi.input.args()[1], e = wi.input.args()[2];
  Var ty("ty"), tx("tx");
  wi.input.compute_at(out, n)
      .bound(e, 0, 16)
      .split(t, ty, tx, wi.tiles_w)
      .reorder(ci, e, tx, ty)
      .vectorize(ci, vec)
      .unroll(e)
      .parallel(ty);
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
      .fuse(me, mb, task)
      .parallel(task);
  Func acc = wi.acc;
  Var ac = acc.args()[0], at = acc.args()[1];
  acc.compute_at(M, to).vectorize(ac, vec).unroll(ac).unroll(at);
  acc.update().reorder(ac, at, wi.r.x).vectorize(ac, vec).unroll(ac).unroll(at);
}

}  // namespace strata::halide_backend
