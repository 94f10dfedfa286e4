// Winograd F(4x4) and F(2x2, 3x3) convolutions (backends/halide/winograd.cpp): where the backend takes
// them, and that they (with fused epilogues, folded batch norms and new parameters) equal
// the reference backend's direct convolution.
#include <strata/dsl.h>

#include "backends/halide/halide_backend.h"
#include "backends/halide/host_cpu.h"
#include "ir/fusion_group.h"
#include "passes/memory_plan.h"
#include "passes/training.h"
#include "tests/gradient_check.h"
#include "tests/helpers.h"

using namespace strata;
namespace hb = strata::halide_backend;
using Catch::Matchers::Contains;

namespace {

const ir::Node& last_conv(const dsl::Model& m) {
  const ir::Node* c = nullptr;
  for (const auto& n : m.graph().nodes())
    if (n->op == "conv2d") c = n.get();
  REQUIRE(c);
  return *c;
}

hb::Layout layout_for(const Shape& in, int64_t out_channels, int64_t k, dsl::Conv2dOptions o, hb::Options ho = {},
                      bool weight_static = true) {
  dsl::Model m("one");
  dsl::Tensor x = m.input("x", in);
  m.output("y", dsl::conv2d(x, out_channels, k, o));
  return hb::winograd_weight_layout(last_conv(m), ho, weight_static);
}

// `f` of the first `op` node in the gradient graph of a one-conv model (3x3).
template <typename F>
auto on_gradient_node(const Shape& in, int64_t out_channels, dsl::Conv2dOptions o, const std::string& op, F f) {
  dsl::Model m("one");
  dsl::Tensor x = m.input("x", in);
  m.output("y", dsl::conv2d(x, out_channels, 3, o));
  ir::Graph g = testing::gradient_graph(m.graph(), true, 1);
  for (const auto& n : g.nodes())
    if (n->op == op) return f(*n);
  FAIL("no " << op << " in the gradient graph");
  return decltype(f(*g.nodes().front())){};
}

hb::Layout input_grad_layout(const Shape& in, int64_t out_channels, dsl::Conv2dOptions o, hb::Options ho = {}) {
  return on_gradient_node(in, out_channels, o, "conv2d_backward_input",
                          [&](const ir::Node& n) { return hb::winograd_weight_layout(n, ho); });
}

hb::WinogradGradPlan weight_grad_plan(const Shape& in, int64_t out_channels, dsl::Conv2dOptions o, hb::Options ho = {}) {
  return on_gradient_node(in, out_channels, o, "conv2d_backward_weight",
                          [&](const ir::Node& n) { return hb::winograd_weight_grad_plan(n, ho); });
}

int weight_grad_m(const Shape& in, int64_t out_channels, dsl::Conv2dOptions o, hb::Options ho = {}) {
  return weight_grad_plan(in, out_channels, o, ho).m;
}

// A weight gradient plan's (chunk, chunks, groups).
using Chunks = std::tuple<int64_t, int64_t, int>;
Chunks chunks_of(const hb::WinogradGradPlan& p) { return {p.chunk, p.chunks, p.groups}; }

// Runs `m` compiled with `o` on the Halide backend and on the reference backend (the graph
// as written) with the same random parameters; checks every output.
void check_model(const ir::Graph& g, runtime::CompileOptions o, int want_winograd, uint64_t seed = 1, double rtol = 1e-4,
                 double atol = 1e-5) {
  runtime::Executable exe(g, o);
  CHECK(exe.report().winograd_convs == want_winograd);
  runtime::CompileOptions ro;
  ro.backend = runtime::Backend::Reference;
  ro.passes.pipeline = "-O0";
  runtime::Executable ref(g, ro);
  auto in = testing::random_inputs(g, seed + 10);
  auto p = testing::random_parameters(g, seed);
  exe.set_parameters(p);
  ref.set_parameters(p);
  NamedTensors got = exe.run(in), want = ref.run(in);
  for (auto& [name, t] : want) {
    auto r = testing::compare(got.at(name), t, rtol, atol);
    INFO(name << ": " << r.detail);
    CHECK(r.ok);
  }
}

}  // namespace

TEST_CASE("Winograd F(4x4) or F(2x2), 3x3, is taken for 3x3 stride-1 convolutions on the CPU", "[winograd]") {
  dsl::Conv2dOptions same{.padding = 1};
  hb::Layout l = layout_for({1, 32, 8, 8}, 64, 3, same);  // F(4x4, 3x3): 4 divides the image
  CHECK(l.winograd == 4);
  CHECK(l.block == 64);
  CHECK(hb::layout_str(l) == "winograd4_b64");
  CHECK(hb::physical_extents({64, 32, 3, 3}, l) == std::vector<int64_t>{64, 32, 36, 1});
  hb::Layout l2 = layout_for({2, 16, 6, 10}, 32, 3, same);  // F(2x2, 3x3)
  CHECK(l2.winograd == 2);
  CHECK(l2.block == 32);
  CHECK(hb::physical_extents({32, 16, 3, 3}, l2) == std::vector<int64_t>{32, 16, 16, 1});
  CHECK(layout_for({1, 32, 8, 8}, 48, 3, same).block == 16);
  CHECK(layout_for({1, 32, 8, 8}, 64, 3, same, {.target = "x86-64-linux-avx2"}).block == 16);  // 6 x 2 vectors of 8
  CHECK(layout_for({1, 16, 14, 14}, 64, 3, same).block == 32);  // 49 tiles: 7 rows by 2 vectors
  CHECK(layout_for({1, 16, 28, 28}, 64, 3, same).block == 32);  // F(4x4): 49 tiles too
  // Odd sizes: F(2x2), the last row and column of tiles part padding (7x7: 16 tiles).
  CHECK(layout_for({1, 32, 7, 7}, 64, 3, same).winograd == 2);
  CHECK(layout_for({1, 16, 5, 9}, 32, 3, same).winograd == 2);
  CHECK(layout_for({1, 64, 35, 35}, 96, 3, same).winograd == 2);
  // A transformed weight past L2 (ResNet-50's layer 4: 16 x 512 x 512 floats) met by fewer
  // than 32 tiles a run streams from memory for little arithmetic: with full-width FMAs,
  // direct at batch 1, not at batch 8 (128 tiles a run); likewise F(4x4) at 8x8 (4 tiles)
  // with 384 channels. With half-width FMAs (AMD Zen 4) Winograd all the same.
  hb::Options full{.half_width_fma = false}, half{.half_width_fma = true};
  CHECK(layout_for({1, 512, 7, 7}, 512, 3, same, full).empty());
  CHECK(layout_for({8, 512, 7, 7}, 512, 3, same, full).winograd == 2);
  CHECK(layout_for({1, 384, 8, 8}, 384, 3, same, full).empty());
  CHECK(layout_for({8, 384, 8, 8}, 384, 3, same, full).winograd == 4);
  CHECK(layout_for({1, 256, 14, 14}, 256, 3, same, full).winograd == 2);  // 49 tiles: ResNet-50's layer 3 keeps it
  CHECK(layout_for({1, 512, 7, 7}, 512, 3, same, half).winograd == 2);
  CHECK(layout_for({1, 384, 8, 8}, 384, 3, same, half).winograd == 4);
  // A weight that changes at every run (a training step's) is transformed at every run too:
  // past L2 it needs 256 tiles a run, so layer 4 at batch 8 (128) is direct there, layer 3
  // at batch 8 (392) is not; a U that stays in L2, or half-width FMAs, keep Winograd.
  CHECK(layout_for({8, 512, 7, 7}, 512, 3, same, full, false).empty());
  CHECK(layout_for({8, 256, 14, 14}, 256, 3, same, full, false).winograd == 2);
  CHECK(layout_for({8, 64, 7, 7}, 64, 3, same, full, false).winograd == 2);
  CHECK(layout_for({8, 512, 7, 7}, 512, 3, same, half, false).winograd == 2);
  // Unset: the host's answer for a host target, full width for any other.
  CHECK(layout_for({1, 512, 7, 7}, 512, 3, same).empty() == !hb::host_has_half_width_fma());
  CHECK(layout_for({1, 512, 7, 7}, 512, 3, same, {.target = "x86-64-linux-avx2"}).empty());
  // Where the direct form stays: images under 24 positions, strides, other kernels and
  // paddings, groups, channels not in vectors, GPU targets, autoschedulers, switched off.
  CHECK(layout_for({1, 32, 4, 5}, 64, 3, same).empty());
  CHECK(layout_for({1, 32, 16, 16}, 64, 3, {.stride = 2, .padding = 1}).empty());
  CHECK(layout_for({1, 32, 8, 8}, 64, 3, {.padding = 0}).empty());
  CHECK(layout_for({1, 32, 8, 8}, 64, 5, {.padding = 2}).empty());
  CHECK(layout_for({1, 32, 8, 8}, 64, 3, {.padding = 1, .groups = 2}).empty());
  CHECK(layout_for({1, 24, 8, 8}, 64, 3, same).empty());
  CHECK(layout_for({1, 32, 8, 8}, 64, 3, same, {.target = "host-cuda"}).empty());
  CHECK(layout_for({1, 32, 8, 8}, 64, 3, same, {.schedule = "auto:Adams2019"}).empty());
  CHECK(layout_for({1, 32, 8, 8}, 64, 3, same, {.winograd = false}).empty());
  // A transformed weight is computed by its kernel, never copied in or read back.
  HostTensor w({64, 32, 3, 3});
  std::vector<float> buf(64 * 32 * 16);
  CHECK_THROWS_WITH(hb::to_layout(w, l, buf.data()), Contains("computed by its kernel"));
  CHECK_THROWS_WITH(hb::from_layout(buf.data(), l, w), Contains("cannot be read back"));
  CHECK_THROWS_WITH(hb::physical_extents({64, 32, 1, 1}, l), Contains("3x3 conv weight"));
}

TEST_CASE("the input gradient of a Winograd-shaped convolution is a Winograd convolution of dy, transposed",
          "[winograd]") {
  dsl::Conv2dOptions same{.padding = 1};
  // dx of a 32 -> 64 conv: a 64 -> 32 conv of dy by the flipped weight, whose 32 output
  // channels (the weight's input channels) are the blocked ones.
  hb::Layout l = input_grad_layout({2, 32, 8, 8}, 64, same);
  CHECK(l.winograd == 4);
  CHECK(l.transposed);
  CHECK(l.block == 32);
  CHECK(hb::layout_str(l) == "winograd4t_b32");
  CHECK(hb::physical_extents({64, 32, 3, 3}, l) == std::vector<int64_t>{32, 64, 36, 1});
  CHECK(l != layout_for({2, 32, 8, 8}, 64, 3, same));  // the forward's transform is another kernel
  CHECK_THROWS_WITH(hb::physical_extents({64, 48, 3, 3}, l), Contains("whose input channels it divides"));
  CHECK(input_grad_layout({2, 16, 7, 7}, 32, same).winograd == 2);
  // The same rules as the forward's, by dx's and dy's channels.
  hb::Options full{.half_width_fma = false};
  CHECK(input_grad_layout({1, 512, 7, 7}, 512, same, full).empty());
  CHECK(input_grad_layout({8, 512, 7, 7}, 512, same, full).winograd == 2);
  CHECK(input_grad_layout({2, 32, 16, 16}, 64, {.stride = 2, .padding = 1}).empty());
  CHECK(input_grad_layout({2, 32, 8, 8}, 64, {.padding = 0}).empty());
  CHECK(input_grad_layout({2, 24, 8, 8}, 64, same).empty());
  CHECK(input_grad_layout({2, 32, 8, 8}, 64, same, {.target = "host-cuda"}).empty());
  CHECK(input_grad_layout({2, 32, 8, 8}, 64, same, {.winograd = false}).empty());
}

TEST_CASE("the weight gradient of a Winograd-shaped convolution is Winograd GEMMs over the batch's tiles",
          "[winograd]") {
  dsl::Conv2dOptions same{.padding = 1};
  CHECK(weight_grad_m({2, 32, 8, 8}, 64, same) == 4);
  CHECK(weight_grad_m({2, 16, 7, 7}, 32, same) == 2);
  hb::Options full{.half_width_fma = false}, half{.half_width_fma = true};
  // Chunks of tiles whose transforms stay in L2, at least 28 where 1 MiB allows, into 8, 4
  // or 2 groups' partial Ms (up to 8 MiB in all): ResNet-50's layers 1-3 at batch 8, the
  // small ResNet's layer 1 at 64.
  CHECK(chunks_of(weight_grad_plan({8, 64, 56, 56}, 64, same)) == Chunks{28, 56, 8});
  CHECK(chunks_of(weight_grad_plan({8, 128, 28, 28}, 128, same)) == Chunks{28, 14, 2});
  CHECK(chunks_of(weight_grad_plan({8, 256, 14, 14}, 256, same, full)) == Chunks{28, 14, 2});  // M 4 MiB
  CHECK(chunks_of(weight_grad_plan({64, 16, 28, 28}, 16, same)) == Chunks{56, 56, 8});  // 256 KiB
  CHECK(chunks_of(weight_grad_plan({64, 64, 56, 56}, 64, same)) == Chunks{28, 448, 8});  // any batch
  // One chunk, the whole batch's transforms first: too few tiles; M past 4 MiB (its groups
  // would pass 8), where the transforms must stay within 64 MB each.
  CHECK(chunks_of(weight_grad_plan({2, 32, 8, 8}, 64, same)) == Chunks{8, 1, 1});
  CHECK(chunks_of(weight_grad_plan({16, 512, 7, 7}, 512, same, half)) == Chunks{256, 1, 1});
  CHECK(weight_grad_m({128, 512, 7, 7}, 512, same, half) == 2);  // 64 MiB of V, the most
  // Past that, one group: chunks of up to 8 MiB of transforms, summed in turn into the one
  // M (AlexNet's 3x3s at batch 64; layer 4 at 256).
  CHECK(chunks_of(weight_grad_plan({256, 512, 7, 7}, 512, same, half)) == Chunks{128, 32, 1});
  CHECK(chunks_of(weight_grad_plan({64, 384, 13, 13}, 256, same)) == Chunks{196, 16, 1});
  CHECK(chunks_of(weight_grad_plan({64, 192, 13, 13}, 384, same)) == Chunks{224, 14, 1});
  // The options' limits move the plan: no groups' partial Ms, no batch's transforms at once.
  hb::Options tight{.winograd_max_part_bytes = 0, .winograd_max_batch_transform_bytes = 0};
  CHECK(chunks_of(weight_grad_plan({8, 64, 56, 56}, 64, same, tight)) == Chunks{392, 4, 1});
  CHECK(weight_grad_m({1, 64, 224, 224}, 64, same) == 0);  // past 16 MB an image, as the forward
  // M (16.8 MB for 512 x 512 channels at F(2x2)) past L2 needs 256 tiles a step, whatever
  // the FMA width: ResNet-50's layer 4 at batch 8 has 128, at 16 256.
  CHECK(weight_grad_m({8, 512, 7, 7}, 512, same, full) == 0);
  CHECK(weight_grad_m({8, 512, 7, 7}, 512, same, half) == 0);
  CHECK(weight_grad_m({16, 512, 7, 7}, 512, same, half) == 2);
  CHECK(weight_grad_m({8, 256, 14, 14}, 256, same, full) == 2);  // 4.2 MB, 392 tiles
  CHECK(weight_grad_m({2, 256, 14, 14}, 256, same, full) == 0);
  // The forward's other rules: strides, paddings, channels, GPU targets, autoschedulers,
  // switched off.
  CHECK(weight_grad_m({1, 512, 7, 7}, 512, same, half) == 0);
  CHECK(weight_grad_m({2, 32, 16, 16}, 64, {.stride = 2, .padding = 1}) == 0);
  CHECK(weight_grad_m({2, 32, 8, 8}, 64, {.padding = 0}) == 0);
  CHECK(weight_grad_m({2, 24, 8, 8}, 64, same) == 0);
  CHECK(weight_grad_m({2, 32, 8, 8}, 64, same, {.target = "host-cuda"}) == 0);
  CHECK(weight_grad_m({2, 32, 8, 8}, 64, same, {.schedule = "auto:Li2018"}) == 0);
  CHECK(weight_grad_m({2, 32, 8, 8}, 64, same, {.winograd = false}) == 0);
}

TEST_CASE("Winograd convolutions with fused epilogues equal the reference, fused and unfused", "[winograd][executable]") {
  // 8 x 12: F(4x4, 3x3), two images (each stage parallel inside); 6 x 10: F(2x2, 3x3), four
  // images (the images in parallel); 7 x 5 and 5 x 9: F(2x2) with partial tiles at the
  // bottom and right edges, one image and four.
  using Size = std::tuple<int64_t, int64_t, int64_t>;
  auto [batch, h, w] = GENERATE(Size{2, 8, 12}, Size{4, 6, 10}, Size{1, 7, 5}, Size{4, 5, 9});
  INFO(batch << " images of " << h << " x " << w);
  dsl::Model m("wino_block");
  {
    using namespace dsl;
    Tensor x = m.input("x", {batch, 16, h, w});
    Tensor a = relu(conv2d(x, 32, 3, {.padding = 1}));
    Tensor b = batch_norm(conv2d(a, 32, 3, {.padding = 1, .bias = false}));
    Tensor c = conv2d(a, 32, 3, {.stride = 2, .padding = 1});  // direct: strided
    m.output("y", relu(add(b, a)));
    m.output("z", c);
  }
  runtime::CompileOptions o;  // -O2: bn-fold, conv + ReLU, conv + residual add + ReLU
  SECTION("-O2") { check_model(m.graph(), o, 2); }
  SECTION("-O0") {
    o.passes.pipeline = "-O0";
    check_model(m.graph(), o, 2);
  }
  SECTION("direct") {
    o.halide.winograd = false;
    check_model(m.graph(), o, 0);
  }
  SECTION("AVX2") {
    o.halide.target = "x86-64-linux-avx2";
    check_model(m.graph(), o, 2);
  }
}

// The transform kernel (U = G g G^T per pair of channels) from each weight layout it meets:
// plain, blocked by U's block, by twice it and by half (at_split's dense and general
// indexing), and transposed (dx's), against G g G^T computed here (Lavin & Gray's G).
TEST_CASE("a Winograd weight transform equals G g G^T from every weight layout", "[winograd]") {
  const std::vector<std::vector<double>> G2{{1, 0, 0}, {.5, .5, .5}, {.5, -.5, .5}, {0, 0, 1}};
  const std::vector<std::vector<double>> G4{{1. / 4, 0, 0},          {-1. / 6, -1. / 6, -1. / 6}, {-1. / 6, 1. / 6, -1. / 6},
                                            {1. / 24, 1. / 12, 1. / 6}, {1. / 24, -1. / 12, 1. / 6}, {0, 0, 1}};
  const Shape ws{64, 32, 3, 3};
  HostTensor w(ws);
  for (size_t i = 0; i < w.data.size(); ++i) w.data[i] = static_cast<float>((i * 37 % 101) / 50.0 - 1.0);
  dsl::Model tm("transform");
  tm.output("u", tm.apply("identity", {tm.input("w", ws)}, {}));
  const ir::Node& copy = *tm.graph().nodes().back();
  // (The AVX2 target's U blocks of 16 channels: vectors of 16 over 8 lanes.)
  for (auto [target, ub] : {std::pair<std::string, int>{"host", 32}, {"x86-64-linux-avx2", 16}})
    for (int m : {2, 4})
      for (bool transposed : {false, true})
        for (hb::Layout in : {hb::default_layout(4), hb::blocked({0, 3, 2, 1}, ub), hb::blocked({0, 3, 2, 1}, 2 * ub),
                              hb::blocked({0, 3, 2, 1}, ub / 2), hb::blocked({0, 1, 3, 2}, 2 * ub)}) {
          hb::Layout ul;
          ul.winograd = m, ul.block = ub, ul.transposed = transposed;
          INFO("F(" << m << "x" << m << ") from " << hb::layout_str(in) << " to " << hb::layout_str(ul) << " on " << target);
          const auto& G = m == 2 ? G2 : G4;
          int alpha = m + 2;
          int64_t blocked = transposed ? ws[1] : ws[0], other = transposed ? ws[0] : ws[1];
          std::vector<float> wp(hb::physical_elements(ws, in)), u(hb::physical_elements(ws, ul), -99.f);
          hb::to_layout(w, in, wp.data());
          auto k = hb::get_kernel(hb::NodeGroup{&copy}, {in}, ul, {.target = target});
          k->run({wp.data()}, u.data());
          int bad = 0;
          double worst = 0;
          for (int64_t b = 0; b < blocked; ++b)
            for (int64_t c = 0; c < other; ++c)
              for (int xi = 0; xi < alpha; ++xi)
                for (int nu = 0; nu < alpha; ++nu) {
                  double want = 0;
                  for (int i = 0; i < 3; ++i)
                    for (int j = 0; j < 3; ++j) {
                      // tap (kx = i, ky = j); transposed: the weight's axes swapped, the taps flipped
                      int64_t at = transposed ? ((c * ws[1] + b) * 3 + (2 - j)) * 3 + (2 - i) : ((b * ws[1] + c) * 3 + j) * 3 + i;
                      want += G[xi][i] * G[nu][j] * w.data[at];
                    }
                  int64_t e = xi + alpha * nu;
                  float got = u[b % ub + ub * (c + other * (e + alpha * alpha * (b / ub)))];
                  worst = std::max(worst, std::abs(got - want));
                  bad += std::abs(got - want) > 1e-5 * (1 + std::abs(want));
                }
          INFO("largest difference " << worst);
          CHECK(bad == 0);
        }
}

TEST_CASE("a Winograd weight follows new parameter values", "[winograd][executable]") {
  dsl::Model m("wino_params");
  {
    using namespace dsl;
    Tensor x = m.input("x", {1, 16, 6, 6});
    m.output("y", relu(batch_norm(conv2d(x, 16, 3, {.padding = 1, .bias = false}))));
  }
  runtime::Executable exe(m.graph(), {});
  CHECK(exe.report().winograd_convs == 1);
  runtime::CompileOptions ro;
  ro.backend = runtime::Backend::Reference;
  runtime::Executable ref(m.graph(), ro);
  testing::check_follows_parameters(exe, ref, m.graph(), testing::random_inputs(m.graph(), 3), "y");
  CHECK(exe.parameters().at("conv1.weight").data == testing::random_parameters(m.graph(), 2).at("conv1.weight").data);
}

// In a training step the convolution's batch statistics are a sibling of its kernel
// (fuse-conv-bn-stats): with a Winograd convolution they are summed in a pass of their own.
TEST_CASE("Winograd convolutions in training form, batch statistics and gradients included, equal the reference",
          "[winograd][training]") {
  int64_t size = GENERATE(8, 7);  // F(4x4); F(2x2) with partial edge tiles
  INFO(size << " x " << size);
  dsl::Model m("wino_train");
  {
    using namespace dsl;
    Tensor x = m.input("x", {2, 16, size, size});
    Tensor a = relu(batch_norm(conv2d(x, 16, 3, {.padding = 1, .bias = false})));
    Tensor b = batch_norm(conv2d(a, 16, 3, {.padding = 1, .bias = false}));
    m.output("y", relu(add(b, x)));
  }
  check_model(passes::training_forward(m.graph()), {}, 2);
  ir::Graph grads = testing::gradient_graph(passes::training_forward(m.graph()), true, 3);
  runtime::Executable exe(grads, {});
  CHECK(exe.report().winograd_convs == 6);  // both convolutions, their input and weight gradients
  bool sibling = false;
  for (const auto& n : exe.graph().nodes()) sibling |= n->op == "batch_norm_stats" && ir::group_of(*n) >= 0;
  CHECK(sibling);  // the statistics are a convolution kernel's second output
  testing::check_against_reference(grads, "host", 1, -1.f, 1.f, "manual", 2e-3, 2e-4);
}

// Weight gradients summed in chunks of tiles (each chunk transformed as it is summed):
// F(4x4) into 8 groups' partial sums, F(4x4) in two chunks, F(2x2) with partial edge tiles
// in two; against the reference's direct sums.
TEST_CASE("Winograd weight gradients summed in chunks of tiles equal the reference", "[winograd][training]") {
  using Case = std::tuple<int64_t, int64_t, Chunks>;  // batch, image size, plan
  auto [batch, size, want] = GENERATE(Case{28, 16, {56, 8, 8}}, Case{4, 8, {8, 2, 2}}, Case{6, 7, {48, 2, 2}});
  INFO(batch << " images of " << size << " x " << size);
  dsl::Model m("wino_chunks");
  m.output("y", dsl::conv2d(m.input("x", {batch, 16, size, size}), 16, 3, {.padding = 1, .bias = false}));
  CHECK(chunks_of(weight_grad_plan({batch, 16, size, size}, 16, {.padding = 1})) == want);
  ir::Graph grads = testing::gradient_graph(m.graph(), true, 5);
  runtime::Executable exe(grads, {});
  CHECK(exe.report().winograd_convs == 3);  // the convolution, its input and weight gradients
  testing::check_against_reference(grads, "host", 1, -1.f, 1.f, "manual", 2e-3, 2e-4);
}

// One group (the options' limits lowered to reach it at these sizes): chunks summed in turn
// into the one M by tasks over its channel blocks, F(4x4) and F(2x2) with partial edge tiles;
// against the reference's direct sums.
TEST_CASE("Winograd weight gradients summed by chunks into one M equal the reference", "[winograd][training]") {
  using Case = std::tuple<int64_t, int64_t, Chunks>;  // batch, image size, plan
  auto [batch, size, want] = GENERATE(Case{4, 8, {8, 2, 1}}, Case{6, 7, {48, 2, 1}});
  INFO(batch << " images of " << size << " x " << size);
  hb::Options tight{.winograd_max_part_bytes = 0, .winograd_max_batch_transform_bytes = 0};
  dsl::Model m("wino_one_group");
  m.output("y", dsl::conv2d(m.input("x", {batch, 16, size, size}), 32, 3, {.padding = 1, .bias = false}));
  CHECK(chunks_of(weight_grad_plan({batch, 16, size, size}, 32, {.padding = 1}, tight)) == want);
  runtime::CompileOptions ho;
  ho.halide = tight;
  // The convolution, its input and weight gradients in Winograd form.
  check_model(testing::gradient_graph(m.graph(), true, 5), ho, 3, 1, 2e-3, 2e-4);
}

// Squeeze-and-excitation's scale before the convolution (the fused group's prologue), its
// output written straight into a concatenation's buffer (fold-concat: a strided view).
TEST_CASE("a Winograd convolution with a prologue, writing a folded concat's slice, equals the reference",
          "[winograd][executable]") {
  dsl::Model m("wino_se_concat");
  {
    using namespace dsl;
    Tensor x = m.input("x", {1, 32, 8, 8});
    Tensor s = sigmoid(conv2d(global_avg_pool(x), 32, 1));
    Tensor y = conv2d(mul(x, s), 16, 3, {.padding = 1, .bias = false});
    m.output("y", concat({x, y}, 1));
  }
  runtime::Executable exe(m.graph(), {});
  bool prologue = false, folded = false;
  for (const auto& n : exe.graph().nodes()) {
    if (n->op == "conv2d") prologue = ir::group_of(*n) >= 0 && n->inputs[0]->producer && ir::group_of(*n->inputs[0]->producer) == ir::group_of(*n);
    if (n->op == "concat") folded = n->attrs.count(passes::kFoldAttr) && n->attr_int(passes::kFoldAttr) != 0;
  }
  CHECK(prologue);
  CHECK(folded);
  check_model(m.graph(), {}, 1);
}
