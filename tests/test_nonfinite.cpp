// Non-finite values through the ops, on both backends: a NaN goes where PyTorch 1.13 sends
// it. Halide compiles float math with LLVM's no-NaNs and no-infinities flags, so its max,
// min and clamp return the other operand and its exp of a NaN is 0; the lowerings test a
// float's bits where a NaN must survive (keep_nan). What PyTorch does was read off
// python3-torch 1.13 and is written beside each case.
#include <strata/dsl.h>

#include <array>
#include <cmath>
#include <limits>

#include "tests/helpers.h"
#include "tests/op_cases.h"

using namespace strata;

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();

int nan_count(const HostTensor& t) {
  int k = 0;
  for (float v : t.data) k += std::isnan(v);
  return k;
}

}  // namespace

// Every op case of test_ops_halide and the training ops, with one NaN in one input or
// parameter at a time: the Halide output is NaN exactly where the reference's is. The one
// exception is documented: conv2d_backward_input with a NaN weight, where the Halide kernel
// reads dy padded with zeros and multiplies them (NaN * 0) at the borders, while the
// reference (and PyTorch's col2im) skip those taps; there Halide's NaNs must include the
// reference's.
TEST_CASE("every op carries a NaN in any input or parameter as the reference does", "[halide][ops][errors]") {
  int compared = 0, superset = 0;
  for (const auto& c : testing::op_cases()) {
    dsl::Model m = c.build();
    const ir::Graph& g = m.graph();
    NamedTensors inputs = testing::random_inputs(g, 7, c.lo, c.hi);
    runtime::ParameterStore params = testing::random_parameters(g, 3);
    std::vector<std::string> targets;
    for (const auto& [name, t] : inputs) targets.push_back(name);
    for (const auto& [name, t] : params.tensors()) targets.push_back("parameter " + name);
    for (const std::string& target : targets) {
      NamedTensors in = inputs;
      runtime::ParameterStore ps = params;
      bool is_param = target.rfind("parameter ", 0) == 0;
      HostTensor& t = is_param ? ps.at(target.substr(10)) : in.at(target);
      t.data[t.data.size() / 3] = kNaN;
      auto both = testing::run_both(g, in, ps);
      bool padded_dy = c.name.rfind("conv2d_backward_input", 0) == 0 && is_param;
      for (const auto& [name, want] : both.want) {
        const HostTensor& got = both.got.at(name);
        int missing = 0, extra = 0;
        for (size_t i = 0; i < want.data.size(); ++i) {
          missing += std::isnan(want.data[i]) && !std::isnan(got.data[i]);
          extra += !std::isnan(want.data[i]) && std::isnan(got.data[i]);
        }
        INFO(c.name << ", NaN in " << target << ", output " << name << ": reference " << nan_count(want)
                    << " NaN, halide " << nan_count(got) << " (" << missing << " missing, " << extra << " extra)");
        CHECK(missing == 0);
        if (padded_dy) superset += extra > 0;
        else CHECK(extra == 0);
        ++compared;
      }
    }
  }
  WARN("conv2d_backward_input with a NaN weight: " << superset
                                                 << " cases with NaN at border positions on Halide only (dy's padding "
                                                    "multiplied), checked as a superset of the reference's");
  CHECK(compared > 300);
}

// What PyTorch 1.13 gives, on both backends (NaN counts from torch's own run of the same
// shapes, written beside each case).
TEST_CASE("NaN semantics follow PyTorch on both backends", "[halide][ops][errors]") {
  SECTION("softmax, log_softmax and cross_entropy's gradient: a row with a NaN is all NaN") {
    for (const char* op : {"softmax", "log_softmax"}) {
      dsl::Model m(op);
      dsl::Tensor x = m.input("x", {2, 3});
      m.output("y", std::string(op) == "softmax" ? dsl::softmax(x, 1) : dsl::log_softmax(x, 1));
      auto both = testing::run_both(m.graph(), {{"x", HostTensor({2, 3}, {1.f, kNaN, 2.f, 0.f, 1.f, 2.f})}});
      for (const auto* r : {&both.want, &both.got}) {
        const HostTensor& y = r->at("y");
        for (int i = 0; i < 3; ++i) CHECK(std::isnan(y.data[i]));       // torch: [nan, nan, nan]
        for (int i = 3; i < 6; ++i) CHECK(std::isfinite(y.data[i]));  // torch: [0.090, 0.245, 0.665]
      }
      CHECK(both.got.at("y").data[5] == Approx(both.want.at("y").data[5]));
    }
    dsl::Model m("ce_backward");
    dsl::Tensor x = m.input("x", {2, 3}), t = m.input("t", {2, 3}), g = m.input("g", {1});
    m.output("dx", m.apply("cross_entropy_backward", {x, t, g}, {}));
    auto both = testing::run_both(m.graph(), {{"x", HostTensor({2, 3}, {1.f, kNaN, 2.f, 0.f, 1.f, 2.f})},
                        {"t", HostTensor({2, 3}, {1.f, 0.f, 0.f, 0.f, 1.f, 0.f})},
                        {"g", HostTensor({1}, {1.f})}});
    for (const auto* r : {&both.want, &both.got}) {
      const HostTensor& dx = r->at("dx");  // torch: [[nan, nan, nan], [0.045, -0.378, 0.333]]
      CHECK(nan_count(dx) == 3);
      CHECK(dx.data[4] == Approx(-0.37763574).epsilon(1e-4));
    }
  }
  SECTION("prelu's slope gradient counts a NaN input; its input gradient there is slope * dy") {
    dsl::Model m("prelu_backward");
    dsl::Tensor x = m.input("x", {3}), a = m.input("a", {1}), dy = m.input("dy", {3});
    m.output("da", m.apply("prelu_backward", {x, a, dy}, {{"wrt", std::string("slope")}}));
    m.output("dx", m.apply("prelu_backward", {x, a, dy}, {{"wrt", std::string("input")}}));
    auto both = testing::run_both(m.graph(), {{"x", HostTensor({3}, {-1.f, kNaN, 2.f})}, {"a", HostTensor({1}, {0.25f})},
                        {"dy", HostTensor({3}, {1.f, 1.f, 1.f})}});
    for (const auto* r : {&both.want, &both.got}) {
      CHECK(std::isnan(r->at("da").data[0]));  // torch: w.grad [nan]
      CHECK(r->at("dx").data == std::vector<float>{0.25f, 0.25f, 1.f});  // torch: [0.25, 0.25, 1.0]
    }
  }
  SECTION("activation derivatives at NaN: PyTorch's branch for the piecewise ones, NaN for the rest") {
    // torch: relu 1, relu6 1, leaky_relu alpha, elu 1, selu scale, hard_sigmoid 0,
    // hard_swish 1; sigmoid, tanh, arctan, softplus, silu, gelu NaN.
    std::vector<std::pair<std::string, float>> want{{"relu", 1.f},        {"relu6", 1.f},         {"leaky_relu", 0.2f},
                                                    {"elu", 1.f},         {"selu", 1.0507010f},   {"hard_sigmoid", 0.f},
                                                    {"hard_swish", 1.f},  {"sigmoid", kNaN},       {"tanh", kNaN},
                                                    {"arctan", kNaN},      {"softplus", kNaN},      {"silu", kNaN},
                                                    {"gelu", kNaN}};
    for (const auto& [act, d] : want) {
      dsl::Model m("grad_" + act);
      dsl::Tensor x = m.input("x", {2}), dy = m.input("dy", {2});
      ir::AttrMap attrs{{"activation", act}};
      if (act == "leaky_relu") attrs["alpha"] = 0.2;
      if (act == "hard_sigmoid") attrs["alpha"] = 1.0 / 6, attrs["beta"] = 0.5;
      m.output("dx", m.apply("activation_grad", {x, dy}, attrs));
      auto both = testing::run_both(m.graph(), {{"x", HostTensor({2}, {kNaN, 0.5f})}, {"dy", HostTensor({2}, {1.f, 1.f})}});
      for (const auto* r : {&both.want, &both.got}) {
        INFO(act << "'(NaN) = " << r->at("dx").data[0]);
        if (std::isnan(d)) CHECK(std::isnan(r->at("dx").data[0]));
        else CHECK(r->at("dx").data[0] == Approx(d));
      }
    }
  }
  SECTION("dropout and stochastic depth keep a dropped NaN (PyTorch multiplies by the mask)") {
    for (const char* mode : {"element", "row"}) {
      dsl::Model m("dropout");
      dsl::Tensor x = m.input("x", {4, 8}), seed = m.input("seed", {1});
      m.output("y", m.apply("dropout", {x, seed}, {{"p", 0.5}, {"training", 1}, {"mode", std::string(mode)}}));
      auto both = testing::run_both(m.graph(), {{"x", HostTensor({4, 8}, std::vector<float>(32, kNaN))}, {"seed", HostTensor({1}, {5.f})}});
      CHECK(nan_count(both.want.at("y")) == 32);  // torch: F.dropout of all-NaN is all NaN
      CHECK(nan_count(both.got.at("y")) == 32);
    }
  }
  SECTION("gradient clipping: a NaN gradient stays NaN by value, and a NaN norm scales by NaN") {
    dsl::Model m("clip");
    dsl::Tensor p = m.input("param", {3}), g = m.input("grad", {3}), ss = m.input("sum_of_squares", {1});
    m.output("p", m.apply("optimizer_update", {p, g, m.constant("hyper", HostTensor({2}, {1.f, 1.f}))},
                          {{"optimizer", std::string("sgd")}, {"clip_value", 1.0}}));
    m.output("scale", m.apply("clip_grad_norm_scale", {ss}, {{"max_norm", 1.0}}));
    auto both = testing::run_both(m.graph(), {{"param", HostTensor({3}, {0.f, 0.f, 0.f})}, {"grad", HostTensor({3}, {kNaN, 5.f, 1.f})},
                        {"sum_of_squares", HostTensor({1}, {kNaN})}});
    for (const auto* r : {&both.want, &both.got}) {
      // torch: clip_grad_value_ [nan, 1, 1] (so p = [nan, -1, -1]); clip_grad_norm_ all NaN.
      CHECK(std::isnan(r->at("p").data[0]));
      CHECK(r->at("p").data[1] == -1.f);
      CHECK(std::isnan(r->at("scale").data[0]));
    }
  }
  SECTION("convolution: the padding's zeros are multiplied forward and in dw, not in dx") {
    dsl::Model m("conv");
    dsl::Tensor x = m.input("x", {1, 1, 5, 5}), w = m.input("w", {1, 1, 3, 3}), dy = m.input("dy", {1, 1, 5, 5});
    ir::AttrMap a{{"stride", std::vector<int64_t>{1, 1}},
                  {"padding", std::vector<int64_t>{1, 1, 1, 1}},
                  {"dilation", std::vector<int64_t>{1, 1}},
                  {"groups", int64_t{1}}};
    m.output("y", m.apply("conv2d", {x, w}, a));
    ir::AttrMap ax = a, aw = a;
    ax["input_shape"] = Shape{1, 1, 5, 5};
    aw["weight_shape"] = Shape{1, 1, 3, 3};
    m.output("dx", m.apply("conv2d_backward_input", {dy, w}, ax));
    HostTensor wt({1, 1, 3, 3}, std::vector<float>(9, 1.f)), dyt({1, 1, 5, 5}, std::vector<float>(25, 1.f));
    wt.data[0] = kNaN;
    auto both = testing::run_both(m.graph(), {{"x", HostTensor({1, 1, 5, 5}, std::vector<float>(25, 1.f))}, {"w", wt}, {"dy", dyt}});
    CHECK(nan_count(both.want.at("y")) == 25);  // torch: 25 of 25 (im2col multiplies the padding)
    CHECK(nan_count(both.got.at("y")) == 25);
    CHECK(nan_count(both.want.at("dx")) == 16);  // torch: 16 of 25 (col2im drops the padding)
    CHECK(nan_count(both.got.at("dx")) >= 16);   // Halide: dy's padding multiplied (see above)
    dsl::Model mw("conv_dw");
    dsl::Tensor xw = mw.input("x", {1, 1, 3, 3}), dyw = mw.input("dy", {1, 1, 3, 3});
    mw.output("dw", mw.apply("conv2d_backward_weight", {xw, dyw}, aw));
    HostTensor d3({1, 1, 3, 3}, std::vector<float>(9, 1.f));
    d3.data[0] = kNaN;
    auto dw = testing::run_both(mw.graph(), {{"x", HostTensor({1, 1, 3, 3}, std::vector<float>(9, 1.f))}, {"dy", d3}});
    CHECK(nan_count(dw.want.at("dw")) == 9);  // torch: all 9 taps NaN
    CHECK(nan_count(dw.got.at("dw")) == 9);
  }
}

// A NaN stays a NaN through every activation, as in the reference backend and PyTorch
// (Halide's max, min and clamp, like the x86 instructions, return the other operand, and
// its exp of a NaN is 0: relu(NaN) was 0, which hid a diverging network's NaNs from its
// loss); binary step maps NaN to 0 in both. Large finite inputs and infinities give the
// reference's values, except where the reference's own value is an indeterminate form
// (silu(-inf) = -inf * 0): Halide compiles with LLVM's no-infinities flag, so those are
// not specified.
TEST_CASE("activations of NaN and of infinite or large inputs equal the reference", "[halide][ops][errors]") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> values(32);
  for (size_t i = 0; i < values.size(); ++i) values[i] = std::array{nan, inf, -inf, -1.5f, 0.25f, 7.f, -100.f, 100.f}[i % 8];
  int indeterminate = 0;
  for (const char* op : {"identity", "binary_step", "sigmoid", "tanh", "arctan", "relu", "relu6", "leaky_relu", "elu",
                         "selu", "softplus", "silu", "gelu", "hard_sigmoid", "hard_swish", "prelu"}) {
    dsl::Model m(op);
    dsl::Tensor x = m.input("x", {2, 16});
    m.output("y", std::string(op) == "prelu" ? dsl::prelu(x) : dsl::activation(op, x));
    auto both = testing::run_both(m.graph(), {{"x", HostTensor({2, 16}, values)}}, testing::random_parameters(m.graph(), 3));
    const HostTensor &want = both.want.at("y"), &got = both.got.at("y");
    for (size_t i = 0; i < values.size(); ++i) {
      INFO(op << "(" << values[i] << "): halide " << got.data[i] << ", reference " << want.data[i]);
      if (std::isnan(want.data[i]) && std::isinf(values[i])) {
        if (i < 8) WARN(op << "(" << values[i] << ") is NaN in the reference (an indeterminate form): not compared");
        indeterminate += i < 8;
        continue;
      }
      if (std::isnan(want.data[i])) CHECK(std::isnan(got.data[i]));
      else if (std::isinf(want.data[i])) CHECK(got.data[i] == want.data[i]);
      else CHECK(std::fabs(got.data[i] - want.data[i]) <= 1e-5f + 1e-4f * std::fabs(want.data[i]));
    }
  }
  CHECK(indeterminate == 3);  // silu, gelu and hard_swish of -inf
}

// Max pooling: a window holding a NaN gives NaN, wherever the NaN sits in it (first tap,
// last, or between numbers), on both backends, as PyTorch's max_pool2d does; other windows
// are their maxima.
TEST_CASE("max pooling of a window with a NaN is NaN on both backends", "[halide][ops][errors]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (auto [k, stride, pad] : {std::array<int64_t, 3>{2, 2, 0}, {3, 2, 1}}) {
    dsl::Model m("pool");
    dsl::Tensor x = m.input("x", {1, 16, 6, 6});
    m.output("y", dsl::max_pool2d(x, k, {.stride = stride, .padding = pad}));
    HostTensor in({1, 16, 6, 6});
    for (size_t i = 0; i < in.data.size(); ++i) in.data[i] = static_cast<float>((i * 37) % 23) - 11.f;
    // One NaN per channel, at a different place in each.
    for (int64_t c = 0; c < 16; ++c) in.data[c * 36 + (c * 7) % 36] = nan;
    const Shape& os = m.graph().outputs()[0].second->type.shape;
    auto both = testing::run_both(m.graph(), {{"x", in}});
    const HostTensor &want = both.want.at("y"), &got = both.got.at("y");
    int nans = 0;
    for (int64_t c = 0; c < 16; ++c)
      for (int64_t oy = 0; oy < os[2]; ++oy)
        for (int64_t ox = 0; ox < os[3]; ++ox) {
          bool has_nan = false;
          for (int64_t iy = oy * stride - pad; iy < oy * stride - pad + k; ++iy)
            for (int64_t ix = ox * stride - pad; ix < ox * stride - pad + k; ++ix)
              if (iy >= 0 && iy < 6 && ix >= 0 && ix < 6) has_nan |= std::isnan(in.data[c * 36 + iy * 6 + ix]);
          int64_t o = (c * os[2] + oy) * os[3] + ox;
          INFO("kernel " << k << ", channel " << c << ", output (" << oy << ", " << ox << "): halide " << got.data[o]
                         << ", reference " << want.data[o]);
          CHECK(std::isnan(want.data[o]) == has_nan);
          CHECK(std::isnan(got.data[o]) == has_nan);
          if (!has_nan) CHECK(got.data[o] == want.data[o]);
          nans += has_nan;
        }
    CHECK(nans >= 16);
  }
}
