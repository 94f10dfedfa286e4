// CPU schedules of linear layers and of the products by their weight over a few rows (a
// classifier at inference, its input gradient in a training step): memory-bound, they are
// scheduled so the weight streams once, in order. The rest of the CPU schedules are in
// schedule_cpu.cpp.
#include <algorithm>
#include <limits>
#include <optional>

#include "backends/halide/lowering.h"
#include "ir/op_registry.h"

namespace strata::halide_backend {

using namespace Halide;

// Rows of a linear layer up to which its weight is streamed (schedule_linear_stream,
// schedule_matmul_dot), in blocks of kRowBlock.
constexpr int64_t kMaxStreamedRows = 64;
constexpr int kRowBlock = 8;
// From this many bytes of weight (past L2 with the rest of a task's data) the streaming
// schedules apply; below it the pointwise schedule stays.
constexpr int64_t kStreamedLinearBytes = int64_t{1} << 20;

// The widest power-of-two vector up to `natural` lanes that divides `extent` (1000
// classes: 8 lanes), or 0.
static int dividing_vec(int64_t extent, int natural) {
  int v = natural;
  while (v > 4 && extent % v) v /= 2;
  return extent % v == 0 && v <= extent ? v : 0;
}

// The extents a streamed product works with: its output's innermost (features, or b's
// rows), its rows (the batch) and its reduction's; none where the node is not `op`, the
// reduction is not one loop of constant extent, the rows are too many or the weight (the
// reduction by the output's innermost extent) is small enough for the pointwise schedule.
struct DenseDims {
  int64_t cols, rows, reduction;
};
static std::optional<DenseDims> dense_dims(const Lowered& l, const LowerContext& ctx, const char* op,
                                           int64_t max_rows = kMaxStreamedRows) {
  if (ctx.node.op != op || l.reductions.size() != 1 || ctx.out.vars.size() != 2) return std::nullopt;
  const int64_t* r = as_const_int(l.reductions[0].r.x.extent());
  if (!r || ctx.out.extent(1) > max_rows || *r * ctx.out.extent(0) * 4 < kStreamedLinearBytes) return std::nullopt;
  return DenseDims{ctx.out.extent(0), ctx.out.extent(1), *r};
}

// Rows of the batch in blocks of kRowBlock, the last one cut short where they do not divide.
static TailStrategy row_block_tail(int64_t rows) { return rows % kRowBlock ? TailStrategy::GuardWithIf : TailStrategy::Auto; }

// A product a (m x R) times b where b's rows along the reduction are contiguous (a linear
// layer's weight read by its input gradient, dy times W: W is stored features innermost)
// over a few rows of a: every output is a dot product of a row of a with a row of b. The
// dot products run along the rows in vectors (rfactor over the lanes, summed after), and
// parallel tasks take blocks of b's rows, so b streams once, in order. Vectorizing over
// the outputs instead read b at a stride of a row per lane, and each row of a re-read b.
bool schedule_matmul_dot(Lowered& l, const LowerContext& ctx) {
  int natural = ctx.target.natural_vector_size<float>();
  auto dims = dense_dims(l, ctx, "matmul", std::numeric_limits<int64_t>::max());
  if (!dims || ctx.node.attr_int("trans_a") != 0 || ctx.out.layout != row_major(2)) return false;
  bool tb = ctx.node.attr_int("trans_b") != 0;
  const Layout &la = ctx.in[0].layout, &lb = ctx.in[1].layout;
  if (la != row_major(2) || lb.size() != 2 || lb.block || lb[0] != (tb ? 1 : 0)) return false;
  auto [B, M, R] = *dims;
  const RDom& r = l.reductions[0].r;
  int vec = dividing_vec(R, natural);
  if (!vec) return false;
  Func acc = l.reductions[0].f;
  Var b = ctx.out.vars[0], m = ctx.out.vars[1], v("v"), bo("bo"), bi("bi");
  RVar ro("ro"), ri("ri");
  Func lanes = acc.update().split(r.x, ro, ri, vec).rfactor(ri, v);  // lanes(b, m, v)
  int64_t rows = 2;
  while (rows < 64 && B / (rows * 2) >= 16 && B % (rows * 2) == 0) rows *= 2;
  if (B % rows) rows = 1;
  acc.compute_root();
  if (M > kMaxStreamedRows) {
    // More rows of a: blocks of them, b streamed again for each, so a task's rows of a
    // (from L2) stay as few as above.
    Var mb("mb"), mm("mm");
    acc.update()
        .split(m, mb, mm, static_cast<int>(kMaxStreamedRows), TailStrategy::GuardWithIf)
        .split(b, bo, bi, static_cast<int>(rows))
        .reorder(bi, mm, bo, mb)
        .parallel(bo);
  } else {
    acc.update().split(b, bo, bi, static_cast<int>(rows)).reorder(bi, m, bo).parallel(bo);
  }
  lanes.compute_at(acc, bo).reorder_storage(v, m, b).vectorize(v);
  // Two rows of b at a time meet each vector of a's rows (up to 8 of them, their 16 sums in
  // registers): a's rows come from L2 and their loads compete with b's stream for the
  // core's outstanding misses. Past 8 rows of a, where the arithmetic bounds it, four rows
  // of b meet 6 of a (24 sums; bench_linear, two runs each: AlexNet's fc6 at 32 / 128 rows
  // 21.1-21.3 / 62.7-82.6 -> 14.8-16.5 / 59.6-61.7 ms, fc7 7.3-9.1 / 26.8-35.5 -> 6.7-6.9 /
  // 25.3-28.6).
  Stage s = lanes.update();
  Var bp("bp"), bq("bq");
  int pair = M > kRowBlock && rows % 4 == 0 ? 4 : rows % 2 == 0 ? 2 : 1;
  s.split(b, bp, bq, pair).vectorize(v).unroll(bq);
  if (M > kRowBlock) {
    Var mo("mo"), mi("mi");
    constexpr int kDotRows = 6;
    // (Blocks of 64 rows of a, past 64, are no multiple of 6: guarded there too.)
    bool whole = M % kDotRows == 0 && M <= kMaxStreamedRows;
    TailStrategy tail = whole ? TailStrategy::Auto : TailStrategy::GuardWithIf;
    s.split(m, mo, mi, kDotRows, tail).reorder(v, mi, bq, ro, mo, bp).unroll(mi);
  } else {
    s.reorder(v, m, bq, ro, bp).unroll(m);
  }
  if (int ov = dividing_vec(B, natural)) l.out.vectorize(b, ov);
  return true;
}

// A linear layer over a few rows (a classifier at inference, batch 1 to 8; up to 64) reads its
// whole weight for few multiply-adds per element: it waits on memory. The rows of the
// weight (stored input-major, features innermost) are split into chunks, one parallel task
// each (rfactor), and a task walks its chunk row after row through every feature, the
// batch's partial sums in L1, so the weight is one sequential stream per core; the
// chunks' sums are added after. One vector of features per task over all of K (the
// pointwise schedule) read one line of each 16 KiB row instead, and every image of a batch
// read the whole weight again.
bool schedule_linear_stream(Lowered& l, const LowerContext& ctx) {
  int natural = ctx.target.natural_vector_size<float>();
  auto dims = dense_dims(l, ctx, "linear");
  if (!dims) return false;
  auto [F, N, K] = *dims;
  const RDom& r = l.reductions[0].r;
  int vec = dividing_vec(F, natural);
  if (!vec) return false;
  Func acc = l.reductions[0].f;
  Var j = ctx.out.vars[0], n = ctx.out.vars[1], u("u"), jo("jo"), ji("ji");
  // Chunks of whole 4-row blocks, a few per core; with fewer than 4 chunks of 64 rows (a
  // short K, many features) the pointwise schedule's tasks over features share the work better.
  int64_t chunks = std::min<int64_t>(8, K / 64);
  if (chunks < 4) return false;
  int64_t rows = (K + chunks - 1) / chunks;
  rows = (rows + 3) / 4 * 4;
  RVar ro("ro"), ri("ri"), rio("rio"), rii("rii");
  Func part = acc.update().split(r.x, ro, ri, static_cast<int>(rows), TailStrategy::GuardWithIf).rfactor(ro, u);
  part.compute_root().vectorize(j, vec);
  // A step takes 4 rows of the weight by four vectors of features: those 16 weight vectors
  // stay in registers while the batch's rows (8 at a time) meet them (32 rows: 76.5 / 12.7
  // -> 53.3 / 8.9 ms for VGG's fc6 / fc7 in bench_linear against one vector per step; 1 and
  // 8 rows, memory-bound, unchanged).
  Stage s = part.update();
  Var jq("jq"), jp("jp");
  int group = (F / vec) % 4 == 0 ? 4 : (F / vec) % 2 == 0 ? 2 : 1;
  s.split(j, jo, ji, vec)
      .split(jo, jp, jq, group)
      .split(ri, rio, rii, 4, TailStrategy::GuardWithIf)
      .vectorize(ji)
      .unroll(rii)
      .unroll(jq)
      .parallel(u);
  if (N > kRowBlock) {
    Var no("no"), ni("ni");
    s.split(n, no, ni, kRowBlock, row_block_tail(N)).reorder(ji, rii, jq, ni, no, jp, rio, u).unroll(ni);
  } else {
    s.reorder(ji, rii, jq, n, jp, rio, u).unroll(n);
  }
  acc.compute_root().vectorize(j, vec);
  acc.update().vectorize(j, vec);
  l.out.vectorize(j, vec);
  return true;
}

// A linear layer's register tile for the GEMM schedule: `group` vectors of `vec` features
// by `rows` rows of the batch, within the accumulator budget of the convolutions' tiles;
// rows past the batch (the last tile rounded up) count as waste. vec 0: none.
struct GemmTile {
  int vec = 0, group = 0, rows = 0;
};
static GemmTile plan_gemm_tile(int64_t F, int64_t N, const Target& t) {
  int natural = t.natural_vector_size<float>();
  int vec = F < natural ? dividing_vec(F, natural) : natural;
  if (!vec) return {};
  auto [max_acc, max_w] = accumulator_budget(t, vec);
  GemmTile best;
  double score = 0;
  for (int g = 1; g <= max_w; ++g) {
    if (F < g * vec) continue;
    for (int th = 1; th <= 8 && g * th <= max_acc; ++th) {
      double useful = double(N) / double((N + th - 1) / th * th);
      if (g * th * useful > score + 1e-9) score = g * th * useful, best = {vec, g, th};
    }
  }
  return best;
}

// Rows of the weight a register tile sums before its accumulators go back to memory: 64
// (the block's rows, 16 KiB, stay in L1 for every tile of rows).
constexpr int kPanelTileRows = 64;
constexpr int kPanelBlocks = 4;

// A tile's sums, f(j, n) over the reduction `rk`, held in registers: vectors along j, both
// dimensions unrolled (f is computed once per tile, its extents those of the tile).
static void tile_in_registers(Func f, RVar rk, const GemmTile& t) {
  Var j = f.args()[0], n = f.args()[1], jo("tjo"), ji("tji");
  f.split(j, jo, ji, t.vec).vectorize(ji).unroll(jo).unroll(n);
  f.update().split(j, jo, ji, t.vec).reorder(ji, jo, n, rk).vectorize(ji).unroll(jo).unroll(n);
}

// `f`'s update sums `blk` (an rfactor over blocks of the reduction, each summed along `rk`)
// into memory; `blk` is computed at `f`'s loop `at`, one tile in registers. The weight's
// rows a tile reads, a power of two of floats apart, fall in the same few sets of L1; they
// are copied once, where the tiles that share them begin (`f`'s loop `pack_at`), into one
// contiguous block.
static void register_tile(Func blk, RVar rk, Func f, Var at, VarOrRVar pack_at, Func weight, const GemmTile& t) {
  Func packed = weight.in(blk);
  packed.compute_at(LoopLevel(f, pack_at)).vectorize(packed.args()[0], t.vec);
  blk.compute_at(f, at);
  tile_in_registers(blk, rk, t);
}

// A linear layer over more rows than kRowBlock: a GEMM in register tiles (plan_gemm_tile),
// each summing a block of the weight's rows for its features and rows of the batch (x's
// rows clamped in the lowering, so a last tile of rows rounded up reads the last row
// again). A task is a block of features (and of rows, where there are few blocks), its
// panel of the weight reused by every tile of rows. One vector of features per task over
// all of K (the pointwise schedule, which 65 rows and more had) re-read the weight for
// every row (bench_linear, fc7's 4096x4096 at 128 rows: 518 -> 17.6-22.6 ms). Up to 64 rows
// with a large weight, the weight's rows had been split into chunks, one task each, walked
// in order through every feature and their sums added after, so each core streamed its
// chunk once; on the Zen 5 machine the panels ran faster at every size from 16 rows
// (bench_linear, three alternating runs: AlexNet's fc6 at 16 / 32 / 64 rows 11.8 / 20.4 /
// 29.8 -> 8.5 / 11.4 / 18.1 ms, VGG's fc6 31.9 / 59.1 / 87.1 -> 28.4-30.3 / 36.0-40.1 /
// 56.2-62.8, fc7 5.7 / 9.3 / 14.1 -> 3.7 / 5.0 / 7.9, ResNet-50's fc 1.00 / 1.85 / 2.84 ->
// 0.47 / 0.67 / 1.04; 12 rows the same).
bool schedule_linear_gemm(Lowered& l, const LowerContext& ctx) {
  if (ctx.node.op != "linear" || l.reductions.size() != 1 || ctx.out.vars.size() != 2) return false;
  if (ctx.out.layout != row_major(2) || ctx.in[0].layout != row_major(2) || ctx.in[1].layout != Layout{0, 1}) return false;
  const int64_t* kp = as_const_int(l.reductions[0].r.x.extent());
  int64_t F = ctx.out.extent(0), N = ctx.out.extent(1);
  if (!kp || N <= kRowBlock) return false;
  GemmTile t = plan_gemm_tile(F, N, ctx.target);
  if (!t.vec) return false;
  const RDom& r = l.reductions[0].r;
  Func acc = l.reductions[0].f;
  Var j = ctx.out.vars[0], n = ctx.out.vars[1], w("w"), jo("jo"), ji("ji"), jp("jp"), no("no"), ni("ni");
  RVar rko("rko"), rki("rki");
  // A task takes up to kPanelBlocks blocks of features, which share the copy of the
  // weight's rows: longer runs of each row (1 KiB for 4 blocks of 64), which the prefetchers
  // follow better (bench_linear, 128 rows, alternating runs: AlexNet's fc6 45.2-50.1 -> 39.2-47.6
  // ms, fc7 19.5-21.9 -> 17.6-20.6 ms), while there are at least 8 tasks.
  int block = t.vec * t.group, sb = kPanelBlocks;
  while (sb > 1 && F / (block * sb) < 8) sb /= 2;
  int64_t blocks = (F + block * sb - 1) / (block * sb);
  // Few blocks of features (a layer of 64 to 256): rows of the batch in blocks too, so both
  // cores have several tasks.
  int64_t row_blocks = blocks >= 8 ? 1 : std::min<int64_t>((8 + blocks - 1) / blocks, N / (2 * t.rows));
  int64_t rb = row_blocks > 1 ? ((N + row_blocks - 1) / row_blocks + t.rows - 1) / t.rows * t.rows : N;
  Var nb("nb"), task("task");
  l.out.split(j, jo, ji, block * sb, TailStrategy::ShiftInwards).vectorize(ji, t.vec);
  if (rb < N) {
    l.out.split(n, nb, ni, static_cast<int>(rb), TailStrategy::ShiftInwards).reorder(ji, ni, jo, nb).fuse(jo, nb, task);
  } else {
    l.out.reorder(ji, n, jo);
    task = jo;
  }
  l.out.parallel(task);
  acc.compute_at(l.out, task).vectorize(j, t.vec);
  Func blk = acc.update().split(r.x, rko, rki, kPanelTileRows, TailStrategy::GuardWithIf).rfactor(rko, w);
  Var jb("jb"), jt("jt");
  acc.update()
      .split(j, jb, jt, block)
      .split(jt, jp, ji, t.vec)
      .split(n, no, ni, t.rows)
      .reorder(ji, jp, ni, no, jb, rko)
      .vectorize(ji)
      .unroll(jp)
      .unroll(ni);
  register_tile(blk, rki, acc, no, rko, ctx.in[1].f, t);
  return true;
}

// A linear layer's weight gradient, dy^T x (matmul with trans_a: [N, F]^T by [N, K], summed
// over the batch's N rows): a GEMM in the forward's register tiles, vectors along the
// output's innermost dimension (features, in the weight's layout) by a few values of the
// other, summing all N rows in registers. A task takes a block of the other dimension for
// every block of features; its block of the broadcast input and, per block of features,
// the panel of the vector input are copied contiguous first (their rows, a power of two of
// floats apart, fall in the same few L1 sets). The pointwise schedule gave each output
// vector its own pass over N, a vector load and a broadcast per multiply-add (AlexNet's
// fc6 weight gradient with its momentum at batch 64: 92 ms, 52 GFLOP/s; bench_linear at 32
// / 128 rows 36.0 / 303 -> 9.3 / 51 ms). At 1 and 8 rows, where the output's writes bound
// it, the tiles' writes ran faster too (VGG's fc6, 411 MB, at 8 rows 31-38 -> 17-19 ms),
// unless an epilogue reads other tensors of its size (below).
bool schedule_matmul_tn(Lowered& l, const LowerContext& ctx) {
  if (ctx.node.op != "matmul" || ctx.node.attr_int("trans_a") == 0 || ctx.node.attr_int("trans_b") != 0) return false;
  if (l.reductions.size() != 1 || ctx.out.vars.size() != 2 || ctx.in.size() < 2) return false;
  if (ctx.in[0].layout != row_major(2) || ctx.in[1].layout != row_major(2)) return false;
  // The input read in vectors: the one whose columns are the output's innermost dimension.
  int vector_in;
  if (ctx.out.layout == Layout{0, 1}) vector_in = 0;
  else if (ctx.out.layout == row_major(2)) vector_in = 1;
  else return false;
  const int64_t* np = as_const_int(l.reductions[0].r.x.extent());
  int64_t J = ctx.out.extent(0), Kx = ctx.out.extent(1);
  // A fused epilogue reading tensors the size of the output (the momentum update reads the
  // momentum and the weight): over up to 8 rows the pointwise schedule, which walks each row
  // of them in one sequential run, stays (AlexNet's fc6 with its momentum at batch 8: 18.1
  // ms pointwise, 21.0 in tiles).
  bool epilogue_reads = l.full_size_epilogue_inputs > 0;
  if (!np || (epilogue_reads && *np <= kRowBlock)) return false;
  GemmTile t = plan_gemm_tile(J, Kx, ctx.target);
  if (!t.vec || t.rows > Kx) return false;
  int block = t.vec * t.group;
  Func acc = l.reductions[0].f;
  Var j = ctx.out.vars[0], k = ctx.out.vars[1], jo("jo"), ji("ji"), jq("jq"), kt("kt"), kk("kk"), ko("ko"), ki("ki");
  Func vec_in = ctx.in[vector_in].f, bc_in = ctx.in[1 - vector_in].f;
  Func panel = vec_in.in(acc), rows = bc_in.in(acc);
  if (epilogue_reads) {
    // With an epilogue reading the momentum and the weight (and writing both), a task's
    // tiles fill a block of t.rows rows of the gradient in L2 first, and the epilogue then
    // walks those rows whole: each tensor one sequential run per row, where the epilogue
    // inside the tiles had 4-6 streams per row of the tile. AlexNet's training step at batch
    // 32 (STRATA_PROFILE_NODES=1 strata bench alexnet --train --batch 32 --profile): fc6's
    // weight gradient with its momentum and step 41.4 -> 21.4-24.9 ms, fc7's 16.5 -> 9.4-10.5
    // (unfused: 34.5 for fc6's three kernels).
    Func grad = acc.in();
    l.out.split(k, kt, kk, t.rows, TailStrategy::ShiftInwards)
        .reorder(j, kk, kt)
        .vectorize(j, ctx.target.natural_vector_size<float>())
        .parallel(kt);
    grad.compute_at(l.out, kt)
        .split(j, jo, ji, block, TailStrategy::ShiftInwards)
        .split(ji, jq, ji, t.vec)
        .reorder(ji, jq, k, jo)
        .vectorize(ji)
        .unroll(jq)
        .unroll(k);
    acc.compute_at(grad, jo);
    tile_in_registers(acc, l.reductions[0].r.x, t);
    panel.compute_at(grad, jo).vectorize(panel.args()[0], t.vec);
    rows.compute_at(l.out, kt);
    return true;
  }
  // The task's block of the other dimension: up to 4 tiles, its copy of the broadcast input
  // within 32 KiB, at least 8 tasks. Each of its rows of the output is a stream of writes
  // (bench_linear, AlexNet's fc6 at 32 rows: blocks of 192, 48, 24 and 6 rows took 23.9,
  // 17.7, 9.1-9.3 and 11.5 ms; at 128 rows 48 and 24 took 44-47 and 51-53 ms).
  int64_t kb = t.rows;
  while (kb * 2 <= 4 * t.rows && kb * 2 <= Kx / 8 && *np * kb * 2 * 4 <= 32768) kb *= 2;
  l.out.split(k, kt, kk, static_cast<int>(kb), TailStrategy::ShiftInwards)
      .split(kk, ko, ki, t.rows, TailStrategy::ShiftInwards)
      .split(j, jo, ji, block, TailStrategy::ShiftInwards)
      .split(ji, jq, ji, t.vec)
      .reorder(ji, jq, ki, ko, jo, kt)
      .vectorize(ji)
      .unroll(jq)
      .unroll(ki)
      .parallel(kt);
  acc.compute_at(l.out, ko);
  tile_in_registers(acc, l.reductions[0].r.x, t);
  panel.compute_at(l.out, jo).vectorize(panel.args()[0], t.vec);
  rows.compute_at(l.out, kt);
  return true;
}

}  // namespace strata::halide_backend
