// Every registered zoo model at full size (its own input size, 1000 classes, batch 1):
// compiled with the Halide CPU schedules, one inference, checked against the reference
// backend on the same seeded weights and input. Labelled "long" (tens of minutes on two
// cores, the reference backend's plain loops dominating), so it is not in the default suite:
//   cmake -S . -B build -DSTRATA_LONG_TESTS=ON && cmake --build build -j2 &&
//   ctest --test-dir build -L long --output-on-failure
// One model: build/tests/test_zoo_full -c resnet50
#include "frontend/registry.h"
#include "tests/helpers.h"

using namespace strata;

TEST_CASE("every zoo model at full size: one Halide inference equals the reference backend", "[zoo][long]") {
  for (const auto& e : dsl::model_registry()) {
    if (e.default_classes != 1000) continue;  // the examples (small_resnet, lenet) run in other tests
    DYNAMIC_SECTION(e.name) {
      dsl::Model m = e.build(1000);
      // Loose enough for float32 sums over ~10^4 terms through ~100 layers, tight enough to
      // catch a wrong index or a dropped term (those move outputs by whole units).
      double worst = testing::check_against_reference(m.graph(), "host", 1, -1.f, 1.f, "manual", 2e-3, 2e-4);
      WARN(e.name << ": worst |halide - reference| = " << worst);
    }
  }
}
