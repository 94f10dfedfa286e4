// The PassManager (pipelines, presets, flags, the verifier naming a pass that broke the
// IR) and what the passes promise: the graph computes the same values after them (reference
// backend, example and reduced zoo models), bn-fold leaves no inference batch norm, every
// convolution of a ResNet ends up in a fusion group, and the memory plan never lets two
// live values share a slot. (Fusion groups as kernels: test_fusion_kernels.cpp.)

#include <set>
#include <sstream>

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

using testing::optimized;

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

TEST_CASE("pipelines: presets, pass lists, disabled and enabled passes and bad names", "[passes]") {
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
  // A preset's optional pass runs only when enabled, in its place (after fuse-elementwise).
  o.disabled.clear();
  CHECK(std::find(o2.begin(), o2.end(), "recompute-bn-act") == o2.end());
  o.enabled = {"recompute-bn-act"};
  auto more = passes::expand_pipeline(o);
  REQUIRE(more.size() == o2.size() + 1);
  auto at = std::find(more.begin(), more.end(), "recompute-bn-act");
  REQUIRE(at != more.end());
  CHECK(*(at - 1) == "fuse-elementwise");
  o.enabled = {"bn-fold"};
  CHECK_THROWS_WITH(passes::expand_pipeline(o), Catch::Contains("bn-fold") && Catch::Contains("not an optional pass"));
  o.enabled = {"recompute-bn-act"};
  o.pipeline = "fuse-elementwise";
  CHECK_THROWS_WITH(passes::expand_pipeline(o), Catch::Contains("only with a preset"));
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

// A batch norm fuse-elementwise copied, with its activation, as a convolution's (or its
// weight gradient's) prologue chain: the convolution reads the activation as its x.
static bool recomputed_for_conv(const ir::Node& n) {
  if (n.op != "batch_norm" || !ir::is_prologue(n) || n.outputs[0]->users.size() != 1) return false;
  const ir::Node& act = *n.outputs[0]->users[0];
  if (!ir::is_prologue(act) || act.outputs[0]->users.size() != 1) return false;
  const ir::Node& conv = *act.outputs[0]->users[0];
  return ir::reads_prologue_as_x(conv) && conv.inputs[0] == act.outputs[0] && ir::group_of(conv) == ir::group_of(n);
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
  for (bool recompute : {false, true}) {
    INFO("recompute-bn-act " << recompute);
    ir::Graph ts = recompute ? optimized(step, "-O2", {"recompute-bn-act"}) : optimized(step);
    int train_bn = 0, for_masks = 0, for_convs = 0;
    for (const auto& n : ts.nodes()) {
      if (n->op != "batch_norm" || !n->attr_int("training")) continue;
      (recomputed_for_relu_grad(*n) ? for_masks : recomputed_for_conv(*n) ? for_convs : train_bn) += 1;
    }
    // Every ReLU gradient after a batch norm + ReLU (two per block, and the stem's) reads its
    // batch norm recomputed inside its kernel rather than the ReLU's output.
    CHECK(for_masks == 16 * 2 + 1);
    // With recompute-bn-act a block's first two batch norms and ReLUs, read by convolutions
    // alone (the next conv and its weight gradient), are recomputed by both and have no
    // kernel of their own; the stem's (max pooling reads it) and each block's last (the add)
    // keep theirs.
    CHECK(for_convs == (recompute ? 16 * 2 * 2 : 0));
    CHECK(train_bn == 53 - (recompute ? 16 * 2 : 0));
  }
}

// A training step's backward holds its batch in attributes (conv2d_backward_input's and the
// pools' input_shape, reshape shapes, slices over the batch): re-batching follows them, so
// a step built at one batch and re-batched reads exactly as one built at the other. From
// batch 2 the batch norms' [2, C] statistics and gradients, which are no batch, stay.
TEST_CASE("a training step re-batched equals the step built at that batch", "[passes][training]") {
  std::vector<dsl::Model> models = testing::reduced_zoo_models();
  models.push_back(examples::lenet(10));
  for (const dsl::Model& m : models)
    for (auto [from, to] : {std::pair<int64_t, int64_t>{2, 3}, {3, 2}, {2, 5}}) {
      INFO(m.graph().name() << ": batch " << from << " -> " << to);
      auto step_at = [&](int64_t batch) {
        ir::Graph g = ir::clone(m.graph());
        g.set_batch_size(batch);
        return passes::build_training_step(g, {}, {.name = "momentum", .weight_decay = 5e-4}).graph;
      };
      ir::Graph step = step_at(from);
      step.set_batch_size(to);
      ir::verify(step);
      CHECK(ir::print(step) == ir::print(step_at(to)));
    }
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
    std::set<const ir::Value*> bn_stats;  // one per batch norm (its copies read the same)
    int stats = 0, with_sums = 0;
    bool shared = true;
    for (const auto& n : g.nodes()) {
      if (n->op == "batch_norm" && n->attr_int("training")) {
        shared &= n->inputs.size() == 6 && n->inputs.back()->producer->op == "batch_norm_stats";
        if (n->inputs.size() == 6) bn_stats.insert(n->inputs.back());
      }
      stats += n->op == "batch_norm_stats";
      if (n->op == "batch_norm_backward_input") with_sums += n->inputs.size() == 8;
      if (n->op == "batch_norm_running_stats" || n->op == "batch_norm_backward_weight") {
        INFO(n->name());
        CHECK(n->inputs.back()->producer->op == "batch_norm_stats");
      }
    }
    int bns = static_cast<int>(bn_stats.size());
    CHECK(bns > 0);
    CHECK(stats == bns);
    CHECK(shared);
    CHECK(with_sums == bns);
    // Random images: identical synthetic ones would give deep 1x1 layers a zero batch
    // variance, where the gradients are rounding noise scaled by 1 / sqrt(eps).
    NamedTensors in = passes::synthetic_step_inputs(step);
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
