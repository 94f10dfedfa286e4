// Autodiff: every gradient rule against central finite differences (reference backend),
// the gradient table's coverage, and clear errors for what cannot be differentiated.
#include <strata/dsl.h>

#include "backends/reference/reference.h"
#include "ir/op_registry.h"
#include "passes/autodiff.h"
#include "passes/training.h"
#include "tests/gradient_check.h"
#include "tests/helpers.h"

using namespace strata;
using namespace strata::dsl;
using strata::testing::check_gradients;
using strata::testing::GradCheckOptions;

TEST_CASE("every op has a gradient rule or says why it has none", "[autodiff][coverage]") {
  const auto& t = passes::gradient_table();
  for (const auto& def : ir::op_table()) {
    INFO("op " << def.name << " is missing from passes/gradients_*.cpp");
    REQUIRE(t.count(def.name) == 1);
    const auto& e = t.at(def.name);
    CHECK((e.rule || !e.not_differentiable.empty()));
  }
}

// A one-input model y = f(x) with the given input shape.
static Model unary(const std::string& name, Shape s, const std::function<Tensor(Tensor)>& f) {
  Model m(name);
  m.output("y", f(m.input("x", s)));
  return m;
}

static void check(const Model& m, GradCheckOptions o = {}) {
  auto r = check_gradients(m.graph(), o);
  CHECK(r.checked > 0);
}

static void check_training(const Model& m, GradCheckOptions o = {}) {
  auto r = check_gradients(passes::training_forward(m.graph()), o);
  CHECK(r.checked > 0);
}

TEST_CASE("conv2d gradients: stride, padding, dilation, groups, depthwise, same", "[autodiff]") {
  check(unary("conv_stride2_pad1_bias", {2, 3, 7, 7}, [](Tensor x) { return conv2d(x, 4, 3, {.stride = 2, .padding = 1}); }));
  check(unary("conv_dilated", {1, 2, 9, 8}, [](Tensor x) { return conv2d(x, 3, 3, {.padding = 2, .dilation = 2, .bias = false}); }));
  check(unary("conv_groups", {1, 4, 6, 6}, [](Tensor x) { return conv2d(x, 6, 3, {.padding = 1, .groups = 2}); }));
  check(unary("conv_depthwise_stride2", {2, 4, 7, 7},
              [](Tensor x) { return depthwise_conv2d(x, 3, {.stride = 2, .padding = 1}); }));
  check(unary("conv_same_even_kernel", {1, 2, 5, 6}, [](Tensor x) { return conv2d(x, 2, 4, {.same = true}); }));
}

TEST_CASE("linear, matmul and reduce_sum gradients", "[autodiff]") {
  check(unary("linear_bias", {3, 7}, [](Tensor x) { return linear(x, 5); }));
  for (int ta : {0, 1})
    for (int tb : {0, 1}) {
      Model m("matmul");
      Tensor a = m.input("a", ta ? Shape{4, 3} : Shape{3, 4}), b = m.input("b", tb ? Shape{5, 4} : Shape{4, 5});
      m.output("y", m.apply("matmul", {a, b}, {{"trans_a", ta}, {"trans_b", tb}}));
      check(m);
    }
  check(unary("reduce_sum_axes", {2, 3, 4}, [](Tensor x) { return x.model().apply("reduce_sum", {x}, {{"axes", std::vector<int64_t>{0, 2}}}); }));
}

TEST_CASE("batch_norm gradients in training form (batch statistics) and eval form", "[autodiff]") {
  check_training(unary("bn_train_4d", {3, 4, 3, 3}, [](Tensor x) { return relu(batch_norm(x)); }));
  check_training(unary("bn_train_2d", {6, 5}, [](Tensor x) { return batch_norm(x); }));
  check(unary("bn_eval", {2, 3, 4, 4}, [](Tensor x) { return batch_norm(x); }));
}

TEST_CASE("pooling gradients, with ceil_mode and both divisor rules", "[autodiff]") {
  check(unary("max_pool_3s2p1", {1, 3, 7, 7}, [](Tensor x) { return max_pool2d(x, 3, {.stride = 2, .padding = 1}); }));
  check(unary("max_pool_ceil", {2, 2, 7, 7}, [](Tensor x) { return max_pool2d(x, 2, {.ceil_mode = true}); }));
  check(unary("avg_pool_include_pad", {1, 3, 7, 7}, [](Tensor x) { return avg_pool2d(x, 3, {.stride = 2, .padding = 1}); }));
  check(unary("avg_pool_exclude_pad_ceil", {1, 2, 8, 8}, [](Tensor x) {
    return avg_pool2d(x, 3, {.stride = 2, .padding = 1, .ceil_mode = true, .count_include_pad = false});
  }));
  check(unary("global_avg_pool", {2, 3, 5, 4}, [](Tensor x) { return global_avg_pool(x); }));
}

TEST_CASE("lrn and dropout (training mask) gradients", "[autodiff]") {
  check(unary("lrn", {2, 7, 3, 3}, [](Tensor x) { return lrn(x, {.size = 5, .alpha = 0.5, .beta = 0.75, .k = 2.0}); }));
  check_training(unary("dropout_training", {2, 3, 4, 4}, [](Tensor x) { return dropout(x * x, 0.4); }));
  check_training(unary("stochastic_depth", {6, 2, 3, 3}, [](Tensor x) { return stochastic_depth(x * x, 0.5); }));
}

TEST_CASE("stochastic depth drops whole samples and scales the survivors", "[autodiff]") {
  Model m = unary("sd", {16, 3, 4, 4}, [](Tensor x) { return stochastic_depth(x, 0.5); });
  ir::Graph g = passes::training_forward(m.graph());
  HostTensor x({16, 3, 4, 4});
  for (int64_t i = 0; i < x.numel(); ++i) x.data[i] = 1.f + static_cast<float>(i % 7);
  HostTensor seed({1}, std::vector<float>{42.f});
  auto y = reference::run(g, {{"x", x}, {"rng_seed", seed}}, {}).at("y");
  int dropped = 0;
  for (int64_t n = 0; n < 16; ++n) {
    bool zero = y.data[n * 48] == 0.f;
    dropped += zero;
    for (int64_t i = n * 48; i < (n + 1) * 48; ++i) REQUIRE(y.data[i] == (zero ? 0.f : 2.f * x.data[i]));
  }
  CHECK(dropped > 0);
  CHECK(dropped < 16);
}

TEST_CASE("every activation's gradient, prelu's slope included", "[autodiff]") {
  std::vector<std::pair<std::string, std::function<Tensor(Tensor)>>> acts{
      {"identity", [](Tensor x) { return identity(x); }},      {"sigmoid", [](Tensor x) { return sigmoid(x); }},
      {"tanh", [](Tensor x) { return tanh(x); }},              {"arctan", [](Tensor x) { return arctan(x); }},
      {"relu", [](Tensor x) { return relu(x); }},              {"relu6", [](Tensor x) { return relu6(x * 4); }},
      {"leaky_relu", [](Tensor x) { return leaky_relu(x, 0.2); }}, {"elu", [](Tensor x) { return elu(x, 0.7); }},
      {"selu", [](Tensor x) { return selu(x); }},              {"softplus", [](Tensor x) { return softplus(x, 2.0, 5.0); }},
      {"silu", [](Tensor x) { return silu(x); }},              {"gelu", [](Tensor x) { return gelu(x); }},
      {"gelu_tanh", [](Tensor x) { return gelu(x, true); }},   {"hard_sigmoid", [](Tensor x) { return hard_sigmoid(x); }},
      {"hard_swish", [](Tensor x) { return hard_swish(x); }},  {"prelu_per_channel", [](Tensor x) { return prelu(x); }},
      {"prelu_shared", [](Tensor x) { return prelu(x, false); }}};
  for (auto& [name, f] : acts) {
    INFO("activation " << name);
    check(unary("act_" + name, {2, 3, 3, 3}, f), {.lo = -4.f, .hi = 4.f});
  }
}

TEST_CASE("binary_step's gradient is zero almost everywhere", "[autodiff]") {
  Model m = unary("step", {2, 5}, [](Tensor x) { return binary_step(linear(x, 3)); });
  auto r = check_gradients(m.graph());  // central differences away from the step are 0 too
  CHECK(r.checked > 0);
  ir::Graph g = testing::gradient_graph(m.graph(), true, 1);
  auto out = reference::run(g, testing::random_inputs(m.graph(), 2), testing::random_parameters(m.graph(), 3).tensors());
  for (auto& [name, t] : out)
    if (name.starts_with("grad:"))
      for (float v : t.data) CHECK(v == 0.f);
}

TEST_CASE("data movement and broadcasting arithmetic gradients", "[autodiff]") {
  {
    Model m("concat_pad_slice");
    Tensor a = m.input("a", {1, 2, 3, 3}), b = m.input("b", {1, 3, 3, 3});
    Tensor c = concat({a, b * b}, 1);
    Tensor p = pad(c, {0, 0, 1, 0, 0, 0, 0, 2});
    m.output("y", m.apply("slice", {p}, {{"starts", std::vector<int64_t>{0, 1, 0, 1}}, {"ends", std::vector<int64_t>{1, 5, 4, 5}}}));
    check(m);
  }
  check(unary("pad_reflect", {1, 2, 5, 6}, [](Tensor x) { return pad(x, {0, 0, 2, 1, 0, 0, 1, 3}, "reflect"); }));
  check(unary("pad_edge", {2, 3, 4}, [](Tensor x) { return pad(x, {0, 1, 2, 1, 0, 2}, "edge"); }));
  check(unary("reshape_flatten", {2, 3, 2, 2}, [](Tensor x) { return flatten(reshape(x, {2, 6, 2}) * 2); }));
  {
    Model m("broadcast_arith");
    Tensor a = m.input("a", {2, 3, 4, 4}), b = m.input("b", {3, 1, 1}), c = m.input("c", {2, 3, 1, 1});
    Tensor d = m.input("d", {4});
    m.output("y", (a + b) * c - a / (sigmoid(d) + 1.0));
    check(m);
  }
}

TEST_CASE("softmax and log_softmax gradients", "[autodiff]") {
  check(unary("softmax", {3, 6}, [](Tensor x) { return softmax(x); }), {.lo = -3, .hi = 3});
  check(unary("log_softmax_channels", {2, 4, 2, 2}, [](Tensor x) { return log_softmax(x, 1); }), {.lo = -3, .hi = 3});
}

TEST_CASE("loss gradients: cross-entropy with label smoothing, binary cross-entropy, MSE", "[autodiff]") {
  auto loss = [](const std::string& op, ir::AttrMap a, float lo, float hi) {
    Model m(op);
    Tensor x = m.input("x", {4, 5});
    Tensor t = m.constant("t", testing::random_tensor({4, 5}, 9, 0.f, 1.f));
    m.output("loss", m.apply(op, {x, t}, a));
    check(m, {.lo = lo, .hi = hi});
  };
  loss("cross_entropy", {}, -3, 3);
  loss("cross_entropy", {{"label_smoothing", 0.2}}, -3, 3);
  loss("binary_cross_entropy", {}, 0.1f, 0.9f);
  loss("binary_cross_entropy", {{"from_logits", 1}}, -3, 3);
  loss("mse_loss", {}, -2, 2);
}

TEST_CASE("gradients only where needed, and clear errors for what has none", "[autodiff][errors]") {
  {
    // The first conv's input is data: no conv2d_backward_input is emitted for it.
    Model m = unary("no_input_grad", {1, 2, 5, 5}, [](Tensor x) { return conv2d(relu(conv2d(x, 3, 3)), 2, 3); });
    ir::Graph g = ir::clone(m.graph());
    std::vector<int64_t> all{0, 1, 2, 3};
    ir::Value* l = g.add_node("reduce_sum", {g.outputs()[0].second}, {{"axes", all}})->outputs[0];
    std::vector<ir::Value*> params(g.parameters().begin(), g.parameters().end());
    passes::append_gradients(g, l, params);
    int backward_input = 0;
    for (const auto& n : g.nodes()) backward_input += n->op == "conv2d_backward_input";
    CHECK(backward_input == 1);
  }
  {
    // A gradient op on the path would need a second derivative.
    Model m("second_order");
    Tensor x = m.input("x", {2, 3});
    Tensor y = linear(x, 3);
    m.output("y", m.apply("activation_grad", {y, y}, {{"activation", std::string("tanh")}}));
    ir::Graph g = ir::clone(m.graph());
    ir::Value* l = g.add_node("reduce_sum", {g.outputs()[0].second}, {{"axes", std::vector<int64_t>{0, 1}}})->outputs[0];
    std::vector<ir::Value*> params(g.parameters().begin(), g.parameters().end());
    CHECK_THROWS_WITH(passes::append_gradients(g, l, params),
                      Catch::Contains("activation_grad") && Catch::Contains("second derivatives"));
  }
  {
    Model m = unary("not_scalar", {2, 3}, [](Tensor x) { return linear(x, 2); });
    ir::Graph g = ir::clone(m.graph());
    std::vector<ir::Value*> params(g.parameters().begin(), g.parameters().end());
    CHECK_THROWS_WITH(passes::append_gradients(g, g.outputs()[0].second, params), Catch::Contains("must be f32[1]"));
  }
}
