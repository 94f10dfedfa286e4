// IR: shape rules, verifier messages, the text form (exact round trip), DOT export.
#include "examples/examples.h"
#include "ir/error.h"
#include "ir/op_registry.h"
#include "ir/text_format.h"
#include "ir/verifier.h"
#include "tests/helpers.h"

using namespace strata;
using Catch::Matchers::Contains;

static ir::Graph tiny() {
  ir::Graph g("tiny");
  ir::Value* x = g.add_input("x", {DataType::f32, {2, 3, 8, 8}});
  ir::Value* w = g.add_parameter("w", {DataType::f32, {4, 3, 3, 3}}, {"kaiming_normal", {{"mode", std::string("fan_in")}}});
  ir::Node* c = g.add_node("conv2d", {x, w}, {{"padding", std::vector<int64_t>{1, 1, 1, 1}}}, "conv");
  g.add_output("y", c->outputs[0]);
  return g;
}

TEST_CASE("shape rules infer output types", "[ir]") {
  ir::Graph g = tiny();
  REQUIRE(g.nodes().size() == 1);
  CHECK(g.nodes()[0]->outputs[0]->type.str() == "f32[2, 4, 8, 8]");
  ir::Value* x = g.add_input("p", {DataType::f32, {1, 3, 7, 7}});
  ir::Node* pool = g.add_node("max_pool2d", {x}, {{"kernel_size", std::vector<int64_t>{2, 2}}, {"ceil_mode", int64_t{1}}});
  CHECK(pool->outputs[0]->type.shape == Shape{1, 3, 4, 4});
  ir::Node* same = g.add_node("conv2d", {x, g.value("w")},
                              {{"auto_pad", std::string("same")}, {"stride", std::vector<int64_t>{2, 2}}});
  CHECK(same->outputs[0]->type.shape == Shape{1, 4, 4, 4});
  ir::Value* s = g.add_input("s", {DataType::f32, {3, 1, 1}});
  CHECK(g.add_node("mul", {x, s})->outputs[0]->type.shape == Shape{1, 3, 7, 7});
}

TEST_CASE("shape errors name the node and the op and the input and the shapes", "[ir][errors]") {
  ir::Graph g = tiny();
  ir::Value* x = g.add_input("img", {DataType::f32, {1, 5, 8, 8}});
  try {
    g.add_node("conv2d", {x, g.value("w")}, {}, "bad_conv");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Contains("bad_conv") && Contains("conv2d") && Contains("weight") && Contains("f32[4, 3, 3, 3]") &&
                             Contains("f32[1, 5, 8, 8]"));
  }
  CHECK(g.find_value("bad_conv") == nullptr);  // a failed add leaves the graph as it was
  ir::Value* a = g.add_input("a", {DataType::f32, {2, 3}});
  ir::Value* b = g.add_input("b", {DataType::f32, {4, 3}});
  CHECK_THROWS_WITH(g.add_node("add", {a, b}, {}, "sum"), Contains("sum") && Contains("do not broadcast"));
  CHECK_THROWS_WITH(g.add_node("relu", {a}, {{"alpha", 0.1}}), Contains("unknown attribute 'alpha'"));
  CHECK_THROWS_WITH(g.add_node("conv2d", {x}), Contains("takes 2 to 3 inputs"));
  CHECK_THROWS_WITH(g.add_node("nonsense", {x}), Contains("unknown op 'nonsense'"));
  CHECK_THROWS_WITH(g.add_node("reshape", {a}, {{"shape", std::vector<int64_t>{5, -1}}}), Contains("cannot reshape"));
  CHECK_THROWS_WITH(g.add_node("conv2d", {x, g.value("w")}, {{"groups", int64_t{2}}}), Contains("not divisible by groups"));
}

TEST_CASE("the verifier catches a declared type that disagrees with the shape rule", "[ir][errors]") {
  std::string text = ir::print(tiny());
  std::string bad = text;
  bad.replace(bad.find("f32[2, 4, 8, 8]"), 15, "f32[2, 4, 9, 9]");
  CHECK_THROWS_WITH(ir::parse(bad), Contains("conv") && Contains("declared f32[2, 4, 9, 9]") && Contains("f32[2, 4, 8, 8]"));
}

TEST_CASE("the verifier rejects non-f32 values and graphs without outputs", "[ir][errors]") {
  ir::Graph g("g");
  g.add_input("x", {DataType::i64, {3}});
  CHECK_THROWS_WITH(ir::verify(g), Contains("dtype i64"));
  ir::Graph h("h");
  h.add_input("x", {DataType::f32, {3}});
  CHECK_THROWS_WITH(ir::verify(h), Contains("no outputs"));
}

TEST_CASE("text form round-trips exactly on both examples", "[ir][text]") {
  for (auto build : {examples::small_resnet, examples::lenet}) {
    dsl::Model m = build(10);
    std::string once = ir::print(m.graph());
    ir::Graph parsed = ir::parse(once);
    CHECK(ir::print(parsed) == once);
    CHECK(parsed.nodes().size() == m.graph().nodes().size());
    CHECK(parsed.parameters().size() == m.graph().parameters().size());
  }
}

TEST_CASE("text form keeps constants and frozen parameters and floats and strings", "[ir][text]") {
  ir::Graph g("consts");
  ir::Value* x = g.add_input("x", {DataType::f32, {2, 3}});
  ir::Value* c = g.add_constant("c", HostTensor({3}, {0.1f, -2.5f, 1e-8f}));
  ir::Value* p = g.add_parameter("p", {DataType::f32, {3}}, {"constant", {{"value", 0.25}}}, false);
  ir::Node* a = g.add_node("add", {x, c});
  ir::Node* b = g.add_node("mul", {a->outputs[0], p});
  ir::Node* s = g.add_node("gelu", {b->outputs[0]}, {{"approximate", std::string("tanh")}});
  ir::Node* l = g.add_node("leaky_relu", {s->outputs[0]}, {{"alpha", 1.0 / 3.0}});
  g.add_output("out", l->outputs[0]);
  std::string once = ir::print(g);
  CHECK_THAT(once, Contains("frozen") && Contains("\"tanh\"") && Contains("0.333333333"));
  ir::Graph back = ir::parse(once);
  CHECK(ir::print(back) == once);
  CHECK(back.value("c")->data->data == c->data->data);
  CHECK(back.value("p")->trainable == false);
}

TEST_CASE("parse errors carry line and column", "[ir][text][errors]") {
  CHECK_THROWS_WITH(ir::parse("graph g {\n  input %x : f32[2, 3]\n  %y = relu(%z) : f32[2, 3]\n}\n", "m.ir"),
                    Contains("m.ir:3:") && Contains("%z is not defined"));
  CHECK_THROWS_WITH(ir::parse("graph g {\n  input %x : q32[2]\n}"), Contains("2:") && Contains("unknown dtype 'q32'"));
  CHECK_THROWS_WITH(ir::parse("graph g {\n  input %x : f32[2]\n  %y = frobnicate(%x) : f32[2]\n}"),
                    Contains("unknown op 'frobnicate'"));
  CHECK_THROWS_WITH(ir::parse("graph g {\n  input %x : f32[2]\n"), Contains("missing '}'"));
  CHECK_THROWS_WITH(ir::parse("graph g { input %x : f32[2] output \"y\" = %x } trailing"), Contains("after the graph"));
}

TEST_CASE("DOT export draws every node", "[ir][dot]") {
  dsl::Model m = examples::lenet(10);
  std::string dot = ir::to_dot(m.graph());
  CHECK_THAT(dot, Contains("digraph \"lenet\"") && Contains("conv2d") && Contains("-> out_"));
  size_t boxes = 0;
  for (size_t p = dot.find("shape=box"); p != std::string::npos; p = dot.find("shape=box", p + 1)) ++boxes;
  CHECK(boxes == m.graph().nodes().size());
}

TEST_CASE("re-batching re-infers every shape", "[ir]") {
  dsl::Model m = examples::small_resnet(10);
  m.graph().set_batch_size(8);
  CHECK(m.graph().outputs()[0].second->type.shape == Shape{8, 10});
  ir::verify(m.graph());
  CHECK_THROWS_AS(m.graph().set_batch_size(0), Error);
}

TEST_CASE("re-batching leaves inputs that are no batch: rank 1, or another leading dimension", "[ir]") {
  // A training step's inputs (passes/training.h): image and target batched, hyper f32[2]
  // and the dropout seed f32[1] not; a rank-2 table of another leading dimension neither.
  dsl::Model m("step");
  dsl::Tensor x = m.input("image", {2, 8}), t = m.input("target", {2, 10});
  m.input("hyper", {2});
  m.input("rng_seed", {1});
  m.input("table", {16, 8});
  m.output("x", x);
  m.output("t", t);
  m.graph().set_batch_size(5);
  std::vector<Shape> got;
  for (const ir::Value* v : m.graph().inputs()) got.push_back(v->type.shape);
  CHECK(got == std::vector<Shape>{{5, 8}, {5, 10}, {2}, {1}, {16, 8}});
  CHECK(m.graph().outputs()[1].second->type.shape == Shape{5, 10});
  CHECK(m.graph().batch_size() == 5);
  dsl::Model scalars("scalars");  // no input of rank 2: batch 1
  scalars.output("h", scalars.input("hyper", {2}));
  CHECK(scalars.graph().batch_size() == 1);
}
