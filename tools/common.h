#pragma once
// What the strata subcommands share: model lookup, common flags, compile options.
#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/executable.h"
#include "tools/cli_args.h"

namespace strata::tools {

// A registered model name, or a text-IR file.
ir::Graph load_model(const std::string& spec);

extern const cli::Flag kTarget, kBackend, kSchedule, kWeights, kSeed, kBatch;

// Backend, target and Halide schedule (read from `schedule_flag`) from the flags.
runtime::CompileOptions compile_options(const cli::Args& a, const std::string& schedule_flag = "schedule");

struct Subcommand {
  cli::Command cmd;
  std::function<int(const cli::Args&)> run;
};

// `strata train` and `strata eval` (cmd_train.cpp).
std::vector<Subcommand> training_subcommands();

}  // namespace strata::tools
