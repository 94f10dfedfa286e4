#include <fmt/format.h>

#include <algorithm>

#include "backends/halide/kernel_builder.h"
#include "backends/halide/lowering.h"
#include "ir/error.h"
#include "ir/op_registry.h"

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

Layout blocked(Layout l, int block) {
  l.block = block;
  return l;
}

std::vector<int64_t> physical_extents(const Shape& s, const Layout& layout) {
  if (layout.winograd) {
    // (Transposed: the weight's input channels are the blocked ones, as dx's channels.)
    bool weight = s.size() == 4 && s[2] == 3 && s[3] == 3;
    int64_t blocked = !weight ? 0 : layout.transposed ? s[1] : s[0], other = !weight ? 0 : layout.transposed ? s[0] : s[1];
    if (!weight || layout.block <= 0 || blocked % layout.block)
      throw Error(fmt::format("layout {} holds a 3x3 conv weight whose {} channels it divides, not {}", layout_str(layout),
                              layout.transposed ? "input" : "output", shape_str(s)));
    return {layout.block, other, (layout.winograd + 2) * (layout.winograd + 2), blocked / layout.block};
  }
  if (layout.size() != s.size())
    throw Error(fmt::format("layout {} does not fit a tensor of rank {}", layout_str(layout), s.size()));
  std::vector<int64_t> e;
  for (int a : layout) e.push_back(s[a]);
  if (layout.block > 0) {
    if (s[layout[0]] % layout.block)
      throw Error(fmt::format("layout {}: block {} does not divide axis {} of extent {}", layout_str(layout), layout.block,
                              layout[0], s[layout[0]]));
    e[0] = layout.block;
    e.push_back(s[layout[0]] / layout.block);
  }
  return e;
}

int64_t physical_elements(const Shape& s, const Layout& layout) {
  int64_t n = 1;
  for (int64_t e : physical_extents(s, layout)) n *= e;
  return n;
}

Layout preferred_layout(const ir::Node& n, int i, const std::string& target) {
  // Weights with the output channel innermost: the conv and linear schedules vectorize
  // over output channels, so each filter tap is one dense vector load. On the CPU a conv
  // weight is also blocked by the schedule's register tile of output channels, so that a
  // tile's filter is one contiguous stream (ResNet-50's 7x7 layers read each weight for
  // only 7 to 14 multiply-adds: there the stride of a plain layout left the prefetchers idle).
  // Where the CPU schedule sums input channels innermost (conv_taps_innermost), each tap's
  // input channels are stored together, {0, 1, 3, 2}, so that run stays contiguous too.
  if (n.op == "conv2d" && i == 1) {
    Layout l{0, 3, 2, 1};
    Halide::Target t = parse_target(target);
    if (ir::conv_geometry(n).groups == 1) {
      const Shape& w = n.inputs[1]->type.shape;
      if (!t.has_gpu_feature() && w[2] * w[3] > 1 && !conv_taps_innermost(w)) l = Layout{0, 1, 3, 2};
      l.block = conv_channel_block(w[0], n.outputs[0]->type.shape[3], t);
    }
    return l;
  }
  if (n.op == "linear" && i == 1) return {0, 1};
  return default_layout(n.inputs.at(i)->type.rank());
}

std::string layout_str(const Layout& l) {
  if (l.winograd) return fmt::format("winograd{}{}_b{}", l.winograd, l.transposed ? "t" : "", l.block);
  return l.block > 0 ? fmt::format("{}b{}", fmt::join(l, ""), l.block) : fmt::format("{}", fmt::join(l, ""));
}

// Strides (in elements) of the physical dimensions of a tensor stored in `layout`.
static std::vector<int64_t> physical_strides(const Shape& s, const Layout& layout) {
  std::vector<int64_t> e = physical_extents(s, layout), st;
  int64_t stride = 1;
  for (int64_t x : e) {
    st.push_back(stride);
    stride *= x;
  }
  return st;
}

template <typename F>
static void for_each_index(const Shape& s, const Layout& layout, F f) {
  auto pst = physical_strides(s, layout);
  // Physical stride of a step along each logical axis; a blocked axis steps through its
  // block (stride 1) and jumps to the next block's start every `block` steps.
  std::vector<int64_t> st(s.size());
  for (size_t k = 0; k < layout.size(); ++k) st[layout[k]] = pst[k];
  int a = layout.empty() ? -1 : layout[0];
  std::vector<int64_t> idx(s.size(), 0);
  int64_t n = num_elements(s);
  for (int64_t flat = 0; flat < n; ++flat) {
    int64_t phys = 0;
    for (size_t d = 0; d < s.size(); ++d) {
      if (layout.block > 0 && static_cast<int>(d) == a)
        phys += idx[d] % layout.block + idx[d] / layout.block * pst.back();
      else
        phys += idx[d] * st[d];
    }
    f(flat, phys);
    for (int d = static_cast<int>(s.size()) - 1; d >= 0; --d) {
      if (++idx[d] < s[d]) break;
      idx[d] = 0;
    }
  }
}

// dst[sum_d i_d * dst_st[d]] = src[sum_d i_d * src_st[d]] for every index i of `s`. The
// axes where src and dst are contiguous are the two innermost loops, walked in 16 x 16
// tiles: a transposition (NCHW to channels-last and back, every run's inputs and outputs)
// then reads and writes whole cache lines. The element-by-element walk above, with its
// index arithmetic per element, had taken 2.4 of 3.2 ms a run of bench_fusion's
// conv_bn_relu pattern (input and output 1 x 64 x 56 x 56): now 0.8 ms in all.
static void strided_copy(const Shape& s, const float* src, const std::vector<int64_t>& src_st, float* dst,
                         const std::vector<int64_t>& dst_st) {
  int rank = static_cast<int>(s.size());
  if (num_elements(s) == 0) return;
  auto unit_axis = [&](const std::vector<int64_t>& st) {  // the smallest stride among axes longer than 1
    int best = -1;
    for (int d = 0; d < rank; ++d)
      if (s[d] > 1 && (best < 0 || st[d] < st[best])) best = d;
    return best;
  };
  int a = unit_axis(src_st), b = unit_axis(dst_st);
  if (a < 0) {  // one element
    dst[0] = src[0];
    return;
  }
  std::vector<int> outer;
  for (int d = 0; d < rank; ++d)
    if (d != a && d != b && s[d] > 1) outer.push_back(d);
  std::vector<int64_t> idx(outer.size(), 0);
  constexpr int64_t kTile = 16;
  for (;;) {
    int64_t so = 0, d_o = 0;
    for (size_t k = 0; k < outer.size(); ++k) so += idx[k] * src_st[outer[k]], d_o += idx[k] * dst_st[outer[k]];
    const float* sp = src + so;
    float* dp = dst + d_o;
    if (a == b) {
      for (int64_t i = 0; i < s[a]; ++i) dp[i * dst_st[a]] = sp[i * src_st[a]];
    } else {
      for (int64_t i0 = 0; i0 < s[b]; i0 += kTile)
        for (int64_t j0 = 0; j0 < s[a]; j0 += kTile)
          for (int64_t i = i0; i < std::min(i0 + kTile, s[b]); ++i)
            for (int64_t j = j0; j < std::min(j0 + kTile, s[a]); ++j)
              dp[i * dst_st[b] + j * dst_st[a]] = sp[i * src_st[b] + j * src_st[a]];
    }
    size_t k = outer.size();
    while (k > 0 && ++idx[k - 1] == s[outer[k - 1]]) idx[--k] = 0;
    if (k == 0) return;
  }
}

// Per logical axis: its stride in a row-major tensor, and in `layout` (not blocked).
static std::vector<int64_t> row_major_strides(const Shape& s) {
  std::vector<int64_t> st(s.size());
  int64_t stride = 1;
  for (size_t d = s.size(); d-- > 0;) st[d] = stride, stride *= s[d];
  return st;
}
static std::vector<int64_t> logical_strides(const Shape& s, const Layout& layout) {
  auto pst = physical_strides(s, layout);
  std::vector<int64_t> st(s.size());
  for (size_t k = 0; k < layout.size(); ++k) st[layout[k]] = pst[k];
  return st;
}

void to_layout(const HostTensor& src, const Layout& layout, float* dst) {
  if (layout.size() != src.shape.size()) throw Error("to_layout: rank mismatch");
  if (layout.winograd) throw Error("to_layout: a Winograd weight is computed by its kernel, not copied");
  if (layout.block > 0) {  // (weights: once per parameter change)
    for_each_index(src.shape, layout, [&](int64_t flat, int64_t phys) { dst[phys] = src.data[flat]; });
    return;
  }
  strided_copy(src.shape, src.data.data(), row_major_strides(src.shape), dst, logical_strides(src.shape, layout));
}

void from_layout(const float* src, const Layout& layout, HostTensor& dst) {
  if (layout.size() != dst.shape.size()) throw Error("from_layout: rank mismatch");
  if (layout.winograd) throw Error("from_layout: a Winograd weight cannot be read back");
  if (layout.block > 0) {
    for_each_index(dst.shape, layout, [&](int64_t flat, int64_t phys) { dst.data[flat] = src[phys]; });
    return;
  }
  strided_copy(dst.shape, src, logical_strides(dst.shape, layout), dst.data.data(), row_major_strides(dst.shape));
}

Halide::Expr TensorRef::at(const std::vector<Halide::Expr>& logical) const {
  if (layout.winograd) throw Error("a Winograd weight is read by the Winograd convolution only");
  std::vector<Halide::Expr> args(layout.physical_rank());
  for (size_t k = 0; k < layout.size(); ++k) args[k] = logical.at(layout[k]);
  if (layout.block > 0) {
    args.back() = args[0] / layout.block;
    args[0] = args[0] % layout.block;
  }
  return f(args);
}

Halide::Expr TensorRef::at_split(std::vector<Halide::Expr> logical, int axis, Halide::Expr outer, Halide::Expr inner,
                                 int size) const {
  if (layout.winograd || layout.block <= 0 || layout[0] != axis || layout.block % size) {
    logical.at(axis) = outer * size + inner;
    return at(logical);
  }
  std::vector<Halide::Expr> args(layout.physical_rank());
  for (size_t k = 1; k < layout.size(); ++k) args[k] = logical.at(layout[k]);
  int per = layout.block / size;  // blocks of `size` in one of the layout's
  args[0] = per == 1 ? inner : (outer % per) * size + inner;
  args.back() = per == 1 ? outer : outer / per;
  return f(args);
}

std::vector<Halide::Expr> OutRef::logical() const {
  std::vector<Halide::Expr> l(layout.size());
  for (size_t k = 0; k < layout.size(); ++k) l[layout[k]] = vars[k];
  if (layout.block > 0) l[layout[0]] = vars.back() * layout.block + vars[0];
  return l;
}

int64_t OutRef::extent(int k) const { return physical_extents(shape, layout).at(k); }

}  // namespace strata::halide_backend
