// Gradient rules of data movement, broadcasting arithmetic, reductions and softmax.
#include <fmt/format.h>

#include "ir/error.h"
#include "ir/op_registry.h"
#include "passes/autodiff.h"

namespace strata::passes {

using Ints = std::vector<int64_t>;
using Values = std::vector<ir::Value*>;

static Values reshape_back(GradContext& c) { return {c.op("reshape", {c.dy}, {{"shape", c.x(0)->type.shape}}, "input")}; }

// Each input's gradient is its slice of dy.
static Values concat(GradContext& c) {
  const Shape& ys = c.y()->type.shape;
  int axis = ir::normalize_axis(c.node, c.node.attr_int("axis"), static_cast<int>(ys.size()));
  Values d;
  int64_t begin = 0;
  for (size_t i = 0; i < c.node.inputs.size(); ++i) {
    int64_t len = c.x(static_cast<int>(i))->type.shape[axis];
    Ints starts(ys.size(), 0), ends(ys.begin(), ys.end());
    starts[axis] = begin;
    ends[axis] = begin + len;
    d.push_back(c.needs[i] ? c.op("slice", {c.dy}, {{"starts", starts}, {"ends", ends}}, fmt::format("input{}", i)) : nullptr);
    begin += len;
  }
  return d;
}

// Constant padding: the gradient is the unpadded window of dy; reflect and edge padding
// also route the copies' gradients back to their sources (pad_backward).
static Values pad(GradContext& c) {
  const Shape& xs = c.x(0)->type.shape;
  const auto& p = c.node.attr_ints("pads");
  if (c.node.attr_string("mode") != "constant")
    return {c.op("pad_backward", {c.dy}, {{"pads", p}, {"mode", c.node.attrs.at("mode")}, {"input_shape", xs}}, "input")};
  Ints starts(xs.size()), ends(xs.size());
  for (size_t d = 0; d < xs.size(); ++d) {
    starts[d] = p[d];
    ends[d] = p[d] + xs[d];
  }
  return {c.op("slice", {c.dy}, {{"starts", starts}, {"ends", ends}}, "input")};
}

// The gradient of a slice is dy zero-padded back to the input's shape.
static Values slice(GradContext& c) {
  const Shape& xs = c.x(0)->type.shape;
  const auto& b = c.node.attr_ints("starts");
  const auto& e = c.node.attr_ints("ends");
  Ints pads(2 * xs.size());
  for (size_t d = 0; d < xs.size(); ++d) {
    pads[d] = b[d];
    pads[d + xs.size()] = xs[d] - e[d];
  }
  return {c.op("pad", {c.dy}, {{"pads", pads}}, "input")};
}

static Values add_sub(GradContext& c, bool sub) {
  Values d(2, nullptr);
  if (c.needs[0]) d[0] = c.unbroadcast(c.dy, c.x(0)->type.shape, "a");
  if (c.needs[1]) {
    ir::Value* db = sub ? c.op("mul", {c.dy, c.scalar(-1.f, "minus_one")}, {}, "neg") : c.dy;
    d[1] = c.unbroadcast(db, c.x(1)->type.shape, "b");
  }
  return d;
}

static Values mul(GradContext& c) {
  Values d(2, nullptr);
  if (c.needs[0]) d[0] = c.unbroadcast(c.op("mul", {c.dy, c.x(1)}, {}, "a_full"), c.x(0)->type.shape, "a");
  if (c.needs[1]) d[1] = c.unbroadcast(c.op("mul", {c.dy, c.x(0)}, {}, "b_full"), c.x(1)->type.shape, "b");
  return d;
}

// y = a / b: da = dy / b, db = -dy y / b.
static Values div(GradContext& c) {
  Values d(2, nullptr);
  if (c.needs[0]) d[0] = c.unbroadcast(c.op("div", {c.dy, c.x(1)}, {}, "a_full"), c.x(0)->type.shape, "a");
  if (c.needs[1]) {
    ir::Value* t = c.op("div", {c.op("mul", {c.dy, c.y()}, {}, "dy_y"), c.x(1)}, {}, "dy_y_over_b");
    d[1] = c.unbroadcast(c.op("mul", {t, c.scalar(-1.f, "minus_one")}, {}, "b_full"), c.x(1)->type.shape, "b");
  }
  return d;
}

static Values softmax(GradContext& c, int log) {
  return {c.op("softmax_backward", {c.y(), c.dy}, {{"axis", c.node.attrs.at("axis")}, {"log", log}}, "input")};
}

// dy broadcast back over the reduced axes: reshaped with those axes as 1, then multiplied
// by ones of the input's shape.
static Values reduce_sum(GradContext& c) {
  const Shape& xs = c.x(0)->type.shape;
  Shape kept = xs;
  std::vector<bool> reduced(xs.size(), false);
  for (int64_t a : c.node.attr_ints("axes")) reduced[ir::normalize_axis(c.node, a, static_cast<int>(xs.size()))] = true;
  for (size_t d = 0; d < xs.size(); ++d)
    if (reduced[d]) kept[d] = 1;
  ir::Value* r = c.dy->type.shape == kept ? c.dy : c.op("reshape", {c.dy}, {{"shape", kept}}, "keepdims");
  ir::Value* ones = c.g.add_constant(c.g.unique_name(c.node.name() + ".grad/ones"), HostTensor(xs, 1.f));
  return {c.op("mul", {r, ones}, {}, "input")};
}

// C = op(A) op(B): dA and dB are products of dC with the other operand, transposed to fit.
static Values matmul(GradContext& c) {
  bool ta = c.node.attr_int("trans_a") != 0, tb = c.node.attr_int("trans_b") != 0;
  Values d(2, nullptr);
  auto mm = [&](ir::Value* a, ir::Value* b, int t_a, int t_b, const char* what) {
    return c.op("matmul", {a, b}, {{"trans_a", t_a}, {"trans_b", t_b}}, what);
  };
  if (c.needs[0]) d[0] = ta ? mm(c.x(1), c.dy, tb, 1, "a") : mm(c.dy, c.x(1), 0, !tb, "a");
  if (c.needs[1]) d[1] = tb ? mm(c.dy, c.x(0), 1, ta, "b") : mm(c.x(0), c.dy, !ta, 0, "b");
  return d;
}

void register_tensor_gradients(std::map<std::string, GradEntry>& t) {
  t["flatten"] = {reshape_back, ""};
  t["reshape"] = {reshape_back, ""};
  t["concat"] = {concat, ""};
  t["pad"] = {pad, ""};
  t["slice"] = {slice, ""};
  t["add"] = {[](GradContext& c) { return add_sub(c, false); }, ""};
  t["sub"] = {[](GradContext& c) { return add_sub(c, true); }, ""};
  t["mul"] = {mul, ""};
  t["div"] = {div, ""};
  t["softmax"] = {[](GradContext& c) { return softmax(c, 0); }, ""};
  t["log_softmax"] = {[](GradContext& c) { return softmax(c, 1); }, ""};
  t["reduce_sum"] = {reduce_sum, ""};
  t["matmul"] = {matmul, ""};
}

}  // namespace strata::passes
