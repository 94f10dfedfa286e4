// Reference kernels of data movement, broadcasting arithmetic and softmax.
#include <cmath>
#include <limits>

#include "backends/reference/reference.h"
#include "ir/op_registry.h"

namespace strata::reference {

using In = std::vector<const HostTensor*>;

static HostTensor reshape_like(const ir::Node& n, const In& in) {
  return HostTensor(n.outputs[0]->type.shape, in[0]->data);  // row-major data is unchanged
}

static HostTensor concat(const ir::Node& n, const In& in) {
  const Shape& os = n.outputs[0]->type.shape;
  int axis = ir::normalize_axis(n, n.attr_int("axis"), static_cast<int>(os.size()));
  HostTensor y(os);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= os[i];
  for (size_t i = axis + 1; i < os.size(); ++i) inner *= os[i];
  int64_t offset = 0;
  for (const HostTensor* t : in) {
    int64_t chunk = t->shape[axis] * inner;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < chunk; ++j) y.data[o * os[axis] * inner + offset + j] = t->data[o * chunk + j];
    offset += chunk;
  }
  return y;
}

static HostTensor pad(const ir::Node& n, const In& in) {
  const HostTensor& x = *in[0];
  const Shape& os = n.outputs[0]->type.shape;
  const auto& p = n.attr_ints("pads");
  const std::string& mode = n.attr_string("mode");
  float value = static_cast<float>(n.attr_float("value"));
  size_t r = os.size();
  HostTensor y(os);
  auto xs = strides_of(x.shape);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < y.numel(); ++i) {
    unravel(i, os, idx);
    int64_t src = 0;
    bool inside = true;
    for (size_t d = 0; d < r; ++d) {
      int64_t j = idx[d] - p[d], extent = x.shape[d];
      if (j < 0 || j >= extent) {
        if (mode == "constant") inside = false;
        else if (mode == "edge") j = std::clamp<int64_t>(j, 0, extent - 1);
        else j = j < 0 ? -j : 2 * (extent - 1) - j;  // reflect (no edge repeat)
      }
      src += j * xs[d];
    }
    y.data[i] = inside ? x.data[src] : value;
  }
  return y;
}

template <typename F>
static HostTensor binary(const ir::Node& n, const In& in, F f) {
  const Shape& os = n.outputs[0]->type.shape;
  HostTensor y(os);
  size_t r = os.size();
  auto index_of = [&](const HostTensor& t, const std::vector<int64_t>& idx) {
    // NumPy broadcasting: right-aligned, size-1 dimensions repeat.
    int64_t off = 0;
    size_t lead = r - t.shape.size();
    for (size_t d = 0; d < t.shape.size(); ++d) off = off * t.shape[d] + (t.shape[d] == 1 ? 0 : idx[lead + d]);
    return off;
  };
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < y.numel(); ++i) {
    unravel(i, os, idx);
    y.data[i] = f(in[0]->data[index_of(*in[0], idx)], in[1]->data[index_of(*in[1], idx)]);
  }
  return y;
}

static HostTensor softmax(const ir::Node& n, const In& in, bool log) {
  const HostTensor& x = *in[0];
  int axis = ir::normalize_axis(n, n.attr_int("axis"), static_cast<int>(x.shape.size()));
  HostTensor y(x.shape);
  int64_t outer = 1, inner = 1, len = x.shape[axis];
  for (int i = 0; i < axis; ++i) outer *= x.shape[i];
  for (size_t i = axis + 1; i < x.shape.size(); ++i) inner *= x.shape[i];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      auto at = [&](int64_t k) { return o * len * inner + k * inner + j; };
      double m = -std::numeric_limits<double>::infinity(), sum = 0;
      for (int64_t k = 0; k < len; ++k) m = std::max(m, double(x.data[at(k)]));
      for (int64_t k = 0; k < len; ++k) sum += std::exp(x.data[at(k)] - m);
      for (int64_t k = 0; k < len; ++k)
        y.data[at(k)] = static_cast<float>(log ? x.data[at(k)] - m - std::log(sum) : std::exp(x.data[at(k)] - m) / sum);
    }
  return y;
}

static HostTensor slice(const ir::Node& n, const In& in) {
  const HostTensor& x = *in[0];
  const auto& b = n.attr_ints("starts");
  HostTensor y(n.outputs[0]->type.shape);
  auto xs = strides_of(x.shape);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < y.numel(); ++i) {
    unravel(i, y.shape, idx);
    int64_t src = 0;
    for (size_t d = 0; d < idx.size(); ++d) src += (idx[d] + b[d]) * xs[d];
    y.data[i] = x.data[src];
  }
  return y;
}

static HostTensor reduce_sum(const ir::Node& n, const In& in) {
  const HostTensor& x = *in[0];
  std::vector<bool> reduced(x.shape.size(), false);
  for (int64_t a : n.attr_ints("axes")) reduced[ir::normalize_axis(n, a, static_cast<int>(x.shape.size()))] = true;
  // The output's flat index of each input element: its kept coordinates, row-major.
  Shape kept;
  for (size_t d = 0; d < x.shape.size(); ++d)
    if (!reduced[d]) kept.push_back(x.shape[d]);
  auto ks = strides_of(kept);
  std::vector<double> acc(num_elements(n.outputs[0]->type.shape), 0.0);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < x.numel(); ++i) {
    unravel(i, x.shape, idx);
    int64_t dst = 0, k = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      if (!reduced[d]) dst += idx[d] * ks[k++];
    acc[dst] += x.data[i];
  }
  return HostTensor(n.outputs[0]->type.shape, std::vector<float>(acc.begin(), acc.end()));
}

static HostTensor matmul(const ir::Node& n, const In& in) {
  const HostTensor &a = *in[0], &b = *in[1];
  bool ta = n.attr_int("trans_a") != 0, tb = n.attr_int("trans_b") != 0;
  const Shape& os = n.outputs[0]->type.shape;
  int64_t K = ta ? a.shape[0] : a.shape[1];
  HostTensor y(os);
  for (int64_t i = 0; i < os[0]; ++i)
    for (int64_t j = 0; j < os[1]; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += double(ta ? a.data[k * a.shape[1] + i] : a.data[i * a.shape[1] + k]) *
               (tb ? b.data[j * b.shape[1] + k] : b.data[k * b.shape[1] + j]);
      y.data[i * os[1] + j] = static_cast<float>(acc);
    }
  return y;
}

void register_tensor_kernels(std::map<std::string, Kernel>& t) {
  t["slice"] = slice;
  t["reduce_sum"] = reduce_sum;
  t["matmul"] = matmul;
  t["flatten"] = reshape_like;
  t["reshape"] = reshape_like;
  t["concat"] = concat;
  t["pad"] = pad;
  t["add"] = [](const ir::Node& n, const In& in) { return binary(n, in, [](float a, float b) { return a + b; }); };
  t["sub"] = [](const ir::Node& n, const In& in) { return binary(n, in, [](float a, float b) { return a - b; }); };
  t["mul"] = [](const ir::Node& n, const In& in) { return binary(n, in, [](float a, float b) { return a * b; }); };
  t["div"] = [](const ir::Node& n, const In& in) { return binary(n, in, [](float a, float b) { return a / b; }); };
  t["softmax"] = [](const ir::Node& n, const In& in) { return softmax(n, in, false); };
  t["log_softmax"] = [](const ir::Node& n, const In& in) { return softmax(n, in, true); };
}

}  // namespace strata::reference
