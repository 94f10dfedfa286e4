// conv2d at ResNet-50's layer shapes (GFLOP/s and percent of the machine's peaks, measured
// in the same run), and depthwise 3x3 at MobileNet's shapes (GB/s). Kernels run on
// buffers already in the backend's layouts, as inside a compiled model.
#include <benchmark/benchmark.h>

#include <chrono>
#include <strata/dsl.h>

#include "backends/halide/halide_backend.h"
#include "bench/peak.h"

using namespace strata;
namespace hb = strata::halide_backend;

namespace {

struct ConvShape {
  const char* name;
  int64_t batch, cin, hw, cout, k, stride, groups;
};

// ResNet-50 (He et al. 2015, Table 1) at 224x224, and MobileNet v1's depthwise layers.
const ConvShape kShapes[] = {
    {"stem_7x7s2_224x224x3", 1, 3, 224, 64, 7, 2, 1},
    {"3x3_56x56x64", 1, 64, 56, 64, 3, 1, 1},
    {"3x3_28x28x128", 1, 128, 28, 128, 3, 1, 1},
    {"3x3_14x14x256", 1, 256, 14, 256, 3, 1, 1},
    {"3x3_7x7x512", 1, 512, 7, 512, 3, 1, 1},
    {"1x1_reduce_56x56x256to64", 1, 256, 56, 64, 1, 1, 1},
    {"1x1_expand_56x56x64to256", 1, 64, 56, 256, 1, 1, 1},
    {"1x1_reduce_28x28x512to128", 1, 512, 28, 128, 1, 1, 1},
    {"1x1_expand_14x14x256to1024", 1, 256, 14, 1024, 1, 1, 1},
    {"1x1_reduce_7x7x2048to512", 1, 2048, 7, 512, 1, 1, 1},
    {"dw3x3_112x112x32", 1, 32, 112, 32, 3, 1, 32},
    {"dw3x3_56x56x128", 1, 128, 56, 128, 3, 1, 128},
    {"dw3x3_28x28x256", 1, 256, 28, 256, 3, 1, 256},
    {"dw3x3_14x14x512", 1, 512, 14, 512, 3, 1, 512},
    {"dw3x3_7x7x1024", 1, 1024, 7, 1024, 3, 1, 1024},
};

void BM_Conv(benchmark::State& state, ConvShape s, std::string schedule) {
  dsl::Model m("conv");
  dsl::Tensor x = m.input("x", {s.batch, s.cin, s.hw, s.hw});
  dsl::Tensor y = dsl::conv2d(x, s.cout, s.k, {.stride = s.stride, .padding = s.k / 2, .groups = s.groups, .bias = false});
  m.output("y", y);
  const ir::Node& n = *m.graph().nodes().back();
  std::vector<hb::Layout> in_layouts{hb::preferred_layout(n, 0), hb::preferred_layout(n, 1)};
  hb::Options o;
  o.schedule = schedule;
  std::shared_ptr<const hb::Kernel> k;
  try {
    k = hb::get_kernel(n, in_layouts, hb::default_layout(4), o);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  std::vector<float> in(n.inputs[0]->type.numel(), 0.5f), w(n.inputs[1]->type.numel(), 0.01f),
      out(n.outputs[0]->type.numel());
  k->run({in.data(), w.data()}, out.data());  // warm caches and the thread pool
  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) k->run({in.data(), w.data()}, out.data());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / state.iterations();
  double flops = 2.0 * s.batch * s.cout * double(n.outputs[0]->type.shape[2] * n.outputs[0]->type.shape[3]) *
                 (s.cin / s.groups) * s.k * s.k;
  double bytes = 4.0 * (in.size() + w.size() + out.size());
  const auto& p = bench::peaks();
  double gflops = flops / secs * 1e-9;
  state.counters["GFLOP/s"] = gflops;
  state.counters["GB/s"] = bytes / secs * 1e-9;
  state.counters["pct_of_fma_peak"] = 100 * gflops / p.fma;
  if (p.sgemm > 0) state.counters["pct_of_sgemm"] = 100 * gflops / p.sgemm;
}

void BM_Peak(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(bench::peaks());
  state.counters["fma_peak_GFLOP/s"] = bench::peaks().fma;
  state.counters["sgemm_GFLOP/s"] = bench::peaks().sgemm;
}

int register_all() {
  benchmark::RegisterBenchmark("peak", BM_Peak)->Iterations(1);
  for (const ConvShape& s : kShapes) {
    benchmark::RegisterBenchmark((std::string("conv2d/") + s.name).c_str(), BM_Conv, s, "manual")->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
