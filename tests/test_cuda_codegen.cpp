// CUDA: every op's CUDA schedule, every kernel of a reduced model of each zoo family, and the kernels with a second output compile for host-cuda (no GPU needed). Where a GPU
// answers, the op tests also run on it and must match; the output says which happened.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "backends/halide/halide_backend.h"
#include "backends/reference/reference.h"
#include "ir/fusion_group.h"
#include "ir/op_registry.h"
#include "ir/text_format.h"
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
  // STRATA_TEST_ZOO=densenet,resnet runs only the models whose names contain one of these
  // (to spread the families over processes on a GPU machine); the output names them.
  std::vector<std::string> only;
  if (const char* env = std::getenv("STRATA_TEST_ZOO")) {
    std::stringstream ss(env);
    for (std::string part; std::getline(ss, part, ',');)
      if (!part.empty()) only.push_back(part);
  }
  std::set<std::string> seen;
  for (const auto& m : models) {
    if (!only.empty() && std::none_of(only.begin(), only.end(), [&](const std::string& p) { return m.name().find(p) != std::string::npos; })) {
      WARN("STRATA_TEST_ZOO leaves out " << m.name());
      continue;
    }
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

// Kernels with two outputs (ir/fusion_group.h's siblings) on CUDA: fuse-conv-bn-stats's (the
// convolution's value computed first, then its copy, the per-tile sums and their totals) and
// momentum SGD's parameter step beside its momentum in the weight gradient's kernel.
TEST_CASE("kernels with a sibling's second output compile for host-cuda", "[cuda][passes]") {
  auto dir = std::filesystem::temp_directory_path() / ("strata-cuda-sibling-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  hb::Options o;
  o.target = "host-cuda";
  const char* graphs[] = {R"IR(graph conv_stats {
  input %x : f32[2, 32, 9, 9]
  param %w : f32[32, 32, 3, 3] init zeros
  %y = conv2d(%x, %w) {padding = [1, 1, 1, 1]} : f32[2, 32, 9, 9]
  %s = batch_norm_stats(%y) : f32[2, 32]
  output "y" = %y
  output "s" = %s
})IR",
                          R"IR(graph dgrad_sums {
  input %dy : f32[2, 32, 9, 9]
  input %x : f32[2, 16, 9, 9]
  input %a : f32[2, 16, 9, 9]
  param %w : f32[32, 16, 3, 3] init zeros
  param %rm : f32[16] init zeros
  param %rv : f32[16] init zeros
  %st = batch_norm_stats(%x) : f32[2, 16]
  %g0 = conv2d_backward_input(%dy, %w) {padding = [1, 1, 1, 1], input_shape = [2, 16, 9, 9]} : f32[2, 16, 9, 9]
  %g = activation_grad(%a, %g0) : f32[2, 16, 9, 9]
  %s = batch_norm_backward_weight(%x, %rm, %rv, %g, %st) {with_bias = 1} : f32[2, 16]
  output "g" = %g
  output "s" = %s
})IR",
                          R"IR(graph momentum_step {
  input %x : f32[2, 16, 9, 9]
  input %dy : f32[2, 32, 9, 9]
  input %hyper : f32[2]
  param %w : f32[32, 16, 3, 3] init zeros
  param %b : f32[32, 16, 3, 3] init zeros
  %dw = conv2d_backward_weight(%x, %dy) {padding = [1, 1, 1, 1], weight_shape = [32, 16, 3, 3]} : f32[32, 16, 3, 3]
  %new_w = optimizer_update(%w, %dw, %hyper, %b) {optimizer = "momentum"} : f32[32, 16, 3, 3]
  %new_b = optimizer_update(%w, %dw, %hyper, %b) {optimizer = "momentum", result = 1} : f32[32, 16, 3, 3]
  output "w" = %new_w
  output "b" = %new_b
})IR"};
  int compiled = 0;
  for (const char* text : graphs) {
    ir::Graph g = passes::run_pipeline(ir::parse(text), passes::PipelineOptions{}, reference::pass_context());
    for (const auto& grp : ir::fusion_groups(g)) {
      if (!ir::is_sibling(*grp.back())) continue;
      auto obj = dir / fmt::format("s{}.o", compiled++);
      INFO("group ending at " << grp.back()->name());
      REQUIRE_NOTHROW(hb::compile_only(grp, o, obj.string()));
      CHECK(std::filesystem::file_size(obj) > 0);
    }
    if (hb::gpu_available()) testing::check_against_reference(ir::parse(text), "host-cuda", 1, -1.f, 1.f, "manual", 1e-3, 1e-4);
  }
  CHECK(compiled == 3);  // the statistics, the scale and bias gradients, the parameter step
  std::filesystem::remove_all(dir);
}
