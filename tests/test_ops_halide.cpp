// Every op: the Halide CPU kernel equals the reference backend within 1e-4 relative /
// 1e-5 absolute on random inputs, over the shapes of op_cases().
#include "tests/helpers.h"
#include "tests/op_cases.h"

using namespace strata;

TEST_CASE("every op on the Halide CPU backend matches the reference", "[halide][ops]") {
  for (const auto& c : testing::op_cases()) {
    SECTION(c.name) {
      dsl::Model m = c.build();
      testing::check_against_reference(m.graph(), "host", 7, c.lo, c.hi);
    }
  }
}
