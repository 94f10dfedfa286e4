#include "backends/halide/kernel_builder.h"

#include <fmt/format.h>

#include <mutex>
#include <set>

#include "backends/halide/host_cpu.h"
#include "ir/error.h"
#include "ir/fusion_group.h"
#include "ir/op_registry.h"

namespace strata::halide_backend {

using namespace Halide;

static std::map<std::string, Lowering>& lowering_table() {
  static std::map<std::string, Lowering> t = [] {
    std::map<std::string, Lowering> m;
    register_nn_lowerings(m);
    register_tensor_lowerings(m);
    register_activation_lowerings(m);
    register_gradient_lowerings(m);
    register_training_lowerings(m);
    return m;
  }();
  return t;
}

const Lowering* find_lowering(const std::string& op) {
  auto it = lowering_table().find(op);
  return it == lowering_table().end() ? nullptr : &it->second;
}

bool has_lowering(const std::string& op) { return find_lowering(op) != nullptr; }

Target parse_target(const std::string& s) {
  if (!Target::validate_target_string(s))
    throw Error(fmt::format("bad Halide target '{}' (examples: host, host-cuda, x86-64-linux-avx2)", s));
  return Target(s);
}

bool half_width_fma(const Options& o) {
  return o.half_width_fma.value_or(o.target.rfind("host", 0) == 0 && host_has_half_width_fma());
}

std::string compiled_target(const Options& o) {
  return parse_target(o.target).to_string() + (half_width_fma(o) ? " (half-width FMA)" : "");
}

static const std::map<std::string, std::string> kAutoschedulers = {
    {"Adams2019", "libautoschedule_adams2019.so"},
    {"Li2018", "libautoschedule_li2018.so"},
    {"Mullapudi2016", "libautoschedule_mullapudi2016.so"},
};

void check_options(const Options& o) {
  parse_target(o.target);
  if (o.schedule == "manual") return;
  if (o.schedule.rfind("auto:", 0) == 0 && kAutoschedulers.count(o.schedule.substr(5))) return;
  throw Error(fmt::format("bad schedule '{}' (expected manual, auto:Adams2019, auto:Li2018 or auto:Mullapudi2016)", o.schedule));
}

static void load_autoscheduler(const std::string& name) {
  static std::mutex mu;
  static std::set<std::string> loaded;
  std::lock_guard<std::mutex> lock(mu);
  if (loaded.count(name)) return;
  std::string path = std::string(STRATA_HALIDE_PLUGIN_DIR) + "/" + kAutoschedulers.at(name);
  try {
    load_plugin(path);
  } catch (const std::exception& e) {
    throw Error(fmt::format("cannot load the {} autoscheduler from {}: {}", name, path, e.what()));
  }
  loaded.insert(name);
}

// Static bounds and strides (dense unless given) for a buffer stored in `layout`. A Tuple's
// later output buffers take strides only: Halide gives them the first one's bounds.
template <typename Buf>
static void constrain(Buf&& b, const Shape& shape, const Layout& layout, const std::vector<int64_t>& strides = {},
                      bool bounds = true) {
  int stride = 1;
  std::vector<int64_t> ext = physical_extents(shape, layout);
  for (size_t k = 0; k < ext.size(); ++k) {
    int e = static_cast<int>(ext[k]);
    int s = strides.empty() ? stride : static_cast<int>(strides[k]);
    if (bounds) b.dim(static_cast<int>(k)).set_bounds(0, e).set_estimate(0, e);
    b.dim(static_cast<int>(k)).set_stride(s);
    stride *= e;
  }
}

static Lowered lower_node(const Lowering& lower, LowerContext& ctx) {
  try {
    return lower(ctx);
  } catch (const Halide::Error& e) {
    throw Error(fmt::format("halide backend: lowering node '{}' ({}) failed: {}", ctx.node.name(), ctx.node.op, e.what()));
  }
}

static const Lowering& lowering_of(const ir::Node& n) {
  const Lowering* lower = find_lowering(n.op);
  if (!lower) throw Error(fmt::format("halide backend: no lowering for op '{}' (node '{}')", n.op, n.name()));
  return *lower;
}

// A 1x1, stride-1, unpadded convolution (or the input gradient of one) treats every
// position alike, and a channels-last image's H rows of W positions are the same memory as
// H * W / W' rows of W'. Its kernel reads them as such rows where the register tile of
// positions (plan_conv_tile) fits W' better: ResNet-50's 7x7 layers computed 7 columns as
// two overlapping tiles of 6, or as tiles of 2 channel vectors by 7 (14 of 24
// accumulators), where a row of 49 takes 4 vectors by 6 columns with 5 of 54 wasted.
// Rows stay at most 256 wide (or W), so a big image keeps rows to share out. (The filter
// stays blocked by the tile for the output's own W, preferred_layout: blocked by the wider
// row's tile of 64 channels instead, the 7x7 1x1s with cold weights ran 0.53-0.55 ms
// rather than 0.48-0.51, bench_conv's conv2d_cold_weights.)
static int64_t conv_row_width(const ir::Node& conv, const Target& target) {
  const Shape& os = conv.outputs[0]->type.shape;
  int64_t C = os[1], H = os[2], W = os[3];
  if (target.has_gpu_feature() || (conv.op != "conv2d" && conv.op != "conv2d_backward_input") || H < 2) return W;
  const Shape& w = conv.inputs[1]->type.shape;
  ir::ConvGeometry g = ir::conv_geometry(conv);
  if (w.size() != 4 || w[2] != 1 || w[3] != 1 || g.stride != std::vector<int64_t>{1, 1} || g.pad != std::array<int64_t, 4>{})
    return W;
  auto score = [&](int64_t width) {
    ConvTile t = plan_conv_tile(C, width, target);
    return t.vec > 1 ? t.tile_w * t.tile_h * double(width) / double((width + t.tile_h - 1) / t.tile_h * t.tile_h) : 0.0;
  };
  double keep = score(W), best = keep;
  int64_t width = W;
  for (int64_t d = W + 1; d <= std::max<int64_t>(W, 256); ++d)
    if ((H * W) % d == 0 && score(d) > best + 1e-9) best = score(d), width = d;
  return best > 1.03 * keep ? width : W;
}

// The row width a group's kernel reads its positions in: conv_row_width of its anchor where
// every other member is elementwise (or a sibling) and every 4-d input covers the output's
// positions in channels-last; else 0 (the shapes as they are).
// Where the anchor's input 1 (a convolution's weight) sits among ir::group_inputs: after a
// prologue's inputs.
static size_t anchor_weight_input(const NodeGroup& group) {
  size_t ai = ir::anchor_index(group), before = 0;
  for (size_t k = 0; k < ai; ++k) before += group[k]->inputs.size() - (k > 0);  // (each but the first reads one before it)
  return before + 1;
}

static int64_t flat_width(const NodeGroup& group, const std::vector<Layout>& in_layouts, const Layout& out_layout,
                          const Target& target, const std::vector<int64_t>& out_strides) {
  size_t ai = ir::anchor_index(group);
  if (!out_strides.empty() || out_layout != channels_last()) return 0;
  const ir::Node& a = *group[ai];
  // (A convolution's input x computed by a prologue is read at its own positions; a prologue
  // an epilogue member reads is pointwise over the output's, as the member is.)
  if (ai >= 1 && a.inputs[0] == group[ai - 1]->outputs[0]) return 0;
  const Shape& os = a.outputs[0]->type.shape;
  int64_t width = conv_row_width(a, target);
  if (os.size() != 4 || width == os[3]) return 0;
  for (size_t k = ai + 1; k < group.size(); ++k)
    if (!ir::is_elementwise(*group[k]) && !ir::is_sibling(*group[k])) return 0;
  if (ai >= 1 && group[ai - 1]->outputs[0]->type.shape != os) return 0;
  // Every 4-d input but the weight covers the output's positions.
  auto inputs = ir::group_inputs(group);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Shape& s = inputs[i]->type.shape;
    if (i != anchor_weight_input(group) && s.size() == 4 &&
        (s[2] != os[2] || s[3] != os[3] || in_layouts[i] != channels_last()))
      return 0;
  }
  return width;
}

KernelShapes kernel_shapes(const NodeGroup& group, const std::vector<Layout>& in_layouts, const Layout& out_layout,
                           const Options& o, const std::vector<int64_t>& out_strides) {
  KernelShapes ks;
  for (const ir::Value* v : ir::group_inputs(group)) ks.inputs.push_back(v->type.shape);
  for (const ir::Value* v : ir::group_outputs(group)) ks.outputs.push_back(v->type.shape);
  if (in_layouts.size() != ks.inputs.size()) throw Error("kernel_shapes: one layout per input is needed");
  int64_t wf = flat_width(group, in_layouts, out_layout, parse_target(o.target), out_strides);
  if (wf == 0) return ks;
  const Shape os = ks.outputs[0];
  auto flat = [&](Shape& s) {
    if (s.size() == 4 && s[2] == os[2] && s[3] == os[3]) s = {s[0], s[1], os[2] * os[3] / wf, wf};
  };
  for (size_t i = 0; i < ks.inputs.size(); ++i)
    if (i != anchor_weight_input(group)) flat(ks.inputs[i]);
  flat(ks.outputs[0]);
  return ks;
}

// A sibling (ir/fusion_group.h, lowering.h's StatsOutput): the sibling's [2, C] becomes a
// second output, read from the first (or, where the convolution's schedule sums inside its
// own loops, `l.out` becomes a copy of the chained value), from sums per tile of `tile`
// columns of a row (columns an earlier, overlapping tile counted are left out: the
// schedule's last tile of a row shifts inwards), totalled per channel in double.
// batch_norm_stats: per tile, the sum and the squared deviations from the tile's first
// value, combined as Chan et al.'s parallel variance does (shifted by the first tile's
// mean), so no sum of squares of large values cancels. batch_norm_backward_weight (refs:
// x, running mean and variance, dy = the value, batch statistics): sum of dy * x_hat and
// of dy, rows 0 and 1.
static void add_sibling(Lowered& l, const LowerContext& ctx, const ir::Node& sib, const std::vector<TensorRef>& refs) {
  const Shape& s = ctx.out.shape;
  int64_t N = s[0], C = s[1], H = s[2], W = s[3];
  StatsOutput st;
  st.value = l.out;
  st.tile = conv_stats_tile(l, ctx);
  st.fused = st.tile > 0;
  if (st.fused) {
    l.out = Func("y");
    l.out(ctx.out.vars) = st.value(ctx.out.vars);
  } else {
    st.tile = static_cast<int>(std::min<int64_t>(8, W));
  }
  const int t = st.tile, w = static_cast<int>(W);
  TensorRef v{st.value, ctx.out.layout, s};
  // The output's own Vars (the fused schedule matches loops by name), channels-last meaning.
  Var c = ctx.out.vars[0], xt = ctx.out.vars[1], y = ctx.out.vars[2], n = ctx.out.vars[3];
  Expr base = min(xt * t, w - t);
  auto fresh = [&](int i) { return base + i >= xt * t; };
  RDom r(0, static_cast<int>((W + t - 1) / t), 0, static_cast<int>(H), 0, static_cast<int>(N), "sibling_r");
  st.r = r;
  Var ch("ch"), pc("pc"), prow("prow");
  st.vars = {pc, prow};
  st.part = Func("sibling_part");
  st.total = Func("sibling_total");
  st.out = Func("sibling_out");
  if (sib.op == "batch_norm_stats") {
    Expr first = v.at({n, c, y, base});
    Expr d_sum = 0.f, d_sq = 0.f;
    for (int i = 0; i < t; ++i) {
      Expr d = select(fresh(i), v.at({n, c, y, base + i}) - first, 0.f);
      d_sum += d;
      d_sq += d * d;
    }
    Expr count = cast<float>(min(t, w - xt * t));
    st.part(c, xt, y, n) = Tuple(d_sum + count * first, d_sq - d_sum * d_sum / count);
    // One pass over the tiles: sum, sum of M2_t, and sum of n_t (m_t - K)^2 with K the
    // first tile's mean (counted in full: t <= W).
    Expr total = Expr(static_cast<double>(N * H * W));
    Expr shift = cast<double>(st.part(ch, 0, 0, 0)[0]) / cast<double>(t);
    Expr tile_count = cast<double>(min(t, w - r.x * t));
    Expr tile_sum = cast<double>(st.part(ch, r.x, r.y, r.z)[0]);
    Expr dev = tile_sum / tile_count - shift;
    st.total(ch) = Tuple(Expr(0.0), Expr(0.0), Expr(0.0));
    st.total(ch) = Tuple(st.total(ch)[0] + tile_sum, st.total(ch)[1] + cast<double>(st.part(ch, r.x, r.y, r.z)[1]),
                         st.total(ch)[2] + tile_count * dev * dev);
    Expr mean = st.total(pc)[0] / total, mean_dev = mean - Expr(cast<double>(st.part(pc, 0, 0, 0)[0]) / cast<double>(t));
    Expr m2 = st.total(pc)[1] + st.total(pc)[2] - total * mean_dev * mean_dev;
    st.out(pc, prow) = cast<float>(select(prow == 0, mean, max(m2, Expr(0.0)) / total));
  } else {
    const TensorRef &x = refs.at(0), &stats = refs.at(4);
    Func inv_std("sibling_inv_std");
    inv_std(ch) = 1.f / sqrt(stats.at({1, ch}) + static_cast<float>(sib.attr_float("eps")));
    l.roots.push_back({inv_std, {C}});
    Expr mean = stats.at({0, c});
    Expr dy_xc = 0.f, dy_sum = 0.f;
    for (int i = 0; i < t; ++i) {
      Expr dy = select(fresh(i), v.at({n, c, y, base + i}), 0.f);
      dy_xc += dy * (x.at({n, c, y, base + i}) - mean);
      dy_sum += dy;
    }
    st.part(c, xt, y, n) = Tuple(dy_xc * inv_std(c), dy_sum);
    st.total(ch) = Tuple(Expr(0.0), Expr(0.0));
    st.total(ch) = Tuple(st.total(ch)[0] + cast<double>(st.part(ch, r.x, r.y, r.z)[0]),
                         st.total(ch)[1] + cast<double>(st.part(ch, r.x, r.y, r.z)[1]));
    st.out(pc, prow) = cast<float>(select(prow == 0, st.total(pc)[0], st.total(pc)[1]));
  }
  l.stats = st;
}

// A fusion group (one node, or an anchor with an elementwise prologue and epilogue,
// ir/fusion_group.h) becomes one pipeline: each member's output Func reads the previous
// member's in place of a buffer, so only the last one is stored, and the anchor's schedule
// (a convolution's register tiles, say) applies to the last Func with the epilogue
// computed per tile and the prologue inlined into the anchor's loads.
BuiltPipeline build_pipeline(const NodeGroup& group, const std::vector<Layout>& in_layouts, const Layout& out_layout,
                             const Options& o, const std::vector<int64_t>& out_strides) {
  check_options(o);
  if (out_layout.winograd) {
    // The static kernel computing a conv weight's Winograd form (runtime/executable.cpp).
    if (group.size() != 1 || group[0]->op != "identity" || in_layouts.size() != 1)
      throw Error("build_pipeline: only a weight's copy is written in a Winograd layout");
    const Shape& s = group[0]->inputs[0]->type.shape;
    ImageParam p(Float(32), in_layouts[0].physical_rank(), "in0");
    constrain(p, s, in_layouts[0]);
    Func u = winograd_weight(TensorRef{Func(p), in_layouts[0], s}, out_layout.block, out_layout.winograd,
                             out_layout.transposed);
    constrain(u.output_buffer(), s, out_layout);
    BuiltPipeline b{Pipeline(u), {p}, parse_target(o.target)};
    return b;
  }
  size_t ai = ir::anchor_index(group);
  // A sibling is no link of the chain: it adds a second output (ir/fusion_group.h), a
  // per-channel reduction's [2, C] or a pointwise one's tensor beside the chain's.
  bool sibling = group.size() >= 2 && ir::is_sibling(*group.back());
  bool pointwise_sibling = sibling && ir::is_pointwise_sibling_op(*group.back());
  size_t end = sibling ? group.size() - 1 : group.size();
  // The chain's last Func is the output, or with a pointwise sibling the Tuple's first value.
  const char* last_name = pointwise_sibling ? "chain_out" : "out";
  const ir::Node& anchor = *group[ai];
  std::vector<const ir::Value*> inputs = ir::group_inputs(group);
  if (in_layouts.size() != inputs.size()) throw Error("build_pipeline: one layout per input is needed");
  Target target = parse_target(o.target);
  KernelShapes ks = kernel_shapes(group, in_layouts, out_layout, o, out_strides);
  const Shape& os = ks.outputs[0];
  if (out_layout.size() != os.size()) throw Error("build_pipeline: output layout rank mismatch");

  std::vector<ImageParam> params;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Shape& s = ks.inputs[i];
    if (in_layouts[i].size() != s.size()) throw Error("build_pipeline: input layout rank mismatch");
    ImageParam p(Float(32), in_layouts[i].physical_rank(), fmt::format("in{}", i));
    constrain(p, s, in_layouts[i]);
    params.push_back(p);
  }
  OutRef out;
  for (int k = 0; k < out_layout.physical_rank(); ++k) out.vars.push_back(Var(fmt::format("d{}", k)));
  out.layout = out_layout;
  out.shape = os;

  size_t next = 0;  // next external input
  auto external = [&](std::vector<TensorRef>& refs, std::vector<ImageParam>& ps, const ir::Value* v) {
    if (v != inputs.at(next)) throw Error("build_pipeline: a member's inputs out of group_inputs order");
    refs.push_back(TensorRef{Func(params[next]), in_layouts[next], ks.inputs[next]});
    ps.push_back(params[next++]);
  };
  std::vector<TensorRef> refs;
  std::vector<ImageParam> ps;
  std::vector<Root> prologue_roots;
  std::optional<Func> prologue;
  std::optional<TensorRef> member_prologue;  // read by an epilogue member instead of the anchor
  if (ai >= 1) {  // the prologues: Funcs the anchor (or a later member) reads, computed where they are read
    const ir::Node& last = *group[ai - 1];
    // (A prologue an epilogue member reads, shaped like the output, is flattened with it.)
    bool like_output = anchor.inputs[0] != last.outputs[0] && last.outputs[0]->type.shape == anchor.outputs[0]->type.shape;
    const Shape ps_shape = like_output ? os : last.outputs[0]->type.shape;
    OutRef pout;
    for (size_t k = 0; k < ps_shape.size(); ++k) pout.vars.push_back(Var(fmt::format("p{}", k)));
    pout.layout = default_layout(static_cast<int>(ps_shape.size()));
    pout.shape = ps_shape;
    std::optional<Func> prev;  // the chain's previous prologue
    for (size_t k = 0; k < ai; ++k) {
      const ir::Node& p = *group[k];
      std::vector<TensorRef> prefs;
      std::vector<ImageParam> pps;
      for (const ir::Value* v : p.inputs) {
        if (k > 0 && v == group[k - 1]->outputs[0]) {
          prefs.push_back(TensorRef{*prev, pout.layout, ps_shape});
          pps.emplace_back();
        } else {
          external(prefs, pps, v);
        }
      }
      LowerContext pctx{p, prefs, pps, pout, target, k + 1 == ai ? "prologue" : fmt::format("prologue{}", k)};
      Lowered pl = lower_node(lowering_of(p), pctx);
      prologue_roots.insert(prologue_roots.end(), pl.roots.begin(), pl.roots.end());
      prev = pl.out;
    }
    if (anchor.inputs[0] == last.outputs[0]) {  // the anchor's input x
      prologue = prev;
      refs.push_back(TensorRef{*prev, pout.layout, ps_shape});
      ps.emplace_back();
      for (size_t i = 1; i < anchor.inputs.size(); ++i) external(refs, ps, anchor.inputs[i]);
    } else {  // inlined into the member that reads it
      member_prologue = TensorRef{*prev, pout.layout, ps_shape};
      for (const ir::Value* v : anchor.inputs) external(refs, ps, v);
    }
  } else {
    for (const ir::Value* v : anchor.inputs) external(refs, ps, v);
  }
  LowerContext ctx{anchor, refs, ps, out, target, end == ai + 1 ? last_name : "anchor"};
  ctx.winograd = winograd_weight_grad_plan(anchor, o);
  Lowered l = lower_node(lowering_of(anchor), ctx);
  l.roots.insert(l.roots.end(), prologue_roots.begin(), prologue_roots.end());
  l.prologue = prologue;
  for (size_t k = ai + 1; k < end; ++k) {
    const ir::Node& n = *group[k];
    int chained = ir::chained_input(group, k);
    std::vector<TensorRef> mrefs;
    std::vector<ImageParam> mps;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (member_prologue && n.inputs[i] == group[ai - 1]->outputs[0]) {
        mrefs.push_back(*member_prologue);
        mps.emplace_back();
        continue;
      }
      if (static_cast<int>(i) != chained) {
        external(mrefs, mps, n.inputs[i]);
        l.full_size_epilogue_inputs += n.inputs[i]->type.numel() == num_elements(os);
        continue;
      }
      mrefs.push_back(TensorRef{l.out, out_layout, os});
      mps.emplace_back();
    }
    LowerContext mctx{n, mrefs, mps, out, target, k + 1 == end ? last_name : fmt::format("epilogue{}", k)};
    Lowered m = lower_node(lowering_of(n), mctx);
    l.out = m.out;
    l.reductions.insert(l.reductions.end(), m.reductions.begin(), m.reductions.end());
    l.roots.insert(l.roots.end(), m.roots.begin(), m.roots.end());
  }
  if (sibling) {
    const ir::Node& sib = *group.back();
    if (!ir::sibling_fits(anchor, *group[end - 1], sib) || (!pointwise_sibling && os.size() != 4))
      throw Error(fmt::format("halide backend: '{}' ({}) cannot be a second output after '{}' (group of '{}')", sib.name(),
                              sib.op, group[end - 1]->name(), anchor.name()));
    std::vector<TensorRef> srefs;
    std::vector<ImageParam> sps;
    for (size_t i = 0; i < sib.inputs.size(); ++i) {
      if (static_cast<int>(i) != ir::sibling_input(sib)) {
        external(srefs, sps, sib.inputs[i]);
        continue;
      }
      srefs.push_back(TensorRef{l.out, out_layout, os});
      sps.emplace_back();
    }
    if (pointwise_sibling) {
      // Both values from one Func, so the anchor's schedule computes them in the same loops.
      LowerContext sctx{sib, srefs, sps, out, target, "sibling_out"};
      Lowered second = lower_node(lowering_of(sib), sctx);
      l.reductions.insert(l.reductions.end(), second.reductions.begin(), second.reductions.end());
      l.roots.insert(l.roots.end(), second.roots.begin(), second.roots.end());
      Func both("out");
      both(out.vars) = Tuple(l.out(out.vars), second.out(out.vars));
      l.out = both;
    } else {
      add_sibling(l, ctx, sib, srefs);
    }
  }
  std::vector<OutputImageParam> obs = l.out.output_buffers();
  for (size_t i = 0; i < obs.size(); ++i) constrain(obs[i], os, out_layout, i == 0 ? out_strides : std::vector<int64_t>{}, i == 0);
  Pipeline p(l.out);
  if (l.stats) {
    constrain(l.stats->out.output_buffer(), ks.outputs.at(1), row_major(2));
    p = Pipeline({l.out, l.stats->out});
  }
  if (o.schedule == "manual") {
    if (target.has_gpu_feature()) schedule_cuda(l, ctx);
    else schedule_cpu(l, ctx);
  } else {
    std::string name = o.schedule.substr(5);
    load_autoscheduler(name);
    // Two cores, a 32 MiB last-level cache, and the default load/compute balance.
    p.auto_schedule(name, target, MachineParams(2, 32 * 1024 * 1024, 40));
  }
  BuiltPipeline b{p, {}, target};
  for (auto& prm : params) b.args.push_back(prm);
  return b;
}

}  // namespace strata::halide_backend
