// CPU schedules. Convolutions follow the register-blocking idea of Halide's
// apps/conv_layer: a tile of (vector x tile_w) output channels by tile_h columns is kept in
// registers while the reduction runs over input channels and taps. Everything else gets
// a pointwise schedule: vectorized over the innermost dimension, parallel over the
// outermost, reductions computed per output vector. (Weight gradients: schedule_cpu_wgrad.cpp;
// linear layers over a few rows: schedule_cpu_linear.cpp.)
#include <algorithm>
#include <cmath>

#include "backends/halide/lowering.h"
#include "ir/op_registry.h"

namespace strata::halide_backend {

using namespace Halide;

int pick_vec(int64_t extent, int natural) {
  int v = natural;
  while (v > 1 && v > extent) v /= 2;
  return v >= 4 ? v : 1;
}

struct VecPlan {
  int dim = -1;
  int width = 1;
};

static VecPlan plan_vector(const std::vector<int64_t>& ext, int natural) {
  VecPlan p;
  for (int d = 0; d < static_cast<int>(ext.size()) && d < 2; ++d) {
    int w = pick_vec(ext[d], natural);
    if (w > 1) return {d, w};
  }
  return p;
}

// Iterations of a reduction domain (its extents are constants in every lowering).
static int64_t rdom_volume(const RDom& r) {
  int64_t v = 1;
  for (int i = 0; i < r.dimensions(); ++i) {
    const int64_t* e = as_const_int(r[i].extent());
    v *= e ? *e : 1;
  }
  return v;
}

// Halide's thread pool hands out a parallel loop's iterations one at a time under one
// mutex, so iterations of a few microseconds spend much of their time waiting for it: the
// small ResNet's 1x1 stride-2 dx at batch 64 (1792 row tasks of about 7 thousand
// multiply-adds) spent 30% of its time in halide_mutex_lock and 27% yielding, 9% in its
// own loops. Consecutive iterations make one task of at least kMinTaskWork multiply-adds,
// as long as kMinTasks tasks remain to share out. bench_conv, small ResNet shapes at batch
// 64: 3x3 stride-2 28x28 16->32 forward 1.42 -> 0.60 ms, its dx 1.43 -> 0.56; the 1x1
// stride-2 downsample 0.29 -> 0.05, its dx 0.84 -> 0.22; ResNet-50's shapes unchanged but
// the stem (0.71 -> 0.64 ms) and MobileNet's first depthwise (0.113 -> 0.090).
constexpr double kMinTaskWork = 1 << 18;
constexpr int64_t kMinTasks = 32;

static int64_t iterations_per_task(int64_t iterations, double work) {
  if (work <= 0 || iterations <= kMinTasks) return 1;
  int64_t k = static_cast<int64_t>(std::ceil(kMinTaskWork / work));
  return std::clamp<int64_t>(k, 1, iterations / kMinTasks);
}

void parallel_tasks(Func f, Var v, int64_t extent, double work) {
  int64_t k = iterations_per_task(extent, work);
  if (k <= 1) {
    f.parallel(v);
    return;
  }
  Var task(v.name() + "_task");
  f.split(v, task, v, static_cast<int>(k), TailStrategy::GuardWithIf).parallel(task);
}

static void schedule_pointwise(Func f, const std::vector<Var>& vars, const std::vector<int64_t>& ext, int natural,
                               const std::vector<Reduction>& reds) {
  VecPlan vp = plan_vector(ext, natural);
  Var vo("vo"), vi("vi");
  if (vp.dim >= 0) f.split(vars[vp.dim], vo, vi, vp.width).vectorize(vi);
  int64_t work = 1;
  for (auto e : ext) work *= e;
  int64_t reduced = 1;
  for (const Reduction& r : reds) reduced = std::max(reduced, rdom_volume(r.r));
  bool parallel = false;
  if (work >= 4096 || (work > 1 && work * reduced >= 65536))
    for (int k = static_cast<int>(vars.size()) - 1; k >= 0; --k)
      if (k != vp.dim && ext[k] > 1) {
        parallel_tasks(f, vars[k], ext[k], static_cast<double>(work / ext[k]) * reduced);
        parallel = true;
        break;
      }
  // Few outputs, each a long reduction (batch norm's weight gradient, a bias gradient):
  // the vectors of outputs are the parallel tasks.
  if (!parallel && vp.dim >= 0 && work * reduced >= 65536 && ext[vp.dim] / vp.width >= 2) f.parallel(vo);
  for (Reduction r : reds) {
    r.f.compute_at(f, vp.dim >= 0 ? vo : vars.empty() ? Var::outermost() : vars[0]);
    if (vp.dim < 0) continue;
    r.f.vectorize(vars[vp.dim], vp.width);
    for (int u = 0; u < r.f.num_update_definitions(); ++u) {
      Var uo, ui;
      Stage s = r.f.update(u);
      s.split(vars[vp.dim], uo, ui, vp.width, TailStrategy::GuardWithIf).vectorize(ui);
      std::vector<VarOrRVar> order{ui};
      for (int i = 0; i < r.r.dimensions(); ++i) order.push_back(r.r[i]);
      s.reorder(order);
    }
  }
}

static void schedule_roots(const Lowered& l, int natural) {
  for (Root root : l.roots) {
    root.f.compute_root();
    std::vector<Var> args = root.f.args();
    if (!root.vectorize || args.empty()) continue;
    if (!root.f.has_update_definition()) {
      schedule_pointwise(root.f, args, root.extents, natural, {});
      continue;
    }
    // Explicit reductions (batch statistics): vectors over the first pure var,
    // the reduction loops inside each vector's loop. The width divides the extent: with
    // a shifted or guarded tail Halide 14 wrote the last vector over the first.
    int w = natural;
    while (w > 1 && root.extents[0] % w) w /= 2;
    if (w >= 4) root.f.vectorize(args[0], w);
    for (int u = 0; u < root.f.num_update_definitions(); ++u) {
      Stage s = root.f.update(u);
      if (w < 4) {
        s.unscheduled();
        continue;
      }
      Var uo, ui;
      s.split(args[0], uo, ui, w).vectorize(ui);
      std::vector<VarOrRVar> order{ui};
      if (root.chunked) order.push_back(uo);  // every channel vector of a position, then the next position
      for (const auto& rv : s.get_schedule().rvars()) order.push_back(RVar(rv.var));
      if (!root.chunked) order.push_back(uo);
      s.reorder(order);
      // Independent work in parallel: the outermost pure var where there are more (max
      // pooling's argmax over (c, x, y, n), a reduction then: parallel channel vectors meant one
      // 4-task parallel loop per pixel, 25088 of them for ResNet-50's at batch 8), else the
      // channel vectors (batch statistics, one var).
      if (args.size() > 1 && root.extents.back() >= 2) s.parallel(args.back());
      else if (root.extents[0] / w >= 2) s.parallel(uo);
    }
  }
}

// A convolution's register tile may hold at most `max_acc` accumulator vectors, `max_w` of
// them across output channels: 24 of the 32 AVX-512 registers (12 of AVX2's 16), leaving
// room for filter and input values, and at most 64 channels on AVX-512 (48 on AVX2), in
// vectors of `vec` lanes.
AccumulatorBudget accumulator_budget(const Target& t, int vec) {
  bool avx512 = t.has_feature(Target::AVX512_Skylake) || t.has_feature(Target::AVX512);
  return {avx512 ? 24 : 12, (avx512 ? 4 : 3) * t.natural_vector_size<float>() / vec};
}

// Bytes of a convolution kernel's filter (input 1), and the size from which it no longer
// stays in L2 beside the rest of a task's data.
static int64_t filter_bytes(const LowerContext& ctx) { return num_elements(ctx.in[1].shape) * 4; }
constexpr int64_t kLargeFilter = int64_t{1} << 20;

bool conv_taps_innermost(const Shape& w) { return w[2] * w[3] > 1 && num_elements(w) * 4 > kLargeFilter; }

ConvTile plan_conv_tile(int64_t CO, int64_t W, const Target& t) {
  int natural = t.natural_vector_size<float>();
  ConvTile tile;
  // The widest vector that divides the channels: 24 or 40 channels (MobileNet v2's and
  // EfficientNet's projections) take 8-lane vectors, 3 or 5 of them, rather than one
  // 16-lane vector computed twice over its overlap with a single accumulator per column.
  tile.vec = pick_vec(CO, natural);
  while (tile.vec > 4 && CO % tile.vec) tile.vec /= 2;
  if (tile.vec < 4 || CO % tile.vec) {
    tile.vec = 1;
    tile.tile_h = static_cast<int>(std::min<int64_t>(4, W));
    return tile;
  }
  // Accumulators: tile_w vectors of output channels by tile_h columns (accumulator_budget).
  // Columns computed twice by ShiftInwards at the right edge count as waste.
  auto [max_acc, max_w] = accumulator_budget(t, tile.vec);
  double best = 0;
  for (int tw = 1; tw <= max_w; ++tw) {
    if ((CO / tile.vec) % tw) continue;
    for (int th = 1; th <= std::min<int64_t>(8, W); ++th) {
      if (tw * th > max_acc) continue;
      double useful = double(W) / double((W + th - 1) / th * th);
      double score = tw * th * useful;
      if (score > best + 1e-9) best = score, tile.tile_w = tw, tile.tile_h = th;
    }
  }
  return tile;
}

int dx_reduction_lanes(int64_t dx_channels, int64_t dy_channels_per_group, const Target& t) {
  int natural = t.natural_vector_size<float>();
  if (t.has_gpu_feature() || pick_vec(dx_channels, natural) > 1 || natural < 4) return 0;
  return dy_channels_per_group % natural == 0 ? natural : 0;
}

int conv_channel_block(int64_t channels, int64_t out_width, const Target& t) {
  if (t.has_gpu_feature()) return 0;
  ConvTile tile = plan_conv_tile(channels, out_width, t);
  int b = tile.vec * tile.tile_w;
  return tile.vec > 1 && b < channels && channels % b == 0 ? b : 0;
}

int conv_stats_tile(const Lowered& l, const LowerContext& ctx) {
  if (ctx.target.has_gpu_feature() || !l.conv || ctx.out.layout != channels_last()) return 0;
  const ConvInfo& ci = *l.conv;
  if (ci.groups != 1 || ci.column_stride != 1 || !ci.phases.empty()) return 0;
  int64_t CO = ctx.out.extent(0), W = ctx.out.extent(1);
  if (pick_vec(CO, ctx.target.natural_vector_size<float>()) <= 1) return 0;
  ConvTile t = plan_conv_tile(CO, W, ctx.target);
  return t.vec > 1 && t.tile_h <= W ? t.tile_h : 0;  // schedule_conv's split_x at column stride 1
}

// A convolution's zero-padded input copy: computed once, rows of images in parallel.
static void schedule_padded_input(const ConvInfo& ci, const LowerContext& ctx, int natural) {
  if (!ci.padded) return;
  Func p = *ci.padded;
  p.compute_root();
  const auto& pv = p.args();
  // Rows of 256 or 512 channels (1 or 2 KiB) put a tile's columns, 2 or 4 KiB apart with
  // stride 2, in the same few L1 sets; one cache line more per pixel spreads them
  // (bench_conv, best of 9: 3x3 stride 2 14x14x512 1.17 -> 0.83 ms, 3x3 7x7x512 0.77 ->
  // 0.75 ms, 3x3 14x14x256 0.78 -> 0.74 ms).
  if (int64_t C = ctx.in[0].shape[1], Cs = unaliased_extent(C); Cs != C) p.align_storage(pv[0], static_cast<int>(Cs));
  int pw = pick_vec(ctx.in[0].shape[1], natural);
  if (pw > 1) p.vectorize(pv[0], pw);
  Var prow("prow");
  p.fuse(pv[2], pv[3], prow);
  const Shape& xs = ctx.in[0].shape;  // (n, c, h, w): about the copy's rows and their length
  parallel_tasks(p, prow, xs[2] * xs[0], static_cast<double>(xs[1] * xs[3]));
}

// schedule_conv's filter-streaming tile (see there), or none (vec 0) where it does not apply:
// the widest tile of 4 to 8 columns that divides the row (an update has no shifting tail),
// by the most channel vectors that divide the channels within accumulator_budget.
static ConvTile stream_tile(const Lowered& l, const LowerContext& ctx, bool depthwise) {
  const ConvInfo& ci = *l.conv;
  ConvTile none{0, 0, 0};
  if (depthwise || ci.groups != 1 || !ci.phases.empty() || l.stats || (l.prologue && !ci.padded) || ctx.node.op != "conv2d")
    return none;
  if (ctx.out.layout != channels_last() || ctx.out.extent(3) != 1) return none;
  int natural = ctx.target.natural_vector_size<float>();
  int64_t CO = ctx.out.extent(0), W = ctx.out.extent(1), H = ctx.out.extent(2);
  int vec = pick_vec(CO, natural);
  if (vec <= 1 || CO % vec || ctx.in[1].shape[2] * ctx.in[1].shape[3] < 2 || filter_bytes(ctx) < kLargeFilter) return none;
  ConvTile t{vec, 0, 0};
  for (int d = 8; d >= 4 && !t.tile_h; --d)
    if (W % d == 0) t.tile_h = d;
  if (!t.tile_h) return none;
  auto [max_acc, max_w] = accumulator_budget(ctx.target, vec);
  for (int w = std::min(max_acc / t.tile_h, max_w); w >= 1 && !t.tile_w; --w)
    if ((CO / vec) % w == 0) t.tile_w = w;
  // The task's accumulators (its channel tile over the whole image) within 32 KiB of L1.
  return t.tile_w >= 2 && t.vec * t.tile_w * H * W <= 8192 ? t : none;
}

static void schedule_conv(Lowered& l, const LowerContext& ctx, int natural) {
  ConvInfo& ci = *l.conv;
  const auto& v = ctx.out.vars;  // channels-last output: (c, x, y, n)
  Var c = v[0], x = v[1], y = v[2], n = v[3];
  int64_t CO = ctx.out.extent(0), W = ctx.out.extent(1);
  bool depthwise = ci.groups > 1 && ci.groups == ci.in_channels && ci.groups == ci.out_channels;
  int vec = pick_vec(CO, natural);
  // Column phases (a strided conv's dx): each accumulator tiles ceil(W / s) columns, and a
  // tile of the output spans tile_h columns of every phase.
  int s = static_cast<int>(ci.column_stride);
  int64_t phase_w = (W + s - 1) / s;
  int tile_w = 1, tile_h = static_cast<int>(std::min<int64_t>(4, phase_w));
  if (vec > 1 && !depthwise && ci.groups == 1) {
    ConvTile t = plan_conv_tile(CO, phase_w, ctx.target);
    if (t.vec > 1) vec = t.vec, tile_w = t.tile_w, tile_h = t.tile_h;
  }
  std::vector<Reduction> accs = ci.phases.empty() ? std::vector<Reduction>{{ci.conv, ci.r}} : ci.phases;
  RDom r = ci.r;
  Var co("co"), cii("cii"), xo("xo"), xi("xi");
  Func out = l.out;
  Func conv = ci.conv;
  // Multiply-adds of the whole convolution, shared out among its parallel loop's iterations.
  double macs = static_cast<double>(num_elements(ctx.out.shape)) * rdom_volume(r);
  int64_t rows = ctx.out.extent(2) * ctx.out.extent(3);  // (y, n) fused
  if (vec > 1 && depthwise) {
    // Memory-bound: walk each row once, all channels of a pixel block together. Rows of
    // every image are the parallel tasks (a batch is not a serial outer loop).
    Var row("row");
    out.split(c, co, cii, vec).split(x, xo, xi, tile_h).reorder(cii, xi, co, xo, y, n).vectorize(cii).unroll(xi);
    out.fuse(y, n, row);
    parallel_tasks(out, row, rows, macs / rows);
    conv.compute_at(out, co).vectorize(c, vec).unroll(x);
    conv.update().reorder(c, x, r.x, r.y, r.z, y, n).vectorize(c, vec).unroll(x).unroll(r.y).unroll(r.z);
    // The zero-padded input stays inline: each tap reads x (or dy) where it is, guarded at
    // the border (Halide splits the column loop so the inner columns are not), with a
    // prologue recomputed per tap. The three padded rows a row needs, copied per row, had
    // cost more than that (MobileNet v2's shapes at batch 8, G.ir graphs, --profile-nodes,
    // two alternating rounds: forward 3x3 56x56x144 with a ReLU prologue 2.47-2.56 -> 1.69-1.70
    // ms, with SiLU's 4.78 -> 3.57-3.65, stride 2 from 112x112x96 2.88-2.91 -> 2.49-2.55; the
    // input gradient at 56x56x144 2.45 -> 1.40 with its weight stored channels innermost).
    return;
  }
  // One image, a 3x3 (or larger) filter of 1 MiB or more, an output small enough
  // that a channel tile of all of it stays in L1 (ResNet-50's layers 3 and 4 at batch 1):
  // the filter comes from memory, and a tile that summed every input channel for one row
  // before the next fetched its whole filter during the first row, a burst the prefetchers
  // did not keep up with, then reused it from L2. Here a task accumulates its channel tile
  // over the whole image, the input channels in chunks outside the rows, so each chunk of
  // the filter (16 KiB at most) is fetched once and used for every position at once: the
  // filter streams at the pace of the arithmetic. bench_conv, filters in no cache
  // (conv2d_cold_weights) 3x3 7x7x512 1.11 -> 1.00-1.03 ms, 3x3 14x14x256 0.89 -> 0.83-0.86,
  // 3x3 stride 2 14x14x512 1.21 -> 1.12 ms; ResNet-50 at batch 1 (fused, two kernel caches
  // alternating, --runs 30) 31.51 / 31.46 -> 31.18 / 30.86 ms with the stride-1 ones, and
  // the strided ones too 31.67 / 31.82 / 31.76 -> 30.93 / 31.57 / 31.69 ms. The 1x1s at
  // 7x7 gained 2-6% cold only and are left as they were; a copy of each filter chunk
  // (Func::in) and Halide's prefetch of the next chunk ran slower; chunks of 32 KiB rather
  // than 16 measured the same.
  if (ConvTile st = stream_tile(l, ctx, depthwise); st.vec > 0) {
    int64_t taps = ctx.in[1].shape[2] * ctx.in[1].shape[3];
    int th = st.tile_h, tile_ch = st.vec * st.tile_w, chunk = 1;
    while (chunk * 2 * taps * tile_ch * 4 <= 16384 && ci.in_channels % (chunk * 2) == 0) chunk *= 2;
    Var task_n("task_n"), ux("ux"), uxi("uxi");
    RVar rxo("rxo"), rxi("rxi");
    out.split(c, co, cii, tile_ch).split(x, xo, xi, th).reorder(cii, xi, xo, y, co, n).vectorize(cii, st.vec).unroll(cii).unroll(xi);
    out.fuse(co, n, task_n);
    int64_t tasks = CO / tile_ch * ctx.out.extent(3);
    parallel_tasks(out, task_n, tasks, macs / tasks);
    conv.compute_at(out, task_n).vectorize(c, st.vec);
    conv.update()
        .split(r.x, rxo, rxi, chunk)
        .split(x, ux, uxi, th)
        .reorder(c, uxi, r.y, r.z, rxi, ux, y, rxo, n)
        .vectorize(c, st.vec)
        .unroll(c)
        .unroll(uxi);
    schedule_padded_input(ci, ctx, natural);
    return;
  }
  if (vec > 1) {
    // Rows, channel tiles and images are all parallel work: a 7x7 layer has only 7 rows
    // for 2 cores, and a training batch must not be a serial loop of small parallel ones.
    Var task("task"), task_n("task_n");
    Var prologue_at = task_n;  // the loop inside which an unpadded input's prologue is computed
    // (A split wider than the row would start before column 0; keep whole phases per tile.)
    int split_x = static_cast<int>(std::min<int64_t>(tile_h * s, std::max<int64_t>(W / s * s, std::min<int64_t>(s, W))));
    out.split(c, co, cii, vec * tile_w).split(x, xo, xi, split_x).reorder(cii, xi, xo, y, co, n).vectorize(cii, vec).unroll(cii).unroll(xi);
    int64_t co_tiles = (CO + vec * tile_w - 1) / (vec * tile_w);
    // With a large filter and enough (channel tile, image) pairs to share out, a task is one
    // channel tile of one image, all rows inside: each core then streams its own tiles'
    // filters once, where row tasks had both cores fetch every filter from memory (batch 1,
    // bench_conv with the caches flushed first: 3x3 7x7x512 1.46 -> 1.38 ms, the 1x1
    // stride-2 downsample to 2048 channels 1.47 -> 1.13 ms).
    bool rows_in_task = CO / (vec * tile_w) * ctx.out.extent(3) >= 16 && filter_bytes(ctx) >= kLargeFilter;
    // With a sibling, and a filter of 1 MiB or less (it stays in L2), every channel tile of a
    // column tile runs before the next column tile, so the sums read x (and the epilogue its
    // other inputs) a pixel's channels together; one channel tile at a time read 256 bytes of
    // every 1-4 KiB pixel, from memory, a pattern the prefetchers seem not to follow. The
    // sibling kernels of layers 1-3 ran 0.2-1.3 ms faster each, ResNet-50's fused training
    // step at batch 8 (three pairs, alternating) 983 / 939 / 933 -> 919 / 930 / 920 ms; with
    // larger filters, streamed again for every column tile, layer 3's 3x3s and layer 4 lost
    // 2-5 ms per kernel.
    bool co_inner = l.stats && l.stats->fused && ctx.out.extent(3) >= 2 && filter_bytes(ctx) <= kLargeFilter;
    if (l.stats && l.stats->fused) {
      // A sibling's sums per tile (StatsOutput): their stage runs inside these loops
      // (compute_with), whose names it shares. Loops fused into one task index lose the
      // bounds of the tile in Halide 14 (the accumulator grew to every row), so the tasks
      // are the images (a training batch has enough of them), or channel tiles for one.
      StatsOutput& st = *l.stats;
      Var sxo("xo"), sxi("xi");
      st.part.compute_root()
          .split(c, co, cii, vec * tile_w)
          .split(x, sxo, sxi, 1)
          .reorder(cii, sxi, sxo, y, co, n)
          .vectorize(cii, vec)
          .unroll(cii);
      if (co_inner) out.reorder(cii, xi, co, xo, y, n), st.part.reorder(cii, sxi, co, sxo, y, n);
      // An odd number of images leaves a core idle while the other takes the last one (a
      // sibling of ResNet-18's at batch 3 ran 2.4 ms against 1.9 for the plain convolution):
      // then the rows of each image, or its channel tiles, are the tasks. (Rows instead of
      // images at batch 8 made ResNet-50's fused training step 580-676 -> 632-717 ms.)
      int64_t images = ctx.out.extent(3);
      if (images >= 2 && images % 2 == 0) out.parallel(n), st.part.parallel(n);
      else if (co_inner) out.parallel(y), st.part.parallel(y);
      else out.parallel(co), st.part.parallel(co);
      st.part.compute_with(out, co_inner ? co : xo);
      // (A row of the input serves every channel tile of a row; else an image's serves all.)
      prologue_at = co_inner ? y : n;
    } else if (rows_in_task) {
      out.fuse(co, n, task_n);
      int64_t tasks = co_tiles * ctx.out.extent(3);
      parallel_tasks(out, task_n, tasks, macs / tasks);
    } else {
      out.fuse(y, co, task).fuse(task, n, task_n);
      int64_t tasks = co_tiles * rows;
      parallel_tasks(out, task_n, tasks, macs / tasks);
    }
    if (l.prologue && !ci.padded) {
      // A fused prologue (squeeze-and-excitation's x * scale, a batch norm and its ReLU) once
      // per task, for the input rows the task reads, rather than at every load inside the
      // register tile.
      Func p = *l.prologue;
      p.compute_at(out, prologue_at);
      int pw = pick_vec(ctx.in[0].shape[1], natural);
      if (pw > 1) p.vectorize(p.args()[0], pw);
    }
    // Reduction order: with taps innermost a tile's stream through a blocked weight
    // (preferred_layout) is one contiguous run, which the prefetchers follow; input channels
    // innermost walk the channels-last input contiguously. bench_conv, blocked: taps
    // innermost for ResNet-50's 3x3 at 14x14x256 (2.4 MB filter) 1.01 -> 0.78 ms and at
    // 7x7x512 (9.4 MB) 1.16 -> 0.85 ms; channels innermost for 28x28x128 (0.6 MB) 0.90 ->
    // 0.86 ms and 56x56x64 0.93 -> 0.85 ms. There the filter is stored with each tap's input
    // channels together (preferred_layout), so the tile's filter is a contiguous run too,
    // where it had jumped KH * KW * block floats per channel (bench_conv, two alternating
    // runs: 28x28x128 0.94 / 0.95 -> 0.88 / 0.85 ms, the stride-2 56x56x128 0.96 / 0.85 ->
    // 0.89 / 0.77 ms).
    bool taps_inner = conv_taps_innermost(ctx.in[1].shape);
    for (Reduction a : accs) {
      a.f.compute_at(out, co_inner ? co : xo).vectorize(c, vec).unroll(c).unroll(x).unroll(y);
      if (taps_inner) a.f.update().reorder(c, x, y, a.r.y, a.r.z, a.r.x, n);
      else a.f.update().reorder(c, x, y, a.r.x, a.r.y, a.r.z, n);
      a.f.update().vectorize(c, vec).unroll(c).unroll(x).unroll(y);
      if (!taps_inner && ci.in_channels / ci.groups >= 2) a.f.update().unroll(a.r.x, 2);
    }
  } else if (s > 1) {
    Var row("row");  // few channels and column phases: loops per row
    out.fuse(y, n, row);
    parallel_tasks(out, row, rows, macs / rows);
    // Each output sums dy's channels (64 for the RGB stem) over the phase's taps: in lanes
    // of those channels, read contiguously from dy and from the weight stored that way
    // (dx_reduction_lanes), added across lanes once per output. Scalar, the stem's dx at
    // batch 8 ran at 16 GFLOP/s (bench_conv conv2d_backward_input/stem_7x7s2_224x224x3).
    int64_t dy_per_group = ci.in_channels / ci.groups;
    int lanes = dx_reduction_lanes(CO, dy_per_group, ctx.target);
    // Two vectors of lanes and every channel of a column at once: independent sums, as an
    // FMA's result is ready only some cycles after it issues.
    int chunk = lanes && dy_per_group % (2 * lanes) == 0 ? 2 * lanes : lanes;
    for (Reduction a : accs) {
      a.f.compute_at(out, row);
      if (!lanes) continue;
      RVar rco("rco"), rci("rci");
      Var lane("lane");
      Func sums = a.f.update().split(a.r.x, rco, rci, chunk).rfactor(rci, lane);
      std::vector<Var> sv = sums.args();  // rfactor appends the lane: store it innermost
      std::rotate(sv.begin(), sv.end() - 1, sv.end());
      Var sc = sv[1];  // the output channel
      sums.reorder_storage(sv).compute_at(a.f, a.f.args()[1]).vectorize(lane, lanes);
      sums.update().reorder(lane, sc, rco, a.r.y, a.r.z).vectorize(lane, lanes).unroll(lane).unroll(sc);
    }
  } else {
    // Few output channels (e.g. LeNet's 6): vectorize across columns instead.
    int xv = pick_vec(W, natural);
    Var row("row");
    if (xv > 1) {
      out.split(x, xo, xi, xv).vectorize(xi).fuse(y, n, row);
      parallel_tasks(out, row, rows, macs / rows);
      conv.compute_at(out, xo).vectorize(x, xv);
      Var uo, ui;
      conv.update().split(x, uo, ui, xv, TailStrategy::GuardWithIf).vectorize(ui).reorder(ui, c, r.x, r.y, r.z);
    } else {
      out.fuse(y, n, row);
      parallel_tasks(out, row, rows, macs / rows);
      conv.compute_at(out, row);
    }
  }
  schedule_padded_input(ci, ctx, natural);
}

// A sibling's totals: one sequential pass over the per-tile sums, every channel of a tile
// innermost (a channel vector walking all tiles strided through them 32 times over: the
// conv + statistics pair, 1x1 56x56 64->256 at batch 8, where they are 9 MB, 4.9 -> 4.0 ms).
static void schedule_stats_totals(StatsOutput& st, int64_t channels) {
  Var ch = st.total.args()[0];
  st.total.compute_root();
  if (channels % 8 == 0) st.total.vectorize(ch, 8);
  Stage u = st.total.update();
  u.reorder(ch, st.r.x, st.r.y, st.r.z);
  if (channels % 8 == 0) u.vectorize(ch, 8);
}

static void schedule_cpu_kernel(Lowered& l, const LowerContext& ctx);

void schedule_cpu(Lowered& l, const LowerContext& ctx) {
  if (!l.stats) return schedule_cpu_kernel(l, ctx);
  StatsOutput& st = *l.stats;
  int64_t C = ctx.out.shape[1];
  if (st.fused) {
    schedule_cpu_kernel(l, ctx);
    schedule_stats_totals(st, C);
    return;
  }
  // Sums not inside the convolution's loops: the output is stored first, with its own
  // schedule, and read back by the per-tile sums (the small ResNet's Winograd layers at
  // batch 64 had stored it twice and read it twice: a scratch value, then its copy).
  int natural = ctx.target.natural_vector_size<float>();
  schedule_cpu_kernel(l, ctx);
  st.part.compute_root();
  const Shape& s = ctx.out.shape;
  schedule_pointwise(st.part, st.part.args(), {s[1], (s[3] + st.tile - 1) / st.tile, s[2], s[0]}, natural, {});
  schedule_stats_totals(st, C);
}

static void schedule_cpu_kernel(Lowered& l, const LowerContext& ctx) {
  int natural = ctx.target.natural_vector_size<float>();
  if (l.winograd) {
    schedule_winograd(l, ctx);
    schedule_roots(l, natural);
    return;
  }
  if (l.winograd_wgrad) {
    schedule_winograd_weight_grad(l, ctx);
    schedule_roots(l, natural);
    return;
  }
  if (l.conv && ctx.out.layout == channels_last()) {
    schedule_conv(l, ctx, natural);
    // The other roots (conv2d_backward_input's transposed weight, 8 MB for ResNet-50's
    // layer4 downsample; a fused epilogue's per-channel constants) are copies: vectorized
    // and parallel like any pointwise kernel.
    for (Root root : l.roots) {
      if (l.conv->padded && root.f.name() == l.conv->padded->name()) continue;
      root.f.compute_root();
      if (root.vectorize && !root.f.has_update_definition() && !root.f.args().empty())
        schedule_pointwise(root.f, root.f.args(), root.extents, natural, {});
    }
    return;
  }
  std::vector<int64_t> ext;
  for (size_t k = 0; k < ctx.out.vars.size(); ++k) ext.push_back(ctx.out.extent(static_cast<int>(k)));
  bool streamed = schedule_linear_gemm(l, ctx) || schedule_linear_stream(l, ctx) || schedule_matmul_dot(l, ctx) ||
                  schedule_matmul_tn(l, ctx);
  if (!streamed && (!l.wgrad || !schedule_weight_grad(l, ctx))) schedule_pointwise(l.out, ctx.out.vars, ext, natural, l.reductions);
  if (l.wgrad) {
    std::erase_if(l.roots, [&](const Root& r) { return r.f.name() == l.wgrad->tile.name(); });
  }
  schedule_roots(l, natural);
}

}  // namespace strata::halide_backend
