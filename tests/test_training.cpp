// Training: optimizer updates against values computed by hand (PyTorch's update rules),
// clipping and weight decay, a short seeded run whose loss falls, checkpoint / resume
// equality, a corrupt checkpoint rejected, divergence named, and whole-model gradients of
// the small ResNet (finite differences; Halide equal to the reference backend).
#include <strata/dsl.h>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "backends/halide/halide_backend.h"
#include "backends/reference/reference.h"
#include "frontend/registry.h"
#include "ir/fusion_group.h"
#include "ir/text_format.h"
#include "passes/pass_manager.h"
#include "passes/training.h"
#include "runtime/trainer.h"
#include "tests/gradient_check.h"
#include "tests/helpers.h"

using namespace strata;
using namespace strata::dsl;
namespace fs = std::filesystem;

static std::vector<runtime::Backend> backends() { return {runtime::Backend::Reference, runtime::Backend::Halide}; }

static const char* backend_name(runtime::Backend b) { return b == runtime::Backend::Halide ? "halide" : "reference"; }

// p0 = {1, -2, 0.5}; gradients {0.1, -0.2, 0.3} then {0.2, 0.1, -0.1}. Expected values were
// worked out by hand from PyTorch's documented update rules (tests/README.md shows the script).
struct OptimizerCase {
  std::string name;
  passes::OptimizerSpec spec;
  double lr;
  std::vector<float> param, state1, state2;
};

static void run_optimizer_case(const OptimizerCase& c, runtime::Backend backend) {
  ir::Graph g("optimizer");
  ir::Value* p = g.add_parameter("p", TensorType{DataType::f32, {3}}, {});
  ir::Value* grad = g.add_input("grad", TensorType{DataType::f32, {3}});
  ir::Value* hyper = g.add_input("hyper", TensorType{DataType::f32, {2}});
  auto names = passes::optimizer_state_names(c.spec.name);
  std::vector<ir::Value*> in{p, grad, hyper};
  for (auto& s : names) in.push_back(g.add_parameter("p." + s, TensorType{DataType::f32, {3}}, {}, false));
  runtime::CompileOptions o;
  o.backend = backend;
  for (size_t r = 0; r < in.size() - 2; ++r) {
    ir::AttrMap a{{"optimizer", c.spec.name},        {"result", static_cast<int64_t>(r)},
                  {"momentum", c.spec.momentum},     {"weight_decay", c.spec.weight_decay},
                  {"l1", c.spec.l1},                 {"clip_value", c.spec.clip_value}};
    ir::Value* u = g.add_node("optimizer_update", in, a, "new_" + in[r == 0 ? 0 : 2 + r]->name)->outputs[0];
    g.add_output(u->name, u);
    o.updates.push_back({u->name, in[r == 0 ? 0 : 2 + r]->name});
  }
  runtime::Executable exe(g, o);
  runtime::ParameterStore ps;
  ps.set("p", HostTensor({3}, {1.f, -2.f, 0.5f}));
  for (auto& s : names) ps.set("p." + s, HostTensor({3}));
  exe.set_parameters(ps);
  std::vector<std::vector<float>> grads{{0.1f, -0.2f, 0.3f}, {0.2f, 0.1f, -0.1f}};
  for (int step = 0; step < 2; ++step)
    exe.run({{"grad", HostTensor({3}, grads[step])},
             {"hyper", HostTensor({2}, {static_cast<float>(c.lr), static_cast<float>(step + 1)})}});
  runtime::ParameterStore after = exe.parameters();
  auto expect = [&](const std::string& name, const std::vector<float>& want) {
    INFO(c.name << " on " << backend_name(backend) << ": " << name);
    testing::Mismatch m = testing::compare(after.at(name), HostTensor({3}, want), 2e-5, 1e-7);
    INFO(m.detail);
    CHECK(m.ok);
  };
  expect("p", c.param);
  if (!names.empty()) expect("p." + names[0], c.state1);
  if (names.size() > 1) expect("p." + names[1], c.state2);
}

TEST_CASE("optimizers: two steps of each against hand-computed values", "[training][optimizer]") {
  using S = passes::OptimizerSpec;
  std::vector<OptimizerCase> cases{
      {"sgd", S{.name = "sgd"}, 0.1, {0.97f, -1.99f, 0.48f}, {}, {}},
      {"sgd with weight decay and L1", S{.name = "sgd", .weight_decay = 0.01, .l1 = 0.001}, 0.1,
       {0.9678111f, -1.985822f, 0.4788306f}, {}, {}},
      {"sgd with clipping by value", S{.name = "sgd", .clip_value = 0.15}, 0.1, {0.975f, -1.995f, 0.495f}, {}, {}},
      {"momentum", S{.name = "momentum", .momentum = 0.9}, 0.1, {0.961f, -1.972f, 0.453f}, {0.29f, -0.08f, 0.17f}, {}},
      {"nesterov", S{.name = "nesterov", .momentum = 0.9}, 0.1, {0.9349f, -1.9648f, 0.4377f}, {0.29f, -0.08f, 0.17f}, {}},
      {"rmsprop", S{.name = "rmsprop"}, 0.01, {0.8104678f, -1.944901f, 0.4317661f}, {0.000499f, 0.000496f, 0.000991f}, {}},
      {"adam", S{.name = "adam"}, 0.01, {0.9803482f, -1.987337f, 0.4859978f}, {0.029f, -0.008f, 0.017f},
       {4.999e-05f, 4.996e-05f, 9.991e-05f}},
      {"adam with L2 weight decay", S{.name = "adam", .weight_decay = 0.1}, 0.01, {0.9800897f, -1.981707f, 0.484443f},
       {0.0479f, -0.0459f, 0.0264f}, {0.000129361f, 0.000169641f, 0.0001249785f}},
      {"adamw (decoupled decay)", S{.name = "adamw", .weight_decay = 0.1}, 0.01, {0.9783592f, -1.983349f, 0.4850083f},
       {0.029f, -0.008f, 0.017f}, {4.999e-05f, 4.996e-05f, 9.991e-05f}},
  };
  for (auto b : backends())
    for (const auto& c : cases) run_optimizer_case(c, b);
}

// y = W x + b with W = 0, b = 0, x = {1.5, 2}, target -3, MSE: dW = {9, 12}, db = {6}, global
// norm sqrt(261); clipped to norm sqrt(261) / 10 every gradient is scaled by 1/10.
TEST_CASE("training step: clipping by global norm rescales every gradient", "[training][optimizer]") {
  Model m("clip");
  Tensor x = m.input("x", {1, 2});
  m.output("y", linear(x, 1));
  passes::OptimizerSpec opt{.name = "sgd", .clip_norm = std::sqrt(261.0) / 10};
  passes::TrainingStep step = passes::build_training_step(m.graph(), {.kind = "mse"}, opt);
  for (auto b : backends()) {
    runtime::CompileOptions o;
    o.backend = b;
    o.updates = step.updates;
    runtime::Executable exe(step.graph, o);
    runtime::ParameterStore ps;
    ps.set("fc1.weight", HostTensor({1, 2}));
    ps.set("fc1.bias", HostTensor({1}));
    exe.set_parameters(ps);
    auto out = exe.run({{"x", HostTensor({1, 2}, {1.5f, 2.f})}, {"target", HostTensor({1, 1}, {-3.f})},
                        {"hyper", HostTensor({2}, {1.f, 1.f})}});
    INFO(backend_name(b));
    CHECK(out.at("loss").data[0] == Approx(9.0));
    auto p = exe.parameters();
    CHECK(p.at("fc1.weight").data[0] == Approx(-0.9).epsilon(1e-5));
    CHECK(p.at("fc1.weight").data[1] == Approx(-1.2).epsilon(1e-5));
    CHECK(p.at("fc1.bias").data[0] == Approx(-0.6).epsilon(1e-5));
  }
}

// GoogLeNet-style auxiliary heads: the step's loss is the weighted sum of every head's loss.
TEST_CASE("training step: weighted losses over several outputs", "[training]") {
  Model m("two_heads");
  Tensor x = m.input("x", {4, 6});
  m.output("logits", linear(x, 3));
  m.output("aux", linear(relu(x), 3));
  passes::LossSpec loss{.label_smoothing = 0.1, .outputs = {{"logits", 1.0}, {"aux", 0.3}}};
  passes::TrainingStep step = passes::build_training_step(m.graph(), loss, {.name = "sgd"});
  runtime::ParameterStore ps = testing::random_parameters(m.graph(), 3);
  NamedTensors in = testing::random_inputs(m.graph(), 4);
  in["target"] = HostTensor({4, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0});
  in["hyper"] = HostTensor({2}, {0.f, 1.f});
  // Each head's loss on its own, from the forward model plus one cross_entropy.
  auto head_loss = [&](const std::string& head) {
    ir::Graph g = ir::clone(m.graph());
    ir::Value* t = g.add_input("target", TensorType{DataType::f32, {4, 3}});
    ir::Value* out = nullptr;
    for (auto& [n, v] : g.outputs())
      if (n == head) out = v;
    g.add_output("l", g.add_node("cross_entropy", {out, t}, {{"label_smoothing", 0.1}})->outputs[0]);
    return double(reference::run(g, {{"x", in.at("x")}, {"target", in.at("target")}}, ps.tensors()).at("l").data[0]);
  };
  for (auto b : backends()) {
    runtime::CompileOptions o;
    o.backend = b;
    o.updates = step.updates;
    runtime::Executable exe(step.graph, o);
    exe.set_parameters(ps);
    INFO(backend_name(b));
    CHECK(exe.run(in).at("loss").data[0] == Approx(head_loss("logits") + 0.3 * head_loss("aux")).epsilon(1e-5));
  }
}

// A small CNN with batch norm and dropout: every piece of training state is exercised.
static Model tiny_cnn() {
  Model m("tiny_cnn");
  Tensor x = m.input("image", {kBatch, 1, 28, 28});
  x = max_pool2d(relu(batch_norm(conv2d(x, 8, 5, {.stride = 2, .bias = false}))), 2);
  x = dropout(flatten(x), 0.2);
  m.output("logits", linear(x, 10));
  return m;
}

// `strata print MODEL --train` read back (`strata bench step.ir`): recognized as a step, with
// the updates, optimizer states and seed input the builder named, and the same step.
TEST_CASE("a training step printed and read back is found and runs as the one built", "[training]") {
  ir::Graph model = ir::clone(tiny_cnn().graph());
  model.set_batch_size(4);
  passes::TrainingStep built = passes::build_training_step(model, {}, {.name = "adam", .weight_decay = 1e-3});
  std::string text = ir::print(built.graph);
  std::optional<passes::TrainingStep> read = passes::printed_training_step(ir::parse(text));
  REQUIRE(read);
  auto sorted = [](auto v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(sorted(read->updates) == sorted(built.updates));
  CHECK(sorted(read->state_parameters) == sorted(built.state_parameters));
  CHECK(built.state_parameters.size() == 10);  // adam's two for each of 5 trainable parameters
  CHECK(read->seed_input == built.seed_input);
  NamedTensors in = passes::synthetic_step_inputs(*read);
  CHECK(in.size() == 4);  // the image, target, hyper and rng_seed
  CHECK(in.at("target").data[10 + 1] == 1.f);  // sample 1 of class 1
  in.at("image") = testing::random_inputs(model, 4).at("image");
  // (Initialized, not random, parameters: Adam's second moments start at zero.)
  runtime::ParameterStore store = runtime::ParameterStore::initialize(built.graph, 3);
  const NamedTensors& params = store.tensors();
  NamedTensors want = reference::run(built.graph, in, params), got = reference::run(read->graph, in, params);
  CHECK(want.size() == 2 + built.updates.size());  // logits, loss and the updates
  for (const auto& [name, w] : want) {
    INFO(name);
    CHECK(got.at(name).data == w.data);
  }

  CHECK_FALSE(passes::printed_training_step(model));  // an inference graph
  ir::Graph no_param = ir::parse(text);
  no_param.add_output("update/fc.scale", no_param.outputs()[0].second);
  CHECK_THROWS_WITH(passes::printed_training_step(no_param),
                    Catch::Contains("output 'update/fc.scale' updates no parameter (there is no parameter 'fc.scale')"));
  // An update's value of another type than its parameter's: the running mean's output set to
  // the new weight of the convolution before it.
  std::string mean, weight;
  for (const auto& [out, param] : built.updates) {
    if (param.ends_with("running_mean")) mean = out;
    if (param.ends_with(".weight") && param.find("conv") != std::string::npos) weight = out;
  }
  REQUIRE(!mean.empty());
  REQUIRE(!weight.empty());
  std::string line = fmt::format("output \"{0}\" = %{0}", mean), swapped = fmt::format("output \"{}\" = %{}", mean, weight);
  REQUIRE(text.find(line) != std::string::npos);
  text.replace(text.find(line), line.size(), swapped);
  CHECK_THROWS_WITH(passes::printed_training_step(ir::parse(text)),
                    Catch::Contains("output '" + mean + "' is f32[8, 1, 5, 5], its parameter"));
}

static runtime::TrainerOptions tiny_options(const std::string& dir) {
  runtime::TrainerOptions o;
  o.epochs = 2;
  o.batch = 32;
  o.train_limit = 320;
  o.test_limit = 200;
  o.eval_batch = 100;
  o.schedule.base_lr = 0.05;
  o.schedule.kind = "cosine";
  o.seed = 5;
  o.checkpoint_dir = dir;
  o.out = nullptr;
  return o;
}

static std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST_CASE("a seeded short run learns, and resuming gives the same weights bit for bit", "[training][checkpoint]") {
  fs::path root = fs::temp_directory_path() / "strata-test-training";
  fs::remove_all(root);
  Model m = tiny_cnn();
  runtime::Trainer straight(m.graph(), tiny_options((root / "straight").string()));
  auto hist = straight.fit();
  REQUIRE(hist.size() == 2);
  CHECK(hist[1].train_loss < hist[0].train_loss);
  CHECK(hist[1].test_accuracy > 0.4);  // chance is 0.1
  CHECK(fs::exists(root / "straight" / "weights.strataw"));
  CHECK(fs::exists(root / "straight" / "metrics.csv"));
  CHECK(fs::exists(root / "straight" / "curves.svg"));

  auto first = tiny_options((root / "split").string());
  first.stop_after = 1;
  runtime::Trainer(m.graph(), first).fit();
  auto second = tiny_options((root / "split").string());
  second.resume = true;
  runtime::Trainer resumed(m.graph(), second);
  CHECK(resumed.epochs_done() == 1);
  auto rest = resumed.fit();
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].train_loss == hist[1].train_loss);
  CHECK(read_file((root / "split" / "weights.strataw").string()) == read_file((root / "straight" / "weights.strataw").string()));

  // A corrupted checkpoint is refused with the file named.
  std::string path = (root / "split" / "checkpoint.strataw").string();
  std::string bytes = read_file(path);
  bytes[bytes.size() / 2] ^= 0x40;
  std::ofstream(path, std::ios::binary) << bytes;
  CHECK_THROWS_WITH(runtime::Trainer(m.graph(), second), Catch::Contains("corrupt") && Catch::Contains(path));
  fs::remove_all(root);
}

TEST_CASE("a diverging run stops and names the first node with a NaN or infinity", "[training][errors]") {
  Model m = tiny_cnn();
  auto o = tiny_options("");
  o.schedule.base_lr = 1e12;
  o.schedule.kind = "constant";
  runtime::Trainer t(m.graph(), o);
  CHECK_THROWS_WITH(t.fit(), Catch::Contains("diverged") && Catch::Contains("first non-finite value appeared at node '"));
}

TEST_CASE("bad training options are refused with a clear message", "[training][errors]") {
  Model m = tiny_cnn();
  auto o = tiny_options("");
  o.optimizer.name = "adagrad";
  CHECK_THROWS_WITH(runtime::Trainer(m.graph(), o), Catch::Contains("unknown optimizer 'adagrad'"));
  o = tiny_options("");
  o.schedule.kind = "linear";
  CHECK_THROWS_WITH(runtime::Trainer(m.graph(), o), Catch::Contains("unknown learning-rate schedule"));
  Model wide("wide");
  wide.output("y", linear(flatten(wide.input("image", {kBatch, 3, 32, 32})), 10));
  CHECK_THROWS_WITH(runtime::Trainer(wide.graph(), tiny_options("")), Catch::Contains("takes 3x32x32 images"));
}

TEST_CASE("learning-rate schedules: warm-up, step, cosine", "[training]") {
  runtime::LrSchedule s{.kind = "cosine", .base_lr = 0.1, .warmup_epochs = 1};
  CHECK(s.at(0, 10, 100) == Approx(0.01));
  CHECK(s.at(9, 10, 100) == Approx(0.1));
  CHECK(s.at(10, 10, 100) == Approx(0.1));
  CHECK(s.at(55, 10, 100) == Approx(0.05));
  CHECK(s.at(99, 10, 100) == Approx(0.1 * 0.5 * (1 + std::cos(M_PI * 89 / 90))));
  runtime::LrSchedule st{.kind = "step", .base_lr = 0.1, .step_size = 2, .gamma = 0.5};
  CHECK(st.at(19, 10, 100) == Approx(0.1));
  CHECK(st.at(20, 10, 100) == Approx(0.05));
  CHECK(st.at(45, 10, 100) == Approx(0.025));
}

// The example ResNet in training form (batch statistics), batch 2: sampled parameters and
// the input against central differences on the reference backend. ReLU's kinks make
// central differences unreliable at this depth (nudging one batch-norm bias moves
// thousands of pre-activations, some across zero), so this check swaps every ReLU for
// SiLU, which is smooth, in the same graph; ReLU's own rule is checked in test_autodiff.
TEST_CASE("whole-model gradient check of the small ResNet", "[training][autodiff]") {
  dsl::Model m = dsl::find_model("small_resnet")->build(10);
  std::string text = ir::print(m.graph());
  for (size_t at; (at = text.find("= relu(")) != std::string::npos;) text.replace(at, 7, "= silu(");
  ir::Graph g = ir::parse(text, "small_resnet with SiLU");
  g.set_batch_size(2);
  auto r = testing::check_gradients(passes::training_forward(g), {.step = 1e-3, .atol = 2e-3, .samples = 3, .max_tensors = 10});
  CHECK(r.checked >= 25);
}

TEST_CASE("small ResNet training-step gradients: Halide equals the reference backend", "[training][halide]") {
  dsl::Model m = dsl::find_model("small_resnet")->build(10);
  ir::Graph g = ir::clone(m.graph());
  g.set_batch_size(2);
  ir::Graph grads = testing::gradient_graph(passes::training_forward(g), true, 3);
  testing::check_against_reference(grads, "host", 1, -1.f, 1.f, "manual", 2e-3, 2e-4);
}

// fuse-optimizer + fuse-elementwise: each momentum update runs as the epilogue of the kernel
// computing its gradient (the convolutions' weight gradients), the parameter step reads the
// new momentum; the whole step on Halide (-O2) equals the reference backend on the graph as
// written: loss, new parameters, new momenta, running statistics.
TEST_CASE("momentum SGD step: both updates fused into the weight-gradient kernels equal the reference", "[training][halide]") {
  dsl::Model m = dsl::find_model("small_resnet")->build(10);
  ir::Graph g = ir::clone(m.graph());
  g.set_batch_size(2);
  passes::OptimizerSpec opt{.name = "momentum", .momentum = 0.9, .weight_decay = 1e-3};
  passes::TrainingStep step = passes::build_training_step(g, {}, opt);
  passes::PipelineOptions o;
  o.pipeline = "-O2";
  ir::Graph fused = passes::run_pipeline(step.graph, o, reference::pass_context());
  int convs = 0, momentum_in_groups = 0, steps_on_momentum = 0, steps_as_siblings = 0;
  for (const auto& n : fused.nodes()) {
    convs += n->op == "conv2d_backward_weight";
    if (n->op != "optimizer_update") continue;
    if (n->attr_string("optimizer") == "momentum" && ir::group_of(*n) >= 0) ++momentum_in_groups;
    if (n->attr_string("optimizer") == "sgd") ++steps_on_momentum;
    // p' = p - lr * b' written by the kernel that writes b' (a second output).
    if (n->attr_string("optimizer") == "sgd" && ir::is_sibling(*n) && ir::group_of(*n) >= 0) ++steps_as_siblings;
  }
  CHECK(convs > 0);
  CHECK(momentum_in_groups >= convs);  // every conv weight's, plus the linear layer's
  CHECK(steps_on_momentum == static_cast<int>(step.state_parameters.size()));
  CHECK(steps_as_siblings == steps_on_momentum);
  testing::check_against_reference(step.graph, "host", 5, -1.f, 1.f, "manual", 2e-3, 2e-4);
}

// One momentum-SGD step of `m` on the reference backend (-O0), from random parameters with
// zero momenta (each new momentum is then the gradient plus weight decay, which a
// comparison sees at full relative size): what a Halide build of the same step must give.
struct MomentumStepCase {
  passes::TrainingStep step;
  runtime::ParameterStore params;
  NamedTensors inputs, want;
};
static MomentumStepCase momentum_step_on_reference(const Model& m, uint64_t seed) {
  passes::OptimizerSpec opt{.name = "momentum", .momentum = 0.9, .weight_decay = 1e-3};
  MomentumStepCase c{passes::build_training_step(m.graph(), {}, opt), {}, {}, {}};
  c.params = testing::random_parameters(c.step.graph, seed);
  for (const std::string& s : c.step.state_parameters) c.params.set(s, HostTensor(c.params.at(s).shape, 0.f));
  c.inputs = testing::random_inputs(c.step.graph, seed + 1);
  c.inputs.at(c.step.hyper_input) = HostTensor({2}, {0.05f, 1.f});
  runtime::CompileOptions ro;
  ro.backend = runtime::Backend::Reference;
  ro.passes.pipeline = "-O0";
  runtime::Executable ref(c.step.graph, ro);
  ref.set_parameters(c.params);
  c.want = ref.run(c.inputs);
  return c;
}

// `c`'s step on the Halide CPU backend unfused (-O0) and fused (-O2), every output against
// the reference's: within rtol of the value plus atol, plus atol_scale times the output's
// largest magnitude.
static void check_step_pipelines(const MomentumStepCase& c, double rtol, double atol, double atol_scale = 0) {
  for (const char* pipeline : {"-O0", "-O2"}) {
    runtime::CompileOptions ho;
    ho.passes.pipeline = pipeline;
    runtime::Executable hal(c.step.graph, ho);
    hal.set_parameters(c.params);
    NamedTensors got = hal.run(c.inputs);
    for (const auto& [name, w] : c.want) {
      float scale = 0;
      for (float v : w.data) scale = std::max(scale, std::fabs(v));
      testing::Mismatch d = testing::compare(got.at(name), w, rtol, atol + atol_scale * scale);
      INFO(pipeline << ", output " << name << " (largest magnitude " << scale << "): " << d.detail);
      CHECK(d.ok);
    }
  }
}

// Layer-4-like weight gradients (7x7 outputs, dw outweighing the activations, filters blocked
// by the register tile's 32 channels): each task writes its tile of the blocked dw, or with
// fuse-optimizer the new momentum, straight from its accumulators. One momentum step, the
// Halide CPU backend unfused (-O0) and fused (-O2) against the reference on the graph as
// written.
TEST_CASE("momentum SGD step: weight gradients written per tile in the blocked layout equal the reference",
          "[training][halide]") {
  Model m("layer4_like");
  Tensor x = m.input("x", {1, 64, 14, 14});
  Tensor y = relu(batch_norm(conv2d(x, 128, 1, {.stride = 2, .bias = false})));  // 1x1 stride 2: dy outweighs x
  y = relu(conv2d(y, 64, 3, {.padding = 1}));                                      // 3x3 at 7x7
  m.output("logits", linear(flatten(global_avg_pool(y)), 10));
  for (const auto& n : m.graph().nodes())
    if (n->op == "conv2d") CHECK(halide_backend::preferred_layout(*n, 1).block == 32);
  auto [step, params, inputs, want] = momentum_step_on_reference(m, 11);
  // Direct, the 3x3's weight gradient too (its tiles write the blocked dw); and with
  // Winograd, which takes that 3x3's gradient (a 16-tile GEMM, its dw 256 KB).
  for (auto [pipeline, winograd] : {std::pair{"-O0", false}, {"-O2", false}, {"-O2", true}}) {
    runtime::CompileOptions ho;
    ho.passes.pipeline = pipeline;
    ho.halide.winograd = winograd;
    runtime::Executable hal(step.graph, ho);
    CHECK(hal.report().winograd_convs == (winograd ? 3 : 0));  // the 3x3's forward and both gradients
    // Each momentum buffer is stored like its parameter (blocked for the convolutions; the
    // 3x3's input channels inside each tap, the order its forward sums them), so the updates
    // read and write both at the same positions.
    for (const std::string& s : step.state_parameters) {
      std::string param = s.substr(0, s.rfind('.'));
      INFO(pipeline << (winograd ? " Winograd" : "") << ": " << s << " beside " << param);
      CHECK(hal.storage_layout(s) == hal.storage_layout(param));
      if (param == "conv1.weight") CHECK(hal.storage_layout(s) == "0321b32");
      if (param == "conv2.weight") CHECK(hal.storage_layout(s) == "0132b32");
    }
    hal.set_parameters(params);
    NamedTensors got = hal.run(inputs);
    for (const auto& [name, w] : want) {
      testing::Mismatch d = testing::compare(got.at(name), w, 2e-3, 1e-6);
      float scale = 0;
      for (float v : w.data) scale = std::max(scale, std::fabs(v));
      INFO(pipeline << (winograd ? " Winograd" : "") << ", output " << name << " (largest magnitude " << scale << "): " << d.detail);
      CHECK(d.ok);
    }
  }
}

// An inverted residual (MobileNet v2) at sizes where its weight gradients take chunk tasks:
// the depthwise 3x3's chunks of 20 rows (x read unpadded), the 1x1 expansion's (10 vectors
// of output channels) and the projection's (24 channels: register tiles of 3 vectors of 8);
// each momentum update fused into its gradient's kernel. One step, -O0 and -O2 against the
// reference on the graph as written.
TEST_CASE("momentum SGD step: an inverted residual's weight gradients in chunk tasks equal the reference", "[training][halide]") {
  Model m("inverted_residual");
  Tensor x = m.input("x", {2, 32, 40, 40});
  Tensor y = relu6(batch_norm(conv2d(x, 160, 1, {.bias = false})));
  y = relu6(batch_norm(depthwise_conv2d(y, 3, {.padding = 1, .bias = false})));
  y = batch_norm(conv2d(y, 24, 1, {.bias = false}));
  m.output("logits", linear(flatten(global_avg_pool(y)), 10));
  // Gradients are sums of 3200 products per weight here, through three batch norms'
  // statistics: an element near zero by cancellation carries float rounding of the terms'
  // size (1-2e-4 of the output's largest magnitude measured, in either pipeline), so the
  // absolute tolerance is relative to that magnitude. A wrong tile or chunk is off by the
  // values' own size.
  check_step_pipelines(momentum_step_on_reference(m, 13), 2e-3, 1e-7, 1e-3);
}

// A linear layer's weight gradient over more than 8 rows with its momentum update and step
// fused (schedule_matmul_tn): the tiles fill a block of the gradient's rows first, the
// updates then walk them whole. 12 rows; 200 features, a block of 64 shifted at the edge.
TEST_CASE("momentum SGD step: a linear layer's weight gradient over 12 rows with both updates fused equals the reference",
          "[training][halide]") {
  Model m("classifier");
  Tensor x = m.input("x", {12, 300});
  m.output("logits", linear(relu(linear(x, 200)), 10));
  check_step_pipelines(momentum_step_on_reference(m, 17), 2e-3, 1e-6);
}

// Hyper-parameters given as a parameter rather than an input (a text-IR graph's single input
// leaves no other way): they keep their own plain layout, where the rule storing an
// optimizer's state like its parameter once handed them the conv weight's blocked one.
TEST_CASE("momentum SGD step: hyper-parameters held in a parameter keep their layout", "[training][halide]") {
  ir::Graph g = ir::parse(R"IR(graph hyper_param {
  input %x : f32[2, 16, 5, 5]
  param %hyper : f32[2] init ones
  param %w : f32[32, 16, 3, 3] init zeros
  param %w.momentum_buffer : f32[32, 16, 3, 3] init zeros
  %y = conv2d(%x, %w) {padding = [1, 1, 1, 1]} : f32[2, 32, 5, 5]
  %dw = conv2d_backward_weight(%x, %y) {padding = [1, 1, 1, 1], weight_shape = [32, 16, 3, 3]} : f32[32, 16, 3, 3]
  %new_w = optimizer_update(%w, %dw, %hyper, %w.momentum_buffer) {optimizer = "momentum", weight_decay = 0.001} : f32[32, 16, 3, 3]
  %new_b = optimizer_update(%w, %dw, %hyper, %w.momentum_buffer) {optimizer = "momentum", result = 1, weight_decay = 0.001} : f32[32, 16, 3, 3]
  output "y" = %y
  output "w" = %new_w
  output "b" = %new_b
})IR");
  runtime::CompileOptions ho;
  runtime::Executable hal(g, ho);
  CHECK(hal.storage_layout("hyper") == "0");
  CHECK(hal.storage_layout("w.momentum_buffer") == hal.storage_layout("w"));
  testing::check_against_reference(g, "host", 7, -1.f, 1.f, "manual", 2e-3, 2e-4);
}

// Linear layers over 20 rows: the forward as a GEMM (the 1 MiB layer by chunks of the
// weight's rows, the other by blocks of features), the input gradient as dot products, and
// each weight gradient (dy^T x) in register tiles with its momentum update fused after it,
// written in the weight's layout. One momentum step at -O2 against the reference.
TEST_CASE("momentum SGD step: linear layers over 20 rows in GEMM tiles equal the reference", "[training][halide]") {
  Model m("mlp20");
  Tensor h = relu(linear(m.input("x", {20, 1024}), 320));  // 1.3 MB of weight
  m.output("logits", linear(h, 40));
  auto [step, params, inputs, want] = momentum_step_on_reference(m, 13);
  runtime::CompileOptions ho;
  ho.passes.pipeline = "-O2";
  runtime::Executable hal(step.graph, ho);
  for (const std::string& s : step.state_parameters) {
    std::string param = s.substr(0, s.rfind('.'));
    INFO(s << " beside " << param);
    CHECK(hal.storage_layout(s) == hal.storage_layout(param));
  }
  hal.set_parameters(params);
  NamedTensors got = hal.run(inputs);
  for (const auto& [name, w] : want) {
    testing::Mismatch d = testing::compare(got.at(name), w, 2e-3, 1e-6);
    INFO("output " << name << ": " << d.detail);
    CHECK(d.ok);
  }
}
