// Every op: the Halide CPU kernel equals the reference backend within 1e-4 relative /
// 1e-5 absolute on random inputs, over the shapes of op_cases(); the convolutions also
// compiled for AVX2.
#include <strata/dsl.h>

#include <array>
#include <cmath>
#include <limits>

#include "backends/halide/halide_backend.h"
#include "tests/helpers.h"
#include "tests/op_cases.h"

using namespace strata;
namespace hb = strata::halide_backend;

TEST_CASE("every op on the Halide CPU backend matches the reference", "[halide][ops]") {
  for (const auto& c : testing::op_cases()) {
    SECTION(c.name) {
      dsl::Model m = c.build();
      testing::check_against_reference(m.graph(), "host", 7, c.lo, c.hi);
    }
  }
}

// The CPU schedules pick vector widths, register tiles and weight blocks from the target:
// 16 lanes and blocks of 32 or 64 channels on AVX-512 (the host here), 8 lanes and blocks
// of 8 to 24 on AVX2. The convolutions and their gradients, compiled for AVX2 (which this
// machine also runs), against the reference; 48 channels make a tile of 3 vectors there.
TEST_CASE("convolutions and their gradients on an AVX2 target match the reference", "[halide][ops][avx2]") {
  const std::string avx2 = "x86-64-linux-avx-avx2-f16c-fma-sse41";
  for (const auto& c : testing::op_cases()) {
    if (c.name.rfind("conv", 0) != 0) continue;
    SECTION(c.name) {
      dsl::Model m = c.build();
      testing::check_against_reference(m.graph(), avx2, 7, c.lo, c.hi);
    }
  }
  SECTION("conv3x3_48_three_vector_tile") {
    dsl::Model m("conv48");
    dsl::Tensor x = m.input("x", {2, 16, 8, 8});
    m.output("y", dsl::relu(dsl::conv2d(x, 48, 3, {.padding = 1})));
    CHECK(hb::preferred_layout(*m.graph().nodes()[0], 1, avx2).block == 24);
    testing::check_against_reference(m.graph(), avx2, 7);
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
    auto both = testing::run_both(m.graph(), {{"x", in}}, {});
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
