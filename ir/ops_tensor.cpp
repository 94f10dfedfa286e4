// Shape rules of the data-movement and broadcasting ops: flatten, reshape, concat, pad,
// add/sub/mul/div, softmax and log_softmax.
#include <fmt/format.h>

#include "ir/op_registry.h"

namespace strata::ir {

using Ints = std::vector<int64_t>;

static std::vector<TensorType> infer_flatten(const Node& n) {
  const Shape& x = n.inputs[0]->type.shape;
  int r = static_cast<int>(x.size());
  if (r == 0) input_error(n, 0, "cannot flatten a scalar");
  int s = normalize_axis(n, n.attr_int("start_dim"), r), e = normalize_axis(n, n.attr_int("end_dim"), r);
  if (s > e) shape_error(n, fmt::format("start_dim {} is after end_dim {}", s, e));
  Shape out(x.begin(), x.begin() + s);
  int64_t m = 1;
  for (int i = s; i <= e; ++i) m *= x[i];
  out.push_back(m);
  out.insert(out.end(), x.begin() + e + 1, x.end());
  return {TensorType{DataType::f32, out}};
}

// ONNX Reshape: 0 copies the input's dimension, one -1 is inferred.
static std::vector<TensorType> infer_reshape(const Node& n) {
  const Shape& x = n.inputs[0]->type.shape;
  Shape out = n.attr_ints("shape");
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0) {
      if (i >= x.size()) shape_error(n, fmt::format("shape {}: 0 at position {} has no input dimension to copy", shape_str(out), i));
      out[i] = x[i];
    }
    if (out[i] == -1) {
      if (infer >= 0) shape_error(n, fmt::format("shape {} has more than one -1", shape_str(n.attr_ints("shape"))));
      infer = static_cast<int>(i);
    } else if (out[i] < 1) {
      shape_error(n, fmt::format("shape {} has an invalid dimension {}", shape_str(n.attr_ints("shape")), out[i]));
    } else {
      known *= out[i];
    }
  }
  int64_t total = num_elements(x);
  if (infer >= 0) {
    if (total % known != 0)
      shape_error(n, fmt::format("cannot reshape {} elements into {}", total, shape_str(n.attr_ints("shape"))));
    out[infer] = total / known;
  }
  if (num_elements(out) != total)
    shape_error(n, fmt::format("cannot reshape {} ({} elements) into {} ({} elements)", shape_str(x), total,
                               shape_str(out), num_elements(out)));
  return {TensorType{DataType::f32, out}};
}

static std::vector<TensorType> infer_concat(const Node& n) {
  const Shape& first = n.inputs[0]->type.shape;
  int r = static_cast<int>(first.size());
  int axis = normalize_axis(n, n.attr_int("axis"), r);
  Shape out = first;
  out[axis] = 0;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const Shape& s = n.inputs[i]->type.shape;
    if (static_cast<int>(s.size()) != r)
      input_error(n, static_cast<int>(i), fmt::format("rank {} differs from the first input's rank {}", s.size(), r));
    for (int d = 0; d < r; ++d)
      if (d != axis && s[d] != first[d])
        input_error(n, static_cast<int>(i),
                    fmt::format("dimension {} is {} but the first input's is {} (only axis {} may differ)", d, s[d], first[d], axis));
    out[axis] += s[axis];
  }
  return {TensorType{DataType::f32, out}};
}

static std::vector<TensorType> infer_pad(const Node& n) {
  Shape x = n.inputs[0]->type.shape;
  const auto& p = n.attr_ints("pads");
  size_t r = x.size();
  if (p.size() != 2 * r)
    shape_error(n, fmt::format("pads must have 2 x rank = {} values (all begins, then all ends), got {}", 2 * r, p.size()));
  const std::string& mode = n.attr_string("mode");
  if (mode != "constant" && mode != "reflect" && mode != "edge")
    shape_error(n, fmt::format("mode must be \"constant\", \"reflect\" or \"edge\", got \"{}\"", mode));
  for (size_t i = 0; i < r; ++i) {
    if (p[i] < 0 || p[i + r] < 0) shape_error(n, "negative pads are not supported");
    if (mode == "reflect" && (p[i] >= x[i] || p[i + r] >= x[i]))
      shape_error(n, fmt::format("reflect padding of dimension {} must be smaller than its size {}", i, x[i]));
    x[i] += p[i] + p[i + r];
  }
  return {TensorType{DataType::f32, x}};
}

static std::vector<TensorType> infer_binary(const Node& n) {
  return {TensorType{DataType::f32, broadcast_shapes(n, n.inputs[0]->type.shape, n.inputs[1]->type.shape)}};
}

static std::vector<TensorType> infer_softmax(const Node& n) {
  const TensorType& x = n.inputs[0]->type;
  if (x.rank() == 0) input_error(n, 0, "softmax of a scalar");
  normalize_axis(n, n.attr_int("axis"), x.rank());
  return {x};
}

static std::vector<TensorType> infer_slice(const Node& n) {
  const Shape& x = n.inputs[0]->type.shape;
  const auto& b = n.attr_ints("starts");
  const auto& e = n.attr_ints("ends");
  if (b.size() != x.size() || e.size() != x.size())
    shape_error(n, fmt::format("starts and ends need one value per dimension of {}", shape_str(x)));
  Shape out(x.size());
  for (size_t d = 0; d < x.size(); ++d) {
    if (b[d] < 0 || e[d] > x[d] || b[d] >= e[d])
      shape_error(n, fmt::format("dimension {}: [{}, {}) is not a non-empty range inside [0, {})", d, b[d], e[d], x[d]));
    out[d] = e[d] - b[d];
  }
  return {TensorType{DataType::f32, out}};
}

static std::vector<TensorType> infer_reduce_sum(const Node& n) {
  const Shape& x = n.inputs[0]->type.shape;
  std::vector<bool> reduced(x.size(), false);
  for (int64_t a : n.attr_ints("axes")) {
    int d = normalize_axis(n, a, static_cast<int>(x.size()));
    if (reduced[d]) shape_error(n, fmt::format("axis {} is listed twice", a));
    reduced[d] = true;
  }
  bool keep = n.attr_int("keepdims") != 0;
  Shape out;
  for (size_t d = 0; d < x.size(); ++d)
    if (!reduced[d]) out.push_back(x[d]);
    else if (keep) out.push_back(1);
  if (out.empty()) out.push_back(1);  // a full reduction gives f32[1]
  return {TensorType{DataType::f32, out}};
}

static std::vector<TensorType> infer_matmul(const Node& n) {
  expect_rank(n, 0, 2);
  expect_rank(n, 1, 2);
  Shape a = n.inputs[0]->type.shape, b = n.inputs[1]->type.shape;
  if (n.attr_int("trans_a")) std::swap(a[0], a[1]);
  if (n.attr_int("trans_b")) std::swap(b[0], b[1]);
  if (a[1] != b[0])
    shape_error(n, fmt::format("inner dimensions differ: {} x {} (after transposes)", shape_str(a), shape_str(b)));
  return {TensorType{DataType::f32, {a[0], b[1]}}};
}

void register_tensor_ops(std::vector<OpDef>& t) {
  t.push_back({"flatten", {"x"}, {{"start_dim", AttrKind::Int, int64_t{1}}, {"end_dim", AttrKind::Int, int64_t{-1}}},
               infer_flatten, nullptr, OpClass::Other, "merges dimensions start_dim..end_dim (PyTorch's flatten)"});
  t.push_back({"reshape", {"x"}, {{"shape", AttrKind::Ints, Ints{-1}}}, infer_reshape, nullptr, OpClass::Other,
               "row-major reshape; 0 copies a dimension, one -1 is inferred"});
  t.push_back({"concat", {"x..."}, {{"axis", AttrKind::Int, int64_t{1}}}, infer_concat, nullptr, OpClass::Other,
               "concatenation along any axis"});
  t.push_back({"pad", {"x"},
               {{"pads", AttrKind::Ints, Ints{}}, {"mode", AttrKind::String, std::string("constant")},
                {"value", AttrKind::Float, 0.0}},
               infer_pad, nullptr, OpClass::Other, "pads = all begins then all ends (ONNX); constant, reflect or edge"});
  for (const char* op : {"add", "sub", "mul", "div"})
    t.push_back({op, {"a", "b"}, {}, infer_binary, nullptr, OpClass::Binary, "elementwise with NumPy broadcasting"});
  t.push_back({"slice", {"x"}, {{"starts", AttrKind::Ints, Ints{}}, {"ends", AttrKind::Ints, Ints{}}}, infer_slice,
               nullptr, OpClass::Other, "x[starts[0]:ends[0], starts[1]:ends[1], ...], one range per dimension"});
  t.push_back({"reduce_sum", {"x"}, {{"axes", AttrKind::Ints, Ints{}}, {"keepdims", AttrKind::Int, int64_t{0}}},
               infer_reduce_sum, nullptr, OpClass::Other,
               "sum over the listed axes; reducing every axis gives f32[1]"});
  t.push_back({"matmul", {"a", "b"}, {{"trans_a", AttrKind::Int, int64_t{0}}, {"trans_b", AttrKind::Int, int64_t{0}}},
               infer_matmul,
               [](const Node& n) {
                 const Shape& a = n.inputs[0]->type.shape;
                 return num_elements(n.outputs[0]->type.shape) * (n.attr_int("trans_a") ? a[0] : a[1]);
               },
               OpClass::Other, "2-D matrix product op(a) op(b), op transposing when trans_a / trans_b = 1"});
  t.push_back({"softmax", {"x"}, {{"axis", AttrKind::Int, int64_t{-1}}}, infer_softmax, nullptr, OpClass::Other,
               "exp(x) / sum(exp(x)) along axis, computed stably"});
  t.push_back({"log_softmax", {"x"}, {{"axis", AttrKind::Int, int64_t{-1}}}, infer_softmax, nullptr, OpClass::Other,
               "x - logsumexp(x) along axis"});
}

}  // namespace strata::ir
