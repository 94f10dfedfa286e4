#pragma once
// A compiled model: its kernels in order, a buffer per value, and the parameter values.
// run(inputs) -> outputs, NCHW in and out; the Halide backend keeps activations
// channels-last inside and converts at the graph's edges. On a GPU target every tensor
// stays in device memory from one kernel and one run to the next: parameters and inputs
// cross when the host sets them, outputs and parameters when the host reads them.
#include <memory>
#include <string>

#include "backends/halide/halide_backend.h"
#include "ir/graph.h"
#include "passes/pass_manager.h"
#include "runtime/parameter_store.h"

namespace strata::runtime {

enum class Backend { Halide, Reference };
Backend backend_from_name(const std::string& s);  // "halide" or "reference"

struct CompileOptions {
  Backend backend = Backend::Halide;
  halide_backend::Options halide;
  int64_t batch = 0;  // 0 keeps the graph's batch size
  // State carried from one run to the next (a training step's new parameters, optimizer
  // state and running statistics): after each run the output named first replaces the
  // parameter named second, without leaving the executable. Such outputs are not returned.
  std::vector<std::pair<std::string, std::string>> updates;
  bool profile = false;  // time every kernel (see Executable::profile)
  // With profile: one entry per node (op, node name, output type) instead of per op kind.
  bool profile_nodes = false;
  // The pass pipeline run before compiling (passes/pass_manager.h): -O2 by default
  // (cleanup, bn-fold, fusion, memory plan); -O0 compiles the graph as written.
  passes::PipelineOptions passes;
};

// Time spent per op kind over the runs so far (with CompileOptions::profile).
struct OpProfile {
  std::string op;
  double seconds = 0;
  int64_t calls = 0;
};

struct CompileReport {
  int kernels = 0;           // kernels run per step (a fusion group is one; a static node too)
  int distinct_kernels = 0;  // after de-duplication by signature
  int fused_groups = 0;      // fusion groups among the kernels
  int static_kernels = 0;    // nodes reading only parameters: run when parameters change
  int winograd_convs = 0;    // 3x3 convolutions computed as Winograd F(4x4) or F(2x2, 3x3)
  // Activation memory (every stored node output, in bytes): with the memory plan's slots
  // shared, and with one buffer per value as without it.
  int64_t activation_bytes = 0, activation_bytes_unplanned = 0;
  std::vector<passes::PassTiming> pass_timings;
  int compiled = 0, loaded_from_disk = 0, reused_in_memory = 0;
  double seconds = 0;
};

class Executable {
 public:
  Executable(const ir::Graph& g, CompileOptions o = {});
  ~Executable();
  Executable(Executable&&) noexcept;
  Executable& operator=(Executable&&) noexcept;

  // Parameter values (checked against the graph); must be set before run().
  void set_parameters(const ParameterStore& p);
  NamedTensors run(const NamedTensors& inputs);

  // The current parameter values (after any updates), NCHW.
  ParameterStore parameters() const;
  // The first node, in execution order, whose output of the last run holds a NaN or an
  // infinity ("" when none): names where a diverging step went wrong.
  std::string first_nonfinite() const;
  // Whether every parameter (after the last run's updates) is finite: a cheap per-step check.
  bool parameters_finite() const;

  std::vector<OpProfile> profile() const;  // slowest first
  // Forgets the times and calls so far (a benchmark's warm-up runs), keeping the entries.
  void reset_profile();
  // How the Halide backend stores a parameter or constant ("0321b32": axes innermost first,
  // then the block); throws strata::Error for another name or the reference backend.
  std::string storage_layout(const std::string& value) const;

  const ir::Graph& graph() const;
  const CompileReport& report() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata::runtime
