#include "passes/pass_manager.h"

#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <sstream>

#include "ir/error.h"
#include "ir/text_format.h"
#include "ir/verifier.h"

namespace strata::passes {

static std::vector<PassInfo>& registry() {
  static std::vector<PassInfo> passes = {
      {"shape-infer", "re-run every node's shape rule (after inputs changed)", shape_infer},
      {"simplify", "drop nodes that compute their input (inference dropout, identity)", simplify},
      {"constant-fold", "evaluate nodes whose inputs are all constants", constant_fold},
      {"cse", "common-subexpression elimination: one node per (op, attributes, inputs)", eliminate_common_subexpressions},
      {"dce", "dead-code elimination: drop nodes no output depends on, and unused constants", eliminate_dead_code},
      {"fuse-bn-stats",
       "training batch norm's statistics computed once per tensor for its forward, running-statistics and gradient "
       "kernels; the weight and bias gradients in one pass over dy, which the input gradient reads",
       fuse_bn_stats},
      {"fold-pad", "zero padding of H and W folded into the convolution that reads it", fold_pad},
      {"bn-fold", "inference batch norm folded into the preceding conv2d or linear's weight and bias", fold_batch_norm},
      {"merge-conv-add",
       "add(conv(a), conv(b)) of two 1x1 convolutions with static weights as one convolution over concat(a, b) "
       "(ResNet's projection shortcut and the branch's last conv)",
       merge_conv_add},
      {"fuse-conv-bn-act", "conv2d / linear + eval-form batch norm + activation as one fusion group", fuse_conv_bn_act},
      {"fold-residual-add", "add(shortcut, branch) and an activation after it as the epilogue of the branch's conv",
       fold_residual_add},
      {"fuse-optimizer",
       "momentum SGD's parameter step reads the new momentum (p - lr * b'), so the gradient's one reader, the "
       "momentum update, can be the epilogue of the kernel computing the gradient",
       fuse_optimizer},
      {"fuse-elementwise",
       "chains of elementwise ops fused into their producer; momentum SGD's parameter step written beside its "
       "momentum update (annotation _sibling)",
       fuse_elementwise},
      {"recompute-bn-act",
       "a training batch norm and its activation read only by convolutions recomputed by each reader as its "
       "prologue, never stored (less activation memory; in -O2 only with --enable-pass)",
       recompute_bn_act},
      {"fuse-conv-bn-stats",
       "a convolution's batch statistics (batch_norm_stats) summed inside the convolution's kernel, a second output "
       "(annotation _sibling)",
       fuse_conv_bn_stats},
      {"fold-concat", "concat inputs written by their producers straight into the concat's buffer (annotation _fold)",
       fold_concat},
      {"memory-plan", "buffer slots by liveness: reuse, elementwise ops in place (annotation _buffer)", plan_memory_pass},
  };
  return passes;
}

const std::vector<PassInfo>& pass_registry() { return registry(); }

void register_pass(PassInfo p) {
  for (const PassInfo& q : registry())
    if (q.name == p.name) throw Error(fmt::format("a pass named '{}' is already registered", p.name));
  registry().push_back(std::move(p));
}

const PassInfo& find_pass(const std::string& name) {
  std::vector<std::string> names;
  for (const PassInfo& p : pass_registry()) {
    if (p.name == name) return p;
    names.push_back(p.name);
  }
  throw Error(fmt::format("unknown pass '{}' (passes: {})", name, fmt::join(names, ", ")));
}

std::string preset_pipeline(const std::string& preset) {
  if (preset == "-O0") return "";
  if (preset == "-O1") return "simplify,constant-fold,cse,dce";
  if (preset == "-O2")
    return "simplify,constant-fold,cse,dce,fuse-bn-stats,fold-pad,bn-fold,merge-conv-add,fuse-conv-bn-act,fold-residual-add,fuse-optimizer,fuse-elementwise,"
           "recompute-bn-act,fuse-conv-bn-stats,fold-concat,memory-plan";
  throw Error(fmt::format("unknown optimization preset '{}' (expected -O0, -O1 or -O2)", preset));
}

const std::set<std::string>& preset_optional_passes() {
  static const std::set<std::string> optional{"recompute-bn-act"};
  return optional;
}

std::vector<std::string> expand_pipeline(const PipelineOptions& o) {
  bool preset = o.pipeline.starts_with("-O");
  std::string list = preset ? preset_pipeline(o.pipeline) : o.pipeline;
  for (const std::string& d : o.disabled) find_pass(d);  // a typo in --disable-pass is an error too
  for (const std::string& e : o.enabled) {
    find_pass(e);
    if (!preset_optional_passes().count(e))
      throw Error(fmt::format("--enable-pass {}: not an optional pass of a preset (optional: {})", e,
                              fmt::join(preset_optional_passes(), ", ")));
    if (!preset) throw Error(fmt::format("--enable-pass {}: only with a preset (-O2); list the pass in --passes instead", e));
  }
  for (const std::string& d : o.print_after) find_pass(d);
  std::vector<std::string> names;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');) {
    if (item.empty()) continue;
    if (item.starts_with("-O")) throw Error(fmt::format("pipeline '{}': a preset cannot be mixed with pass names", list));
    find_pass(item);
    if (preset && preset_optional_passes().count(item) && !o.enabled.count(item)) continue;
    if (!o.disabled.count(item)) names.push_back(item);
  }
  return names;
}

ir::Graph run_pipeline(const ir::Graph& g, const PipelineOptions& o, const PassContext& ctx,
                       std::vector<PassTiming>* timings) {
  std::ostream& log = o.log ? *o.log : std::cerr;
  std::vector<std::string> names = expand_pipeline(o);
  ir::Graph cur = ir::clone(g);
  std::vector<PassTiming> local;
  for (const std::string& name : names) {
    const PassInfo& p = find_pass(name);
    auto t0 = std::chrono::steady_clock::now();
    size_t before = cur.nodes().size();
    ir::Graph next = p.run(cur, ctx);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (o.verify_each) {
      try {
        ir::verify(next);
      } catch (const Error& e) {
        throw Error(fmt::format("pass '{}' broke the IR: {}", name, e.what()));
      }
    }
    local.push_back({name, secs, before, next.nodes().size()});
    cur = std::move(next);
    if (o.print_after_all || o.print_after.count(name)) log << "// after " << name << "\n" << ir::print(cur);
  }
  if (o.time_passes) {
    double total = 0;
    for (auto& t : local) total += t.seconds;
    log << fmt::format("pass timing ({} passes, {:.3f} ms):\n", local.size(), total * 1e3);
    for (auto& t : local)
      log << fmt::format("  {:<20} {:9.3f} ms  nodes {} -> {}\n", t.pass, t.seconds * 1e3, t.nodes_before, t.nodes_after);
  }
  if (timings) *timings = std::move(local);
  return cur;
}

}  // namespace strata::passes
