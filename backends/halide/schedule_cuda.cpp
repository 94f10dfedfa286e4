// CUDA schedules: the output's dimensions fused into one and tiled over GPU blocks of
// threads; each thread computes its reductions in registers; whole-kernel intermediates
// (padded inputs, per-channel constants) get their own GPU loops.
#include "backends/halide/lowering.h"

namespace strata::halide_backend {

using namespace Halide;

// Works on a Func (its pure definition) or on one of its update Stages.
template <typename F>
static Var gpu_tile_all(F f, const std::vector<Var>& vars, int threads) {
  Var t = vars[0];
  for (size_t k = 1; k < vars.size(); ++k) {
    Var fused;
    f.fuse(t, vars[k], fused);
    t = fused;
  }
  Var block, thread;
  f.gpu_tile(t, block, thread, threads, TailStrategy::GuardWithIf);
  return thread;
}

static void schedule_cuda_kernel(Lowered& l, const LowerContext& ctx);

// A sibling's batch statistics (StatsOutput): the output first, in its own GPU loops, then
// the per-tile sums reading it back and their totals, one thread per point or channel.
void schedule_cuda(Lowered& l, const LowerContext& ctx) {
  schedule_cuda_kernel(l, ctx);
  if (!l.stats) return;
  StatsOutput& st = *l.stats;
  st.part.compute_root();
  gpu_tile_all(st.part, st.part.args(), 128);
  st.total.compute_root();
  gpu_tile_all(st.total, st.total.args(), 128);
  gpu_tile_all(st.total.update(), st.total.args(), 128);
  gpu_tile_all(st.out, st.vars, 128);
}

static void schedule_cuda_kernel(Lowered& l, const LowerContext& ctx) {
  Var thread = gpu_tile_all(l.out, ctx.out.vars, 128);
  for (Reduction r : l.reductions) r.f.compute_at(l.out, thread);
  for (Root root : l.roots) {
    root.f.compute_root();
    std::vector<Var> args = root.f.args();
    if (args.empty()) {
      root.f.gpu_single_thread();
      for (int u = 0; u < root.f.num_update_definitions(); ++u) root.f.update(u).gpu_single_thread();
      continue;
    }
    Var root_thread = gpu_tile_all(root.f, args, 128);
    if (l.wgrad && root.f.name() == l.wgrad->tile.name()) l.wgrad->acc.compute_at(root.f, root_thread);
    // An explicit reduction: one thread per pure point, the reduction loop inside it.
    for (int u = 0; u < root.f.num_update_definitions(); ++u) gpu_tile_all(root.f.update(u), args, 128);
  }
}

}  // namespace strata::halide_backend
