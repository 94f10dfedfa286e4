// conv2d at ResNet-50's layer shapes (GFLOP/s and percent of the machine's peaks, measured
// in the same run), also with a filter in no cache (conv2d_cold_weights/, as inside a model
// whose weights outgrow the caches: ResNet-50's 7x7 layers at batch 1 time alike there),
// its two gradients at those shapes for a training batch of 8, and depthwise 3x3 at
// MobileNet's shapes (GB/s). Kernels run on buffers already in the backend's layouts, as
// inside a compiled model.
#include <benchmark/benchmark.h>

#include <chrono>
#include <span>
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
    {"3x3_stride2_56x56x128", 1, 128, 56, 128, 3, 2, 1},
    {"3x3_stride2_28x28x256", 1, 256, 28, 256, 3, 2, 1},  // layer 3's first
    {"3x3_stride2_14x14x512", 1, 512, 14, 512, 3, 2, 1},  // layer 4's first
    {"1x1_reduce_56x56x256to64", 1, 256, 56, 64, 1, 1, 1},
    {"1x1_expand_56x56x64to256", 1, 64, 56, 256, 1, 1, 1},
    {"1x1_reduce_28x28x512to128", 1, 512, 28, 128, 1, 1, 1},
    {"1x1_expand_14x14x256to1024", 1, 256, 14, 1024, 1, 1, 1},
    {"1x1_reduce_7x7x2048to512", 1, 2048, 7, 512, 1, 1, 1},
    {"1x1_expand_7x7x512to2048", 1, 512, 7, 2048, 1, 1, 1},
    {"1x1_reduce_14x14x1024to512", 1, 1024, 14, 512, 1, 1, 1},
    {"1x1_stride2_downsample_28x28x512to1024", 1, 512, 28, 1024, 1, 2, 1},
    {"1x1_stride2_downsample_14x14x1024to2048", 1, 1024, 14, 2048, 1, 2, 1},
    {"1x1_project_56x56x144to24", 1, 144, 56, 24, 1, 1, 1},  // MobileNet v2's projections
    {"1x1_project_28x28x240to40", 1, 240, 28, 40, 1, 1, 1},  // EfficientNet-B0's
    {"dw3x3_112x112x32", 1, 32, 112, 32, 3, 1, 32},
    {"dw3x3_56x56x128", 1, 128, 56, 128, 3, 1, 128},
    {"dw3x3_28x28x256", 1, 256, 28, 256, 3, 1, 256},
    {"dw3x3_14x14x512", 1, 512, 14, 512, 3, 1, 512},
    {"dw3x3_7x7x1024", 1, 1024, 7, 1024, 3, 1, 1024},
    {"dw3x3_stride2_112x112x96", 1, 96, 112, 96, 3, 2, 96},  // MobileNet v2's features.2
};

// The small ResNet's layers (the main job's model, Fashion-MNIST) at its training batch of
// 64: the 3x3s, and the strided 3x3 and 1x1 (downsample) that open stages 2 and 3.
const ConvShape kSmallResNetShapes[] = {
    {"small_resnet_3x3_28x28x16", 64, 16, 28, 16, 3, 1, 1},
    {"small_resnet_3x3_14x14x32", 64, 32, 14, 32, 3, 1, 1},
    {"small_resnet_3x3_7x7x64", 64, 64, 7, 64, 3, 1, 1},
    {"small_resnet_3x3_stride2_28x28x16to32", 64, 16, 28, 32, 3, 2, 1},
    {"small_resnet_3x3_stride2_14x14x32to64", 64, 32, 14, 64, 3, 2, 1},
    {"small_resnet_1x1_stride2_28x28x16to32", 64, 16, 28, 32, 1, 2, 1},
    {"small_resnet_1x1_stride2_14x14x32to64", 64, 32, 14, 64, 1, 2, 1},
};

// Runs the kernel once to warm the caches and the thread pool, then for every benchmark
// iteration; seconds per run.
double seconds_per_run(benchmark::State& state, const hb::Kernel& k, const std::vector<const float*>& in, float* out) {
  k.run(in, out);
  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) k.run(in, out);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / state.iterations();
}

// Seconds per run of run(i), i cycling through `copies` copies of the inputs (the first
// call, untimed, warms up): inputs from memory, as inside a model.
template <typename F>
double seconds_cycling(benchmark::State& state, size_t copies, F run) {
  size_t i = 0;
  run(i);
  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    i = (i + 1) % copies;
    run(i);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / state.iterations();
}

// The node's kernel, or null with the benchmark marked skipped and the compile error as its reason.
std::shared_ptr<const hb::Kernel> kernel_or_skip(benchmark::State& state, const hb::NodeGroup& n, const std::vector<hb::Layout>& in,
                                                 const hb::Layout& out, const hb::Options& o = {}) {
  try {
    return hb::get_kernel(n, in, out, o);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return nullptr;
  }
}

dsl::Model conv_model(const ConvShape& s) {
  dsl::Model m("conv");
  dsl::Tensor x = m.input("x", {s.batch, s.cin, s.hw, s.hw});
  m.output("y", dsl::conv2d(x, s.cout, s.k, {.stride = s.stride, .padding = s.k / 2, .groups = s.groups, .bias = false}));
  return m;
}

// winograd: the conv as Winograd F(m x m, 3x3), its weight transformed first (as the
// executable's static kernel does once per parameter change).
void BM_Conv(benchmark::State& state, ConvShape s, std::string schedule, bool cold, bool winograd) {
  dsl::Model m = conv_model(s);
  const ir::Node& n = *m.graph().nodes().back();
  std::vector<hb::Layout> in_layouts{hb::preferred_layout(n, 0), hb::preferred_layout(n, 1)};
  hb::Options o;
  o.schedule = schedule;
  std::vector<float> in(n.inputs[0]->type.numel(), 0.5f), w(n.inputs[1]->type.numel(), 0.01f),
      out(n.outputs[0]->type.numel());
  if (winograd) {
    hb::Layout wl = hb::winograd_weight_layout(n, o);
    dsl::Model tm("transform");
    tm.output("u", tm.apply("identity", {tm.input("w", n.inputs[1]->type.shape)}, {}));
    auto kt = kernel_or_skip(state, hb::NodeGroup{tm.graph().nodes().back().get()}, {in_layouts[1]}, wl, o);
    if (!kt) return;
    std::vector<float> u(hb::physical_elements(n.inputs[1]->type.shape, wl));
    kt->run({w.data()}, u.data());
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; ++i) kt->run({w.data()}, u.data());
    state.counters["weight_transform_ms"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 5 * 1e3;
    w = std::move(u);
    in_layouts[1] = wl;
  }
  std::shared_ptr<const hb::Kernel> k = kernel_or_skip(state, hb::NodeGroup{&n}, in_layouts, hb::default_layout(4), o);
  if (!k) return;
  double secs = 0;
  if (cold) {
    // Cold weights, as inside a model whose weights outgrow the caches: each run reads its
    // own copy of the filter, cycling through copies that together exceed the last-level cache.
    size_t copies = std::max<size_t>(2, (size_t{512} << 20) / (w.size() * 4));
    std::vector<std::vector<float>> ws(copies, w);
    secs = seconds_cycling(state, copies, [&](size_t i) { k->run({in.data(), ws[i].data()}, out.data()); });
  } else {
    secs = seconds_per_run(state, *k, {in.data(), w.data()}, out.data());
  }
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

// conv2d_backward_weight (dw, stored like its convolution's weight, as in a training step)
// and conv2d_backward_input (dx) of a ResNet-50 shape at batch 8 (a shape with its own
// batch: at that); winograd: as Winograd
// F(m x m, 3x3) where it applies (dx: the weight transformed first, as the executable's
// kernel before it does every step; its time is the weight_transform_ms counter).
int64_t grad_batch(const ConvShape& s) { return s.batch > 1 ? s.batch : 8; }

dsl::Model conv_grad_model(const ConvShape& s, const std::string& op) {
  const int64_t kBatch = grad_batch(s);
  int64_t pad = s.k / 2, out_hw = (s.hw + 2 * pad - s.k) / s.stride + 1;
  Shape x{kBatch, s.cin, s.hw, s.hw}, w{s.cout, s.cin / s.groups, s.k, s.k}, dy{kBatch, s.cout, out_hw, out_hw};
  ir::AttrMap a{{"stride", std::vector<int64_t>{s.stride, s.stride}},
                {"padding", std::vector<int64_t>{pad, pad, pad, pad}},
                {"dilation", std::vector<int64_t>{1, 1}},
                {"groups", s.groups}};
  dsl::Model m(op);
  dsl::Tensor g = m.input("grad_output", dy);
  if (op == "conv2d_backward_weight") {
    a["weight_shape"] = w;
    m.output("dw", m.apply(op, {m.input("x", x), g}, a));
  } else {
    a["input_shape"] = x;
    m.output("dx", m.apply(op, {g, m.parameter("weight", w, ir::InitSpec{})}, a));
  }
  return m;
}

bool grad_takes_winograd(const ConvShape& s, const std::string& op) {
  dsl::Model m = conv_grad_model(s, op);
  const ir::Node& n = *m.graph().nodes().back();
  return op == "conv2d_backward_weight" ? hb::winograd_weight_grad_m(n, {}) > 0 : !hb::winograd_weight_layout(n, {}).empty();
}

// cold: each run reads its own copy of the inputs (dy and x, or dy), cycling through copies
// that together exceed the last-level cache, as in a training step, whose activations were
// written long before their gradient runs.
void BM_ConvGrad(benchmark::State& state, ConvShape s, std::string op, bool winograd, bool cold) {
  const int64_t kBatch = grad_batch(s);
  int64_t pad = s.k / 2, out_hw = (s.hw + 2 * pad - s.k) / s.stride + 1;
  Shape x{kBatch, s.cin, s.hw, s.hw};
  dsl::Model m = conv_grad_model(s, op);
  const ir::Node& n = *m.graph().nodes().back();
  hb::Options o;
  o.winograd = winograd;
  // The weight's layout: what its forward convolution prefers.
  dsl::Model fm("conv");
  dsl::Tensor fy = dsl::conv2d(fm.input("x", x), s.cout, s.k, {.stride = s.stride, .padding = pad, .groups = s.groups, .bias = false});
  fm.output("y", fy);
  hb::Layout wl = hb::preferred_layout(*fm.graph().nodes().back(), 1);
  bool dw = op == "conv2d_backward_weight";
  std::vector<hb::Layout> in_layouts = dw ? std::vector<hb::Layout>{hb::default_layout(4), hb::default_layout(4)}
                                          : std::vector<hb::Layout>{hb::default_layout(4), wl};
  std::vector<float> in0(n.inputs[0]->type.numel(), 0.5f), in1(n.inputs[1]->type.numel(), 0.01f),
      out(n.outputs[0]->type.numel());
  if (!dw && winograd) {
    hb::Layout ul = hb::winograd_weight_layout(n, o);
    dsl::Model tm("transform");
    tm.output("u", tm.apply("identity", {tm.input("w", n.inputs[1]->type.shape)}, {}));
    auto kt = kernel_or_skip(state, hb::NodeGroup{tm.graph().nodes().back().get()}, {wl}, ul, o);
    if (!kt) return;
    std::vector<float> u(hb::physical_elements(n.inputs[1]->type.shape, ul));
    kt->run({in1.data()}, u.data());
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; ++i) kt->run({in1.data()}, u.data());
    state.counters["weight_transform_ms"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 5 * 1e3;
    in1 = std::move(u);
    in_layouts[1] = ul;
  }
  std::shared_ptr<const hb::Kernel> k = kernel_or_skip(state, hb::NodeGroup{&n}, in_layouts, dw ? wl : hb::default_layout(4), o);
  if (!k) return;
  double secs = 0;
  if (cold) {
    size_t copies = std::max<size_t>(2, (size_t{768} << 20) / ((in0.size() + (dw ? in1.size() : 0)) * 4));
    std::vector<std::vector<float>> in0s(copies, in0), in1s(dw ? copies : 1, in1);
    secs = seconds_cycling(state, copies, [&](size_t i) { k->run({in0s[i].data(), in1s[dw ? i : 0].data()}, out.data()); });
  } else {
    secs = seconds_per_run(state, *k, {in0.data(), in1.data()}, out.data());
  }
  double flops = 2.0 * kBatch * s.cout * double(out_hw * out_hw) * (s.cin / s.groups) * s.k * s.k;
  double gflops = flops / secs * 1e-9;
  state.counters["GFLOP/s"] = gflops;
  state.counters["pct_of_fma_peak"] = 100 * gflops / bench::peaks().fma;
  // Depthwise gradients wait on memory: dy, x (or dx) and the weight, each once.
  if (s.groups > 1) state.counters["GB/s"] = 4.0 * (kBatch * s.cout * double(out_hw * out_hw) + double(num_elements(x)) + in1.size()) / secs * 1e-9;
}

// A training step's convolution and its batch statistics (ResNet-50 shapes at batch 8):
// one kernel with the statistics as a second output (fuse-conv-bn-stats), or the
// convolution's kernel and then batch_norm_stats's, which reads the output back.
void BM_ConvStats(benchmark::State& state, ConvShape s, bool fused) {
  constexpr int64_t kBatch = 8;
  dsl::Model m("conv_stats");
  dsl::Tensor y = dsl::conv2d(m.input("x", {kBatch, s.cin, s.hw, s.hw}), s.cout, s.k,
                              {.stride = s.stride, .padding = s.k / 2, .bias = false});
  dsl::Tensor st = m.apply("batch_norm_stats", {y}, fused ? ir::AttrMap{{"_group", int64_t{0}}, {"_sibling", int64_t{1}}} : ir::AttrMap{});
  m.output("stats", st);
  const auto& nodes = m.graph().nodes();
  const ir::Node &conv = *nodes[nodes.size() - 2], &stats = *nodes.back();
  if (fused) const_cast<ir::Node&>(conv).attrs["_group"] = int64_t{0};
  std::vector<hb::Layout> in_layouts{hb::preferred_layout(conv, 0), hb::preferred_layout(conv, 1)};
  std::vector<float> in(conv.inputs[0]->type.numel(), 0.5f), w(conv.inputs[1]->type.numel(), 0.01f),
      out(conv.outputs[0]->type.numel()), sums(stats.outputs[0]->type.numel());
  double secs = 0;
  if (fused) {
    auto k = kernel_or_skip(state, hb::NodeGroup{&conv, &stats}, in_layouts, hb::default_layout(4));
    if (!k) return;
    k->run({in.data(), w.data()}, {out.data(), sums.data()});
    auto t0 = std::chrono::steady_clock::now();
    for (auto _ : state) k->run({in.data(), w.data()}, {out.data(), sums.data()});
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / state.iterations();
  } else {
    auto kc = kernel_or_skip(state, hb::NodeGroup{&conv}, in_layouts, hb::default_layout(4));
    auto ks = kc ? kernel_or_skip(state, hb::NodeGroup{&stats}, {hb::default_layout(4)}, hb::default_layout(2)) : nullptr;
    if (!ks) return;
    auto both = [&] {
      kc->run({in.data(), w.data()}, out.data());
      ks->run({out.data()}, sums.data());
    };
    both();
    auto t0 = std::chrono::steady_clock::now();
    for (auto _ : state) both();
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / state.iterations();
  }
  double flops = 2.0 * kBatch * s.cout * double(conv.outputs[0]->type.shape[2] * conv.outputs[0]->type.shape[3]) * s.cin * s.k * s.k;
  state.counters["GFLOP/s"] = flops / secs * 1e-9;
  state.counters["pct_of_fma_peak"] = 100 * flops / secs * 1e-9 / bench::peaks().fma;
}

void BM_Peak(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(bench::peaks());
  state.counters["fma_peak_GFLOP/s"] = bench::peaks().fma;
  state.counters["sgemm_GFLOP/s"] = bench::peaks().sgemm;
}

int register_all() {
  benchmark::RegisterBenchmark("peak", BM_Peak)->Iterations(1);
  for (const ConvShape& s : kSmallResNetShapes)
    benchmark::RegisterBenchmark((std::string("conv2d/") + s.name + "_batch64").c_str(), BM_Conv, s, "manual", false, false)->Unit(benchmark::kMillisecond)->UseRealTime();
  for (const ConvShape& s : kShapes) {
    benchmark::RegisterBenchmark((std::string("conv2d/") + s.name).c_str(), BM_Conv, s, "manual", false, false)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("conv2d_cold_weights/") + s.name).c_str(), BM_Conv, s, "manual", true, false)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  for (const ConvShape& s : kShapes) {
    dsl::Model m = conv_model(s);
    if (hb::winograd_weight_layout(*m.graph().nodes().back(), {}).empty()) continue;
    benchmark::RegisterBenchmark((std::string("conv2d_winograd/") + s.name).c_str(), BM_Conv, s, "manual", false, true)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("conv2d_winograd_cold_weights/") + s.name).c_str(), BM_Conv, s, "manual", true, true)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  for (const ConvShape& s : kShapes)
    if (s.groups == 1 && s.cin > 3)
      for (bool fused : {false, true})
        benchmark::RegisterBenchmark((std::string("conv2d+batch_stats/") + s.name + "_batch8/" + (fused ? "one_kernel" : "two_kernels")).c_str(),
                                     BM_ConvStats, s, fused)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
  for (const char* op : {"conv2d_backward_weight", "conv2d_backward_input"})
    for (bool winograd : {false, true})
      for (const auto& shapes : {std::span<const ConvShape>(kShapes), std::span<const ConvShape>(kSmallResNetShapes)})
        for (const ConvShape& s : shapes)
          if ((s.groups == 1 || !winograd) && (!winograd || grad_takes_winograd(s, op)))
            for (bool cold : {false, true})
              benchmark::RegisterBenchmark((std::string(op) + (winograd ? "_winograd" : "") + (cold ? "_cold_inputs/" : "/") +
                                            s.name + "_batch" + std::to_string(grad_batch(s)))
                                               .c_str(),
                                           BM_ConvGrad, s, std::string(op), winograd, cold)
                  ->Unit(benchmark::kMillisecond)
                  ->UseRealTime();
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
