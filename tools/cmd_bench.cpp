// `strata bench MODEL`: images/s of inference or of a training step, with the pass
// pipeline the flags ask for; with --compare-fusion, unfused (-O0) and fused (-O2) built
// from the same graph and weights and run interleaved, so machine noise hits both alike:
// a table, a JSON file and an SVG bar chart (throughput and activation memory).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <thread>

#include "backends/halide/host_cpu.h"
#include "ir/error.h"
#include "passes/training.h"
#include "runtime/file_util.h"
#include "runtime/plot.h"
#include "tools/common.h"

namespace strata::tools {

using cli::Args;

namespace {

// One compiled configuration and the inputs of its step.
struct Bench {
  std::string label;
  runtime::Executable exe;
  NamedTensors inputs;
  std::vector<double> seconds;  // per timed run
};

// `model` runs as it is (inference, or a training step read back from its text form) unless
// `train` asks for the benchmark step built from it.
Bench make_bench(const std::string& label, const ir::Graph& model, bool train, const std::string& optimizer,
                 runtime::CompileOptions o) {
  NamedTensors inputs;  // every input of the model 0.5
  for (const ir::Value* in : model.inputs()) inputs[in->name] = HostTensor(in->type.shape, 0.5f);
  ir::Graph g = ir::clone(model);
  std::optional<passes::TrainingStep> step =
      train ? passes::benchmark_training_step(model, optimizer) : passes::printed_training_step(model);
  if (step) {
    // Its target, learning rate and seed fed, its new parameters written back after each
    // run as training does (a weight that changes every run is compiled differently:
    // Winograd transforms it at every run).
    inputs = passes::synthetic_step_inputs(*step);
    o.updates = step->updates;
    g = std::move(step->graph);
  }
  runtime::Executable exe(g, o);
  exe.set_parameters(runtime::ParameterStore::initialize(exe.graph(), 0));
  return Bench{label, std::move(exe), std::move(inputs), {}};
}

// The optimizer of a training step's updates ("" without any).
std::string optimizer_of(const ir::Graph& g) {
  for (const auto& n : g.nodes())
    if (n->op == "optimizer_update") return n->attr_string("optimizer");
  return "";
}

// The q-quantile of v (nearest rank): the median at 0.5.
double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}
double median(const std::vector<double>& v) { return quantile(v, 0.5); }

std::string json_list(const std::vector<double>& v, double scale) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += fmt::format("{}{:.4f}", i ? ", " : "", v[i] * scale);
  return s + "]";
}

int cmd_bench(const Args& a) {
  ir::Graph model = load_batched_model(a);
  int64_t batch = model.batch_size();
  bool train = a.has("train"), compare = a.has("compare-fusion");
  std::string optimizer = step_optimizer(a);
  bool printed_step = passes::printed_training_step(model).has_value();
  if (printed_step && train)
    throw cli::UsageError(fmt::format("strata bench: '{}' is a training step already (printed with --train): run it "
                                      "without --train",
                                      a.positional(0)));
  if (printed_step) optimizer = optimizer_of(model);
  int64_t runs = a.get_int("runs", 1, 1 << 20), warmup = a.get_int("warmup", 0, 1 << 20);
  runtime::CompileOptions base = compile_options(a);
  if (base.backend != runtime::Backend::Halide) throw cli::UsageError("strata bench: --backend must be halide");
  std::vector<Bench> benches;
  auto t0 = std::chrono::steady_clock::now();
  if (compare) {
    for (const char* level : {"-O0", "-O2"}) {
      runtime::CompileOptions o = base;  // --disable-pass, --enable-pass and the printing flags apply to -O2
      o.passes.pipeline = level;
      if (std::string(level) == "-O0") o.passes.disabled.clear(), o.passes.enabled.clear();
      benches.push_back(make_bench(std::string(level == std::string("-O0") ? "unfused (-O0)" : "fused (-O2)"), model,
                                   train, optimizer, o));
    }
  } else {
    benches.push_back(make_bench(a.get("passes"), model, train, optimizer, base));
  }
  double compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Interleaved: run k of every configuration, then run k + 1, so drifts in clock speed
  // and neighbours' load are shared.
  for (int64_t r = 0; r < warmup + runs; ++r)
    for (Bench& b : benches) {
      if (r == warmup) b.exe.reset_profile();  // the profile covers the timed runs, as the median does
      auto s = std::chrono::steady_clock::now();
      b.exe.run(b.inputs);
      double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count();
      if (r >= warmup) b.seconds.push_back(dt);
    }
  bool step = train || printed_step;
  std::string what = step ? fmt::format("training step ({})", optimizer) : "inference";
  fmt::print("{} {}, batch {}, target {}, {} timed runs each (median), compile {:.1f} s\n", model.name(), what, batch,
             base.halide.target, runs, compile_s);
  std::string host = halide_backend::host_cpu_description();
  unsigned cores = std::thread::hardware_concurrency();
  fmt::print("host CPU: {}, {} hardware threads\n", host, cores);
  fmt::print("{:<16} {:>10} {:>12} {:>8} {:>8} {:>9} {:>14}\n", "configuration", "ms/run", "images/s", "kernels", "fused",
             "winograd", "activation MiB");
  std::string json = fmt::format("{{\n  \"model\": \"{}\", \"mode\": \"{}\", \"optimizer\": \"{}\", \"batch\": {}, \"target\": \"{}\", \"runs\": {},\n"
                                 "  \"host_cpu\": \"{}\", \"hardware_threads\": {},\n"
                                 "  \"configurations\": [\n",
                                 model.name(), step ? "train" : "inference", step ? optimizer : "", batch, base.halide.target, runs, host,
                                 cores);
  std::vector<runtime::BarGroup> speed, memory;
  for (size_t i = 0; i < benches.size(); ++i) {
    const Bench& b = benches[i];
    double med = median(b.seconds), ips = batch / med;
    const auto& r = b.exe.report();
    double mib = r.activation_bytes / 1048576.0;
    fmt::print("{:<16} {:>10.2f} {:>12.1f} {:>8} {:>8} {:>9} {:>14.1f}\n", b.label, med * 1e3, ips, r.kernels, r.fused_groups,
               r.winograd_convs, mib);
    json += fmt::format("    {{\"name\": \"{}\", \"ms_per_run\": {:.4f}, \"images_per_s\": {:.3f}, \"kernels\": {}, "
                        "\"fused_groups\": {}, \"winograd_convs\": {}, \"activation_bytes\": {}, "
                        "\"activation_bytes_unplanned\": {}, \"ms_runs\": {}}}{}\n",
                        b.label, med * 1e3, ips, r.kernels, r.fused_groups, r.winograd_convs, r.activation_bytes,
                        r.activation_bytes_unplanned, json_list(b.seconds, 1e3), i + 1 < benches.size() ? "," : "");
    // Whiskers: the middle half of the runs (images/s of the 75th and 25th percentile times).
    speed.push_back({b.label, {ips}, {{batch / quantile(b.seconds, 0.75), batch / quantile(b.seconds, 0.25)}}});
    memory.push_back({b.label, {mib}});
  }
  json += "  ]";
  if (base.profile)
    for (const Bench& b : benches) {
      std::vector<runtime::OpProfile> prof = b.exe.profile();
      double total = 0;
      for (const auto& p : prof) total += p.seconds;
      // Timing each kernel adds a clock read and, for a GPU, a synchronization per kernel:
      // the sum is close to, not equal to, an unprofiled run.
      fmt::print("{}: time per {} over the {} timed runs (mean); all kernels {:.2f} ms/run, the runs' median {:.2f}\n",
                 b.label, base.profile_nodes ? "node" : "op kind", runs, total * 1e3 / runs, median(b.seconds) * 1e3);
      for (const auto& p : prof)
        fmt::print("  {:<40} {:9.2f} ms/run {:5.1f}% {:6} calls\n", p.op, p.seconds * 1e3 / runs, 100 * p.seconds / total,
                   p.calls);
    }
  if (compare) {
    double ratio = median(benches[0].seconds) / median(benches[1].seconds);
    double mem = benches[0].exe.report().activation_bytes /
                 std::max(1.0, static_cast<double>(benches[1].exe.report().activation_bytes));
    // The runs are interleaved, so run k of each configuration shared the machine's state:
    // the spread of the pairs' ratios says how far this machine's noise moves the figure.
    std::vector<double> pairs;
    for (size_t k = 0; k < benches[1].seconds.size(); ++k) pairs.push_back(benches[0].seconds[k] / benches[1].seconds[k]);
    fmt::print("fused / unfused: {:.2f}x images/s, {:.2f}x less activation memory\n", ratio, mem);
    fmt::print("run pairs (unfused / fused, run k of each): median {:.3f}x, middle half {:.3f}-{:.3f}x, range {:.3f}-{:.3f}x\n",
               median(pairs), quantile(pairs, 0.25), quantile(pairs, 0.75), quantile(pairs, 0), quantile(pairs, 1));
    json += fmt::format(",\n  \"speedup\": {:.4f}, \"memory_ratio\": {:.4f}, \"speedup_pairs\": {}", ratio, mem,
                        json_list(pairs, 1.0));
  }
  json += "\n}\n";
  std::string stem = a.get("output").empty() ? fmt::format("bench-{}", model.name()) : a.get("output");
  runtime::write_file_atomic(stem + ".json", json, "benchmark JSON");
  std::string title = fmt::format("{} {}, batch {}", model.name(), what, batch);
  std::string svg_speed = runtime::bar_chart_svg(title + ": images/s", "images/s", {"images/s"}, speed);
  std::string svg_mem = runtime::bar_chart_svg(title + ": activation memory", "MiB", {"MiB"}, memory);
  runtime::write_file_atomic(stem + ".svg", svg_speed, "benchmark chart");
  runtime::write_file_atomic(stem + ".memory.svg", svg_mem, "benchmark chart");
  fmt::print("wrote {0}.json, {0}.svg, {0}.memory.svg\n", stem);
  return 0;
}

}  // namespace

Subcommand bench_subcommand() {
  return {{"bench",
           "Benchmark inference or a training step; --compare-fusion runs unfused (-O0) and fused (-O2) interleaved.",
           {"MODEL"},
           with_pass_flags({{"compare-fusion", "", "compare -O0 and -O2 in one interleaved run", ""},
                            {"train", "", "benchmark a training step (cross-entropy, an optimizer's update) instead of inference", ""},
                            kStepOptimizer,
                            {"batch", "N", "batch size", "1"},
                            {"runs", "N", "timed runs per configuration (the median is reported)", "10"},
                            {"warmup", "N", "untimed runs first", "2"},
                            {"profile", "", "time every kernel and print the time per op kind over the timed runs", ""},
                            {"profile-nodes", "", "as --profile, per node (op, node, output type)", ""},
                            {"output", "STEM", "write STEM.json, STEM.svg and STEM.memory.svg (default bench-MODEL)", ""},
                            kTarget,
                            kBackend,
                            kSchedule,
                            kNoWinograd})},
          cmd_bench};
}

}  // namespace strata::tools
