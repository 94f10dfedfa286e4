// conv2d's gradient ops are the adjoints of conv2d: for any x, w and dy,
//   <conv2d(x, w), dy> = <x, conv2d_backward_input(dy, w)> = <w, conv2d_backward_weight(x, dy)>,
// which is exactly what reverse-mode autodiff needs of them. Checked on the reference
// backend in double-precision sums, over strides, padding, dilation and groups.
#include "backends/reference/reference.h"
#include "ir/graph.h"
#include "tests/helpers.h"

using namespace strata;

static double dot(const HostTensor& a, const HostTensor& b) {
  double s = 0;
  for (size_t i = 0; i < a.data.size(); ++i) s += double(a.data[i]) * b.data[i];
  return s;
}

TEST_CASE("conv2d gradient ops are the adjoints of conv2d", "[ops][gradients]") {
  struct Case {
    Shape x;
    int64_t out, k, stride, dilation, groups;
    std::vector<int64_t> pads;
  };
  for (const Case& c : {Case{{2, 3, 7, 8}, 4, 3, 1, 1, 1, {1, 1, 1, 1}}, Case{{1, 4, 9, 9}, 6, 3, 2, 1, 2, {1, 0, 2, 1}},
                        Case{{2, 6, 10, 9}, 6, 3, 2, 2, 6, {2, 2, 2, 2}}, Case{{1, 2, 5, 5}, 3, 5, 3, 1, 1, {2, 2, 1, 1}}}) {
    ir::Graph g("adjoint");
    Shape w{c.out, c.x[1] / c.groups, c.k, c.k};
    ir::AttrMap attrs{{"stride", std::vector<int64_t>{c.stride, c.stride}}, {"padding", c.pads},
                      {"dilation", std::vector<int64_t>{c.dilation, c.dilation}}, {"groups", c.groups}};
    ir::Value* xv = g.add_input("x", {DataType::f32, c.x});
    ir::Value* wv = g.add_input("w", {DataType::f32, w});
    ir::Node* conv = g.add_node("conv2d", {xv, wv}, attrs);
    Shape ys = conv->outputs[0]->type.shape;
    ir::Value* dyv = g.add_input("dy", {DataType::f32, ys});
    ir::AttrMap ai = attrs, aw = attrs;
    ai["input_shape"] = c.x;
    aw["weight_shape"] = w;
    ir::Node* bi = g.add_node("conv2d_backward_input", {dyv, wv}, ai);
    ir::Node* bw = g.add_node("conv2d_backward_weight", {xv, dyv}, aw);
    HostTensor x = testing::random_tensor(c.x, 1), wt = testing::random_tensor(w, 2), dy = testing::random_tensor(ys, 3);
    HostTensor y = reference::run_node(*conv, {&x, &wt});
    HostTensor dx = reference::run_node(*bi, {&dy, &wt});
    HostTensor dw = reference::run_node(*bw, {&x, &dy});
    INFO("x " << shape_str(c.x) << " stride " << c.stride << " dilation " << c.dilation << " groups " << c.groups);
    double lhs = dot(y, dy);
    CHECK(dot(x, dx) == Approx(lhs).epsilon(1e-5));
    CHECK(dot(wt, dw) == Approx(lhs).epsilon(1e-5));
  }
}
