#pragma once
// Internal to the Halide backend: how an op becomes Halide Funcs (DESIGN.md fact 4), and
// the structures the schedules work on.
#include <Halide.h>

#include <functional>
#include <map>
#include <optional>

#include "backends/halide/halide_backend.h"

namespace strata::halide_backend {

// A tensor as Halide sees it: a Func in physical order, read with logical indices.
struct TensorRef {
  Halide::Func f;
  Layout layout;
  Shape shape;  // logical
  Halide::Expr at(const std::vector<Halide::Expr>& logical) const;
  // at(), the index along `axis` being outer * size + inner (0 <= inner < size; logical[axis]
  // is replaced): stored blocked along that axis by a multiple of size, inner stays a dense
  // run of the physical index (at() takes the sum's quotient and remainder by the block,
  // which hides that from Halide: a vector over inner became a gather).
  Halide::Expr at_split(std::vector<Halide::Expr> logical, int axis, Halide::Expr outer, Halide::Expr inner,
                        int size) const;
  int rank() const { return static_cast<int>(shape.size()); }
};

// The output being defined: Vars in physical order and their logical meaning.
struct OutRef {
  std::vector<Halide::Var> vars;  // physical (Halide) order
  Layout layout;
  Shape shape;  // logical
  std::vector<Halide::Expr> logical() const;  // logical[layout[k]] = vars[k]
  int64_t extent(int k) const;  // of physical dimension k
};

// An intermediate computed once for the whole kernel (padded inputs, per-channel
// batch-norm scale and batch statistics); extents in its own physical order. A root may
// have update definitions (explicit reductions): schedules vectorize them over the first
// pure var and keep the reduction loops outside the vector.
struct Root {
  Halide::Func f;
  std::vector<int64_t> extents;
  bool vectorize = true;  // false for roots defined by inline reductions
  // Partial sums per chunk of positions, f(ch, chunk): each chunk a parallel task that walks
  // its positions once with every channel vector innermost (see channel_sums).
  bool chunked = false;
};

// A reduction with the same pure vars as the output, computed inside the output's loops.
struct Reduction {
  Halide::Func f;
  Halide::RDom r;
};

// Convolution details the fast schedule needs.
struct ConvInfo {
  Halide::Func conv;  // accumulator: same vars as out
  Halide::RDom r;     // (ci within group, kx, ky)
  Halide::ImageParam filter;
  std::optional<Halide::Func> padded;  // zero-padded input, when padding > 0
  int64_t groups = 1, in_channels = 1, out_channels = 1;
  // A strided convolution's input gradient on the CPU: one accumulator per column phase
  // (the output's columns ix with ix mod column_stride = p, indexed by ix / column_stride),
  // each with its own reduction; `conv` and `r` are the first of them.
  int64_t column_stride = 1;
  std::vector<Reduction> phases;
};

// Channel extent to store conv2d_backward_input's transposed weight copy with so that its
// channel stride is not a multiple of 1 KiB: tiles of a layer with 256 or 512 channels
// otherwise map every weight line they stream to a few cache sets (the forward 3x3 at 256
// channels ran at 36% of the FMA peak, at 192 or 320 channels at 72-79%, before its weight
// was blocked). Returns `channels` unchanged where that does not apply.
int64_t unaliased_channels(int64_t channels, int64_t weight_elements, const Halide::Target& t);
// The rule itself: `channels` + 16 (one cache line more per row) where a row of that many
// floats is a multiple of 1 KiB, else `channels`. Also the forward convolution's padded
// input copy (see schedule_conv).
int64_t unaliased_extent(int64_t channels);

// conv2d_backward_weight's result tile(co, ci, kx, ky) (a root), the accumulator it reads
// and what their schedules need.
struct WeightGradInfo {
  Halide::Func tile, acc;
  Halide::RDom r;  // (ox, oy, n)
  Halide::Var co, ci, kx, ky;
  int64_t out_channels = 1, in_channels_per_group = 1, groups = 1;
  std::optional<Halide::Func> padded;  // zero-padded input, when padding > 0
  // x_packed(cii, ix, iy, n, cib) = x[n, cib * t + cii, iy, ix]: the input in blocks of the
  // register tile's t input channels (over output positions for a 1x1 kernel); inline
  // unless the CPU schedule computes it.
  Halide::Func packed;
  Shape input, grad_output, weight;  // x's, dy's and dw's logical shapes
  int64_t stride_h = 1, stride_w = 1;
};

// A sibling (ir/fusion_group.h: batch_norm_stats, or batch_norm_backward_weight's two sums):
// the group's second output `out`, [2, C] stored (channel, row), reduced from `value` (the
// chained output). `part` holds per-tile sums over `tile` columns of one row, `total` their
// per-channel totals in double (reduction domain `r`). `fused`: the CPU convolution
// schedule computes part inside its own loops (compute_with), from the register tile, and
// the first output is a copy of value; else value is the first output, and part reads it
// back once it is stored.
struct StatsOutput {
  Halide::Func value, part, total, out;
  Halide::RDom r;  // total's: (tile, row, image)
  std::vector<Halide::Var> vars;  // out's (channel, row)
  int tile = 1;
  bool fused = false;
};

// A Winograd F(m x m, 3x3) convolution's stages (winograd.cpp): the transformed input
// V(ci, t, e, n), the GEMMs' accumulator and result M(co, t, e, cb, n) over its reduction r
// (input channels); tiles of m x m outputs, tiles_w per row.
struct WinogradInfo {
  Halide::Func input, acc, gemm;
  Halide::RDom r;
  int block = 16, tiles = 1, tiles_w = 1;
  int m = 2;  // F(m x m, 3x3): 2 or 4
};

// conv2d_backward_weight as Winograd (winograd.cpp): the transformed input V(ci, q, e) and
// gradient Z(co, q, e) of tile q of the batch (q = image * tiles + tile), the GEMMs'
// register accumulator acc(co, ci, e, k) summing chunk k's plan.chunk tiles over ri, and
// M(co, ci, e). One chunk: every tile transformed first, M = acc. Else part(co, ci, e, g)
// sums chunks g, g + groups, ... over rc, each chunk transformed as it is summed, and M
// adds the groups' parts.
struct WinogradGradInfo {
  Halide::Func input, grad, acc, part, gemm;
  Halide::RDom ri, rc;
  WinogradGradPlan plan;
};

struct Lowered {
  Halide::Func out;
  std::optional<StatsOutput> stats;
  // A fusion group's prologue (the anchor's input x, computed from its own inputs): the
  // schedule decides where it is computed (per convolution task, or inside a padded copy).
  std::optional<Halide::Func> prologue;
  std::vector<Reduction> reductions;
  std::vector<Root> roots;
  std::optional<ConvInfo> conv;
  std::optional<WeightGradInfo> wgrad;
  std::optional<WinogradInfo> winograd;
  std::optional<WinogradGradInfo> winograd_wgrad;
  // Inputs of the fused epilogue with as many elements as the output (a residual, the
  // momentum and the weight an optimizer update reads): streams a schedule's order of
  // writes should keep few.
  int full_size_epilogue_inputs = 0;
};

struct LowerContext {
  const ir::Node& node;
  std::vector<TensorRef> in;
  std::vector<Halide::ImageParam> params;  // undefined for an input chained from a fusion-group member
  OutRef out;
  Halide::Target target;
  std::string out_name = "out";  // the output Func's name (unique within a fused group)
  WinogradGradPlan winograd;  // conv2d_backward_weight: as Winograd where m > 0 (winograd_weight_grad_plan)
};

using Lowering = std::function<Lowered(LowerContext&)>;
const Lowering* find_lowering(const std::string& op);

void register_nn_lowerings(std::map<std::string, Lowering>& t);
void register_tensor_lowerings(std::map<std::string, Lowering>& t);
void register_activation_lowerings(std::map<std::string, Lowering>& t);
void register_gradient_lowerings(std::map<std::string, Lowering>& t);
void register_training_lowerings(std::map<std::string, Lowering>& t);

// Helpers shared by the lowerings (lower_common.cpp).
// Input `i` padded with `value` outside its bounds, as a TensorRef. read_in_place: the
// schedule reads it inline, in the kernel's loops, not as a copy (depthwise convolutions).
TensorRef padded_input(LowerContext& c, int i, float value, const char* name, bool read_in_place = false);
// out = e at every output point (elementwise ops, data movement).
Lowered pointwise_output(LowerContext& c, Halide::Expr e);
// Whether float x is a NaN, tested on its bits: Halide compiles float math with LLVM's
// no-NaNs flag, under which a float comparison (and Halide's is_nan inside a reduction)
// may be folded to false.
Halide::Expr is_nan_bits(Halide::Expr x);
// value, or x where x is a NaN: the NaN a PyTorch op carries, where Halide's max, min and
// clamp return the other operand and its exp and log of a NaN are numbers.
Halide::Expr keep_nan(Halide::Expr x, Halide::Expr value);
// exp(v - m) as a term of softmax's denominator, or v where v is a NaN, so that the sum
// (and the row) is NaN.
Halide::Expr softmax_term(Halide::Expr v, Halide::Expr m);
// out = finish(init + sum over r of term), the reduction computed inside the output's loops.
Lowered sum_reduction(LowerContext& c, const char* name, const Halide::RDom& r, Halide::Expr init, Halide::Expr term,
                      const std::function<Halide::Expr(Halide::Expr)>& finish = nullptr);
// f(ch) = sum over every axis but 1 of term(logical index) for a tensor of `shape`
// (rank 2 or 4), one sum per value term returns (a Tuple for two): the per-channel sums of
// batch norm. Its roots are appended to l; returns f.
Halide::Func channel_sums(const char* name, const Shape& shape,
                          const std::function<std::vector<Halide::Expr>(std::vector<Halide::Expr>)>& term, Lowered& l);
// Batch norm's batch mean and biased variance of input `i` (its roots appended to l), or
// read from input `stats_input` (batch_norm_stats's [2, C]) when the node has it.
std::pair<Halide::Func, Halide::Func> batch_statistics(LowerContext& c, int i, Lowered& l, int stats_input = -1);
// An RDom over the axes of `shape` marked in `reduced` (the last axis innermost) and, per
// axis, the RDom variable reading it (undefined for axes not reduced).
std::pair<Halide::RDom, std::vector<Halide::Expr>> reduction_domain(const Shape& shape, const std::vector<bool>& reduced);
// The output's vars except the one of a logical axis: Funcs of them hold reductions along
// that axis (softmax's max and sums). A rank-1 output leaves none (a Func of no vars).
struct OtherAxes {
  std::vector<Halide::Var> vars;
  std::vector<int64_t> extents;
  void define(Halide::Func f, Halide::Expr value) const;  // f(vars) = value
  Halide::Expr call(Halide::Func f) const;                 // f(vars)
};
OtherAxes other_axes(const LowerContext& c, int axis);
// Row-major flat index of a logical index into `shape`.
Halide::Expr flat_index(const Shape& shape, const std::vector<Halide::Expr>& logical);

// Elementwise expression of an activation op applied to `x` (used by the activation
// lowerings and, later, by fused epilogues).
Halide::Expr activation_expr(const ir::Node& n, Halide::Expr x);
// f'(x) of the activation activation_grad names (its attributes read from the node).
Halide::Expr activation_derivative(const ir::Node& n, Halide::Expr x);

// A register tile may hold at most `max_acc` accumulator vectors, `max_w` of them across
// the vectorized dimension (schedule_cpu.cpp: the convolutions' budget, also the linear
// layers' GEMM tile).
struct AccumulatorBudget {
  int max_acc, max_w;
};
AccumulatorBudget accumulator_budget(const Halide::Target& t, int vec);

// The CPU convolution schedule's register tile: `tile_w` vectors of `vec` output channels
// by `tile_h` output columns (vec == 1: too few channels to vectorize over them).
struct ConvTile {
  int vec = 1, tile_w = 1, tile_h = 1;
};
ConvTile plan_conv_tile(int64_t out_channels, int64_t out_width, const Halide::Target& t);
// Widest power-of-two vector not wider than the extent (ShiftInwards needs extent >= width),
// 1 below 4 lanes.
int pick_vec(int64_t extent, int natural);
// The block of channels to store a filter in for that tile on a CPU target (a tile's whole
// filter one contiguous run): vec * tile_w when it divides the channels and is smaller,
// else 0 (no block; also on GPU targets).
int conv_channel_block(int64_t channels, int64_t out_width, const Halide::Target& t);
// Whether the CPU convolution schedule sums a filter's taps innermost (a filter over 1 MiB,
// streamed from memory) rather than its input channels; preferred_layout stores a filter
// in the order its tiles read it.
bool conv_taps_innermost(const Shape& weight);
// A strided convolution's input gradient with column phases and too few channels for
// vectors (the RGB stem's dx: 3): lanes over the channels it sums (dy's, per group) instead,
// or 0 where those do not divide into them (or on GPU targets). Its transposed weight is
// then stored those channels innermost.
int dx_reduction_lanes(int64_t dx_channels, int64_t dy_channels_per_group, const Halide::Target& t);

// f.parallel(v) over `extent` iterations of about `work` multiply-adds (or elements copied)
// each, consecutive iterations grouped into tasks big enough that Halide's thread pool,
// which hands them out under one mutex, is not the bottleneck (schedule_cpu.cpp). The inner
// loop keeps v's name: what is computed at v stays per iteration.
void parallel_tasks(Halide::Func f, Halide::Var v, int64_t extent, double work);

// The CPU weight-gradient schedule's register tile: `cw` vectors of `vec` output channels
// by `t` input channels (by a row of taps where `taps`); vec < 4: plain loops.
struct WeightGradTile {
  int vec = 1, cw = 1, t = 1;
  bool taps = false;
};
WeightGradTile plan_weight_grad_tile(int64_t out_channels, int64_t in_channels_per_group, int64_t kernel_w,
                                     const Halide::Target& t);
// The CPU schedule of a conv2d_backward_weight kernel (schedule_cpu_wgrad.cpp). Returns true
// when it also scheduled the kernel's output (the weight gradient in its blocked layout, or
// a fused optimizer update reading it): computed per task, from the task's accumulators.
bool schedule_weight_grad(Lowered& l, const LowerContext& ctx);
// A linear layer over up to 64 rows with a weight past L2, and the product of a few rows by
// such a weight stored with the reduction innermost (the input gradient): schedules that
// stream the weight once, in order (schedule_cpu_linear.cpp); false where they do not apply.
bool schedule_linear_stream(Lowered& l, const LowerContext& ctx);
// A linear layer over more rows (9 and up): register tiles of features by rows, the weight
// streamed by chunks of its rows (up to 64 rows, a weight past L2) or by blocks of
// features (schedule_cpu_linear.cpp); false where it does not apply.
bool schedule_linear_gemm(Lowered& l, const LowerContext& ctx);
// A linear layer's weight gradient, dy^T x, in the same register tiles (schedule_cpu_linear.cpp).
bool schedule_matmul_tn(Lowered& l, const LowerContext& ctx);
bool schedule_matmul_dot(Lowered& l, const LowerContext& ctx);

// The CPU convolution schedule's column tile (its split of the output's x) where a sibling's
// batch statistics can be summed inside its loops, else 0.
int conv_stats_tile(const Lowered& l, const LowerContext& ctx);

// conv2d (or conv2d_backward_input, transposed) with its weight in the Winograd layout
// (winograd_weight_layout), its CPU schedule, and the static kernel computing that weight:
// U(coi, ci, e, cob) from w (transposed: from w's flipped [ci, co] taps), scheduled.
Lowered winograd_conv2d(LowerContext& c);
void schedule_winograd(Lowered& l, const LowerContext& ctx);
Halide::Func winograd_weight(const TensorRef& w, int block, int m, bool transposed);
// conv2d_backward_weight as Winograd by the plan c.winograd, and its CPU schedule
// (all but the output, which reads M as a pointwise kernel).
Lowered winograd_conv2d_backward_weight(LowerContext& c);
void schedule_winograd_weight_grad(Lowered& l, const LowerContext& ctx);

void schedule_cpu(Lowered& l, const LowerContext& ctx);
void schedule_cuda(Lowered& l, const LowerContext& ctx);

}  // namespace strata::halide_backend
