// Initialisers against torch.nn.init's definitions: bounds, standard deviations, fans, gains.
#include <cmath>

#include "ir/error.h"
#include "runtime/initializers.h"
#include "tests/helpers.h"

using namespace strata;
using Catch::Matchers::Contains;

static HostTensor init(const std::string& name, Shape shape, ir::AttrMap args = {}, uint64_t seed = 1, const std::string& pname = "w") {
  ir::Value v;
  v.name = pname;
  v.type = {DataType::f32, shape};
  v.init = {name, args};
  return runtime::initialize(v, seed);
}

static double stddev(const HostTensor& t) {
  double s = 0, q = 0;
  for (float v : t.data) s += v, q += double(v) * v;
  double m = s / t.numel();
  return std::sqrt(q / t.numel() - m * m);
}

TEST_CASE("constant initialisers", "[init]") {
  CHECK(init("zeros", {3, 4}).data == std::vector<float>(12, 0.f));
  CHECK(init("ones", {5}).data == std::vector<float>(5, 1.f));
  CHECK(init("constant", {2}, {{"value", 0.25}}).data == std::vector<float>(2, 0.25f));
}

TEST_CASE("kaiming and xavier and lecun follow their fans and gains", "[init]") {
  // conv weight [64, 32, 3, 3]: fan_in = 288, fan_out = 576
  Shape w{64, 32, 3, 3};
  CHECK(stddev(init("kaiming_normal", w, {{"mode", std::string("fan_in")}, {"nonlinearity", std::string("relu")}})) ==
        Approx(std::sqrt(2.0 / 288)).epsilon(0.03));
  CHECK(stddev(init("kaiming_normal", w, {{"mode", std::string("fan_out")}, {"nonlinearity", std::string("relu")}})) ==
        Approx(std::sqrt(2.0 / 576)).epsilon(0.03));
  HostTensor ku = init("kaiming_uniform", w, {{"nonlinearity", std::string("leaky_relu")}, {"a", 0.2}});
  double bound = std::sqrt(3.0) * std::sqrt(2.0 / (1 + 0.04)) / std::sqrt(288.0);
  for (float v : ku.data) CHECK(std::fabs(v) <= bound + 1e-6);
  CHECK(stddev(ku) == Approx(bound / std::sqrt(3.0)).epsilon(0.03));
  HostTensor xu = init("xavier_uniform", {100, 200});
  double xb = std::sqrt(6.0 / 300);
  for (float v : xu.data) CHECK(std::fabs(v) <= xb + 1e-6);
  CHECK(stddev(init("xavier_normal", {100, 200}, {{"gain", 2.0}})) == Approx(2 * std::sqrt(2.0 / 300)).epsilon(0.03));
  CHECK(stddev(init("lecun_normal", {300, 50})) == Approx(std::sqrt(1.0 / 50)).epsilon(0.03));
  CHECK(stddev(init("normal", {100, 100}, {{"std", 0.02}})) == Approx(0.02).epsilon(0.03));
  HostTensor u = init("uniform", {1000}, {{"a", -0.5}, {"b", 0.5}});
  for (float v : u.data) CHECK(std::fabs(v) <= 0.5);
}

TEST_CASE("initial values depend on the seed and the parameter name only", "[init]") {
  CHECK(init("normal", {16}, {}, 1, "a").data == init("normal", {16}, {}, 1, "a").data);
  CHECK(init("normal", {16}, {}, 1, "a").data != init("normal", {16}, {}, 2, "a").data);
  CHECK(init("normal", {16}, {}, 1, "a").data != init("normal", {16}, {}, 1, "b").data);
  CHECK(runtime::init_gain("tanh") == Approx(5.0 / 3.0));
  CHECK(runtime::init_gain("selu") == Approx(0.75));
}

TEST_CASE("unknown initialisers and modes are errors naming the parameter", "[init][errors]") {
  CHECK_THROWS_WITH(init("orthogonal", {3, 3}, {}, 1, "fc.weight"), Contains("fc.weight") && Contains("unknown initializer 'orthogonal'"));
  CHECK_THROWS_WITH(init("kaiming_normal", {3, 3}, {{"mode", std::string("fan_avg")}}), Contains("fan_in or fan_out"));
  CHECK_THROWS_WITH(init("kaiming_normal", {3, 3}, {{"nonlinearity", std::string("swishy")}}), Contains("swishy"));
}
