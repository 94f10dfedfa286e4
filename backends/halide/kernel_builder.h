#pragma once
// Builds the Halide pipeline of one node or fusion group: ImageParams with static shapes and strides,
// the op's lowering, and its schedule (manual CPU/CUDA or an autoscheduler).
#include "backends/halide/lowering.h"

namespace strata::halide_backend {

struct BuiltPipeline {
  Halide::Pipeline pipeline;
  std::vector<Halide::Argument> args;  // inputs in node order, then the output
  Halide::Target target;
};

Halide::Target parse_target(const std::string& s);  // throws strata::Error
// in_layouts: one per ir::group_inputs(group).
BuiltPipeline build_pipeline(const NodeGroup& group, const std::vector<Layout>& in_layouts, const Layout& out_layout,
                             const Options& o, const std::vector<int64_t>& out_strides = {});

}  // namespace strata::halide_backend
