// The PassManager (pipelines, presets, flags, the verifier naming a pass that broke the
// IR) and what the passes promise: the graph computes the same values after them (reference
// backend, example and reduced zoo models), bn-fold leaves no inference batch norm, every
// convolution of a ResNet ends up in a fusion group, and the memory plan never lets two
// live values share a slot.
#include <fmt/format.h>

#include <sstream>

#include "backends/halide/halide_backend.h"
#include "backends/reference/reference.h"
#include "examples/examples.h"
#include "frontend/zoo/zoo.h"
#include "ir/fusion_group.h"
#include "ir/text_format.h"
#include "ir/verifier.h"
#include "passes/memory_plan.h"
#include "passes/pass_manager.h"
#include "passes/training.h"
#include "tests/gradient_check.h"
#include "tests/helpers.h"

using namespace strata;

namespace {

ir::Graph optimized(const ir::Graph& g, const std::string& pipeline = "-O2") {
  passes::PipelineOptions o;
  o.pipeline = pipeline;
  o.verify_each = true;
  return passes::run_pipeline(g, o, reference::pass_context());
}

// The graph as written on the reference backend: the oracle the fused forms are checked against.
runtime::Executable reference_executable(const ir::Graph& g) {
  runtime::CompileOptions ro;
  ro.backend = runtime::Backend::Reference;
  ro.passes.pipeline = "-O0";
  return runtime::Executable(g, ro);
}

// Convolutions reading a concatenation: merge-conv-add's merged pairs.
int merged_convs(const ir::Graph& g) {
  int merged = 0;
  for (const auto& n : g.nodes())
    merged += n->op == "conv2d" && n->inputs[0]->producer && n->inputs[0]->producer->op == "concat";
  return merged;
}

std::vector<dsl::Model> reduced_models() {
  std::vector<dsl::Model> m;
  m.push_back(examples::small_resnet(10));
  m.push_back(examples::lenet(10));
  for (dsl::Model& z : testing::reduced_zoo_models()) m.push_back(std::move(z));
  return m;
}

}  // namespace

TEST_CASE("pipelines: presets, pass lists, disabled passes and bad names", "[passes]") {
  passes::PipelineOptions o;
  o.pipeline = "-O0";
  CHECK(passes::expand_pipeline(o).empty());
  o.pipeline = "-O2";
  auto o2 = passes::expand_pipeline(o);
  CHECK(std::find(o2.begin(), o2.end(), "bn-fold") != o2.end());
  CHECK(o2.back() == "memory-plan");
  o.disabled = {"bn-fold", "memory-plan"};
  auto less = passes::expand_pipeline(o);
  CHECK(less.size() == o2.size() - 2);
  CHECK(std::find(less.begin(), less.end(), "bn-fold") == less.end());
  o.disabled.clear();
  o.pipeline = "shape-infer,bn-fold,fuse-conv-bn-act";
  CHECK(passes::expand_pipeline(o) == std::vector<std::string>{"shape-infer", "bn-fold", "fuse-conv-bn-act"});
  o.pipeline = "bn-fold,fuse-everything";
  CHECK_THROWS_WITH(passes::expand_pipeline(o), Catch::Contains("unknown pass 'fuse-everything'") && Catch::Contains("bn-fold"));
  o.pipeline = "-O3";
  CHECK_THROWS_WITH(passes::expand_pipeline(o), Catch::Contains("-O3"));
  o.pipeline = "-O2";
  o.disabled = {"no-such-pass"};
  CHECK_THROWS_WITH(passes::expand_pipeline(o), Catch::Contains("no-such-pass"));
}

TEST_CASE("print-after and time-passes write the IR and a timing table", "[passes]") {
  dsl::Model m = examples::small_resnet(10);
  std::ostringstream log;
  passes::PipelineOptions o;
  o.pipeline = "bn-fold,fuse-conv-bn-act";
  o.print_after = {"bn-fold"};
  o.time_passes = true;
  o.log = &log;
  std::vector<passes::PassTiming> t;
  ir::Graph g = passes::run_pipeline(m.graph(), o, reference::pass_context(), &t);
  std::string text = log.str();
  CHECK(text.find("// after bn-fold") != std::string::npos);
  CHECK(text.find("batch_norm_fold_weight") != std::string::npos);
  CHECK(text.find("// after fuse-conv-bn-act") == std::string::npos);  // not asked for
  CHECK(text.find("pass timing (2 passes") != std::string::npos);
  REQUIRE(t.size() == 2);
  CHECK(t[0].pass == "bn-fold");
  CHECK(t[1].nodes_before == t[0].nodes_after);
  // The printed IR parses back to the graph the pass produced.
  std::string after = text.substr(text.find("graph "), text.find("pass timing") - text.find("graph "));
  CHECK(ir::print(ir::parse(after)) == ir::print(optimized(m.graph(), "bn-fold")));
}

TEST_CASE("a pass that breaks the IR is caught by the verifier, which names the pass", "[passes][errors]") {
  // This pass puts two nodes that are not next to each other in one fusion group.
  passes::register_pass({"test-break-groups", "marks a non-consecutive fusion group", [](const ir::Graph& g, const passes::PassContext&) {
                           ir::Graph out = ir::clone(g);
                           auto& nodes = out.nodes();
                           nodes.front()->attrs[ir::kGroupAttr] = int64_t{7};
                           nodes.back()->attrs[ir::kGroupAttr] = int64_t{7};
                           return out;
                         }});
  dsl::Model m = examples::lenet(10);
  passes::PipelineOptions o;
  o.pipeline = "cse,test-break-groups,dce";
  o.verify_each = true;
  CHECK_THROWS_WITH(passes::run_pipeline(m.graph(), o), Catch::Contains("pass 'test-break-groups' broke the IR") &&
                                                            Catch::Contains("fusion group 7"));
  CHECK_THROWS_WITH(passes::register_pass({"dce", "", nullptr}), Catch::Contains("already registered"));
}

TEST_CASE("the verifier refuses malformed fusion groups in the text form", "[passes][errors]") {
  const char* escaping = R"IR(graph g {
  input %x : f32[1, 4]
  %a = relu(%x) {_group = 0} : f32[1, 4]
  %b = tanh(%a) {_group = 0} : f32[1, 4]
  %c = add(%a, %b) : f32[1, 4]
  output "y" = %c
})IR";
  CHECK_THROWS_WITH(ir::parse(escaping), Catch::Contains("%a (inside the group) is also used by 'c'"));
  const char* not_elementwise = R"IR(graph g {
  input %x : f32[1, 4, 4, 4]
  %a = relu(%x) {_group = 0} : f32[1, 4, 4, 4]
  %b = global_avg_pool(%a) {_group = 0} : f32[1, 4, 1, 1]
  output "y" = %b
})IR";
  CHECK_THROWS_WITH(ir::parse(not_elementwise), Catch::Contains("not elementwise"));
  const char* bad_annotation = R"IR(graph g {
  input %x : f32[1, 4]
  %a = relu(%x) {_group = "zero"} : f32[1, 4]
  output "y" = %a
})IR";
  CHECK_THROWS_WITH(ir::parse(bad_annotation), Catch::Contains("annotation '_group' must be an int"));
}

TEST_CASE("after -O2 every example and reduced zoo model computes what it did (reference backend)", "[passes][zoo]") {
  for (const dsl::Model& m : reduced_models()) {
    INFO(m.name());
    ir::Graph g = optimized(m.graph());
    testing::check_same_on_reference(m.graph(), g, testing::random_inputs(m.graph(), 4), 3);
    // bn-fold leaves no batch norm right after a convolution or linear layer (DenseNet's
    // pre-activation batch norms follow a concat or pooling and stay, fused where they can).
    for (const auto& n : g.nodes()) {
      if (n->op != "batch_norm") continue;
      const ir::Node* p = n->inputs[0]->producer;
      INFO("batch norm " << n->name());
      CHECK(!(p && (p->op == "conv2d" || p->op == "linear") && n->inputs[0]->users.size() == 1));
    }
  }
}

// A batch norm fuse-elementwise copied for a ReLU gradient's sign (the group's prologue).
static bool recomputed_for_relu_grad(const ir::Node& n) {
  return n.op == "batch_norm" && ir::is_prologue(n) && n.outputs[0]->users.size() == 1 &&
         n.outputs[0]->users[0]->op == "activation_grad";
}

TEST_CASE("ResNet: every convolution is folded with its batch norm and fused with what follows", "[passes]") {
  dsl::Model m = zoo::resnet(50, {.num_classes = 10, .height = 32, .width = 32, .width_multiplier = 0.125});
  ir::Graph g = optimized(m.graph());
  int convs = 0, grouped = 0, bns = 0, adds_in_groups = 0, adds = 0;
  for (const auto& n : g.nodes()) {
    bns += n->op == "batch_norm";
    if (n->op == "add" && !passes::is_static(n->outputs[0])) adds++, adds_in_groups += ir::group_of(*n) >= 0;
    if (n->op != "conv2d") continue;
    ++convs;
    grouped += ir::group_of(*n) >= 0;
  }
  CHECK(bns == 0);
  // One add per bottleneck block, but the four blocks with a projection shortcut: there
  // merge-conv-add made the block's last 1x1 and the projection one conv over concat(h, x).
  CHECK(merged_convs(g) == 4);
  CHECK(convs == 53 - 4);
  CHECK(adds == 16 - 4);
  CHECK(adds_in_groups == adds);
  CHECK(grouped == convs);  // every conv is an anchor
  // Training graphs keep their batch norms (training form: batch statistics).
  ir::Graph batch2 = ir::clone(m.graph());
  batch2.set_batch_size(2);
  ir::Graph step = passes::build_training_step(batch2, {}, {}).graph;
  ir::Graph ts = optimized(step);
  int train_bn = 0, for_masks = 0;
  for (const auto& n : ts.nodes()) {
    if (n->op != "batch_norm" || !n->attr_int("training")) continue;
    (recomputed_for_relu_grad(*n) ? for_masks : train_bn) += 1;
  }
  CHECK(train_bn == 53);
  // Every ReLU gradient after a batch norm + ReLU (two per block, and the stem's) reads its
  // batch norm recomputed inside its kernel rather than the ReLU's output.
  CHECK(for_masks == 16 * 2 + 1);
}

// fuse-bn-stats: in a training step each batch norm's statistics are one batch_norm_stats
// node that every kernel of that batch norm reads, each input gradient reads the weight and
// bias gradients, and the step computes what it did (reference backend: loss, gradients,
// running statistics and updated parameters). The statistics are now rounded to float
// between kernels, so the models are ones whose batch norms do not amplify that rounding:
// MobileNet v2 at these sizes moves its logits by 4e-4 relative from it alone (the same
// conditioning that keeps its Halide gradient test in eval form).
TEST_CASE("training step: batch statistics computed once per batch norm, same step (reference)", "[passes][training]") {
  std::vector<std::pair<dsl::Model, int>> models;  // model, batch
  models.emplace_back(examples::small_resnet(10), 2);
  models.emplace_back(zoo::resnet(18, {.num_classes = 5, .height = 32, .width = 32, .width_multiplier = 0.25}), 8);
  for (const auto& [m, batch] : models) {
    INFO(m.name());
    ir::Graph batch2 = ir::clone(m.graph());
    batch2.set_batch_size(batch);
    passes::TrainingStep step = passes::build_training_step(batch2, {}, {});
    ir::Graph g = optimized(step.graph);
    int bns = 0, stats = 0, shared = 0, with_sums = 0;
    for (const auto& n : g.nodes()) {
      if (n->op == "batch_norm" && n->attr_int("training") && !recomputed_for_relu_grad(*n))
        ++bns, shared += n->inputs.size() == 6;
      stats += n->op == "batch_norm_stats";
      if (n->op == "batch_norm_backward_input") with_sums += n->inputs.size() == 8;
      if (n->op == "batch_norm_running_stats" || n->op == "batch_norm_backward_weight") {
        INFO(n->name());
        CHECK(n->inputs.back()->producer->op == "batch_norm_stats");
      }
    }
    CHECK(bns > 0);
    CHECK(stats == bns);
    CHECK(shared == bns);
    CHECK(with_sums == bns);
    // Random images: identical synthetic ones would give deep 1x1 layers a zero batch
    // variance, where the gradients are rounding noise scaled by 1 / sqrt(eps).
    NamedTensors in = passes::synthetic_step_inputs(batch2, step);
    for (auto& [name, t] : testing::random_inputs(batch2, 4)) in[name] = t;
    testing::check_same_on_reference(step.graph, g, in, 3);
  }
}

// Replays the plan: a slot may receive a value only when the value it held has been read
// for the last time (before this kernel, or by it when the kernel writes in place).
TEST_CASE("the memory plan never overwrites a value that is still to be read", "[passes][memory]") {
  for (const dsl::Model& model : reduced_models()) {
    INFO(model.name());
    ir::Graph g = optimized(model.graph());
    passes::MemoryPlan plan = passes::annotated_plan(g);
    REQUIRE(!plan.slot.empty());
    CHECK(plan.peak_bytes <= plan.unplanned_bytes);
    // Kernel index of each node (a group's members share their last member's).
    std::map<const ir::Node*, int> kernel;
    int k = 0;
    const auto& nodes = g.nodes();
    for (size_t i = 0; i < nodes.size(); ++i) {
      kernel[nodes[i].get()] = k;
      int grp = ir::group_of(*nodes[i]);
      if (grp < 0 || i + 1 == nodes.size() || ir::group_of(*nodes[i + 1]) != grp) ++k;
    }
    for (size_t i = nodes.size(); i-- > 1;)
      if (ir::group_of(*nodes[i]) >= 0 && ir::group_of(*nodes[i - 1]) == ir::group_of(*nodes[i]))
        kernel[nodes[i - 1].get()] = kernel[nodes[i].get()];
    std::map<const ir::Value*, int> last_read;
    for (const auto& n : nodes)
      for (const ir::Value* v : n->inputs) last_read[v] = std::max(last_read[v], kernel[n.get()]);
    // Slices of a folded concat are views of it: the concat's buffer is taken when its
    // first slice is written and the slices are read only by the concat.
    auto views = passes::folded_concat_views(g);
    std::map<int, const ir::Value*> holder;
    for (const auto& n : nodes) {
      const ir::Value* v = n->outputs[0];
      if (!plan.slot.count(v)) continue;
      int slot = plan.slot.at(v), at = kernel[n.get()];
      if (auto view = views.find(v); view != views.end()) {
        CHECK(plan.slot.at(view->second->outputs[0]) == slot);
        const ir::Value* c = view->second->outputs[0];
        if (holder.count(slot) && holder[slot] == c) continue;  // a later slice of the same concat
        v = c;
      } else if (holder.count(slot) && holder[slot] == v) {
        continue;  // the concat after its slices
      }
      if (auto it = holder.find(slot); it != holder.end()) {
        const ir::Value* old = it->second;
        bool read_by_this_kernel = last_read.count(old) && last_read[old] == at;
        bool in_place = read_by_this_kernel && std::count(n->inputs.begin(), n->inputs.end(), old) == 1 &&
                        ir::group_of(*n) < 0 && ir::is_elementwise(*n);
        INFO(v->name << " overwrites " << old->name << " in slot " << slot);
        CHECK((!last_read.count(old) || last_read[old] < at || in_place));
        for (auto& [name, out] : g.outputs()) CHECK(out != old);
      }
      holder[slot] = v;
    }
  }
}

TEST_CASE("folded weights follow new parameter values (static kernels rerun after set_parameters)", "[passes][executable]") {
  dsl::Model m = examples::small_resnet(10);
  runtime::CompileOptions fused;  // -O2
  runtime::Executable exe(m.graph(), fused);
  CHECK(exe.report().static_kernels > 0);
  CHECK(exe.report().activation_bytes < exe.report().activation_bytes_unplanned);
  runtime::Executable ref = reference_executable(m.graph());
  testing::check_follows_parameters(exe, ref, m.graph(), testing::random_inputs(m.graph(), 5), "logits");
}

// fold-concat on Halide: two producers write strided slices of the concat's buffer (one of
// them a fused conv + ReLU), the graph input is copied into the third slice.
TEST_CASE("fold-concat: slices written in place equal the reference", "[passes][halide]") {
  ir::Graph g = ir::parse(R"IR(graph concat {
  input %x : f32[2, 4, 5, 5]
  param %w1 : f32[3, 4, 1, 1] init zeros
  param %w2 : f32[2, 4, 3, 3] init zeros
  %a = conv2d(%x, %w1) : f32[2, 3, 5, 5]
  %r = relu(%a) : f32[2, 3, 5, 5]
  %b = conv2d(%x, %w2) {padding = [1, 1, 1, 1]} : f32[2, 2, 5, 5]
  %c = concat(%x, %r, %b) : f32[2, 9, 5, 5]
  %y = tanh(%c) : f32[2, 9, 5, 5]
  %z = sigmoid(%c) : f32[2, 9, 5, 5]
  output "y" = %y
  output "z" = %z
})IR");
  int folded = 0;
  ir::Graph o2 = optimized(g);
  for (const auto& n : o2.nodes()) folded += n->attrs.count(passes::kFoldAttr) > 0;
  CHECK(folded == 1);
  testing::check_against_reference(g, "host", 8);
}

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
    int hw, k, co, ci;
  };
  // The last: a filter over 1 MiB (its channel tiles stay outermost, schedule_conv's co_inner).
  for (auto [hw, k, co, ci] : {Case{13, 3, 64, 48}, Case{8, 3, 64, 48}, Case{7, 1, 64, 48}, Case{5, 3, 128, 256}}) {
    DYNAMIC_SECTION(hw << "x" << hw << " kernel " << k << " channels " << co << " to " << ci) {
      ir::Graph g = ir::parse(fmt::format(R"IR(graph dgrad_sums {{
  input %dy : f32[2, {3}, {0}, {0}]
  input %x : f32[2, {4}, {0}, {0}]
  input %a : f32[2, {4}, {0}, {0}]
  param %w : f32[{3}, {4}, {1}, {1}] init zeros
  param %rm : f32[{4}] init zeros
  param %rv : f32[{4}] init zeros
  %st = batch_norm_stats(%x) : f32[2, {4}]
  %g0 = conv2d_backward_input(%dy, %w) {{padding = [{2}, {2}, {2}, {2}], input_shape = [2, {4}, {0}, {0}]}} : f32[2, {4}, {0}, {0}]
  %g = activation_grad(%a, %g0) : f32[2, {4}, {0}, {0}]
  %s = batch_norm_backward_weight(%x, %rm, %rv, %g, %st) {{with_bias = 1}} : f32[2, {4}]
  output "g" = %g
  output "s" = %s
}})IR",
                                          hw, k, k / 2, co, ci));
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

// A lone elementwise op whose input dies at it would normally write in place; when its
// output is a slice of a folded concat it must not (the slice is strided over the concat's
// buffer and would overwrite input still to be read).
TEST_CASE("memory plan: no in-place write into a folded concat's slice", "[passes][memory]") {
  ir::Graph g = ir::parse(R"IR(graph slices {
  input %x : f32[1, 16, 4, 4]
  %a = sigmoid(%x) : f32[1, 16, 4, 4]
  %b = tanh(%a) : f32[1, 16, 4, 4]
  %c = concat(%x, %b) : f32[1, 32, 4, 4]
  %y = relu(%c) : f32[1, 32, 4, 4]
  %z = sigmoid(%c) : f32[1, 32, 4, 4]
  output "y" = %y
  output "z" = %z
})IR");
  ir::Graph o = optimized(g, "fold-concat,memory-plan");
  passes::MemoryPlan plan = passes::annotated_plan(o);
  auto views = passes::folded_concat_views(o);
  REQUIRE(views.count(o.value("b")) == 1);
  CHECK(plan.slot.at(o.value("b")) == plan.slot.at(o.value("c")));
  CHECK(plan.slot.at(o.value("a")) != plan.slot.at(o.value("b")));
  testing::check_against_reference(g, "host", 9);
}

// merge-conv-add on Halide: ResNet's bottleneck with a projection shortcut, at stride 1 (the
// projection reads the block's input as it is: copied into the concatenation, since the
// block's first conv reads it too) and at stride 2 (subsampled straight into it); one block's
// last conv with a bias of its own. The merged convolutions equal the reference and follow
// new parameters (their concatenated weights are static kernels).
TEST_CASE("merge-conv-add: a projection shortcut merged with the branch's last conv equals the reference",
          "[passes][halide]") {
  dsl::Model m("projection");
  {
    using namespace dsl;
    auto bottleneck = [](Tensor x, int64_t mid, int64_t out, int64_t stride, bool bias) {
      Tensor h = relu(batch_norm(conv2d(x, mid, 1, {.bias = false})));
      h = relu(batch_norm(conv2d(h, mid, 3, {.stride = stride, .padding = 1, .bias = false})));
      h = batch_norm(conv2d(h, out, 1, {.bias = bias}));
      Tensor shortcut = batch_norm(conv2d(x, out, 1, {.stride = stride, .bias = false}));
      return relu(add(h, shortcut));
    };
    Tensor x = m.input("x", {2, 16, 8, 8});
    Tensor y = bottleneck(x, 16, 32, 1, false);
    m.output("y", bottleneck(y, 16, 48, 2, true));
  }
  CHECK(merged_convs(optimized(m.graph())) == 2);
  testing::check_against_reference(m.graph(), "host", 3);
  runtime::Executable exe(m.graph(), {});
  runtime::Executable ref = reference_executable(m.graph());
  testing::check_follows_parameters(exe, ref, m.graph(), testing::random_inputs(m.graph(), 5), "y");
}

// Without batch norms between them, two 1x1 convolutions summed are merged in a training
// graph too (the gradients read the convolutions' inputs and weights, not their outputs):
// the forward's merged convolution concatenates the weights every step (parameters change),
// and the gradients equal the reference's on the graph as written.
TEST_CASE("merge-conv-add in a training graph: gradients equal the reference", "[passes][halide][training]") {
  dsl::Model m("projection_no_bn");
  {
    using namespace dsl;
    Tensor x = m.input("x", {2, 16, 8, 8});
    Tensor h = relu(conv2d(x, 16, 3, {.stride = 2, .padding = 1}));
    m.output("y", relu(add(conv2d(h, 32, 1), conv2d(x, 32, 1, {.stride = 2, .bias = false}))));
  }
  ir::Graph grads = testing::gradient_graph(passes::training_forward(m.graph()), true, 3);
  CHECK(merged_convs(optimized(grads)) == 1);
  testing::check_against_reference(grads, "host", 1, -1.f, 1.f, "manual", 2e-3, 2e-4);
}
