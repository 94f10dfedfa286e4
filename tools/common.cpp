#include "tools/common.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "frontend/registry.h"
#include "ir/error.h"
#include "ir/text_format.h"
#include "passes/training.h"
#include "runtime/file_util.h"

namespace strata::tools {

using cli::Args;

// A registered model name, or a text-IR file.
ir::Graph load_model(const std::string& spec) {
  if (const dsl::ModelEntry* e = dsl::find_model(spec)) {
    dsl::Model m = e->build(e->default_classes);
    return std::move(m.graph());
  }
  if (std::filesystem::exists(spec)) return ir::parse(runtime::read_binary_file(spec, "model file"), spec);
  std::vector<std::string> names;
  for (auto& e : dsl::model_registry()) names.push_back(e.name);
  throw cli::UsageError(fmt::format("unknown model '{}': not a registered model ({}) nor a text-IR file", spec,
                                    fmt::join(names, ", ")));
}

ir::Graph load_model_not_step(const std::string& command, const std::string& spec) {
  ir::Graph g = load_model(spec);
  if (passes::printed_training_step(g))
    throw cli::UsageError(fmt::format("strata {}: '{}' is a training step (printed with --train); give the model it was "
                                      "printed from",
                                      command, spec));
  return g;
}

ir::Graph load_batched_model(const Args& a) {
  const std::string& spec = a.positional(0);
  ir::Graph g = load_model(spec);
  if (dsl::find_model(spec) || a.has("batch")) {
    int64_t batch = a.get_int("batch", 1, 1 << 20);
    try {
      g.set_batch_size(batch);
    } catch (const Error& e) {
      throw Error(fmt::format("cannot re-batch '{}' to {}: {}", spec, batch, e.what()));
    }
  }
  return g;
}

const cli::Flag kTarget{"target", "TARGET", "Halide target: host, host-cuda, or any Halide target string", "host"};
const cli::Flag kBackend{"backend", "NAME", "halide or reference", "halide"};
const cli::Flag kSchedule{"schedule", "NAME", "manual, auto:Adams2019, auto:Li2018 or auto:Mullapudi2016", "manual"};
const cli::Flag kNoWinograd{"no-winograd", "", "compute 3x3 stride-1 convolutions directly, not as Winograd F(2x2)/F(4x4, 3x3)", ""};
const cli::Flag kWeights{"weights", "FILE", "weights file (default: initialise from --seed)", ""};
const cli::Flag kSeed{"seed", "N", "seed for initial weights", "0"};
const cli::Flag kBatch{"batch", "N", "batch size", "1"};
const cli::Flag kTrainStep{"train", "", "the training step (forward, cross-entropy, backward, update) instead of the model", ""};
const cli::Flag kStepOptimizer{"optimizer", "NAME", "the training step's update: sgd, momentum, nesterov, rmsprop, adam or adamw",
                               "momentum"};

std::string step_optimizer(const Args& a) {
  if (a.has("optimizer") && !a.has("train")) throw cli::UsageError("--optimizer needs --train");
  try {
    passes::optimizer_state_names(a.get("optimizer"));  // (as strata train checks its own)
  } catch (const Error& e) {
    throw cli::UsageError(fmt::format("--optimizer: {}", e.what()));
  }
  return a.get("optimizer");
}

std::vector<cli::Flag> pass_flags(const std::string& default_pipeline) {
  return {{"passes", "LIST", "pass pipeline: -O0 (as written), -O1 (cleanup), -O2 (fold, fuse, plan memory) or pass names "
                             "separated by commas (`strata passes` lists them)",
           default_pipeline},
          {"disable-pass", "NAMES", "passes to leave out of the pipeline (commas)", ""},
          {"enable-pass", "NAMES", "a preset's optional passes to run, in their place (commas; recompute-bn-act)", ""},
          {"print-after", "NAMES", "print the text IR after these passes (commas), to stderr", ""},
          {"print-after-all", "", "print the text IR after every pass, to stderr", ""},
          {"time-passes", "", "print each pass's time and node counts, to stderr", ""},
          {"verify-each", "", "run the IR verifier after every pass (always on in debug builds)", ""}};
}

std::vector<cli::Flag> with_pass_flags(std::vector<cli::Flag> flags, const std::string& default_pipeline) {
  for (auto& f : pass_flags(default_pipeline)) flags.push_back(f);
  return flags;
}

static std::set<std::string> comma_set(const std::string& s) {
  std::set<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.insert(item);
  return out;
}

passes::PipelineOptions pipeline_options(const Args& a) {
  passes::PipelineOptions o;
  o.pipeline = a.get("passes");
  o.disabled = comma_set(a.get("disable-pass"));
  o.enabled = comma_set(a.get("enable-pass"));
  o.print_after = comma_set(a.get("print-after"));
  o.print_after_all = a.has("print-after-all");
  o.time_passes = a.has("time-passes");
  o.verify_each = o.verify_each || a.has("verify-each");
  try {
    passes::expand_pipeline(o);  // unknown names and presets are usage errors
  } catch (const Error& e) {
    throw cli::UsageError(e.what());
  }
  return o;
}

runtime::CompileOptions compile_options(const Args& a, const std::string& schedule_flag) {
  runtime::CompileOptions o;
  try {
    o.backend = runtime::backend_from_name(a.get("backend"));
    o.halide.target = a.get("target");
    o.halide.schedule = a.get(schedule_flag);
    o.halide.winograd = !a.has("no-winograd");
    // --profile per op kind; per node with --profile-nodes, or --profile and STRATA_PROFILE_NODES set.
    o.profile_nodes = a.has("profile-nodes") || (a.has("profile") && std::getenv("STRATA_PROFILE_NODES"));
    o.profile = a.has("profile") || o.profile_nodes;
    halide_backend::check_options(o.halide);
    if (!a.get("passes").empty()) o.passes = pipeline_options(a);  // commands with the pass flags
  } catch (const Error& e) {
    throw cli::UsageError(e.what());
  }
  return o;
}

}  // namespace strata::tools
