#include "tools/common.h"

#include <fmt/format.h>

#include <filesystem>

#include "frontend/registry.h"
#include "ir/error.h"
#include "ir/text_format.h"
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

const cli::Flag kTarget{"target", "TARGET", "Halide target: host, host-cuda, or any Halide target string", "host"};
const cli::Flag kBackend{"backend", "NAME", "halide or reference", "halide"};
const cli::Flag kSchedule{"schedule", "NAME", "manual, auto:Adams2019, auto:Li2018 or auto:Mullapudi2016", "manual"};
const cli::Flag kWeights{"weights", "FILE", "weights file (default: initialise from --seed)", ""};
const cli::Flag kSeed{"seed", "N", "seed for initial weights", "0"};
const cli::Flag kBatch{"batch", "N", "batch size", "1"};

runtime::CompileOptions compile_options(const Args& a, const std::string& schedule_flag) {
  runtime::CompileOptions o;
  try {
    o.backend = runtime::backend_from_name(a.get("backend"));
    o.halide.target = a.get("target");
    o.halide.schedule = a.get(schedule_flag);
    halide_backend::check_options(o.halide);
  } catch (const Error& e) {
    throw cli::UsageError(e.what());
  }
  return o;
}

}  // namespace strata::tools
