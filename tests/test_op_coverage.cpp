// DESIGN.md, "One op, four facts": every op in the table has a reference kernel and a
// Halide lowering (gradient rules join with the autodiff issue).
#include "backends/halide/halide_backend.h"
#include "backends/reference/reference.h"
#include "ir/op_registry.h"
#include "tests/helpers.h"
#include "tests/op_cases.h"

using namespace strata;

TEST_CASE("every op in the table has a reference kernel and a Halide lowering", "[coverage]") {
  REQUIRE(ir::op_table().size() >= 34);
  for (const auto& def : ir::op_table()) {
    INFO("op " << def.name);
    CHECK(reference::find_kernel(def.name) != nullptr);
    CHECK(halide_backend::has_lowering(def.name));
    CHECK(def.infer);
    CHECK(!def.doc.empty());
  }
}

TEST_CASE("every op in the table is exercised by the op tests", "[coverage]") {
  std::set<std::string> seen;
  for (const auto& c : testing::op_cases()) {
    dsl::Model m = c.build();
    for (const auto& n : m.graph().nodes()) seen.insert(n->op);
  }
  for (const auto& def : ir::op_table()) {
    INFO("op " << def.name << " has no case in tests/op_cases.cpp");
    CHECK(seen.count(def.name) == 1);
  }
}
