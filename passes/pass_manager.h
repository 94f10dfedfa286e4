#pragma once
// The PassManager: graph-to-graph passes registered by name, run as a pipeline given as a
// comma-separated list ("shape-infer,bn-fold,fuse-conv-bn-act") or a preset (-O0: the
// graph as written, unfused; -O1: cleanup; -O2: cleanup, folding, fusion and the memory
// plan, the default), with passes disabled by name, the verifier after every pass (always
// in debug builds, on request otherwise), the text IR printed after chosen passes, and
// per-pass timing. LLVM's legacy PassManager flags, where they exist, are the model.
#include <functional>
#include <iosfwd>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace strata::passes {

struct PassContext {
  // Evaluates one node on constant inputs (the runtime supplies the reference backend's
  // kernels: passes/ may not include a backend). Without it constant-fold leaves nodes be.
  std::function<HostTensor(const ir::Node&, const std::vector<const HostTensor*>&)> evaluate;
};

struct PassInfo {
  std::string name;
  std::string description;
  std::function<ir::Graph(const ir::Graph&, const PassContext&)> run;
};
const std::vector<PassInfo>& pass_registry();
// Adds a pass (a user's own, or a test's): its name must be new.
void register_pass(PassInfo p);
const PassInfo& find_pass(const std::string& name);  // throws strata::Error listing the names

#ifdef NDEBUG
inline constexpr bool kVerifyEachDefault = false;
#else
inline constexpr bool kVerifyEachDefault = true;
#endif

struct PipelineOptions {
  std::string pipeline = "-O2";  // a preset (-O0, -O1, -O2) or pass names separated by commas
  std::set<std::string> disabled;
  std::set<std::string> enabled;  // a preset's optional passes to run (preset_optional_passes)
  bool verify_each = kVerifyEachDefault;
  std::set<std::string> print_after;
  bool print_after_all = false;
  bool time_passes = false;
  std::ostream* log = nullptr;  // where printing and timing go (std::cerr when null)
};

// The pass names a pipeline runs, in order: presets expanded, disabled passes removed;
// unknown names raise strata::Error.
std::vector<std::string> expand_pipeline(const PipelineOptions& o);
std::string preset_pipeline(const std::string& preset);  // "-O2" -> "simplify,...", throws if unknown
// Passes a preset lists in their place but runs only when enabled (PipelineOptions::enabled).
const std::set<std::string>& preset_optional_passes();

struct PassTiming {
  std::string pass;
  double seconds = 0;
  size_t nodes_before = 0, nodes_after = 0;
};

// Runs the pipeline on a copy of g. A pass that leaves an invalid graph is reported as
// "pass 'NAME' broke the IR: ..." when verification runs.
ir::Graph run_pipeline(const ir::Graph& g, const PipelineOptions& o, const PassContext& ctx = {},
                       std::vector<PassTiming>* timings = nullptr);

// The passes, one file per family (cleanup.cpp, fold.cpp, fusion.cpp, memory_plan.cpp).
ir::Graph shape_infer(const ir::Graph& g, const PassContext&);
ir::Graph simplify(const ir::Graph& g, const PassContext&);
ir::Graph constant_fold(const ir::Graph& g, const PassContext& ctx);
ir::Graph eliminate_common_subexpressions(const ir::Graph& g, const PassContext&);
ir::Graph eliminate_dead_code(const ir::Graph& g, const PassContext&);
ir::Graph fuse_optimizer(const ir::Graph& g, const PassContext& c);
ir::Graph fuse_bn_stats(const ir::Graph& g, const PassContext& c);
ir::Graph fuse_conv_bn_stats(const ir::Graph& g, const PassContext& c);
ir::Graph fold_batch_norm(const ir::Graph& g, const PassContext&);
ir::Graph fold_pad(const ir::Graph& g, const PassContext&);
ir::Graph merge_conv_add(const ir::Graph& g, const PassContext&);
ir::Graph fuse_conv_bn_act(const ir::Graph& g, const PassContext&);
ir::Graph fold_residual_add(const ir::Graph& g, const PassContext&);
ir::Graph fuse_elementwise(const ir::Graph& g, const PassContext&);
ir::Graph recompute_bn_act(const ir::Graph& g, const PassContext&);
ir::Graph fold_concat(const ir::Graph& g, const PassContext&);
ir::Graph plan_memory_pass(const ir::Graph& g, const PassContext&);

}  // namespace strata::passes
