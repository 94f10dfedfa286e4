// The CPU schedule of conv2d_backward_weight (its register tiles, chunks of positions and
// the fused optimizer update's tiles); the rest of the CPU schedules are in schedule_cpu.cpp.
#include <algorithm>

#include "backends/halide/lowering.h"

namespace strata::halide_backend {

using namespace Halide;

// conv2d_backward_weight: dw = dy^T x, summed over every output position. Each task owns a
// (vec x cw) output-channel by t input-channel tile of one tap (or of a row of taps) and
// sums it in registers.
//
// Where dy and x outweigh dw (large images: ResNet-50's 3x3 layer1 gradient at batch 8
// reads 13 MB of them for a 147 KB dw), streaming every position through each tile read
// them from memory once per tile. There the positions are cut into chunks whose dy and x
// rows stay in L2: every tile sums one chunk into an rfactor intermediate and adds that
// into dw, kept in blocks of output channels small enough to stay in L2 as the chunks pass
// (bench_conv, batch 8: 3x3 56x56x64 28.0 -> 9.0 ms, 1x1 56x56 64->256 14.9 -> 5.3 ms).
// Where dw outweighs them (7x7 layers: 9.4 MB dw, 1.8 MB dy and x), each tile sums all
// positions (3x3 7x7x512: 12.1 ms that way, 13.9 ms chunked), and x is first copied in
// blocks of the tile's input channels (x_packed): a tile reads t channels of each position,
// 32 bytes of a row up to 8 KB long, a stride the prefetchers do not follow (bench_conv,
// best of 12 runs: 1x1 stride-2 14x14 1024->2048 9.1 -> 7.2 ms, 3x3 7x7x512 7.7 -> 7.1 ms;
// chunks, which stay in L2, ran slower with the copy).
WeightGradTile plan_weight_grad_tile(int64_t out_channels, int64_t in_channels_per_group, int64_t kernel_w,
                                     const Target& target) {
  WeightGradTile g;
  g.vec = target.natural_vector_size<float>();
  while (g.vec > 1 && out_channels % g.vec) g.vec /= 2;
  if (g.vec < 4) return g;
  int64_t vectors = out_channels / g.vec;
  g.cw = vectors % 2 == 0 ? 2 : 1;
  g.t = 8;
  while (g.t > 1 && in_channels_per_group % g.t) g.t /= 2;
  if (g.cw * g.t > 16) g.t = 16 / g.cw;
  // An odd number of vectors (24 or 144 output channels: MobileNet v2's projections and
  // expansions; EfficientNet's 40 and 240): 3 or 5 of them a tile where they divide it, by 8
  // or 4 input channels, rather than one vector by 8, where each FMA cost a load (dw graphs
  // at batch 8, --runs 40, two rounds: 1x1 56x56 96 -> 24 0.85 / 0.91 -> 0.79 / 0.73 ms, 24
  // -> 144 1.01 / 1.06 -> 1.01 / 0.91, 28x28 240 -> 40 0.83 / 0.86 -> 0.71 / 0.76, 40 -> 240
  // 0.63 / 0.62 -> 0.52 / 0.54). (A row of taps keeps its one vector.)
  if (g.cw == 1 && !(kernel_w > 1 && g.t * kernel_w <= 24)) {
    int max_acc = target.natural_vector_size<float>() >= 16 ? 24 : 12;  // of 32 registers (AVX-512), or 16
    for (int c : {3, 5})
      if (vectors % c == 0) {
        g.cw = c;
        while (g.cw * g.t > max_acc) g.t /= 2;
        break;
      }
  }
  // With few input channels a tile also spans a row of taps, so each dy vector loaded
  // feeds more accumulators (the RGB stem: 2 vectors x 1 channel x 7 taps).
  g.taps = kernel_w > 1 && g.cw * g.t * kernel_w <= 24;
  return g;
}

// The register tile's loops in the Func or Stage that sums positions, inside `co, ci, kx`.
template <typename F>
static void register_tile(F f, const std::vector<Var>& v, const WeightGradTile& g) {
  f.vectorize(v[0], g.vec).unroll(v[0]).unroll(v[1]);
  if (g.taps) f.unroll(v[2]);
}

bool schedule_weight_grad(Lowered& l, const LowerContext& ctx) {
  const Target& target = ctx.target;
  WeightGradInfo& w = *l.wgrad;
  Func tile = w.tile, acc = w.acc;
  RDom r = w.r;
  WeightGradTile g = plan_weight_grad_tile(w.out_channels, w.in_channels_per_group, w.weight[3], target);
  int vec = g.vec;
  if (vec < 4) {  // few or odd output channels: plain loops
    tile.compute_root().parallel(w.ky);
    acc.compute_at(tile, w.kx);
    acc.update().reorder(w.co, w.ci, r.x, r.y, r.z);
    return false;
  }
  int tile_co = vec * g.cw;
  // A task sums `group` register tiles of input channels that share its dy: a few rows of
  // positions at a time, so that those rows of dy and x stay in L1 while each tile of the
  // group passes over them. One tile at a time streamed 2 lines of dy and one of x from L2
  // for every 16 FMAs (bench_conv, best of 12 runs, groups of 1 -> 4 tiles: 1x1 56x56
  // 256->64 6.2 -> 3.8 ms, 3x3 stride-2 56x56x128 11.7 -> 8.9 ms, 1x1 14x14 1024->512
  // 10.4 -> 9.0 ms). Groups of 8 (64 input channels: 256 bytes of each position's row of x,
  // four cache lines) where there are 128 output channels or more: in a training step x
  // comes from memory, and the longer runs feed the prefetchers (bench_conv with cold
  // inputs, 1x1 28x28 512 -> 128 at batch 8 6.0-6.2 -> 4.9-5.1 ms, 1x1 56x56 64 -> 256
  // 5.5-5.6 -> 5.3; ResNet-50's training step at batch 8, weight gradients with their
  // updates 314 / 324 -> 294 / 305 ms a step, two alternating profiles). With 64 output
  // channels (ResNet-50's layer-1 reductions) 8 ran slower than 4 (56x56 256 -> 64 cold
  // 6.3 -> 6.6 ms).
  int group = 1;
  if (!g.taps)
    for (int k : {8, 4, 2})
      if ((k < 8 || w.out_channels >= 128) && w.in_channels_per_group % (g.t * k) == 0) {
        group = k;
        break;
      }
  int task_ci = g.t * group;

  const Shape &xs = w.input, &ys = w.grad_output, &ws = w.weight;
  int64_t N = ys[0], OH = ys[2], OW = ys[3];
  bool one_by_one = ws[2] * ws[3] == 1;  // x_packed over output positions (lower_nn.cpp)
  // Rows of positions (a divisor of `extent`) whose dy and x for one task fit in kL1 bytes.
  constexpr int64_t kL1 = 24 << 10;
  auto l1_rows = [&](int64_t extent) {
    int64_t s = 1;
    for (int64_t d = 1; d <= extent; ++d)
      if (extent % d == 0 && d * OW * 4 * (tile_co + task_ci) <= kL1) s = d;
    return static_cast<int>(s);
  };

  Var coo("coo"), coi("coi"), cio("cio"), cii("cii"), f1("f1"), f2("f2"), task("task");
  Var cig("cig"), cit("cit");
  RVar rvo("rvo"), rvi("rvi");
  // Unchunked, where dy outweighs x, tasks with the same output channels run one after
  // another: each reads its rows of dy once and the x it sweeps stays in L2 (1x1 7x7
  // 512->2048 6.3 -> 5.1 ms).
  bool sweep_x = false;
  // The loops of a stage over dw's tiles: inside one tile (output channels `in_co`, input
  // channels `in_ci`), then the tiles (`out_co`, `out_ci`) and the taps.
  struct TileLoops {
    Var in_co, in_ci, out_co, out_ci, kx, ky;
  };
  TileLoops dw_loops{coi, cii, coo, cio, w.kx, w.ky};
  // The tile loops in order, then `outer`.
  auto tile_order = [&](const TileLoops& t, std::vector<VarOrRVar> outer) {
    std::vector<VarOrRVar> order{t.in_co, t.in_ci};
    if (g.taps) order.push_back(t.kx);
    if (sweep_x) order.insert(order.end(), {t.out_ci, t.out_co});
    else order.insert(order.end(), {t.out_co, t.out_ci});
    if (!g.taps) order.push_back(t.kx);
    order.push_back(t.ky);
    order.insert(order.end(), outer.begin(), outer.end());
    return order;
  };
  // The tiles and taps of `s` fused into one parallel task.
  auto tasks = [&](auto s, const TileLoops& t) {
    if (sweep_x) s.fuse(t.out_ci, t.out_co, f1);
    else s.fuse(t.out_co, t.out_ci, f1);
    if (g.taps) s.fuse(f1, t.ky, task);
    else s.fuse(f1, t.kx, f2).fuse(f2, t.ky, task);
    s.parallel(task);
  };
  // The summing stage `f` (pure vars co, ci, kx first): one register tile of the group
  // sums `rows` (split off the RVar `row`, inside `r.x`) before the next tile of the group.
  auto sum_order = [&](Stage f, const std::vector<Var>& v, RVar row, int64_t row_extent, std::vector<VarOrRVar> outer) {
    std::vector<VarOrRVar> order;
    if (group == 1) {
      order = {v[0], v[1], v[2], r.x, row};
      register_tile(f, v, g);
    } else {
      f.split(v[1], cig, cit, g.t).split(row, rvo, rvi, l1_rows(row_extent));
      register_tile(f, {v[0], cit, v[2]}, g);
      order = {v[0], cit, v[2], r.x, rvi, cig, rvo};
    }
    order.insert(order.end(), outer.begin(), outer.end());
    f.reorder(order);
  };

  // Bytes of dy and x one row of output positions reads (x: the input rows and columns a
  // row's taps touch that the next row does not; a 1x1 stride-2 reads a quarter of x).
  int64_t row_bytes = 4 * OW * (ys[1] + xs[1] * std::min(w.stride_h, ws[2]) * std::min(w.stride_w, ws[3]));
  // Chunks of positions: rows of one image, or whole images, within kChunk bytes of dy and x.
  constexpr int64_t kChunk = 1 << 20, kBlock = 512 << 10, kMinPositions = 64, kSmallDw = 128 << 10;
  int64_t rows = 1, images = 1;
  for (int64_t d = 1; d <= OH; ++d)
    if (OH % d == 0 && d * row_bytes <= kChunk) rows = d;
  if (rows == OH)
    for (int64_t d = 1; d <= N; ++d)
      if (N % d == 0 && d * OH * row_bytes <= kChunk) images = d;
  // Chunks too short do not pay for adding each tile into dw: ResNet-50's 1x1 1024 -> 512 at
  // 14x14 (batch 8) ran 31 ms in chunks of 28 positions, 19 ms unchunked, 11 ms in chunks
  // of 98. Every chunk adds all of dw into dw once more, so chunks pay only where dy and x
  // outweigh dw many times over: where they weigh 3-8 times dw (ResNet-50's layer-3 1x1s,
  // the 1x1 stride-2 downsample to 1024, 1024 -> 512 at 14x14), the unchunked tiles, which
  // also compute the fused optimizer update from their accumulators, ran faster (bench_conv
  // best of 3, chunked -> unchunked: 1x1 14x14 1024 -> 512 8.20 -> 6.88 ms, cold inputs 9.40
  // -> 6.45; the stride-2 28x28 512 -> 1024 8.82 -> 6.19, cold 10.6 -> 7.14; 3x3 stride-2
  // 28x28x256 8.27 -> 7.05; ResNet-50's training step at batch 8, five alternating profiles:
  // layer3.0's downsample 10.5 -> 6.5 ms, each layer-3 1x1 3.8 -> 3.3-3.5 ms; layer3.0's
  // 3x3, the 28x28x256 above, measured the same there). At 27 times
  // (3x3 stride 2 56x56x128) chunks still won, 7.9 against 8.6-13 ms.
  constexpr int64_t kChunkOutweighs = 16;
  bool chunked = N * OH * row_bytes > kChunkOutweighs * 4 * num_elements(ws) && rows * images * OW >= kMinPositions;
  // x_packed once per call, read in x's order (a row's channels innermost), each block of t
  // channels written to its own stream.
  // Blocks of one channel (depthwise, where the tile's channels of x are its output
  // channels) are x itself, channels innermost: stored in blocks, a vector of 16 channels
  // became a gather from 16 planes (MobileNet v2's 576-channel 3x3 stride-2 gradient at
  // 14x14, batch 8: 2.01 ms, 2 GB/s). Without a prologue to compute once, x is read where
  // it is.
  auto pack_x_once = [&] {
    Func p = w.packed;
    std::vector<Var> pv = p.args();  // cii, px, py, pn, cib
    if (g.t == 1 && !l.prologue) return;
    Var prow("prow");
    if (g.t == 1) p.reorder_storage(pv[0], pv[4], pv[1], pv[2], pv[3]);
    p.compute_root().reorder(pv[0], pv[4], pv[1], pv[2], pv[3]).fuse(pv[2], pv[3], prow);
    parallel_tasks(p, prow, N * (one_by_one ? OH : xs[2]), static_cast<double>(xs[1] * (one_by_one ? OW : xs[3])));
    if (g.t >= 4) p.vectorize(pv[0], g.t);
    else if (g.t == 1 && xs[1] % vec == 0) p.vectorize(pv[4], vec);
  };
  // Depthwise (one input channel per group, x's channel is dy's): chunks of rows (or of
  // images) are the parallel tasks, each summing every tile of the small dw (every tap of
  // each channel) over its positions into a partial of its own, the taps in registers, and the
  // partials are added at the end. The tiles as tasks (one vector of channels and one row of
  // taps each) read 64 bytes of each position's row of dy and x per task, chunk after
  // chunk, with a zero-padded copy of x made first; here x is read where it is, its border
  // taps guarded (Halide splits the loop over columns so that the inner columns are not).
  // MobileNet v2's shapes at batch 8 (dw graphs, `strata bench G.ir --profile-nodes`, two
  // alternating rounds): 3x3 56x56x144 2.62-2.79 -> 1.70-1.73 ms, stride 2 from 112x112x96
  // 4.82-4.96 -> 1.94-2.06, 14x14x576 0.65-0.71 -> 0.19; the padded copy kept, 2.00-2.15,
  // 4.33-4.44 and 0.34-0.36. A prologue's x (a batch norm and its activation, recomputed)
  // keeps the padded copy, which computes it once.
  // (A 5x5's 25 taps take one vector of channels: 25 accumulators of the 32 registers.)
  bool depthwise = w.in_channels_per_group == 1 && w.groups == w.out_channels;
  int64_t taps = ws[2] * ws[3];
  if (depthwise && taps <= 25 && 4 * num_elements(ws) <= kSmallDw && (!l.prologue || w.padded) && N * OH / rows / images >= 2) {
    if (w.padded && !l.prologue)
      std::erase_if(l.roots, [&](const Root& root) { return root.f.name() == w.padded->name(); });
    Var u("u"), un("un");
    RVar ro("ro"), ri("ri");
    bool by_rows = rows < OH;
    Func part = by_rows ? acc.update().split(r.y, ro, ri, static_cast<int>(rows)).rfactor({{ro, u}, {r.z, un}})
                        : acc.update().split(r.z, ro, ri, static_cast<int>(images)).rfactor({{ro, u}});
    acc.compute_root().vectorize(w.co, vec);
    if (by_rows) acc.update().reorder(w.co, ro, r.z, w.ci, w.kx, w.ky);
    else acc.update().reorder(w.co, ro, w.ci, w.kx, w.ky);
    acc.update().vectorize(w.co, vec).parallel(w.ky);
    std::vector<Var> pa = part.args();  // co, ci, kx, ky, u (the chunk), [un (its image)]
    part.compute_root().vectorize(pa[0], vec);
    Stage sum = part.update();
    int dw_tile = g.cw * taps <= 24 ? tile_co : vec;
    sum.split(pa[0], coo, coi, dw_tile).vectorize(coi, vec).unroll(coi).unroll(pa[2]).unroll(pa[3]);
    // Per row: each tile of channels over the row's columns, its taps in registers.
    if (by_rows) sum.reorder({coi, pa[2], pa[3], r.x, coo, ri, pa[1], pa[4], pa[5]}).fuse(pa[4], pa[5], task).parallel(task);
    else sum.reorder({coi, pa[2], pa[3], r.x, coo, r.y, ri, pa[1], pa[4]}).parallel(pa[4]);
    return false;
  }
  if (!chunked) {
    pack_x_once();  // (chunked, it stays inline but for a prologue's x, below)
    int64_t dy_bytes = 4 * N * OH * OW * ys[1];
    sweep_x = dy_bytes > N * OH * row_bytes - dy_bytes;
    const Layout& ol = ctx.out.layout;
    if (ol.block == tile_co && ol.size() == 4 && ol[0] == 0 && l.reductions.empty()) {
      // The output's block is the tile's channels: each task computes its tile of the output
      // (with a fused optimizer update, the new momentum) from its accumulators, instead of
      // storing all of dw and passing over it again (bench_conv, best of 12: 3x3 7x7x512
      // 7.5 -> 6.8 ms, the 1x1 stride-2 downsample to 2048 7.6 -> 6.7 ms; ResNet-50's fused
      // training step at batch 8, best of 2: 1076 -> 1049 ms).
      const std::vector<Var>& v = ctx.out.vars;  // [co % B, the weight's other axes by ol, co / B]
      auto axis = [&](int a) {
        for (size_t k = 1; k < ol.size(); ++k)
          if (ol[k] == a) return v[k];
        throw Error("weight gradient layout without axis " + std::to_string(a));
      };
      TileLoops out_loops{v[0], cii, v.back(), cio, axis(3), axis(2)};
      Func out = l.out;
      out.split(axis(1), cio, cii, task_ci).reorder(tile_order(out_loops, {})).vectorize(v[0], vec);
      tasks(out, out_loops);
      acc.compute_at(out, task);
      register_tile(acc, {w.co, w.ci, w.kx}, g);
      sum_order(acc.update(), {w.co, w.ci, w.kx}, r.y, OH, {r.z});
      return true;
    }
    tile.compute_root().split(w.co, coo, coi, tile_co).split(w.ci, cio, cii, task_ci).reorder(tile_order(dw_loops, {}));
    register_tile(tile, {coi, cii, w.kx}, g);
    tasks(tile, dw_loops);
    acc.compute_at(tile, task);
    register_tile(acc, {w.co, w.ci, w.kx}, g);
    sum_order(acc.update(), {w.co, w.ci, w.kx}, r.y, OH, {r.z});
    return false;
  }

  // A small dw (128 KiB or less) of a 1x1 convolution summed in chunks of rows: the chunks
  // are the parallel tasks, each summing every tile of dw over its rows into a partial dw of
  // its own, and the partials are added at the end. Tasks of tiles read each chunk's x in
  // pieces of 128 bytes (a task's 32 input channels) of every 1 KiB position, from memory,
  // and the task of the next output tile read them again; a chunk's task walks its rows' x
  // whole. (The ResNet-50 shapes at batch 8, --profile-nodes
  // of a dw graph, three alternating runs each: 56x56 256 -> 64 4.7-5.1 -> 2.9-3.1 ms, 64 ->
  // 256 4.3-4.8 -> 3.6-3.8, 256 -> 128 7.5-8.4 -> 5.9-6.3; with dw of 256 KiB, 28x28 512 ->
  // 128 3.3-3.6 -> 3.1-3.5 but 128 -> 512 3.6-4.0 -> 4.0-4.4, so larger dw keep the tiles as
  // tasks. ResNet-50's training step at batch 8, two alternating profiles: layer 1's 1x1 weight
  // gradients with their updates 41.7 -> 31.8 ms, the step 749 / 734 -> 733 / 718 ms. x
  // copied per row into blocks of the tile's channels measured no better.)
  //
  // Where a chunk is whole images (rows fit: MobileNet v2's 1x1s at 28x28 and 14x14), each
  // image is a task, with dw up to 256 KiB (dw graphs at batch 8, --runs 40, two rounds each:
  // 14x14 384 -> 64 0.66-0.76 -> 0.47-0.48 ms, 28x28 192 -> 32 0.58-0.74 -> 0.36-0.40, 14x14
  // 576 -> 96 (221 KiB) 1.39-1.44 -> 0.91-0.94; ResNet-50's 1 MiB ones at 14x14 measured
  // 4.5-4.9 either way and keep the tiles).
  //
  // Larger filters with a dw of 128 KiB or less take the same tasks, each tap (or row of
  // taps, the register tile's) after the other within a row: the RGB stems (MobileNet's
  // and EfficientNet's 3x3 32 <- 3 at 224x224 stride 2, batch 8, a dw graph: 2.31-2.53 ->
  // 1.43-1.50 ms; ResNet's 7x7 64 <- 3 9.0 -> 6.3-6.8 ms), a 3x3 stride-2 32 <- 32 at 56x56
  // 0.82 -> 0.55-0.61 ms; the small ResNet's training step at batch 64 49.1 / 48.5 -> 48.5 /
  // 47.9 ms (alternating). Their zero-padded x stays a copy made first.
  bool row_chunks = rows < OH;
  constexpr int64_t kSmallDwImages = 256 << 10;
  bool small_1x1 = one_by_one && !w.padded && !g.taps && 4 * num_elements(ws) <= (row_chunks ? kSmallDw : kSmallDwImages);
  bool small_kxk = !one_by_one && 4 * num_elements(ws) <= kSmallDw;  // (depthwise ones took their own tasks above)
  if (!l.prologue && (small_1x1 || small_kxk) && (row_chunks || N >= 2)) {
    Var u("u"), un("un");
    RVar ro("ro"), ri("ri");
    Func part = row_chunks ? acc.update().split(r.y, ro, ri, static_cast<int>(rows)).rfactor({{ro, u}, {r.z, un}})
                           : acc.update().rfactor({{r.z, un}});
    acc.compute_root().vectorize(w.co, vec);
    if (row_chunks) acc.update().reorder(w.co, ro, r.z, w.ci, w.kx, w.ky);
    else acc.update().reorder(w.co, r.z, w.ci, w.kx, w.ky);
    acc.update().vectorize(w.co, vec).parallel(w.ci);
    std::vector<Var> pa = part.args();  // co, ci, kx, ky, [u (the chunk),] un (its image)
    part.compute_root().vectorize(pa[0], vec).parallel(pa.back());
    Stage sum = part.update();
    sum.split(pa[0], coo, coi, tile_co).split(pa[1], cio, cii, g.t);
    register_tile(sum, {coi, cii, pa[2]}, g);
    // Per row: every tile of input channels for one tile of dy's channels (in L1), then the
    // next. (The image's rows inside each tile instead, 14x14 384 -> 64 ran 0.47 -> 0.53 ms.)
    std::vector<VarOrRVar> order{coi, cii};
    if (g.taps) order.push_back(pa[2]);
    order.insert(order.end(), {r.x, cio, coo});
    if (!g.taps) order.push_back(pa[2]);
    order.push_back(pa[3]);
    if (row_chunks) {
      order.insert(order.end(), {ri, pa[4], pa[5]});
      sum.reorder(order).fuse(pa[4], pa[5], task).parallel(task);
    } else {
      order.insert(order.end(), {r.y, pa[4]});
      sum.reorder(order).parallel(pa[4]);
    }
    return false;
  }
  // Blocks of dw's output channels, a multiple of the tile, within kBlock bytes.
  int64_t per_co = 4 * num_elements(w.weight) / w.out_channels, block = tile_co;
  for (int64_t b = tile_co; b <= w.out_channels; b += tile_co)
    if (w.out_channels % b == 0 && b * per_co <= kBlock) block = b;

  Var u("u"), un("un");
  RVar ro("ro"), ri("ri");
  Func part = rows < OH ? acc.update().split(r.y, ro, ri, static_cast<int>(rows)).rfactor({{ro, u}, {r.z, un}})
                        : acc.update().split(r.z, ro, ri, static_cast<int>(images)).rfactor({{ro, u}});
  acc.compute_root().vectorize(w.co, vec);
  // dw's rows (one per input channel) a multiple of 1 KiB long put the task's tile of it, which
  // each chunk's partial sums are added into, in the same few L1 sets: one cache line more
  // per row spreads them (perf: the adds took 30% of the 1x1 stride-2 28x28 512->1024
  // gradient. bench_conv at batch 8: that one 10.8-11.4 -> 8.7-9.5 ms, 14x14 256->1024
  // 4.2 -> 3.3-3.5 ms; ResNet-50's fused training step at batch 8, alternating, 623 / 688
  // -> 605 / 667 ms).
  if (int64_t e = unaliased_extent(w.out_channels); e != w.out_channels) acc.align_storage(w.co, static_cast<int>(e));
  Var cor("cor"), cob("cob");
  Stage merge = acc.update();
  // (Splitting co by the block first and the block by the tile made Halide 14 bound dy's
  // channels beyond their extent; the tile first, then tiles into blocks, is exact.)
  merge.split(w.co, cor, coi, tile_co).split(cor, cob, coo, static_cast<int>(block / tile_co)).split(w.ci, cio, cii, task_ci);
  std::vector<VarOrRVar> outer{ro};
  if (rows < OH) outer.push_back(r.z);
  outer.push_back(cob);
  merge.reorder(tile_order(dw_loops, outer));
  register_tile(merge, {coi, cii, w.kx}, g);
  tasks(merge, dw_loops);
  part.compute_at(acc, task);
  if (l.prologue && !w.padded) {
    // x computed by a prologue (a batch norm and its ReLU), unpadded (a zero-padded copy,
    // a root, computes the prologue where there is one): packed once per call, as the
    // unchunked path packs it, in vectors of channels. Inline, it was scalar arithmetic at
    // each of the register tile's broadcasts, for every tile of output channels again
    // (ResNet-50's 1x1 weight gradients at batch 8 took 2.3 ms more each); packed inside
    // each task, every task packed its channels again (text-IR graph of a 1x1 at 14x14,
    // 256 -> 1024, batch 8: 2.6 -> 3.6 ms). Once per call, or per chunk by all cores before
    // its tasks, it costs what the batch norm's own kernel did (three rounds, bench --runs
    // 100: 4.47 / 4.09 / 4.37 ms with that kernel, 4.28 / 4.37 / 4.48 packed once per call,
    // 4.43 / 4.86 / 4.91 per chunk), and `a` is no longer stored.
    pack_x_once();
  }
  std::vector<Var> pa = part.args();  // co, ci, kx, ky, then the chunk's indices
  register_tile(part, pa, g);
  if (rows < OH) sum_order(part.update(), pa, ri, rows, {});
  else sum_order(part.update(), pa, r.y, OH, {ri});
  return false;
}

}  // namespace strata::halide_backend
