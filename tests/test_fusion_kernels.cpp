// Fusion groups as kernels: a convolution's batch statistics and an input gradient's scale
// and bias gradients summed inside its kernel (reduction siblings), a 1x1 convolution reading
// positions as longer rows, prologues an epilogue member reads, two batch norms in one
// kernel, each against the reference; and the verifier's rules for siblings and prologues.
#include <fmt/format.h>

#include <set>

#include <strata/dsl.h>

#include "backends/halide/halide_backend.h"
#include "ir/fusion_group.h"
#include "ir/text_format.h"
#include "ir/verifier.h"
#include "tests/helpers.h"

using namespace strata;
namespace hb = strata::halide_backend;
using testing::optimized;

// fuse-conv-bn-stats: a convolution's batch statistics summed per output tile inside its
// kernel, a second output. Tiles that divide the row and one that shifts inwards (11
// columns in tiles of 5: the last tile starts at column 8, two columns before its own), a strided
// convolution, one image (channel tiles as the parallel tasks), and too few channels for the
// register tile (the value computed first, then summed): each equals the reference.
TEST_CASE("fuse-conv-bn-stats: statistics as a convolution's second output equal the reference", "[passes][halide]") {
  struct Case {
    const char* name;
    const char* x;
    const char* w;
    const char* y;
    const char* attrs;
  };
  const Case cases[] = {
      {"tiles shifting inwards", "2, 64, 13, 13", "64, 64, 3, 3", "2, 64, 13, 13", "{padding = [1, 1, 1, 1]}"},
      {"stride 2", "2, 64, 12, 12", "32, 64, 3, 3", "2, 32, 6, 6", "{padding = [1, 1, 1, 1], stride = [2, 2]}"},
      {"one image", "1, 64, 8, 8", "64, 64, 3, 3", "1, 64, 8, 8", "{padding = [1, 1, 1, 1]}"},
      {"six channels", "2, 64, 7, 7", "6, 64, 3, 3", "2, 6, 7, 7", "{padding = [1, 1, 1, 1]}"},
      // A 1x1 convolution's kernel reads 7x7 positions as one row of 49 (kernel_shapes): its
      // last tile of 6 starts at column 43, five columns before its own.
      {"1x1 on a row of 49", "2, 64, 7, 7", "64, 64, 1, 1", "2, 64, 7, 7", ""},
      // A filter over 1 MiB keeps channel tiles outermost (schedule_conv's co_inner).
      {"filter over 1 MiB", "2, 256, 5, 5", "128, 256, 3, 3", "2, 128, 5, 5", "{padding = [1, 1, 1, 1]}"},
      // An odd number of images: rows (or, past 1 MiB of filter, channel tiles) are the
      // parallel tasks rather than the images.
      {"three images", "3, 64, 13, 13", "64, 64, 3, 3", "3, 64, 13, 13", "{padding = [1, 1, 1, 1]}"},
      {"three images, filter over 1 MiB", "3, 256, 5, 5", "128, 256, 3, 3", "3, 128, 5, 5", "{padding = [1, 1, 1, 1]}"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      std::string y = c.y;
      std::string ch = y.substr(y.find(", ") + 2, y.find(", ", y.find(", ") + 2) - y.find(", ") - 2);
      ir::Graph g = ir::parse(fmt::format(R"IR(graph conv_stats {{
  input %x : f32[{}]
  param %w : f32[{}] init zeros
  %y = conv2d(%x, %w) {} : f32[{}]
  %s = batch_norm_stats(%y) : f32[2, {}]
  output "y" = %y
  output "s" = %s
}})IR",
                                          c.x, c.w, c.attrs, c.y, ch));
      int siblings = 0;
      ir::Graph o2 = optimized(g);
      for (const auto& n : o2.nodes()) siblings += ir::is_sibling(*n);
      CHECK(siblings == 1);
      testing::check_against_reference(g, "host", 3);
    }
  }
}

// The other sibling: batch norm's scale and bias gradients summed inside the input-gradient
// convolution that makes their dy (with the ReLU's gradient as its epilogue), reading x at
// the tile's positions; 13 columns in tiles that shift inwards, 8, a 1x1 convolution's at
// 7x7 (read as one row of 49), and a filter over 1 MiB.
TEST_CASE("fuse-conv-bn-stats: scale and bias gradients as an input gradient's second output equal the reference",
          "[passes][halide]") {
  struct Case {
    int hw, k, co, ci, n;
  };
  // The fourth: a filter over 1 MiB (its channel tiles stay outermost, schedule_conv's
  // co_inner); the last two: three images (rows or channel tiles as the parallel tasks).
  for (auto [hw, k, co, ci, n] : {Case{13, 3, 64, 48, 2}, Case{8, 3, 64, 48, 2}, Case{7, 1, 64, 48, 2}, Case{5, 3, 128, 256, 2},
                                  Case{13, 3, 64, 48, 3}, Case{5, 3, 128, 256, 3}}) {
    DYNAMIC_SECTION(n << " images " << hw << "x" << hw << " kernel " << k << " channels " << co << " to " << ci) {
      ir::Graph g = ir::parse(fmt::format(R"IR(graph dgrad_sums {{
  input %dy : f32[{5}, {3}, {0}, {0}]
  input %x : f32[{5}, {4}, {0}, {0}]
  input %a : f32[{5}, {4}, {0}, {0}]
  param %w : f32[{3}, {4}, {1}, {1}] init zeros
  param %rm : f32[{4}] init zeros
  param %rv : f32[{4}] init zeros
  %st = batch_norm_stats(%x) : f32[2, {4}]
  %g0 = conv2d_backward_input(%dy, %w) {{padding = [{2}, {2}, {2}, {2}], input_shape = [{5}, {4}, {0}, {0}]}} : f32[{5}, {4}, {0}, {0}]
  %g = activation_grad(%a, %g0) : f32[{5}, {4}, {0}, {0}]
  %s = batch_norm_backward_weight(%x, %rm, %rv, %g, %st) {{with_bias = 1}} : f32[2, {4}]
  output "g" = %g
  output "s" = %s
}})IR",
                                          hw, k, k / 2, co, ci, n));
      ir::Graph o2 = optimized(g);
      int siblings = 0;
      for (const auto& n : o2.nodes()) siblings += ir::is_sibling(*n) && n->op == "batch_norm_backward_weight";
      CHECK(siblings == 1);
      testing::check_against_reference(g, "host", 5);
    }
  }
}

// A 1x1, stride-1 convolution's kernel (with its folded batch norm, residual add and ReLU)
// reads an image's positions as rows its register tile of 6 columns fits: 7x7 as one row
// of 49, 56x56 as 16 rows of 196; a 3x3 convolution keeps its rows. The fused 7x7 graph
// equals the reference.
TEST_CASE("a 1x1 convolution's kernel reads an image's positions as longer rows", "[passes][halide]") {
  namespace hb = strata::halide_backend;
  auto shapes_of = [](int hw, int k) {
    dsl::Model m("pointwise");
    dsl::Tensor x = m.input("x", {2, 32, hw, hw});
    dsl::Tensor s = m.input("shortcut", {2, 64, hw, hw});
    dsl::Tensor y = dsl::conv2d(x, 64, k, {.padding = k / 2, .bias = false});
    m.output("y", dsl::relu(dsl::add(dsl::batch_norm(y), s)));
    ir::Graph g = optimized(m.graph());
    auto groups = ir::fusion_groups(g);
    REQUIRE(groups.size() == 1);
    const auto& group = groups[0];
    std::vector<hb::Layout> layouts;
    auto inputs = ir::group_inputs(group);
    for (size_t i = 0; i < inputs.size(); ++i)
      layouts.push_back(i < group[0]->inputs.size() ? hb::preferred_layout(*group[0], static_cast<int>(i))
                                                    : hb::default_layout(inputs[i]->type.rank()));
    return std::pair{hb::kernel_shapes(group, layouts, hb::channels_last(), {}), std::move(m)};
  };
  auto [flat7, m7] = shapes_of(7, 1);
  CHECK(flat7.outputs[0] == Shape{2, 64, 1, 49});
  CHECK(flat7.inputs[0] == Shape{2, 32, 1, 49});
  CHECK(flat7.inputs.back() == Shape{2, 64, 1, 49});  // the shortcut
  CHECK(shapes_of(56, 1).first.outputs[0] == Shape{2, 64, 16, 196});
  CHECK(shapes_of(7, 3).first.outputs[0] == Shape{2, 64, 7, 7});
  testing::check_against_reference(m7.graph(), "host", 9);
}

TEST_CASE("the verifier refuses a sibling that does not end its group or follow a convolution or its momentum update", "[passes]") {
  const char* not_last = R"IR(graph g {
  input %x : f32[1, 64, 4, 4]
  param %w : f32[16, 64, 3, 3] init zeros
  %y = conv2d(%x, %w) {padding = [1, 1, 1, 1], _group = 0} : f32[1, 16, 4, 4]
  %s = batch_norm_stats(%y) {_group = 0, _sibling = 1} : f32[2, 16]
  %r = relu(%y) {_group = 0} : f32[1, 16, 4, 4]
  output "r" = %r
  output "s" = %s
})IR";
  const char* not_conv = R"IR(graph g {
  input %x : f32[1, 16, 4, 4]
  %y = relu(%x) {_group = 0} : f32[1, 16, 4, 4]
  %s = batch_norm_stats(%y) {_group = 0, _sibling = 1} : f32[2, 16]
  output "y" = %y
  output "s" = %s
})IR";
  CHECK_THROWS_WITH(ir::verify(ir::parse(not_last)), Catch::Contains("sibling"));
  CHECK_THROWS_WITH(ir::verify(ir::parse(not_conv)), Catch::Contains("sibling"));
  // The pointwise sibling, SGD's parameter step, follows the momentum update of its own
  // parameter: after another parameter's, or after a plain elementwise op, it is refused.
  auto step_after = [](const char* prev, const char* param) {
    return ir::parse(fmt::format(R"IR(graph g {{
  input %g : f32[8]
  input %hyper : f32[2]
  param %p : f32[8] init zeros
  param %q : f32[8] init zeros
  param %b : f32[8] init zeros
  %m = {} : f32[8]
  %s = optimizer_update(%{}, %m, %hyper) {{_group = 0, _sibling = 1, optimizer = "sgd"}} : f32[8]
  output "m" = %m
  output "s" = %s
}})IR",
                                 prev, param));
  };
  const char* momentum = R"(optimizer_update(%p, %g, %hyper, %b) {_group = 0, optimizer = "momentum", result = 1})";
  CHECK_NOTHROW(ir::verify(step_after(momentum, "p")));
  CHECK_THROWS_WITH(ir::verify(step_after(momentum, "q")), Catch::Contains("sibling"));
  CHECK_THROWS_WITH(ir::verify(step_after("relu(%g) {_group = 0}", "p")), Catch::Contains("sibling"));
}

// A downsample block's sum in a training step: the first batch norm (its statistics given)
// becomes the prologue of the group that the second anchors, computed inside the add's
// loads; the kernel equals the reference, and the verifier refuses such a prologue read by
// anything else too.
TEST_CASE("fuse-elementwise: a batch norm the sum reads as the group's prologue equals the reference", "[passes][halide]") {
  const char* text = R"IR(graph two_bn_add {
  input %y1 : f32[2, 32, 6, 6]
  input %y2 : f32[2, 32, 6, 6]
  param %w1 : f32[32] init ones
  param %b1 : f32[32] init zeros
  param %m1 : f32[32] frozen init zeros
  param %v1 : f32[32] frozen init ones
  param %w2 : f32[32] init ones
  param %b2 : f32[32] init zeros
  param %m2 : f32[32] frozen init zeros
  param %v2 : f32[32] frozen init ones
  %s1 = batch_norm_stats(%y1) : f32[2, 32]
  %s2 = batch_norm_stats(%y2) : f32[2, 32]
  %a = batch_norm(%y1, %w1, %b1, %m1, %v1, %s1) {training = 1} : f32[2, 32, 6, 6]
  %b = batch_norm(%y2, %w2, %b2, %m2, %v2, %s2) {training = 1} : f32[2, 32, 6, 6]
  %sum = add(%a, %b) : f32[2, 32, 6, 6]
  %r = relu(%sum) : f32[2, 32, 6, 6]
  output "r" = %r
})IR";
  ir::Graph g = ir::parse(text);
  ir::Graph o2 = optimized(g);
  int prologues = 0;
  for (const auto& n : o2.nodes()) prologues += ir::is_prologue(*n) && n->op == "batch_norm";
  CHECK(prologues == 1);
  runtime::Executable exe(g, {});
  CHECK(exe.report().kernels == 3);  // the two statistics, then both batch norms, the add and the ReLU
  testing::check_against_reference(g, "host", 4);

  // The same group, with the prologue also read outside it (a graph output), or read twice.
  std::string grouped = ir::print(o2);
  std::string also_output = grouped;
  also_output.insert(also_output.rfind('}'), "  output \"a\" = %a\n");
  CHECK_THROWS_WITH(ir::verify(ir::parse(also_output)), Catch::Contains("prologue"));
  std::string twice = grouped;
  size_t at = twice.find("add(%a, %b)");
  REQUIRE(at != std::string::npos);
  twice.replace(at, 11, "add(%a, %a)");
  CHECK_THROWS_WITH(ir::verify(ir::parse(twice)), Catch::Contains("prologue"));
}

// Two eval-form batch norms in a row join one kernel (fuse-elementwise once kept a second
// batch norm out of a group, for fear of their per-channel Funcs' names clashing: Halide
// keeps same-named Funcs apart).
TEST_CASE("fuse-elementwise: two batch norms in one group equal the reference", "[passes][halide]") {
  ir::Graph g = ir::parse(R"IR(graph two_bn {
  input %x : f32[2, 16, 5, 5]
  param %w1 : f32[16] init ones
  param %b1 : f32[16] init zeros
  param %bn1.running_mean : f32[16] frozen init zeros
  param %bn1.running_var : f32[16] frozen init ones
  param %w2 : f32[16] init ones
  param %b2 : f32[16] init zeros
  param %bn2.running_mean : f32[16] frozen init zeros
  param %bn2.running_var : f32[16] frozen init ones
  %t = tanh(%x) : f32[2, 16, 5, 5]
  %a = batch_norm(%t, %w1, %b1, %bn1.running_mean, %bn1.running_var) : f32[2, 16, 5, 5]
  %b = batch_norm(%a, %w2, %b2, %bn2.running_mean, %bn2.running_var) : f32[2, 16, 5, 5]
  %r = relu(%b) : f32[2, 16, 5, 5]
  output "r" = %r
})IR");
  ir::Graph o2 = optimized(g);
  auto groups = ir::fusion_groups(o2);
  REQUIRE(groups.size() == 1);
  CHECK(groups[0].size() == 4);  // tanh, both batch norms, the ReLU
  testing::check_against_reference(g, "host", 5);
}

// recompute-bn-act: a training batch norm and its ReLU read only by convolutions (forward
// and weight gradient: 3x3 Winograd, 3x3 stride 2 and 1x1) become a prologue chain of each
// reader, computed in its copy of x (the zero-padded input, a Winograd convolution's image,
// the packed x of a chunked 1x1 weight gradient) or per task; the ReLU's output is never
// stored. -O2 leaves the pass out unless it is enabled.
TEST_CASE("recompute-bn-act: a batch norm and its ReLU recomputed by every convolution reading them equal the reference",
          "[passes][halide]") {
  ir::Graph g = ir::parse(R"IR(graph bn_relu_readers {
  input %y : f32[2, 32, 8, 8]
  input %dy : f32[2, 48, 8, 8]
  input %dys : f32[2, 48, 4, 4]
  param %gamma : f32[32] init ones
  param %beta : f32[32] init zeros
  param %bn.running_mean : f32[32] frozen init zeros
  param %bn.running_var : f32[32] frozen init ones
  param %w3 : f32[48, 32, 3, 3] init ones
  param %w1 : f32[48, 32, 1, 1] init ones
  %s = batch_norm_stats(%y) : f32[2, 32]
  %z = batch_norm(%y, %gamma, %beta, %bn.running_mean, %bn.running_var, %s) {training = 1} : f32[2, 32, 8, 8]
  %a = relu(%z) : f32[2, 32, 8, 8]
  %c3 = conv2d(%a, %w3) {padding = [1, 1, 1, 1]} : f32[2, 48, 8, 8]
  %c3s = batch_norm_stats(%c3) : f32[2, 48]
  %c1 = conv2d(%a, %w1) : f32[2, 48, 8, 8]
  %c1s = batch_norm_stats(%c1) : f32[2, 48]
  %dw3 = conv2d_backward_weight(%a, %dy) {padding = [1, 1, 1, 1], weight_shape = [48, 32, 3, 3]} : f32[48, 32, 3, 3]
  %dw1 = conv2d_backward_weight(%a, %dy) {weight_shape = [48, 32, 1, 1]} : f32[48, 32, 1, 1]
  %cs2 = conv2d(%a, %w3) {stride = [2, 2], padding = [1, 1, 1, 1]} : f32[2, 48, 4, 4]
  %dws2 = conv2d_backward_weight(%a, %dys) {stride = [2, 2], padding = [1, 1, 1, 1], weight_shape = [48, 32, 3, 3]} : f32[48, 32, 3, 3]
  output "c3" = %c3
  output "c3s" = %c3s
  output "c1" = %c1
  output "c1s" = %c1s
  output "dw3" = %dw3
  output "dw1" = %dw1
  output "cs2" = %cs2
  output "dws2" = %dws2
})IR");
  const std::set<std::string> enable{"recompute-bn-act"};
  for (const auto& grp : ir::fusion_groups(optimized(g))) CHECK(ir::anchor_index(grp) == 0);  // (not by default)
  ir::Graph o2 = optimized(g, "-O2", enable);
  int chains = 0, relus = 0;
  for (const auto& grp : ir::fusion_groups(o2)) {
    if (ir::anchor_index(grp) != 2) continue;
    ++chains;
    CHECK(grp[0]->op == "batch_norm");
    CHECK(grp[1]->op == "relu");
    CHECK(ir::reads_prologue_as_x(*grp[2]));
  }
  for (const auto& n : o2.nodes()) relus += n->op == "relu" && !ir::is_prologue(*n);
  CHECK(chains == 6);
  CHECK(relus == 0);
  runtime::CompileOptions co;
  co.passes.enabled = enable;
  runtime::Executable exe(g, co);
  // y's statistics, the six convolutions, and the Winograd form of the 3x3's weight (a
  // static kernel), where its stride-1 forward and weight gradient are Winograd's.
  CHECK(exe.report().winograd_convs == 2);
  CHECK(exe.report().kernels == 8);
  // (Winograd's transforms round differently from the direct sums: test_winograd's bounds.)
  testing::check_against_reference(g, "host", 6, -1.f, 1.f, "manual", 2e-3, 2e-4, enable);

  // The chain's rules: its first prologue read by the second only, the second by the anchor
  // as its x alone.
  std::string grouped = ir::print(o2);
  std::string also_output = grouped;
  size_t first = also_output.find("relu(");
  REQUIRE(first != std::string::npos);
  std::string z = also_output.substr(also_output.find('%', first), also_output.find(')', first) - also_output.find('%', first));
  also_output.insert(also_output.rfind('}'), fmt::format("  output \"z\" = {}\n", z));
  CHECK_THROWS_WITH(ir::verify(ir::parse(also_output)), Catch::Contains("inside the group"));
}

// A depthwise weight gradient whose x is a prologue chain (a batch norm and its ReLU) sums
// in chunk tasks (chunks of 20 rows here) and keeps its zero-padded copy of x, which
// computes the chain once; without the chain, x is read unpadded (test_ops_halide). The
// depthwise forward convolution computes the chain at each tap, its padding inline.
TEST_CASE("recompute-bn-act: depthwise convolutions compute their prologue chain (weight gradient in chunk tasks)",
          "[passes][halide]") {
  ir::Graph g = ir::parse(R"IR(graph bn_relu_depthwise {
  input %y : f32[2, 160, 40, 40]
  input %dy : f32[2, 160, 40, 40]
  param %gamma : f32[160] init ones
  param %beta : f32[160] init zeros
  param %bn.running_mean : f32[160] frozen init zeros
  param %bn.running_var : f32[160] frozen init ones
  %s = batch_norm_stats(%y) : f32[2, 160]
  %z = batch_norm(%y, %gamma, %beta, %bn.running_mean, %bn.running_var, %s) {training = 1} : f32[2, 160, 40, 40]
  %a = relu(%z) : f32[2, 160, 40, 40]
  param %w : f32[160, 1, 3, 3] init ones
  %dw = conv2d_backward_weight(%a, %dy) {groups = 160, padding = [1, 1, 1, 1], weight_shape = [160, 1, 3, 3]} : f32[160, 1, 3, 3]
  %c = conv2d(%a, %w) {groups = 160, padding = [1, 1, 1, 1], stride = [2, 2]} : f32[2, 160, 20, 20]
  output "dw" = %dw
  output "c" = %c
})IR");
  const std::set<std::string> enable{"recompute-bn-act"};
  ir::Graph o2 = optimized(g, "-O2", enable);
  int chains = 0;
  for (const auto& grp : ir::fusion_groups(o2)) chains += ir::anchor_index(grp) == 2 && ir::reads_prologue_as_x(*grp[2]);
  CHECK(chains == 2);
  // (A sum of 3200 products per weight: inputs in [-0.5, 0.5], as test_ops_halide's.)
  testing::check_against_reference(g, "host", 7, -0.5f, 0.5f, "manual", 1e-4, 1e-5, enable);
}

TEST_CASE("golden: recompute-bn-act (a batch norm and its ReLU as the prologue chain of each convolution reading them)",
          "[passes][golden]") {
  ir::Graph g = ir::parse(R"IR(graph bn_relu_chain {
  input %y : f32[2, 8, 4, 4]
  input %dy : f32[2, 16, 4, 4]
  param %g : f32[8] init ones
  param %b : f32[8] init zeros
  param %m : f32[8] frozen init zeros
  param %v : f32[8] frozen init ones
  param %w : f32[16, 8, 1, 1] init zeros
  %s = batch_norm_stats(%y) : f32[2, 8]
  %z = batch_norm(%y, %g, %b, %m, %v, %s) {training = 1} : f32[2, 8, 4, 4]
  %a = relu(%z) : f32[2, 8, 4, 4]
  %c = conv2d(%a, %w) : f32[2, 16, 4, 4]
  %dw = conv2d_backward_weight(%a, %dy) {weight_shape = [16, 8, 1, 1]} : f32[16, 8, 1, 1]
  output "c" = %c
  output "dw" = %dw
})IR");
  ir::Graph o = optimized(g, "fuse-elementwise,recompute-bn-act");  // (group ids renumbered from 0)
  CHECK(ir::print(o) == R"IR(graph bn_relu_chain {
  input %y : f32[2, 8, 4, 4]
  input %dy : f32[2, 16, 4, 4]
  param %g : f32[8] init ones
  param %b : f32[8] init zeros
  param %m : f32[8] frozen init zeros
  param %v : f32[8] frozen init ones
  param %w : f32[16, 8, 1, 1] init zeros
  %s = batch_norm_stats(%y) : f32[2, 8]
  %z.for_c = batch_norm(%y, %g, %b, %m, %v, %s) {_group = 0, _prologue = 1, eps = 1e-05, momentum = 0.1, training = 1} : f32[2, 8, 4, 4]
  %a.for_c = relu(%z.for_c) {_group = 0, _prologue = 1} : f32[2, 8, 4, 4]
  %c = conv2d(%a.for_c, %w) {_group = 0, auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[2, 16, 4, 4]
  %z.for_dw = batch_norm(%y, %g, %b, %m, %v, %s) {_group = 1, _prologue = 1, eps = 1e-05, momentum = 0.1, training = 1} : f32[2, 8, 4, 4]
  %a.for_dw = relu(%z.for_dw) {_group = 1, _prologue = 1} : f32[2, 8, 4, 4]
  %dw = conv2d_backward_weight(%a.for_dw, %dy) {_group = 1, dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1], weight_shape = [16, 8, 1, 1]} : f32[16, 8, 1, 1]
  output "c" = %c
  output "dw" = %dw
}
)IR");
  testing::check_same_on_reference(g, o, testing::random_inputs(g, 3), 3);
}
