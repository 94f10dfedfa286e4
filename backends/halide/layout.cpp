#include <fmt/format.h>

#include "backends/halide/lowering.h"
#include "ir/error.h"

namespace strata::halide_backend {

Layout row_major(int rank) {
  Layout l(rank);
  for (int k = 0; k < rank; ++k) l[k] = rank - 1 - k;
  return l;
}

Layout channels_last() { return {1, 3, 2, 0}; }

Layout default_layout(int rank) { return rank == 4 ? channels_last() : row_major(rank); }

bool has_layout_preference(const ir::Node& n, int i) {
  return (n.op == "conv2d" || n.op == "linear") && i == 1;
}

Layout preferred_layout(const ir::Node& n, int i) {
  // Weights with the output channel innermost: the conv and linear schedules vectorize
  // over output channels, so each filter tap is one dense vector load.
  if (n.op == "conv2d" && i == 1) return {0, 3, 2, 1};
  if (n.op == "linear" && i == 1) return {0, 1};
  return default_layout(n.inputs.at(i)->type.rank());
}

std::string layout_str(const Layout& l) { return fmt::format("{}", fmt::join(l, "")); }

// Strides (in elements) of each logical axis when stored in `layout`.
static std::vector<int64_t> logical_strides(const Shape& s, const Layout& layout) {
  std::vector<int64_t> st(s.size());
  int64_t stride = 1;
  for (size_t k = 0; k < layout.size(); ++k) {
    st[layout[k]] = stride;
    stride *= s[layout[k]];
  }
  return st;
}

template <typename F>
static void for_each_index(const Shape& s, const Layout& layout, F f) {
  auto st = logical_strides(s, layout);
  std::vector<int64_t> idx(s.size(), 0);
  int64_t n = num_elements(s);
  for (int64_t flat = 0; flat < n; ++flat) {
    int64_t phys = 0;
    for (size_t d = 0; d < s.size(); ++d) phys += idx[d] * st[d];
    f(flat, phys);
    for (int d = static_cast<int>(s.size()) - 1; d >= 0; --d) {
      if (++idx[d] < s[d]) break;
      idx[d] = 0;
    }
  }
}

void to_layout(const HostTensor& src, const Layout& layout, float* dst) {
  if (layout.size() != src.shape.size()) throw Error("to_layout: rank mismatch");
  for_each_index(src.shape, layout, [&](int64_t flat, int64_t phys) { dst[phys] = src.data[flat]; });
}

void from_layout(const float* src, const Layout& layout, HostTensor& dst) {
  if (layout.size() != dst.shape.size()) throw Error("from_layout: rank mismatch");
  for_each_index(dst.shape, layout, [&](int64_t flat, int64_t phys) { dst.data[flat] = src[phys]; });
}

Halide::Expr TensorRef::at(const std::vector<Halide::Expr>& logical) const {
  std::vector<Halide::Expr> args(layout.size());
  for (size_t k = 0; k < layout.size(); ++k) args[k] = logical.at(layout[k]);
  return f(args);
}

std::vector<Halide::Expr> OutRef::logical() const {
  std::vector<Halide::Expr> l(layout.size());
  for (size_t k = 0; k < layout.size(); ++k) l[layout[k]] = vars[k];
  return l;
}

}  // namespace strata::halide_backend
