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
// load_model for a command that runs the model or builds its own training step from it
// (train, eval, run): a training step read back from its text form is refused by name.
ir::Graph load_model_not_step(const std::string& command, const std::string& spec);
// The model named by the first positional argument at --batch (default 1); a text-IR file
// keeps its own batch unless --batch is given.
ir::Graph load_batched_model(const cli::Args& a);

extern const cli::Flag kTarget, kBackend, kSchedule, kNoWinograd, kWeights, kSeed, kBatch, kTrainStep, kStepOptimizer;

// --optimizer, checked: a known name, and only with --train.
std::string step_optimizer(const cli::Args& a);

// The pass-pipeline flags (-O0/-O1/-O2 are spelled --passes=-ON by main()); `print` shows
// the graph as written unless asked, so its --passes defaults to -O0.
std::vector<cli::Flag> pass_flags(const std::string& default_pipeline = "-O2");
std::vector<cli::Flag> with_pass_flags(std::vector<cli::Flag> flags, const std::string& default_pipeline = "-O2");
passes::PipelineOptions pipeline_options(const cli::Args& a);

// Backend, target, Halide schedule (read from `schedule_flag`), pass pipeline and profiling
// from the flags.
runtime::CompileOptions compile_options(const cli::Args& a, const std::string& schedule_flag = "schedule");

struct Subcommand {
  cli::Command cmd;
  std::function<int(const cli::Args&)> run;
};

// `strata train` and `strata eval` (cmd_train.cpp).
std::vector<Subcommand> training_subcommands();
// `strata bench` (cmd_bench.cpp).
Subcommand bench_subcommand();

}  // namespace strata::tools
