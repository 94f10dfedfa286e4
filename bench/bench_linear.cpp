// Linear layers at the classifier shapes of the zoo (VGG's and AlexNet's fully connected
// layers, ResNet-50's fc) over 1, 8, 32 and 128 rows: the forward (linear), the input
// gradient (dy times the weight, as the training step's matmul reads it, in the linear
// layer's layout) and the weight gradient (dy^T x, written in that layout). Their weights
// are read (or written) once per call, from memory as inside a model
// (each call reads its own copy, the copies past the last-level cache, in huge pages as the
// executable stores weights), so the figure is
// the weight's GB/s against the machine's read bandwidth measured in the same run
// (memory_read/, two threads), and past 8 rows, where the arithmetic bounds it, GFLOP/s
// against the FMA peak and OpenBLAS's sgemm (peak/).
#include <benchmark/benchmark.h>

#include <chrono>
#include <strata/dsl.h>
#include <thread>

#include "backends/halide/halide_backend.h"
#include "bench/peak.h"
#include "runtime/page_allocator.h"

using namespace strata;
namespace hb = strata::halide_backend;

namespace {

struct LinearShape {
  const char* name;
  int64_t in, out;
};

const LinearShape kShapes[] = {
    {"vgg_fc6_25088to4096", 25088, 4096},
    {"alexnet_fc6_9216to4096", 9216, 4096},
    {"fc7_4096to4096", 4096, 4096},
    {"resnet50_fc_2048to1000", 2048, 1000},
};
const int64_t kRows[] = {1, 8, 32, 128};
constexpr size_t kPastCache = size_t{1} << 30;  // bytes the weight copies span together

// Two threads reading a buffer past the caches, a cache line at a time into four independent
// sums (so the loads, not the additions, bound it): the bandwidth a weight stream can reach.
using Words = uint64_t __attribute__((vector_size(64)));  // one cache line
uint64_t read_words(const float* f, size_t lines) {
  const Words* p = reinterpret_cast<const Words*>(f);
  Words s[4] = {};
  for (size_t i = 0; i + 4 <= lines; i += 4)
    for (int k = 0; k < 4; ++k) s[k] += p[i + k];
  Words t = s[0] ^ s[1] ^ s[2] ^ s[3];
  return t[0] ^ t[7];
}
double memory_read_gbps() {
  static const double gbps = [] {
    runtime::FloatBuffer buf(kPastCache / 4, 1.f);  // huge pages, as a compiled model's weights
    size_t half = buf.size() / 2, lines = half / 16;
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
      uint64_t sums[2] = {0, 0};
      auto t0 = std::chrono::steady_clock::now();
      std::thread t([&] { sums[1] = read_words(buf.data() + half, lines); });
      sums[0] = read_words(buf.data(), lines);
      t.join();
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      benchmark::DoNotOptimize(sums);
      best = std::max(best, kPastCache / s * 1e-9);
    }
    return best;
  }();
  return gbps;
}

void BM_MemoryRead(benchmark::State& state) {
  for (auto _ : state) state.counters["GB/s"] = memory_read_gbps();
}

void BM_Peak(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(bench::peaks());
  state.counters["fma_peak_GFLOP/s"] = bench::peaks().fma;
  state.counters["sgemm_GFLOP/s"] = bench::peaks().sgemm;
}

// The three products of a linear layer in a training step.
enum class Product { forward, input_grad, weight_grad };

void BM_Linear(benchmark::State& state, LinearShape s, int64_t rows, Product p) {
  dsl::Model m("linear");
  // The weight in the linear layer's layout (output features innermost), as the training
  // step's matmuls read it (the input gradient) and write its gradient (the weight gradient).
  std::vector<hb::Layout> in_layouts{hb::row_major(2), hb::Layout{0, 1}};
  hb::Layout out_layout = hb::row_major(2);
  if (p == Product::input_grad) {
    dsl::Tensor dy = m.input("dy", {rows, s.out}), w = m.input("w", {s.out, s.in});
    m.output("dx", m.apply("matmul", {dy, w}, {}));
  } else if (p == Product::weight_grad) {
    dsl::Tensor dy = m.input("dy", {rows, s.out}), x = m.input("x", {rows, s.in});
    m.output("dw", m.apply("matmul", {dy, x}, {{"trans_a", int64_t{1}}}));
    in_layouts[1] = hb::row_major(2);
    out_layout = hb::Layout{0, 1};
  } else {
    m.output("y", dsl::linear(m.input("x", {rows, s.in}), s.out, {.bias = false}));
  }
  const ir::Node& n = *m.graph().nodes().back();
  std::shared_ptr<const hb::Kernel> k;
  try {
    k = hb::get_kernel(hb::NodeGroup{&n}, in_layouts, out_layout, {});
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  // Each call reads (or, the weight gradient, writes) its own copy of the weight.
  std::vector<float> a(n.inputs[0]->type.numel(), 0.5f), b, out;
  size_t wbytes = static_cast<size_t>(s.in * s.out) * 4;
  size_t copies = std::max<size_t>(2, kPastCache / wbytes);
  std::vector<runtime::FloatBuffer> ws(copies, runtime::FloatBuffer(s.in * s.out, 0.01f));
  if (p == Product::weight_grad) b.assign(n.inputs[1]->type.numel(), 0.25f);
  else out.resize(n.outputs[0]->type.numel());
  auto run = [&](size_t i) {
    if (p == Product::weight_grad) k->run({a.data(), b.data()}, ws[i].data());
    else k->run({a.data(), ws[i].data()}, out.data());
  };
  size_t i = 0;
  run(0);
  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    i = (i + 1) % copies;
    run(i);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / state.iterations();
  double gbps = wbytes / secs * 1e-9;
  state.counters["weight_GB/s"] = gbps;
  state.counters["pct_of_memory_read"] = 100 * gbps / memory_read_gbps();
  double gflops = 2.0 * rows * s.in * s.out / secs * 1e-9;
  state.counters["GFLOP/s"] = gflops;
  state.counters["pct_of_fma_peak"] = 100 * gflops / bench::peaks().fma;
  if (bench::peaks().sgemm > 0) state.counters["pct_of_sgemm"] = 100 * gflops / bench::peaks().sgemm;
}

int register_all() {
  benchmark::RegisterBenchmark("memory_read", BM_MemoryRead)->Iterations(1);
  benchmark::RegisterBenchmark("peak", BM_Peak)->Iterations(1);
  const std::pair<Product, const char*> products[] = {
      {Product::forward, "linear/"}, {Product::input_grad, "linear_input_grad/"}, {Product::weight_grad, "linear_weight_grad/"}};
  for (auto [p, prefix] : products)
    for (const LinearShape& s : kShapes)
      for (int64_t rows : kRows)
        benchmark::RegisterBenchmark((std::string(prefix) + s.name + "_rows" + std::to_string(rows)).c_str(), BM_Linear, s,
                                     rows, p)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
