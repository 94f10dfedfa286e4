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
  int rank() const { return static_cast<int>(shape.size()); }
};

// The output being defined: Vars in physical order and their logical meaning.
struct OutRef {
  std::vector<Halide::Var> vars;  // physical (Halide) order
  Layout layout;
  Shape shape;  // logical
  std::vector<Halide::Expr> logical() const;  // logical[layout[k]] = vars[k]
  int64_t extent(int k) const { return shape[layout[k]]; }
};

// An intermediate computed once for the whole kernel (padded inputs, per-channel
// batch-norm scale); extents in its own physical order.
struct Root {
  Halide::Func f;
  std::vector<int64_t> extents;
  bool vectorize = true;  // false for roots defined by inline reductions
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
  bool filter_packed = false;  // filter in {0, 3, 2, 1}: output channel innermost
};

struct Lowered {
  Halide::Func out;
  std::vector<Reduction> reductions;
  std::vector<Root> roots;
  std::optional<ConvInfo> conv;
};

struct LowerContext {
  const ir::Node& node;
  std::vector<TensorRef> in;
  std::vector<Halide::ImageParam> params;
  OutRef out;
  Halide::Target target;
};

using Lowering = std::function<Lowered(LowerContext&)>;
const Lowering* find_lowering(const std::string& op);

void register_nn_lowerings(std::map<std::string, Lowering>& t);
void register_tensor_lowerings(std::map<std::string, Lowering>& t);
void register_activation_lowerings(std::map<std::string, Lowering>& t);

// Elementwise expression of an activation op applied to `x` (used by the activation
// lowerings and, later, by fused epilogues).
Halide::Expr activation_expr(const ir::Node& n, Halide::Expr x);

void schedule_cpu(Lowered& l, const LowerContext& ctx);
void schedule_cuda(Lowered& l, const LowerContext& ctx);

}  // namespace strata::halide_backend
