// CUDA: every op's CUDA schedule, and every kernel of a reduced model of each zoo family, compiles for host-cuda (no GPU needed). Where a GPU
// answers, the op tests also run on it and must match; the output says which happened.
#include <fmt/format.h>

#include <filesystem>
#include <set>

#include "backends/halide/halide_backend.h"
#include "backends/reference/reference.h"
#include "ir/fusion_group.h"
#include "ir/op_registry.h"
#include "passes/pass_manager.h"
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

// A reduced model of every zoo family after -O2: each distinct kernel (a lone node or a
// fusion group: ops, attributes, input types) compiles for host-cuda; on a GPU the whole
// model runs there and matches the reference.
TEST_CASE("reduced zoo models: every kernel's CUDA schedule compiles", "[cuda][zoo]") {
  auto dir = std::filesystem::temp_directory_path() / ("strata-cuda-zoo-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  hb::Options o;
  o.target = "host-cuda";
  bool gpu = hb::gpu_available();
  WARN((gpu ? "GPU present: reduced zoo models run on CUDA against the reference"
            : "no GPU on this machine: zoo kernels are compiled for CUDA only (not run)"));
  std::vector<dsl::Model> models = testing::reduced_zoo_models();
  std::set<std::string> seen;
  for (const auto& m : models) {
    INFO(m.name());
    ir::Graph g = passes::run_pipeline(m.graph(), passes::PipelineOptions{}, reference::pass_context());
    const auto& nodes = g.nodes();
    for (size_t i = 0; i < nodes.size(); ++i) {
      int grp = ir::group_of(*nodes[i]);
      if (grp >= 0 && i + 1 < nodes.size() && ir::group_of(*nodes[i + 1]) == grp) continue;
      hb::NodeGroup kernel{nodes[i].get()};
      for (size_t j = i; grp >= 0 && j-- > 0 && ir::group_of(*nodes[j]) == grp;) kernel.insert(kernel.begin(), nodes[j].get());
      std::string key;
      for (const ir::Node* n : kernel) {
        key += n->op + (ir::is_prologue(*n) ? "^" : "") + "{";
        for (const auto& [name, a] : n->attrs)
          if (!ir::is_annotation(name)) key += fmt::format("{}={};", name, ir::attr_str(a));
        for (const auto* v : n->inputs) key += fmt::format("|{}", v->type.str());
        key += "}";
      }
      if (!seen.insert(key).second) continue;
      auto obj = dir / fmt::format("k{}.o", seen.size());
      INFO("kernel ending at node " << nodes[i]->name() << " (" << kernel.size() << " nodes, anchor "
                                    << kernel[ir::anchor_index(kernel)]->op << ")");
      REQUIRE_NOTHROW(hb::compile_only(kernel, o, obj.string()));
      CHECK(std::filesystem::file_size(obj) > 0);
    }
    if (gpu) testing::check_against_reference(m.graph(), "host-cuda", 1, -1.f, 1.f, "manual", 1e-3, 1e-4);
  }
  std::filesystem::remove_all(dir);
}
