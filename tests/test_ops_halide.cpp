// Every op: the Halide CPU kernel equals the reference backend within 1e-4 relative /
// 1e-5 absolute on random inputs, over the shapes of op_cases(); the convolutions and the
// streamed linear layers also compiled for AVX2.
#include <strata/dsl.h>

#include "backends/halide/halide_backend.h"
#include "passes/training.h"
#include "tests/gradient_check.h"
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
    // (and the streamed linear layers, in 8-lane vectors there)
    if (c.name.rfind("conv", 0) != 0 && c.name.rfind("linear_streamed", 0) != 0) continue;
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

// A linear layer over 1 to 8 rows with a weight of 1 MiB or more streams its weight
// (schedule_linear_stream); over more rows it is a GEMM in register tiles
// (schedule_linear_gemm: the weight by chunks of its rows up to 64 rows, else by blocks of
// features); its input gradient, dy times the weight stored features innermost, runs as
// dot products along the weight's rows (schedule_matmul_dot, past 64 rows in blocks of
// them): the loss and every gradient against the reference, with a ReLU fused after the
// layer. The cases cover rows within and past a block of 8 (16; 20 cuts the last block
// short), inputs that do not fill the last chunk (1000, 1025), odd inputs (the gradient's
// rows one per step), 8-lane vectors (1000 features) and feature groups of 4, 2 (96
// features) and 1 per step; GEMM tiles of rows rounded up past the batch (20, 40, 70, 12),
// blocks of features shifted back from the end (40 features in blocks of 32), blocks of rows
// where there are few blocks of features (70 x 256), a reduction that does not fill its
// last block (300), and 70 rows of dy in blocks of 64 for the input gradient.
TEST_CASE("linear layers: streamed and GEMM forward and input gradient match the reference", "[halide][ops]") {
  struct Case {
    int64_t rows, in, out;
  };
  for (Case c : {Case{1, 2048, 256}, Case{3, 1000, 320}, Case{8, 512, 1024}, Case{2, 1024, 1000}, Case{20, 1024, 256},
                 Case{16, 512, 1024}, Case{2, 1025, 256}, Case{2, 2800, 96}, Case{40, 1024, 320}, Case{70, 1024, 256},
                 Case{12, 200, 40}, Case{70, 300, 100}}) {
    SECTION(std::to_string(c.rows) + "x" + std::to_string(c.in) + "_to_" + std::to_string(c.out)) {
      dsl::Model m("linear_rows");
      m.output("y", dsl::relu(dsl::linear(m.input("x", {c.rows, c.in}), c.out)));
      ir::Graph grads = testing::gradient_graph(m.graph(), true, 5);
      testing::check_against_reference(grads, "host", 3);
    }
  }
  SECTION("dropout_before_the_layer_in_training_form") {  // as in VGG's and AlexNet's classifiers
    dsl::Model m("dropout_linear");
    m.output("y", dsl::relu(dsl::linear(dsl::dropout(m.input("x", {4, 2048})), 256)));
    ir::Graph grads = testing::gradient_graph(passes::training_forward(m.graph()), true, 5);
    testing::check_against_reference(grads, "host", 3);
  }
}
