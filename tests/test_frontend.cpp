// The DSL: parameters, names, initializer choices, summary figures, misuse errors.
#include <strata/dsl.h>

#include <sstream>

#include "examples/examples.h"
#include "frontend/registry.h"
#include "frontend/summary.h"
#include "ir/error.h"
#include "ir/verifier.h"
#include "passes/training.h"
#include "tests/helpers.h"

using namespace strata;
using namespace strata::dsl;
using Catch::Matchers::Contains;

TEST_CASE("the small ResNet has 0.2-0.5 M parameters and torchvision-style names", "[frontend]") {
  Model m = examples::small_resnet(10);
  ModelStats s = model_stats(m.graph());
  CHECK(s.trainable_params == 272186);  // ResNet-20 (He et al. 2015, CIFAR): 0.27 M
  CHECK(s.non_trainable_params == 1568);  // batch norm running statistics
  CHECK(s.trainable_params >= 200000);
  CHECK(s.trainable_params <= 500000);
  CHECK(m.graph().find_value("layer1.0.conv1.weight"));
  CHECK(m.graph().find_value("layer2.0.downsample.0.weight"));
  CHECK(m.graph().find_value("layer2.0.downsample.1.running_var"));
  CHECK(m.graph().find_value("fc.bias"));
  CHECK(m.graph().value("layer3.2.conv2.weight")->type.shape == Shape{64, 64, 3, 3});
}

TEST_CASE("LeNet matches the classic parameter and multiply-add counts", "[frontend]") {
  Model m = examples::lenet(10);
  ModelStats s = model_stats(m.graph());
  CHECK(s.trainable_params == 61706);
  // conv1 6x28x28x25 + conv2 16x10x10x150 + fc 400x120 + 120x84 + 84x10
  CHECK(s.macs == 6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 84 * 10);
}

TEST_CASE("summary prints layers and shapes and parameters and multiply-adds", "[frontend]") {
  Model m = examples::lenet(10);
  std::string s = m.summary();
  CHECK_THAT(s, Contains("conv1") && Contains("[1, 6, 28, 28]") && Contains("Total params: 61,706") &&
                    Contains("Mult-Adds: 416,520"));
}

TEST_CASE("summary keeps its columns aligned for a training step's longer op names", "[frontend]") {
  Model m = examples::lenet(10);
  std::string s = summary(passes::build_training_step(m.graph(), {}, {.name = "momentum"}).graph);
  REQUIRE_THAT(s, Contains("batch_norm_backward_input") || Contains("conv2d_backward_weight"));
  std::istringstream lines(s);
  size_t shape_at = std::string::npos;
  int rows = 0;
  for (std::string line; std::getline(lines, line);) {
    if (shape_at == std::string::npos) {
      shape_at = line.find("Output shape");
      continue;
    }
    if (size_t bracket = line.find('['); bracket != std::string::npos) {
      INFO(line);
      CHECK(bracket == shape_at);
      ++rows;
    }
  }
  CHECK(rows > 40);
}

TEST_CASE("He initialisation follows ReLU-family layers and Xavier the others", "[frontend]") {
  Model m("init");
  Tensor x = m.input("x", {1, 3, 8, 8});
  Tensor a = relu(batch_norm(conv2d(x, 4, 3, {.padding = 1, .name = "a"})));
  Tensor b = sigmoid(conv2d(a, 4, 3, {.padding = 1, .name = "b"}));
  Tensor c = selu(conv2d(b, 4, 3, {.padding = 1, .name = "c"}));
  Tensor d = conv2d(c, 4, 3, {.padding = 1, .name = "d", .init = ir::InitSpec{"normal", {{"std", 0.02}}}});
  m.output("y", relu(d));
  CHECK(m.graph().value("a.weight")->init.name == "kaiming_normal");
  CHECK(std::get<std::string>(m.graph().value("a.weight")->init.args.at("nonlinearity")) == "relu");
  CHECK(m.graph().value("b.weight")->init.name == "xavier_uniform");
  CHECK(m.graph().value("c.weight")->init.name == "lecun_normal");
  CHECK(m.graph().value("d.weight")->init.name == "normal");  // the user's choice stands
  CHECK(m.graph().value("a.bias")->init.name == "zeros");
}

TEST_CASE("DSL misuse raises clear errors", "[frontend][errors]") {
  Model m("misuse");
  Tensor x = m.input("x", {1, 3, 8, 8});
  CHECK_THROWS_WITH(conv2d(x, 8, 3, {.groups = 2, .name = "g"}), Contains("not divisible by groups"));
  CHECK_THROWS_WITH(linear(x, 10, {.name = "fc"}), Contains("flatten it first"));
  Tensor undefined;
  CHECK_THROWS_WITH(relu(undefined), Contains("undefined Tensor"));
  Model other("other");
  Tensor y = other.input("y", {1, 3, 8, 8});
  CHECK_THROWS_WITH(x + y, Contains("belongs to model 'other'"));
  CHECK_THROWS_WITH(m.input("x", {1}), Contains("already defined"));
  CHECK_THROWS_WITH(concat({x, m.input("z", {1, 3, 4, 8})}, 1), Contains("dimension 2"));
}

TEST_CASE("registered models build and verify", "[frontend]") {
  REQUIRE(model_registry().size() >= 2);
  for (const auto& e : model_registry()) {
    INFO(e.name);
    Model m = e.build(e.default_classes);
    REQUIRE(!m.graph().outputs().empty());  // GoogLeNet adds its auxiliary heads after "logits"
    CHECK(m.graph().outputs()[0].first == "logits");
    CHECK(m.graph().outputs()[0].second->type.shape == Shape{1, e.default_classes});
    ir::verify(m.graph(), e.name);
  }
  CHECK(find_model("no_such_model") == nullptr);
}
