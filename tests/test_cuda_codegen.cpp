// CUDA: every op's CUDA schedule compiles for host-cuda (no GPU needed). Where a GPU
// answers, the op tests also run on it and must match; the output says which happened.
#include <filesystem>

#include "backends/halide/halide_backend.h"
#include "tests/helpers.h"
#include "tests/op_cases.h"

using namespace strata;
namespace hb = strata::halide_backend;

TEST_CASE("every op has a CUDA schedule that compiles for host-cuda", "[cuda][ops]") {
  auto dir = std::filesystem::temp_directory_path() / ("strata-cuda-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  hb::Options o;
  o.target = "host-cuda";
  bool gpu = hb::gpu_available();
  std::string mode = gpu ? "GPU present: CUDA kernels are compiled and run against the reference"
                         : "no GPU on this machine: CUDA kernels are compiled only (code generation checked, not run)";
  WARN(mode);
  for (const auto& c : testing::op_cases()) {
    SECTION(c.name) {
      dsl::Model m = c.build();
      for (const auto& n : m.graph().nodes()) {
        auto obj = dir / (c.name + "_" + n->op + ".o");
        INFO("node " << n->name() << " (" << n->op << ")");
        REQUIRE_NOTHROW(hb::compile_only(*n, o, obj.string()));
        CHECK(std::filesystem::file_size(obj) > 0);
      }
      if (gpu) testing::check_against_reference(m.graph(), "host-cuda", 7, c.lo, c.hi);
    }
  }
  std::filesystem::remove_all(dir);
}
