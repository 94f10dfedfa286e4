// Golden text tests, one per pass: IR in, the pass, the text form out, compared exactly.
// The expected texts were produced by the passes and read line by line; a change in a
// pass shows here as a diff of IR.
#include "ir/text_format.h"
#include "passes/pass_manager.h"
#include "backends/reference/reference.h"
#include "tests/helpers.h"

using namespace strata;

namespace {

const char* kCleanupIr = R"IR(graph cleanup {
  input %x : f32[1, 4]
  const %two : f32[1] = [2.0]
  const %three : f32[1] = [3.0]
  %six = mul(%two, %three) : f32[1]
  %a = mul(%x, %six) : f32[1, 4]
  %b = mul(%x, %six) : f32[1, 4]
  %dead = relu(%a) : f32[1, 4]
  %d = dropout(%b) {p = 0.5} : f32[1, 4]
  %s = add(%a, %d) : f32[1, 4]
  output "y" = %s
}
)IR";

const char* kFuseIr = R"IR(graph block {
  input %x : f32[1, 8, 6, 6]
  param %w1 : f32[8, 8, 3, 3] init zeros
  param %g1 : f32[8] init ones
  param %b1 : f32[8] init zeros
  param %m1 : f32[8] frozen init zeros
  param %v1 : f32[8] frozen init ones
  param %w2 : f32[8, 8, 1, 1] init zeros
  %p = pad(%x) {pads = [0, 0, 1, 1, 0, 0, 1, 1]} : f32[1, 8, 8, 8]
  %c1 = conv2d(%p, %w1) : f32[1, 8, 6, 6]
  %n1 = batch_norm(%c1, %g1, %b1, %m1, %v1) : f32[1, 8, 6, 6]
  %r1 = relu(%n1) : f32[1, 8, 6, 6]
  %c2 = conv2d(%r1, %w2) : f32[1, 8, 6, 6]
  %s = add(%x, %c2) : f32[1, 8, 6, 6]
  %r2 = relu(%s) : f32[1, 8, 6, 6]
  %t = tanh(%r2) : f32[1, 8, 6, 6]
  %pool = global_avg_pool(%t) : f32[1, 8, 1, 1]
  %sg = sigmoid(%pool) : f32[1, 8, 1, 1]
  output "y" = %sg
}
)IR";

// ResNet's projection block: the branch's last 1x1 (c3) and the strided 1x1 projection (d)
// summed; then an identity-shortcut add of one 1x1 (not merged: one convolution).
const char* kMergeIr = R"IR(graph projection {
  input %x : f32[1, 4, 6, 6]
  param %w1 : f32[8, 4, 3, 3] init zeros
  param %w3 : f32[16, 8, 1, 1] init zeros
  param %b3 : f32[16] init zeros
  param %wd : f32[16, 4, 1, 1] init zeros
  param %bd : f32[16] init zeros
  param %w4 : f32[16, 16, 1, 1] init zeros
  %h = conv2d(%x, %w1) {padding = [1, 1, 1, 1], stride = [2, 2]} : f32[1, 8, 3, 3]
  %r1 = relu(%h) : f32[1, 8, 3, 3]
  %c3 = conv2d(%r1, %w3, %b3) : f32[1, 16, 3, 3]
  %d = conv2d(%x, %wd, %bd) {stride = [2, 2]} : f32[1, 16, 3, 3]
  %s = add(%c3, %d) : f32[1, 16, 3, 3]
  %r2 = relu(%s) : f32[1, 16, 3, 3]
  %c4 = conv2d(%r2, %w4) : f32[1, 16, 3, 3]
  %s2 = add(%c4, %r2) : f32[1, 16, 3, 3]
  output "y" = %s2
}
)IR";

const char* kConcatIr = R"IR(graph concat {
  input %x : f32[1, 4, 5, 5]
  param %w1 : f32[3, 4, 1, 1] init zeros
  param %w2 : f32[2, 4, 3, 3] init zeros
  %a = conv2d(%x, %w1) : f32[1, 3, 5, 5]
  %r = relu(%a) : f32[1, 3, 5, 5]
  %b = conv2d(%x, %w2) {padding = [1, 1, 1, 1]} : f32[1, 2, 5, 5]
  %c = concat(%x, %r, %b) : f32[1, 9, 5, 5]
  output "y" = %c
}
)IR";

// One training batch norm as a training step has it: forward, both running-statistics
// updates, the three gradients; the input gradient comes first, as autodiff emits it.
const char* kBnTrainIr = R"IR(graph bn_train {
  input %x : f32[2, 4, 3, 3]
  input %dy : f32[2, 4, 3, 3]
  param %g : f32[4] init ones
  param %b : f32[4] init zeros
  param %m : f32[4] frozen init zeros
  param %v : f32[4] frozen init ones
  %y = batch_norm(%x, %g, %b, %m, %v) {training = 1} : f32[2, 4, 3, 3]
  %m_new = batch_norm_running_stats(%x, %m) : f32[4]
  %v_new = batch_norm_running_stats(%x, %v) {stat = "var"} : f32[4]
  %dx = batch_norm_backward_input(%x, %g, %m, %v, %dy) : f32[2, 4, 3, 3]
  %dg = batch_norm_backward_weight(%x, %m, %v, %dy) : f32[4]
  %db = reduce_sum(%dy) {axes = [0, 2, 3]} : f32[4]
  output "y" = %y
  output "m" = %m_new
  output "v" = %v_new
  output "dx" = %dx
  output "dg" = %dg
  output "db" = %db
}
)IR";

// A convolution's weight gradient and the two momentum-SGD updates of that weight, at the
// end of the step as build_training_step emits them.
// A conv weight's gradient and a bias whose gradient is an input (no kernel to join).
const char* kMomentumIr = R"IR(graph momentum {
  input %x : f32[1, 2, 4, 4]
  input %dy : f32[1, 3, 4, 4]
  input %hyper : f32[2]
  input %dbias : f32[3]
  param %w : f32[3, 2, 3, 3] init zeros
  param %w.momentum_buffer : f32[3, 2, 3, 3] init zeros
  param %bias : f32[3] init zeros
  param %bias.momentum_buffer : f32[3] init zeros
  %dw = conv2d_backward_weight(%x, %dy) {padding = [1, 1, 1, 1], weight_shape = [3, 2, 3, 3]} : f32[3, 2, 3, 3]
  %dx = conv2d_backward_input(%dy, %w) {padding = [1, 1, 1, 1], input_shape = [1, 2, 4, 4]} : f32[1, 2, 4, 4]
  %new_w = optimizer_update(%w, %dw, %hyper, %w.momentum_buffer) {optimizer = "momentum", weight_decay = 0.01} : f32[3, 2, 3, 3]
  %new_b = optimizer_update(%w, %dw, %hyper, %w.momentum_buffer) {optimizer = "momentum", result = 1, weight_decay = 0.01} : f32[3, 2, 3, 3]
  %new_bias = optimizer_update(%bias, %dbias, %hyper, %bias.momentum_buffer) {optimizer = "momentum"} : f32[3]
  %new_bias_b = optimizer_update(%bias, %dbias, %hyper, %bias.momentum_buffer) {optimizer = "momentum", result = 1} : f32[3]
  output "dx" = %dx
  output "w" = %new_w
  output "b" = %new_b
  output "bias" = %new_bias
  output "bias_b" = %new_bias_b
}
)IR";

// A downsample block's sum: two training batch norms (statistics given) added, then ReLU.
const char* kTwoBnAddIr = R"IR(graph two_bn_add {
  input %y1 : f32[2, 8, 4, 4]
  input %y2 : f32[2, 8, 4, 4]
  param %w1 : f32[8] init ones
  param %b1 : f32[8] init zeros
  param %m1 : f32[8] frozen init zeros
  param %v1 : f32[8] frozen init ones
  param %w2 : f32[8] init ones
  param %b2 : f32[8] init zeros
  param %m2 : f32[8] frozen init zeros
  param %v2 : f32[8] frozen init ones
  %s1 = batch_norm_stats(%y1) : f32[2, 8]
  %s2 = batch_norm_stats(%y2) : f32[2, 8]
  %a = batch_norm(%y1, %w1, %b1, %m1, %v1, %s1) {training = 1} : f32[2, 8, 4, 4]
  %b = batch_norm(%y2, %w2, %b2, %m2, %v2, %s2) {training = 1} : f32[2, 8, 4, 4]
  %sum = add(%a, %b) : f32[2, 8, 4, 4]
  %r = relu(%sum) : f32[2, 8, 4, 4]
  output "r" = %r
}
)IR";

// A convolution whose statistics are computed after an unrelated node, and an input
// gradient with its ReLU gradient (one group after fuse-elementwise) whose dy the scale
// and bias gradients read.
const char* kConvStatsIr = R"IR(graph conv_stats {
  input %x : f32[1, 2, 4, 4]
  input %dy : f32[1, 3, 4, 4]
  input %a : f32[1, 2, 4, 4]
  param %w : f32[3, 2, 3, 3] init zeros
  param %m : f32[3] frozen init zeros
  param %v : f32[3] frozen init ones
  param %m2 : f32[2] frozen init zeros
  param %v2 : f32[2] frozen init ones
  %y = conv2d(%x, %w) {padding = [1, 1, 1, 1]} : f32[1, 3, 4, 4]
  %t = tanh(%x) : f32[1, 2, 4, 4]
  %s = batch_norm_stats(%y) : f32[2, 3]
  %xs = batch_norm_stats(%x) : f32[2, 2]
  %g0 = conv2d_backward_input(%dy, %w) {padding = [1, 1, 1, 1], input_shape = [1, 2, 4, 4]} : f32[1, 2, 4, 4]
  %g = activation_grad(%a, %g0) : f32[1, 2, 4, 4]
  %gw = batch_norm_backward_weight(%x, %m2, %v2, %g, %xs) {with_bias = 1} : f32[2, 2]
  output "y" = %y
  output "t" = %t
  output "s" = %s
  output "g" = %g
  output "gw" = %gw
}
)IR";

std::string run(const char* ir, const std::string& pipeline) {
  passes::PipelineOptions o;
  o.pipeline = pipeline;
  o.verify_each = true;
  return ir::print(passes::run_pipeline(ir::parse(ir), o, reference::pass_context()));
}

// The graph before and after `pipeline` computes the same values (reference backend).
void same_values_after(const char* ir, const std::string& pipeline) {
  ir::Graph before = ir::parse(ir);
  passes::PipelineOptions o;
  o.pipeline = pipeline;
  ir::Graph after = passes::run_pipeline(before, o, reference::pass_context());
  testing::check_same_on_reference(before, after, testing::random_inputs(before, 5), 6, 1e-5, 1e-6);
}

}  // namespace

TEST_CASE("golden: simplify (drops inference dropout)", "[passes][golden]") {
  CHECK(run(kCleanupIr, "simplify") == R"IR(graph cleanup {
  input %x : f32[1, 4]
  const %two : f32[1] = [2.0]
  const %three : f32[1] = [3.0]
  %six = mul(%two, %three) : f32[1]
  %a = mul(%x, %six) : f32[1, 4]
  %b = mul(%x, %six) : f32[1, 4]
  %dead = relu(%a) : f32[1, 4]
  %s = add(%a, %b) : f32[1, 4]
  output "y" = %s
}
)IR");
}

TEST_CASE("golden: constant-fold (evaluates mul of two constants)", "[passes][golden]") {
  CHECK(run(kCleanupIr, "constant-fold") == R"IR(graph cleanup {
  input %x : f32[1, 4]
  const %two : f32[1] = [2.0]
  const %three : f32[1] = [3.0]
  const %six : f32[1] = [6.0]
  %a = mul(%x, %six) : f32[1, 4]
  %b = mul(%x, %six) : f32[1, 4]
  %dead = relu(%a) : f32[1, 4]
  %d = dropout(%b) {mode = "element", p = 0.5, salt = 0, training = 0} : f32[1, 4]
  %s = add(%a, %d) : f32[1, 4]
  output "y" = %s
}
)IR");
}

TEST_CASE("golden: cse (merges the two identical muls)", "[passes][golden]") {
  CHECK(run(kCleanupIr, "cse") == R"IR(graph cleanup {
  input %x : f32[1, 4]
  const %two : f32[1] = [2.0]
  const %three : f32[1] = [3.0]
  %six = mul(%two, %three) : f32[1]
  %a = mul(%x, %six) : f32[1, 4]
  %dead = relu(%a) : f32[1, 4]
  %d = dropout(%a) {mode = "element", p = 0.5, salt = 0, training = 0} : f32[1, 4]
  %s = add(%a, %d) : f32[1, 4]
  output "y" = %s
}
)IR");
}

TEST_CASE("golden: dce (drops the unused relu)", "[passes][golden]") {
  CHECK(run(kCleanupIr, "dce") == R"IR(graph cleanup {
  input %x : f32[1, 4]
  const %two : f32[1] = [2.0]
  const %three : f32[1] = [3.0]
  %six = mul(%two, %three) : f32[1]
  %a = mul(%x, %six) : f32[1, 4]
  %b = mul(%x, %six) : f32[1, 4]
  %d = dropout(%b) {mode = "element", p = 0.5, salt = 0, training = 0} : f32[1, 4]
  %s = add(%a, %d) : f32[1, 4]
  output "y" = %s
}
)IR");
}

TEST_CASE("golden: -O1 (all four)", "[passes][golden]") {
  CHECK(run(kCleanupIr, "-O1") == R"IR(graph cleanup {
  input %x : f32[1, 4]
  const %six : f32[1] = [6.0]
  %a = mul(%x, %six) : f32[1, 4]
  %s = add(%a, %a) : f32[1, 4]
  output "y" = %s
}
)IR");
}

TEST_CASE("golden: fold-pad (pad folded into the 3x3 convolution)", "[passes][golden]") {
  CHECK(run(kFuseIr, "fold-pad") == R"IR(graph block {
  input %x : f32[1, 8, 6, 6]
  param %w1 : f32[8, 8, 3, 3] init zeros
  param %g1 : f32[8] init ones
  param %b1 : f32[8] init zeros
  param %m1 : f32[8] frozen init zeros
  param %v1 : f32[8] frozen init ones
  param %w2 : f32[8, 8, 1, 1] init zeros
  %c1 = conv2d(%x, %w1) {auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [1, 1, 1, 1], stride = [1, 1]} : f32[1, 8, 6, 6]
  %n1 = batch_norm(%c1, %g1, %b1, %m1, %v1) {eps = 1e-05, momentum = 0.1, training = 0} : f32[1, 8, 6, 6]
  %r1 = relu(%n1) : f32[1, 8, 6, 6]
  %c2 = conv2d(%r1, %w2) {auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[1, 8, 6, 6]
  %s = add(%x, %c2) : f32[1, 8, 6, 6]
  %r2 = relu(%s) : f32[1, 8, 6, 6]
  %t = tanh(%r2) : f32[1, 8, 6, 6]
  %pool = global_avg_pool(%t) : f32[1, 8, 1, 1]
  %sg = sigmoid(%pool) : f32[1, 8, 1, 1]
  output "y" = %sg
}
)IR");
}

TEST_CASE("golden: bn-fold (batch norm folded into c1)", "[passes][golden]") {
  CHECK(run(kFuseIr, "bn-fold") == R"IR(graph block {
  input %x : f32[1, 8, 6, 6]
  param %w1 : f32[8, 8, 3, 3] init zeros
  param %g1 : f32[8] init ones
  param %b1 : f32[8] init zeros
  param %m1 : f32[8] frozen init zeros
  param %v1 : f32[8] frozen init ones
  param %w2 : f32[8, 8, 1, 1] init zeros
  %p = pad(%x) {mode = "constant", pads = [0, 0, 1, 1, 0, 0, 1, 1], value = 0.0} : f32[1, 8, 8, 8]
  %c1.weight_folded = batch_norm_fold_weight(%w1, %g1, %v1) {eps = 1e-05} : f32[8, 8, 3, 3]
  %c1.bias_folded = batch_norm_fold_bias(%g1, %b1, %m1, %v1) {eps = 1e-05} : f32[8]
  %c1 = conv2d(%p, %c1.weight_folded, %c1.bias_folded) {auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[1, 8, 6, 6]
  %r1 = relu(%c1) : f32[1, 8, 6, 6]
  %c2 = conv2d(%r1, %w2) {auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[1, 8, 6, 6]
  %s = add(%x, %c2) : f32[1, 8, 6, 6]
  %r2 = relu(%s) : f32[1, 8, 6, 6]
  %t = tanh(%r2) : f32[1, 8, 6, 6]
  %pool = global_avg_pool(%t) : f32[1, 8, 1, 1]
  %sg = sigmoid(%pool) : f32[1, 8, 1, 1]
  output "y" = %sg
}
)IR");
}

TEST_CASE("golden: fuse-conv-bn-act (c1 + n1 + r1 grouped)", "[passes][golden]") {
  CHECK(run(kFuseIr, "fuse-conv-bn-act") == R"IR(graph block {
  input %x : f32[1, 8, 6, 6]
  param %w1 : f32[8, 8, 3, 3] init zeros
  param %g1 : f32[8] init ones
  param %b1 : f32[8] init zeros
  param %m1 : f32[8] frozen init zeros
  param %v1 : f32[8] frozen init ones
  param %w2 : f32[8, 8, 1, 1] init zeros
  %p = pad(%x) {mode = "constant", pads = [0, 0, 1, 1, 0, 0, 1, 1], value = 0.0} : f32[1, 8, 8, 8]
  %c1 = conv2d(%p, %w1) {_group = 0, auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[1, 8, 6, 6]
  %n1 = batch_norm(%c1, %g1, %b1, %m1, %v1) {_group = 0, eps = 1e-05, momentum = 0.1, training = 0} : f32[1, 8, 6, 6]
  %r1 = relu(%n1) {_group = 0} : f32[1, 8, 6, 6]
  %c2 = conv2d(%r1, %w2) {auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[1, 8, 6, 6]
  %s = add(%x, %c2) : f32[1, 8, 6, 6]
  %r2 = relu(%s) : f32[1, 8, 6, 6]
  %t = tanh(%r2) : f32[1, 8, 6, 6]
  %pool = global_avg_pool(%t) : f32[1, 8, 1, 1]
  %sg = sigmoid(%pool) : f32[1, 8, 1, 1]
  output "y" = %sg
}
)IR");
}

TEST_CASE("golden: fuse-conv-bn-act,fold-residual-add (c2 + add + relu grouped)", "[passes][golden]") {
  CHECK(run(kFuseIr, "fuse-conv-bn-act,fold-residual-add") == R"IR(graph block {
  input %x : f32[1, 8, 6, 6]
  param %w1 : f32[8, 8, 3, 3] init zeros
  param %g1 : f32[8] init ones
  param %b1 : f32[8] init zeros
  param %m1 : f32[8] frozen init zeros
  param %v1 : f32[8] frozen init ones
  param %w2 : f32[8, 8, 1, 1] init zeros
  %p = pad(%x) {mode = "constant", pads = [0, 0, 1, 1, 0, 0, 1, 1], value = 0.0} : f32[1, 8, 8, 8]
  %c1 = conv2d(%p, %w1) {_group = 0, auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[1, 8, 6, 6]
  %n1 = batch_norm(%c1, %g1, %b1, %m1, %v1) {_group = 0, eps = 1e-05, momentum = 0.1, training = 0} : f32[1, 8, 6, 6]
  %r1 = relu(%n1) {_group = 0} : f32[1, 8, 6, 6]
  %c2 = conv2d(%r1, %w2) {_group = 1, auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[1, 8, 6, 6]
  %s = add(%x, %c2) {_group = 1} : f32[1, 8, 6, 6]
  %r2 = relu(%s) {_group = 1} : f32[1, 8, 6, 6]
  %t = tanh(%r2) : f32[1, 8, 6, 6]
  %pool = global_avg_pool(%t) : f32[1, 8, 1, 1]
  %sg = sigmoid(%pool) : f32[1, 8, 1, 1]
  output "y" = %sg
}
)IR");
}

TEST_CASE("golden: fuse-conv-bn-act,fold-residual-add,fuse-elementwise (tanh joins group 1, the pooling gets its sigmoid)", "[passes][golden]") {
  CHECK(run(kFuseIr, "fuse-conv-bn-act,fold-residual-add,fuse-elementwise") == R"IR(graph block {
  input %x : f32[1, 8, 6, 6]
  param %w1 : f32[8, 8, 3, 3] init zeros
  param %g1 : f32[8] init ones
  param %b1 : f32[8] init zeros
  param %m1 : f32[8] frozen init zeros
  param %v1 : f32[8] frozen init ones
  param %w2 : f32[8, 8, 1, 1] init zeros
  %p = pad(%x) {mode = "constant", pads = [0, 0, 1, 1, 0, 0, 1, 1], value = 0.0} : f32[1, 8, 8, 8]
  %c1 = conv2d(%p, %w1) {_group = 0, auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[1, 8, 6, 6]
  %n1 = batch_norm(%c1, %g1, %b1, %m1, %v1) {_group = 0, eps = 1e-05, momentum = 0.1, training = 0} : f32[1, 8, 6, 6]
  %r1 = relu(%n1) {_group = 0} : f32[1, 8, 6, 6]
  %c2 = conv2d(%r1, %w2) {_group = 1, auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[1, 8, 6, 6]
  %s = add(%x, %c2) {_group = 1} : f32[1, 8, 6, 6]
  %r2 = relu(%s) {_group = 1} : f32[1, 8, 6, 6]
  %t = tanh(%r2) {_group = 1} : f32[1, 8, 6, 6]
  %pool = global_avg_pool(%t) {_group = 2} : f32[1, 8, 1, 1]
  %sg = sigmoid(%pool) {_group = 2} : f32[1, 8, 1, 1]
  output "y" = %sg
}
)IR");
}

TEST_CASE("golden: memory-plan (slots reused, bn and relu in place)", "[passes][golden]") {
  CHECK(run(kFuseIr, "memory-plan") == R"IR(graph block {
  input %x : f32[1, 8, 6, 6]
  param %w1 : f32[8, 8, 3, 3] init zeros
  param %g1 : f32[8] init ones
  param %b1 : f32[8] init zeros
  param %m1 : f32[8] frozen init zeros
  param %v1 : f32[8] frozen init ones
  param %w2 : f32[8, 8, 1, 1] init zeros
  %p = pad(%x) {_buffer = 0, mode = "constant", pads = [0, 0, 1, 1, 0, 0, 1, 1], value = 0.0} : f32[1, 8, 8, 8]
  %c1 = conv2d(%p, %w1) {_buffer = 1, auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[1, 8, 6, 6]
  %n1 = batch_norm(%c1, %g1, %b1, %m1, %v1) {_buffer = 1, eps = 1e-05, momentum = 0.1, training = 0} : f32[1, 8, 6, 6]
  %r1 = relu(%n1) {_buffer = 1} : f32[1, 8, 6, 6]
  %c2 = conv2d(%r1, %w2) {_buffer = 0, auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[1, 8, 6, 6]
  %s = add(%x, %c2) {_buffer = 0} : f32[1, 8, 6, 6]
  %r2 = relu(%s) {_buffer = 0} : f32[1, 8, 6, 6]
  %t = tanh(%r2) {_buffer = 0} : f32[1, 8, 6, 6]
  %pool = global_avg_pool(%t) {_buffer = 1} : f32[1, 8, 1, 1]
  %sg = sigmoid(%pool) {_buffer = 2} : f32[1, 8, 1, 1]
  output "y" = %sg
}
)IR");
}

TEST_CASE("golden: -O2 (the whole default pipeline)", "[passes][golden]") {
  CHECK(run(kFuseIr, "-O2") == R"IR(graph block {
  input %x : f32[1, 8, 6, 6]
  param %w1 : f32[8, 8, 3, 3] init zeros
  param %g1 : f32[8] init ones
  param %b1 : f32[8] init zeros
  param %m1 : f32[8] frozen init zeros
  param %v1 : f32[8] frozen init ones
  param %w2 : f32[8, 8, 1, 1] init zeros
  %c1.weight_folded = batch_norm_fold_weight(%w1, %g1, %v1) {_buffer = 0, eps = 1e-05} : f32[8, 8, 3, 3]
  %c1.bias_folded = batch_norm_fold_bias(%g1, %b1, %m1, %v1) {_buffer = 1, eps = 1e-05} : f32[8]
  %c1 = conv2d(%x, %c1.weight_folded, %c1.bias_folded) {_group = 0, auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [1, 1, 1, 1], stride = [1, 1]} : f32[1, 8, 6, 6]
  %r1 = relu(%c1) {_buffer = 2, _group = 0} : f32[1, 8, 6, 6]
  %c2 = conv2d(%r1, %w2) {_group = 1, auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[1, 8, 6, 6]
  %s = add(%x, %c2) {_group = 1} : f32[1, 8, 6, 6]
  %r2 = relu(%s) {_group = 1} : f32[1, 8, 6, 6]
  %t = tanh(%r2) {_buffer = 3, _group = 1} : f32[1, 8, 6, 6]
  %pool = global_avg_pool(%t) {_group = 2} : f32[1, 8, 1, 1]
  %sg = sigmoid(%pool) {_buffer = 4, _group = 2} : f32[1, 8, 1, 1]
  output "y" = %sg
}
)IR");
}

TEST_CASE("golden: fold-concat (r and b written into the concat, x copied)", "[passes][golden]") {
  CHECK(run(kConcatIr, "fuse-elementwise,fold-concat,memory-plan") == R"IR(graph concat {
  input %x : f32[1, 4, 5, 5]
  param %w1 : f32[3, 4, 1, 1] init zeros
  param %w2 : f32[2, 4, 3, 3] init zeros
  %a = conv2d(%x, %w1) {_group = 0, auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[1, 3, 5, 5]
  %r = relu(%a) {_buffer = 0, _group = 0} : f32[1, 3, 5, 5]
  %b = conv2d(%x, %w2) {_buffer = 0, auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [1, 1, 1, 1], stride = [1, 1]} : f32[1, 2, 5, 5]
  %c = concat(%x, %r, %b) {_buffer = 0, _fold = 1, axis = 1} : f32[1, 9, 5, 5]
  output "y" = %c
}
)IR");
}

TEST_CASE("golden: shape-infer (a verified graph keeps its types, defaults filled in)", "[passes][golden]") {
  CHECK(run(kCleanupIr, "shape-infer") == R"IR(graph cleanup {
  input %x : f32[1, 4]
  const %two : f32[1] = [2.0]
  const %three : f32[1] = [3.0]
  %six = mul(%two, %three) : f32[1]
  %a = mul(%x, %six) : f32[1, 4]
  %b = mul(%x, %six) : f32[1, 4]
  %dead = relu(%a) : f32[1, 4]
  %d = dropout(%b) {mode = "element", p = 0.5, salt = 0, training = 0} : f32[1, 4]
  %s = add(%a, %d) : f32[1, 4]
  output "y" = %s
}
)IR");
}

TEST_CASE("golden: fuse-bn-stats (statistics once, the weight and bias gradients in one pass, dx after them)", "[passes][golden]") {
  CHECK(run(kBnTrainIr, "fuse-bn-stats") == R"IR(graph bn_train {
  input %x : f32[2, 4, 3, 3]
  input %dy : f32[2, 4, 3, 3]
  param %g : f32[4] init ones
  param %b : f32[4] init zeros
  param %m : f32[4] frozen init zeros
  param %v : f32[4] frozen init ones
  %x.batch_stats = batch_norm_stats(%x) : f32[2, 4]
  %y = batch_norm(%x, %g, %b, %m, %v, %x.batch_stats) {eps = 1e-05, momentum = 0.1, training = 1} : f32[2, 4, 3, 3]
  %m_new = batch_norm_running_stats(%x, %m, %x.batch_stats) {momentum = 0.1, stat = "mean"} : f32[4]
  %v_new = batch_norm_running_stats(%x, %v, %x.batch_stats) {momentum = 0.1, stat = "var"} : f32[4]
  %dg_and_bias = batch_norm_backward_weight(%x, %m, %v, %dy, %x.batch_stats) {eps = 1e-05, training = 1, with_bias = 1} : f32[2, 4]
  %dg.row = slice(%dg_and_bias) {ends = [1, 4], starts = [0, 0]} : f32[1, 4]
  %dg = reshape(%dg.row) {shape = [4]} : f32[4]
  %db.row = slice(%dg_and_bias) {ends = [2, 4], starts = [1, 0]} : f32[1, 4]
  %db = reshape(%db.row) {shape = [4]} : f32[4]
  %dx = batch_norm_backward_input(%x, %g, %m, %v, %dy, %x.batch_stats, %dg, %db) {eps = 1e-05, training = 1} : f32[2, 4, 3, 3]
  output "y" = %y
  output "m" = %m_new
  output "v" = %v_new
  output "dx" = %dx
  output "dg" = %dg
  output "db" = %db
}
)IR");
  // And the two graphs compute the same values (reference backend).
  same_values_after(kBnTrainIr, "fuse-bn-stats");
}

TEST_CASE("golden: fuse-optimizer,fuse-elementwise (momentum update fused into dw, the step its sibling)", "[passes][golden]") {
  CHECK(run(kMomentumIr, "fuse-optimizer,fuse-elementwise") == R"IR(graph momentum {
  input %x : f32[1, 2, 4, 4]
  input %dy : f32[1, 3, 4, 4]
  input %hyper : f32[2]
  input %dbias : f32[3]
  param %w : f32[3, 2, 3, 3] init zeros
  param %w.momentum_buffer : f32[3, 2, 3, 3] init zeros
  param %bias : f32[3] init zeros
  param %bias.momentum_buffer : f32[3] init zeros
  %dw = conv2d_backward_weight(%x, %dy) {_group = 0, dilation = [1, 1], groups = 1, padding = [1, 1, 1, 1], stride = [1, 1], weight_shape = [3, 2, 3, 3]} : f32[3, 2, 3, 3]
  %new_b = optimizer_update(%w, %dw, %hyper, %w.momentum_buffer) {_group = 0, alpha = 0.99, beta1 = 0.9, beta2 = 0.999, clip_value = 0.0, eps = 1e-08, l1 = 0.0, momentum = 0.9, optimizer = "momentum", result = 1, weight_decay = 0.01} : f32[3, 2, 3, 3]
  %new_w = optimizer_update(%w, %new_b, %hyper) {_group = 0, _sibling = 1, alpha = 0.99, beta1 = 0.9, beta2 = 0.999, clip_value = 0.0, eps = 1e-08, l1 = 0.0, momentum = 0.9, optimizer = "sgd", result = 0, weight_decay = 0.0} : f32[3, 2, 3, 3]
  %dx = conv2d_backward_input(%dy, %w) {dilation = [1, 1], groups = 1, input_shape = [1, 2, 4, 4], padding = [1, 1, 1, 1], stride = [1, 1]} : f32[1, 2, 4, 4]
  %new_bias_b = optimizer_update(%bias, %dbias, %hyper, %bias.momentum_buffer) {_group = 1, alpha = 0.99, beta1 = 0.9, beta2 = 0.999, clip_value = 0.0, eps = 1e-08, l1 = 0.0, momentum = 0.9, optimizer = "momentum", result = 1, weight_decay = 0.0} : f32[3]
  %new_bias = optimizer_update(%bias, %new_bias_b, %hyper) {_group = 1, _sibling = 1, alpha = 0.99, beta1 = 0.9, beta2 = 0.999, clip_value = 0.0, eps = 1e-08, l1 = 0.0, momentum = 0.9, optimizer = "sgd", result = 0, weight_decay = 0.0} : f32[3]
  output "dx" = %dx
  output "w" = %new_w
  output "b" = %new_b
  output "bias" = %new_bias
  output "bias_b" = %new_bias_b
}
)IR");
  same_values_after(kMomentumIr, "fuse-optimizer,fuse-elementwise");
}

TEST_CASE("golden: fuse-elementwise (the first batch norm of a sum as the group's prologue)", "[passes][golden]") {
  CHECK(run(kTwoBnAddIr, "fuse-elementwise") == R"IR(graph two_bn_add {
  input %y1 : f32[2, 8, 4, 4]
  input %y2 : f32[2, 8, 4, 4]
  param %w1 : f32[8] init ones
  param %b1 : f32[8] init zeros
  param %m1 : f32[8] frozen init zeros
  param %v1 : f32[8] frozen init ones
  param %w2 : f32[8] init ones
  param %b2 : f32[8] init zeros
  param %m2 : f32[8] frozen init zeros
  param %v2 : f32[8] frozen init ones
  %s1 = batch_norm_stats(%y1) : f32[2, 8]
  %s2 = batch_norm_stats(%y2) : f32[2, 8]
  %a = batch_norm(%y1, %w1, %b1, %m1, %v1, %s1) {_group = 0, _prologue = 1, eps = 1e-05, momentum = 0.1, training = 1} : f32[2, 8, 4, 4]
  %b = batch_norm(%y2, %w2, %b2, %m2, %v2, %s2) {_group = 0, eps = 1e-05, momentum = 0.1, training = 1} : f32[2, 8, 4, 4]
  %sum = add(%a, %b) {_group = 0} : f32[2, 8, 4, 4]
  %r = relu(%sum) {_group = 0} : f32[2, 8, 4, 4]
  output "r" = %r
}
)IR");
  same_values_after(kTwoBnAddIr, "fuse-elementwise");
}

TEST_CASE("golden: fuse-elementwise,fuse-conv-bn-stats (statistics and scale/bias gradients as siblings)", "[passes][golden]") {
  CHECK(run(kConvStatsIr, "fuse-elementwise,fuse-conv-bn-stats") == R"IR(graph conv_stats {
  input %x : f32[1, 2, 4, 4]
  input %dy : f32[1, 3, 4, 4]
  input %a : f32[1, 2, 4, 4]
  param %w : f32[3, 2, 3, 3] init zeros
  param %m : f32[3] frozen init zeros
  param %v : f32[3] frozen init ones
  param %m2 : f32[2] frozen init zeros
  param %v2 : f32[2] frozen init ones
  %y = conv2d(%x, %w) {_group = 1, auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [1, 1, 1, 1], stride = [1, 1]} : f32[1, 3, 4, 4]
  %s = batch_norm_stats(%y) {_group = 1, _sibling = 1} : f32[2, 3]
  %t = tanh(%x) : f32[1, 2, 4, 4]
  %xs = batch_norm_stats(%x) : f32[2, 2]
  %g0 = conv2d_backward_input(%dy, %w) {_group = 0, dilation = [1, 1], groups = 1, input_shape = [1, 2, 4, 4], padding = [1, 1, 1, 1], stride = [1, 1]} : f32[1, 2, 4, 4]
  %g = activation_grad(%a, %g0) {_group = 0, activation = "relu", alpha = 0.0, approximate = "none", beta = 0.0, threshold = 0.0} : f32[1, 2, 4, 4]
  %gw = batch_norm_backward_weight(%x, %m2, %v2, %g, %xs) {_group = 0, _sibling = 1, eps = 1e-05, training = 1, with_bias = 1} : f32[2, 2]
  output "y" = %y
  output "t" = %t
  output "s" = %s
  output "g" = %g
  output "gw" = %gw
}
)IR");
  same_values_after(kConvStatsIr, "fuse-elementwise,fuse-conv-bn-stats");
}

TEST_CASE("golden: merge-conv-add (c3 + strided d as one conv over concat(r1, subsampled x))", "[passes][golden]") {
  CHECK(run(kMergeIr, "merge-conv-add") == R"IR(graph projection {
  input %x : f32[1, 4, 6, 6]
  param %w1 : f32[8, 4, 3, 3] init zeros
  param %w3 : f32[16, 8, 1, 1] init zeros
  param %b3 : f32[16] init zeros
  param %wd : f32[16, 4, 1, 1] init zeros
  param %bd : f32[16] init zeros
  param %w4 : f32[16, 16, 1, 1] init zeros
  %h = conv2d(%x, %w1) {auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [1, 1, 1, 1], stride = [2, 2]} : f32[1, 8, 3, 3]
  %r1 = relu(%h) : f32[1, 8, 3, 3]
  %d.subsample = max_pool2d(%x) {ceil_mode = 0, kernel_size = [1, 1], padding = [0, 0, 0, 0], stride = [2, 2]} : f32[1, 4, 3, 3]
  %s.merged_input = concat(%r1, %d.subsample) {axis = 1} : f32[1, 12, 3, 3]
  %s.merged_weight = concat(%w3, %wd) {axis = 1} : f32[16, 12, 1, 1]
  %s.merged_bias = add(%b3, %bd) : f32[16]
  %s = conv2d(%s.merged_input, %s.merged_weight, %s.merged_bias) {auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[1, 16, 3, 3]
  %r2 = relu(%s) : f32[1, 16, 3, 3]
  %c4 = conv2d(%r2, %w4) {auto_pad = "explicit", dilation = [1, 1], groups = 1, padding = [0, 0, 0, 0], stride = [1, 1]} : f32[1, 16, 3, 3]
  %s2 = add(%c4, %r2) : f32[1, 16, 3, 3]
  output "y" = %s2
}
)IR");
  same_values_after(kMergeIr, "merge-conv-add");
}
