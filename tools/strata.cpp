// The strata command line: one subcommand per job.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "backends/reference/reference.h"
#include "frontend/registry.h"
#include "frontend/summary.h"
#include "ir/error.h"
#include "ir/text_format.h"
#include "ir/verifier.h"
#include "runtime/executable.h"
#include "runtime/file_util.h"
#include "runtime/idx.h"
#include "runtime/npy.h"
#include "passes/memory_plan.h"
#include "passes/training.h"
#include "runtime/trainer.h"
#include "tools/common.h"

using namespace strata;
using namespace strata::tools;
using cli::Args;
using cli::Command;
using cli::Flag;

namespace {

runtime::ParameterStore weights_for(const ir::Graph& g, const Args& a) {
  if (!a.get("weights").empty()) return runtime::ParameterStore::load(a.get("weights"));
  return runtime::ParameterStore::initialize(g, static_cast<uint64_t>(a.get_int("seed", 0, INT64_MAX)));
}

// The model (or with --train its training step) at the batch size asked for; a text-IR
// file keeps its own unless --batch is given.
ir::Graph model_or_step(const Args& a) {
  std::string optimizer = step_optimizer(a);
  ir::Graph g = load_batched_model(a);
  if (a.has("train")) g = std::move(passes::benchmark_training_step(g, optimizer).graph);
  return g;
}

// The model after the pass pipeline the flags ask for (-O0 by default: as written).
ir::Graph transformed_model(const Args& a) {
  return passes::run_pipeline(model_or_step(a), pipeline_options(a), reference::pass_context());
}

int cmd_summary(const Args& a) {
  ir::Graph g = transformed_model(a);
  std::fputs(dsl::summary(g).c_str(), stdout);
  passes::MemoryPlan plan = passes::annotated_plan(g);
  if (plan.slot.empty()) plan = passes::plan_memory(g);
  std::printf("Activation memory: %.2f MiB with the memory plan (%zu slots), %.2f MiB with one buffer per value\n",
              plan.peak_bytes / 1048576.0, plan.slot_floats.size(), plan.unplanned_bytes / 1048576.0);
  if (plan.static_bytes)
    std::printf("Computed from parameters once (folded weights): %.2f MiB\n", plan.static_bytes / 1048576.0);
  return 0;
}

int cmd_passes(const Args&) {
  std::printf("%-20s %s\n", "pass", "what it does");
  for (const auto& p : passes::pass_registry()) std::printf("%-20s %s\n", p.name.c_str(), p.description.c_str());
  std::printf("\npresets:\n");
  for (const char* o : {"-O0", "-O1", "-O2"}) {
    std::string list = passes::preset_pipeline(o);
    std::printf("  %s  %s\n", o, list.empty() ? "(no passes: the graph as written, unfused)" : list.c_str());
  }
  std::printf("optional in a preset, run only with --enable-pass:");
  for (const std::string& p : passes::preset_optional_passes()) std::printf(" %s", p.c_str());
  std::printf("\n");
  return 0;
}

// Every registered model: trainable parameters (a plain integer, as the reference
// implementations count them), multiply-adds of one image, default input size.
int cmd_zoo(const Args&) {
  std::printf("%-14s %14s %16s  %-14s %s\n", "model", "parameters", "multiply-adds", "input", "description");
  for (const auto& e : dsl::model_registry()) {
    dsl::Model m = e.build(e.default_classes);
    dsl::ModelStats st = dsl::model_stats(m.graph());
    const Shape& in = m.graph().inputs()[0]->type.shape;
    std::string input = fmt::format("{}x{}x{}", in[1], in[2], in[3]);
    std::printf("%-14s %14lld %16lld  %-14s %s\n", e.name.c_str(), static_cast<long long>(st.trainable_params),
                static_cast<long long>(st.macs), input.c_str(), e.description.c_str());
  }
  return 0;
}

int cmd_print(const Args& a) {
  ir::Graph g = transformed_model(a);
  std::fputs(ir::print(g).c_str(), stdout);
  return 0;
}

int cmd_dot(const Args& a) {
  ir::Graph g = model_or_step(a);
  std::string dot = ir::to_dot(g);
  if (a.get("output").empty()) std::fputs(dot.c_str(), stdout);
  else runtime::write_file_atomic(a.get("output"), dot, "DOT file");
  return 0;
}

int cmd_run(const Args& a) {
  if (!a.has("input")) throw cli::UsageError("strata run: --input x.npy is required");
  if (!a.has("output")) throw cli::UsageError("strata run: --output y.npy is required");
  runtime::CompileOptions o = compile_options(a);
  ir::Graph g = load_model_not_step("run", a.positional(0));
  if (g.inputs().size() != 1) throw Error(fmt::format("strata run: model '{}' has {} inputs; run takes one", g.name(), g.inputs().size()));
  HostTensor x = runtime::read_npy(a.get("input"));
  const ir::Value* in = g.inputs()[0];
  Shape want = in->type.shape;
  if (x.shape.size() != want.size() || !std::equal(x.shape.begin() + 1, x.shape.end(), want.begin() + 1))
    throw Error(fmt::format("strata run: input '{}' has shape {}; model '{}' expects N x {}", a.get("input"),
                            shape_str(x.shape), g.name(), shape_str(Shape(want.begin() + 1, want.end()))));
  o.batch = x.shape[0];
  runtime::Executable exe(g, o);
  auto params = weights_for(exe.graph(), a);
  if (a.get("weights").empty()) std::fprintf(stderr, "note: no --weights given; using initial weights (seed %s)\n", a.get("seed").c_str());
  exe.set_parameters(params);
  // Weights written by `strata train` carry the input normalisation they were trained with.
  runtime::Normalization norm = runtime::stored_normalization(params);
  if (!norm.mean.empty()) {
    if (static_cast<int64_t>(norm.mean.size()) != x.shape[1])
      throw Error(fmt::format("strata run: the weights' normalisation has {} channels, the input {}", norm.mean.size(), x.shape[1]));
    int64_t plane = x.numel() / (x.shape[0] * x.shape[1]);
    for (int64_t i = 0; i < x.numel(); ++i) {
      size_t c = static_cast<size_t>((i / plane) % x.shape[1]);
      x.data[i] = (x.data[i] - norm.mean[c]) / norm.std[c];
    }
    std::fprintf(stderr, "note: inputs normalised with the weights' per-channel mean and std (from training)\n");
  }
  auto t0 = std::chrono::steady_clock::now();
  NamedTensors out = exe.run({{in->name, x}});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto& outs = exe.graph().outputs();
  std::string path = a.get("output");
  if (outs.size() == 1) {
    runtime::write_npy(path, out.at(outs[0].first));
  } else {
    std::string stem = path.size() > 4 && path.ends_with(".npy") ? path.substr(0, path.size() - 4) : path;
    for (auto& [name, v] : outs) runtime::write_npy(fmt::format("{}.{}.npy", stem, name), out.at(name));
  }
  const auto& r = exe.report();
  std::fprintf(stderr, "compiled %d kernels (%d distinct: %d compiled, %d from disk cache) in %.2f s; ran in %.2f ms\n",
               r.kernels, r.distinct_kernels, r.compiled, r.loaded_from_disk, r.seconds, secs * 1e3);
  return 0;
}

// The README's main job (until training lands): compile the example models, print their
// summaries, and run inference on Fashion-MNIST test images, checked against the
// reference backend.
int cmd_demo(const Args& a) {
  int64_t count = a.get_int("images", 1, 10000);
  int64_t batch = a.get_int("batch", 1, 10000);
  std::string dir = runtime::fashion_mnist_dir();
  auto data = runtime::read_idx(dir + "/t10k-images-idx3-ubyte.gz", dir + "/t10k-labels-idx1-ubyte.gz", count);
  std::printf("Fashion-MNIST test set: %lld images from %s\n\n", static_cast<long long>(data.labels.size()), dir.c_str());
  runtime::CompileOptions o = compile_options(a);
  for (const auto& entry : dsl::model_registry()) {
    dsl::Model m = entry.build(entry.default_classes);
    // The example models read 28x28 grayscale; the zoo's (224x224 RGB and up) cannot take
    // these images.
    if (Shape s = m.graph().inputs()[0]->type.shape; s.size() != 4 || s[1] != 1 || s[2] != 28 || s[3] != 28) continue;
    std::fputs(m.summary().c_str(), stdout);
    runtime::Executable exe(m.graph(), [&] { auto c = o; c.batch = batch; return c; }());
    const auto& r = exe.report();
    std::printf("compiled %d kernels (%d distinct: %d compiled, %d loaded from the disk cache) in %.2f s\n", r.kernels,
                r.distinct_kernels, r.compiled, r.loaded_from_disk, r.seconds);
    auto params = runtime::ParameterStore::initialize(exe.graph(), static_cast<uint64_t>(a.get_int("seed", 0, INT64_MAX)));
    exe.set_parameters(params);
    runtime::Executable ref(m.graph(), [&] { auto c = o; c.batch = batch; c.backend = runtime::Backend::Reference; return c; }());
    ref.set_parameters(params);
    int64_t n = static_cast<int64_t>(data.labels.size()), done = 0;
    int correct = 0;
    double secs = 0, max_diff = 0;
    std::vector<int> hist(10, 0);
    const std::string in_name = exe.graph().inputs()[0]->name;
    for (int64_t start = 0; start + batch <= n; start += batch) {
      int64_t img = 28 * 28;
      HostTensor x({batch, 1, 28, 28}, std::vector<float>(data.images.data.begin() + start * img,
                                                          data.images.data.begin() + (start + batch) * img));
      auto t0 = std::chrono::steady_clock::now();
      HostTensor logits = exe.run({{in_name, x}}).begin()->second;
      secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (start == 0) {
        HostTensor want = ref.run({{in_name, x}}).begin()->second;
        for (size_t i = 0; i < want.data.size(); ++i) max_diff = std::max(max_diff, double(std::fabs(want.data[i] - logits.data[i])));
      }
      for (int64_t b = 0; b < batch; ++b) {
        int best = 0;
        for (int k = 1; k < 10; ++k)
          if (logits.data[b * 10 + k] > logits.data[b * 10 + best]) best = k;
        correct += best == data.labels[start + b];
        ++hist[best];
      }
      done += batch;
    }
    std::printf("inference on %lld images, batch %lld: %.1f images/s; Halide vs reference on the first batch: max |diff| = %.2g\n",
                static_cast<long long>(done), static_cast<long long>(batch), done / std::max(secs, 1e-9), max_diff);
    std::printf("accuracy with untrained (initial) weights: %.1f%% (chance is 10%%; training arrives with `strata train`)\n",
                100.0 * correct / std::max<int64_t>(done, 1));
    std::printf("predicted classes:");
    for (int k = 0; k < 10; ++k) std::printf(" %s=%d", runtime::kFashionMnistClasses[k], hist[k]);
    std::printf("\n\n");
  }
  return 0;
}

std::vector<Subcommand> subcommands() {
  std::vector<Subcommand> all{
      {{"summary", "Per-layer table of a model: output shapes, parameters, multiply-adds, activation memory.", {"MODEL"},
        with_pass_flags({kBatch, kTrainStep, kStepOptimizer}, "-O0")},
       cmd_summary},
      {{"print", "Print a model's graph in the text IR (after the passes asked for).", {"MODEL"},
        with_pass_flags({kBatch, kTrainStep, kStepOptimizer}, "-O0")},
       cmd_print},
      {{"passes", "List the graph passes and the -O0/-O1/-O2 presets.", {}, {}}, cmd_passes},
      {{"zoo", "List the registered models: parameters, multiply-adds, input size.", {}, {}}, cmd_zoo},
      {{"dot", "Write a model's graph as Graphviz DOT.", {"MODEL"},
        {{"output", "FILE", "write to FILE instead of stdout", ""}, kBatch, kTrainStep, kStepOptimizer}},
       cmd_dot},
      {{"run",
        "Run inference: MODEL is a registered model or a text-IR file; the input's batch size sets the model's.",
        {"MODEL"},
        with_pass_flags({{"input", "FILE", "input tensor (.npy, float32, NCHW)", ""},
         {"output", "FILE", "where to write the output (.npy)", ""},
         kTarget, kBackend, kSchedule, kNoWinograd, kWeights, kSeed})},
       cmd_run},
      {{"demo",
        "Compile the example models, print their summaries, and run inference on Fashion-MNIST test images.",
        {},
        with_pass_flags({{"images", "N", "number of test images", "512"}, {"batch", "N", "batch size", "64"}, kTarget,
                         kBackend, kSchedule, kNoWinograd, kSeed})},
       cmd_demo},
  };
  for (auto& s : training_subcommands()) all.push_back(std::move(s));
  all.push_back(bench_subcommand());
  return all;
}

void usage(FILE* f) {
  std::fprintf(f, "usage: strata COMMAND [args]\n\ncommands:\n");
  for (auto& s : subcommands()) std::fprintf(f, "  %-10s %s\n", s.cmd.name.c_str(), s.cmd.summary.c_str());
  std::fprintf(f, "\n`strata COMMAND --help` describes each. Models: ");
  for (auto& e : dsl::model_registry()) std::fprintf(f, "%s ", e.name.c_str());
  std::fprintf(f, "(or a text-IR file)\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    usage(stdout);
    return 0;
  }
  // -O0, -O1, -O2 (compiler spelling) are the --passes presets; after --passes they are its value.
  std::vector<std::string> rest(argv + 2, argv + argc);
  for (size_t i = 0; i < rest.size(); ++i) {
    std::string& r = rest[i];
    bool preset = r.size() == 3 && r.starts_with("-O") && std::isdigit(static_cast<unsigned char>(r[2]));
    if (preset && !(i > 0 && rest[i - 1] == "--passes")) r = "--passes=" + r;
  }
  for (auto& s : subcommands()) {
    if (s.cmd.name != name) continue;
    try {
      auto args = Args::parse(s.cmd, rest);
      if (!args) return 0;
      return s.run(*args);
    } catch (const cli::UsageError& e) {
      // (Most name their command already; those from shared helpers get it here.)
      std::string msg = e.what();
      if (msg.starts_with("strata ")) std::fprintf(stderr, "%s\n", msg.c_str());
      else std::fprintf(stderr, "strata %s: %s\n", name.c_str(), msg.c_str());
      return 2;
    } catch (const Error& e) {
      std::fprintf(stderr, "strata %s: error: %s\n", name.c_str(), e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "strata: unknown command '%s' (see strata --help)\n", name.c_str());
  return 2;
}
