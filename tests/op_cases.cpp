#include "tests/op_cases.h"

#include <strata/dsl.h>

namespace strata::testing {
using namespace dsl;

// A model with one input of `shape` whose output is f(input).
static OpCase unary_case(std::string name, Shape shape, std::function<Tensor(Tensor)> f, float lo = -1.f, float hi = 1.f) {
  return {name,
          [=] {
            Model m(name);
            m.output("y", f(m.input("x", shape)));
            return m;
          },
          lo, hi};
}

static OpCase binary_case(std::string name, Shape a, Shape b, std::function<Tensor(Tensor, Tensor)> f) {
  return {name, [=] {
            Model m(name);
            Tensor x = m.input("a", a), y = m.input("b", b);
            m.output("y", f(x, y));
            return m;
          }};
}

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = [] {
    std::vector<OpCase> c;
    // conv2d
    c.push_back(unary_case("conv3x3_odd_batch2", {2, 3, 9, 11}, [](Tensor x) { return conv2d(x, 16, 3, {.padding = 1}); }));
    c.push_back(unary_case("conv3x3_stride2_nobias", {1, 16, 15, 15},
                           [](Tensor x) { return conv2d(x, 32, 3, {.stride = 2, .padding = 1, .bias = false}); }));
    c.push_back(unary_case("conv1x1_64", {1, 32, 7, 7}, [](Tensor x) { return conv2d(x, 64, 1); }));
    c.push_back(unary_case("conv3x3_64_tiled", {1, 64, 14, 14}, [](Tensor x) { return conv2d(x, 64, 3, {.padding = 1}); }));
    // 256 channels and a 2.4 MB filter, stored in blocks of 64 output channels (preferred_layout).
    c.push_back(unary_case("conv3x3_256_blocked_filter", {1, 256, 5, 5}, [](Tensor x) { return conv2d(x, 256, 3, {.padding = 1}); }));
    // One image and a filter over 1 MiB: the tile sums the whole image per chunk of input
    // channels (schedule_conv's filter streaming), 7 columns by 2 vectors here, 6 rows.
    c.push_back(unary_case("conv3x3_streamed_filter", {1, 256, 6, 7}, [](Tensor x) { return conv2d(x, 128, 3, {.padding = 1, .bias = false}); }));
    c.push_back(unary_case("conv3x3_stride2_streamed_filter", {1, 256, 11, 14},
                           [](Tensor x) { return conv2d(x, 128, 3, {.stride = 2, .padding = 1}); }));
    c.push_back(unary_case("conv_dilated", {2, 8, 12, 10}, [](Tensor x) { return conv2d(x, 16, 3, {.padding = 2, .dilation = 2}); }));
    c.push_back(unary_case("conv_groups2", {2, 8, 9, 9}, [](Tensor x) { return conv2d(x, 12, 3, {.padding = 1, .groups = 2}); }));
    c.push_back(unary_case("conv_depthwise_stride2", {2, 32, 11, 11},
                           [](Tensor x) { return depthwise_conv2d(x, 3, {.stride = 2, .padding = 1, .bias = false}); }));
    c.push_back(unary_case("conv_asymmetric_pads", {1, 4, 8, 8},
                           [](Tensor x) { return conv2d(x, 8, 2, {.pads = std::array<int64_t, 4>{0, 1, 1, 0}}); }));
    c.push_back(unary_case("conv_same_stride2", {1, 4, 9, 10}, [](Tensor x) { return conv2d(x, 8, 5, {.stride = 2, .same = true}); }));
    c.push_back(unary_case("conv5x5_few_channels", {2, 1, 28, 28}, [](Tensor x) { return conv2d(x, 6, 5, {.padding = 2}); }));
    // 256 input channels (1 KiB rows): the padded copy is stored with 272 per pixel.
    c.push_back(unary_case("conv3x3_stride2_256_channels", {1, 256, 6, 6},
                           [](Tensor x) { return conv2d(x, 32, 3, {.stride = 2, .padding = 1, .bias = false}); }));
    // Many small row tasks, run several to a parallel task (schedule_cpu.cpp's
    // parallel_tasks), the last group short: 65 rows in groups of 2 (register tiles; the
    // padded copy's 135 in groups of 4), 69 in groups of 2 (3 channels: vectors across
    // columns), 65 in groups of 2 (depthwise).
    c.push_back(unary_case("conv3x3_stride2_rows_in_groups", {5, 16, 26, 26},
                           [](Tensor x) { return conv2d(x, 32, 3, {.stride = 2, .padding = 1, .bias = false}); }));
    c.push_back(unary_case("conv5x5_to_3_channels_rows_in_groups", {3, 1, 23, 23}, [](Tensor x) { return conv2d(x, 3, 5, {.padding = 2}); }));
    c.push_back(unary_case("conv_depthwise_rows_in_groups", {5, 32, 13, 13},
                           [](Tensor x) { return depthwise_conv2d(x, 3, {.padding = 1}); }));
    c.push_back(unary_case("conv_1x7", {1, 8, 9, 9},
                           [](Tensor x) { return conv2d(x, 16, {1, 7}, {.pads = std::array<int64_t, 4>{0, 3, 0, 3}}); }));
    // conv2d's gradients (the shapes of aten::convolution_backward)
    struct ConvGrad {
      const char* name;
      Shape x;
      int64_t out, k, stride, pad, dilation, groups;
    };
    for (ConvGrad g : {ConvGrad{"3x3_pad1", {2, 4, 7, 9}, 8, 3, 1, 1, 1, 1},
                       ConvGrad{"3x3_stride2", {1, 16, 9, 9}, 32, 3, 2, 1, 1, 1},
                       ConvGrad{"dilated_groups", {2, 8, 10, 10}, 12, 3, 1, 2, 2, 2},
                       ConvGrad{"depthwise_stride2", {1, 32, 8, 8}, 32, 3, 2, 1, 1, 32},
                       // 3 input channels: dx sums dy's 16 or 32 channels in vector lanes
                       // (dx_reduction_lanes; one vector of lanes, then two)
                       ConvGrad{"1x1_stride2_first_layer", {2, 3, 11, 11}, 16, 1, 2, 0, 1, 1},
                       ConvGrad{"7x7_stride2_stem", {2, 3, 13, 12}, 32, 7, 2, 3, 1, 1},
                       // and per group: 3 groups of 16 dy channels each, one input channel
                       ConvGrad{"3x3_stride2_groups_of_16_to_1", {2, 3, 9, 9}, 48, 3, 2, 1, 1, 3},
                       // a 2.4 MB weight: dx's transposed copy blocked by 64 input channels
                       ConvGrad{"3x3_256_blocked_weight", {1, 256, 5, 5}, 256, 3, 1, 1, 1, 1},
                       // column phases with 2 and 1 taps, rows with 2 and 1 (the predicate)
                       ConvGrad{"3x3_stride2_64_phases", {2, 64, 10, 12}, 64, 3, 2, 1, 1, 1},
                       // ResNet's downsample: odd columns and rows get no tap at all
                       ConvGrad{"1x1_stride2_64_phases", {2, 32, 12, 10}, 64, 1, 2, 0, 1, 1},
                       // unpadded: 1x1s read dy in place (no padded copy); a 3x3 reads before
                       // dy's first row and column, so it keeps the copy (Inception v3's stem)
                       ConvGrad{"3x3_stride2_unpadded", {2, 12, 7, 7}, 12, 3, 2, 0, 1, 1},
                       ConvGrad{"3x3_unpadded", {2, 8, 6, 7}, 16, 3, 1, 0, 1, 1},
                       // dx's rows several to a parallel task, the last group short: 130 rows
                       // in groups of 4 (column phases), 135 (3 channels: lanes of dy's)
                       ConvGrad{"3x3_stride2_rows_in_groups", {5, 16, 26, 26}, 32, 3, 2, 1, 1, 1},
                       ConvGrad{"3x3_stride2_3_channels_rows_in_groups", {5, 3, 27, 27}, 16, 3, 2, 1, 1, 1},
                       // dw's CPU schedule sums positions in chunks where dy and x outweigh dw
                       // 16 times or more: chunks of 13 rows and two blocks of 256 output
                       // channels here (dw's rows of 512 channels, 2 KiB, stored a cache line
                       // longer: align_storage; stride 2, as at stride 1 a batch this size
                       // takes the Winograd gradient),
                       ConvGrad{"3x3_stride2_512_chunks_of_rows", {6, 32, 52, 52}, 512, 3, 2, 1, 1, 1},
                       // and chunks of 3 images here (dw past 256 KiB);
                       ConvGrad{"1x1_chunks_of_images", {18, 72, 8, 8}, 1024, 1, 1, 0, 1, 1},
                       // a smaller dw in chunks of whole images: each image a task with a
                       // partial dw of its own;
                       ConvGrad{"1x1_image_tasks", {20, 128, 8, 8}, 128, 1, 1, 0, 1, 1},
                       // tasks of 8 register tiles (64 input channels), in chunks of 12 rows;
                       ConvGrad{"1x1_512_to_128_chunks_of_rows", {3, 512, 24, 24}, 128, 1, 1, 0, 1, 1},
                       // a dw of 128 KiB or less: the chunks (20 rows here) are the tasks,
                       // each with a partial dw of its own, stride 1 and 2;
                       ConvGrad{"1x1_256_to_64_chunk_tasks", {3, 256, 40, 40}, 64, 1, 1, 0, 1, 1},
                       ConvGrad{"1x1_stride2_64_to_256_chunk_tasks", {3, 64, 80, 80}, 256, 1, 2, 0, 1, 1},
                       // larger filters with a small dw too (the RGB stems): chunks of 40
                       // rows, and each image a task (a row of 7 taps in registers);
                       ConvGrad{"3x3_stride2_stem_chunk_tasks_of_rows", {2, 3, 160, 160}, 32, 3, 2, 1, 1, 1},
                       ConvGrad{"7x7_stride2_stem_image_tasks", {2, 3, 64, 64}, 64, 7, 2, 3, 1, 1},
                       // depthwise: the chunks are the tasks, each summing every tap of its
                       // own partial dw, x read unpadded: chunks of 20 rows (two vectors of
                       // channels a tile), and of one image (a 5x5: one vector, 25 taps);
                       ConvGrad{"depthwise_chunk_tasks_of_rows", {2, 160, 40, 40}, 160, 3, 1, 1, 1, 160},
                       ConvGrad{"depthwise_5x5_stride2_chunk_tasks_of_images", {3, 64, 36, 36}, 64, 5, 2, 2, 1, 64},
                       // an odd number of vectors of output channels: 3 of 8 lanes (24, 8
                       // input channels, in image tasks), 3 of 16 (48), 5 of 8 (40, 4
                       // input channels), each tile by fewer input channels;
                       ConvGrad{"1x1_3_vectors_of_8", {3, 64, 24, 24}, 24, 1, 1, 0, 1, 1},
                       ConvGrad{"1x1_3_vectors_of_16", {2, 24, 12, 12}, 48, 1, 1, 0, 1, 1},
                       ConvGrad{"1x1_stride2_5_vectors_of_8", {2, 20, 14, 14}, 40, 1, 2, 0, 1, 1},
                       // where they outweigh it less, each tile sums every position.
                       ConvGrad{"1x1_512_to_128_unchunked", {1, 512, 24, 24}, 128, 1, 1, 0, 1, 1},
                       ConvGrad{"3x3_stride2_512_unchunked", {1, 32, 26, 26}, 512, 3, 2, 1, 1, 1}}) {
      int64_t oh = (g.x[2] + 2 * g.pad - g.dilation * (g.k - 1) - 1) / g.stride + 1;
      int64_t ow = (g.x[3] + 2 * g.pad - g.dilation * (g.k - 1) - 1) / g.stride + 1;
      Shape w{g.out, g.x[1] / g.groups, g.k, g.k}, dy{g.x[0], g.out, oh, ow};
      ir::AttrMap attrs{{"stride", std::vector<int64_t>{g.stride, g.stride}},
                        {"padding", std::vector<int64_t>{g.pad, g.pad, g.pad, g.pad}},
                        {"dilation", std::vector<int64_t>{g.dilation, g.dilation}},
                        {"groups", g.groups}};
      c.push_back({std::string("conv2d_backward_input_") + g.name, [=] {
                     Model m("conv2d_backward_input");
                     Tensor grad = m.input("grad_output", dy);
                     Tensor weight = m.parameter("weight", w, ir::InitSpec{});
                     ir::AttrMap a = attrs;
                     a["input_shape"] = g.x;
                     m.output("dx", m.apply("conv2d_backward_input", {grad, weight}, a));
                     return m;
                   }});
      // dw sums a product per output position; in float the rounding of a long sum of
      // terms up to 1 exceeds the 1e-5 absolute tolerance (1.3-1.7e-5 at 1280-5408), so
      // where there are over a thousand, inputs in [-0.5, 0.5] make terms a quarter as large.
      float range = dy[0] * oh * ow > 1000 ? 0.5f : 1.f;
      c.push_back({std::string("conv2d_backward_weight_") + g.name,
                   [=] {
                     Model m("conv2d_backward_weight");
                     Tensor x = m.input("x", g.x), grad = m.input("grad_output", dy);
                     ir::AttrMap a = attrs;
                     a["weight_shape"] = w;
                     m.output("dw", m.apply("conv2d_backward_weight", {x, grad}, a));
                     return m;
                   },
                   -range, range});
    }
    // linear
    c.push_back(unary_case("linear_bias", {3, 50}, [](Tensor x) { return linear(x, 10); }));
    c.push_back(unary_case("linear_nobias_wide", {1, 64}, [](Tensor x) { return linear(x, 130, {.bias = false}); }));
    // Weights of 1 MiB and more over up to 8 rows stream in chunks of rows (schedule_linear_stream):
    // 16-lane vectors with a fused ReLU; 8-lane vectors (200 features) and a last chunk cut short.
    c.push_back(unary_case("linear_streamed_relu", {1, 2048}, [](Tensor x) { return relu(linear(x, 256)); }));
    c.push_back(unary_case("linear_streamed_3rows_8lanes", {3, 1500}, [](Tensor x) { return linear(x, 200); }));
    // GEMM tiles (schedule_linear_gemm) by blocks of features: a weight of 1 MiB, one shifted at the edges.
    c.push_back(unary_case("linear_streamed_gemm_40rows", {40, 1500}, [](Tensor x) { return relu(linear(x, 200)); }));
    c.push_back(unary_case("linear_streamed_gemm_70rows_shifted", {70, 96}, [](Tensor x) { return linear(x, 40); }));
    // normalisation and pooling
    c.push_back(unary_case("batch_norm_4d", {2, 5, 7, 7}, [](Tensor x) { return batch_norm(x); }));
    c.push_back(unary_case("batch_norm_2d", {4, 12}, [](Tensor x) { return batch_norm(x, {.eps = 1e-3}); }));
    c.push_back(unary_case("max_pool_3s2p1", {2, 16, 11, 11}, [](Tensor x) { return max_pool2d(x, 3, {.stride = 2, .padding = 1}); }));
    c.push_back(unary_case("max_pool_ceil", {1, 3, 7, 7}, [](Tensor x) { return max_pool2d(x, 2, {.ceil_mode = true}); }));
    c.push_back(unary_case("avg_pool_include_pad", {2, 4, 9, 9}, [](Tensor x) { return avg_pool2d(x, 3, {.stride = 2, .padding = 1}); }));
    c.push_back(unary_case("avg_pool_exclude_pad_ceil", {1, 5, 8, 8},
                           [](Tensor x) { return avg_pool2d(x, 3, {.stride = 2, .padding = 1, .ceil_mode = true, .count_include_pad = false}); }));
    c.push_back(unary_case("global_avg_pool", {2, 20, 5, 7}, [](Tensor x) { return global_avg_pool(x); }));
    c.push_back(unary_case("lrn", {2, 7, 5, 5}, [](Tensor x) { return lrn(x); }));
    c.push_back(unary_case("dropout_inference", {2, 6, 3, 3}, [](Tensor x) { return dropout(x, 0.3); }));
    // data movement
    c.push_back(unary_case("flatten", {2, 3, 4, 5}, [](Tensor x) { return flatten(x); }));
    c.push_back(unary_case("flatten_from_2", {2, 3, 4, 5}, [](Tensor x) { return flatten(x, 2); }));
    c.push_back(unary_case("reshape", {2, 6, 4, 4}, [](Tensor x) { return reshape(x, {2, 3, -1, 16}); }));
    c.push_back({"concat_channels", [] {
                   Model m("concat_channels");
                   Tensor a = m.input("a", {2, 3, 5, 5}), b = m.input("b", {2, 5, 5, 5}), d = m.input("d", {2, 1, 5, 5});
                   m.output("y", concat({a, b, d}, 1));
                   return m;
                 }});
    c.push_back(binary_case("concat_width", {1, 2, 3, 4}, {1, 2, 3, 6}, [](Tensor a, Tensor b) { return concat({a, b}, 3); }));
    c.push_back(binary_case("concat_rows_2d", {2, 7}, {3, 7}, [](Tensor a, Tensor b) { return concat({a, b}, 0); }));
    c.push_back(unary_case("pad_constant", {1, 3, 4, 5}, [](Tensor x) { return pad(x, {0, 0, 1, 2, 0, 1, 2, 0}, "constant", 0.5); }));
    c.push_back(unary_case("pad_reflect", {1, 2, 5, 6}, [](Tensor x) { return pad(x, {0, 0, 2, 1, 0, 0, 1, 3}, "reflect"); }));
    c.push_back(unary_case("pad_edge", {2, 3, 4}, [](Tensor x) { return pad(x, {0, 1, 2, 1, 0, 2}, "edge"); }));
    // broadcasting arithmetic
    c.push_back(binary_case("add_same", {2, 8, 5, 5}, {2, 8, 5, 5}, [](Tensor a, Tensor b) { return a + b; }));
    c.push_back(binary_case("mul_se_broadcast", {2, 8, 5, 5}, {2, 8, 1, 1}, [](Tensor a, Tensor b) { return a * b; }));
    c.push_back(binary_case("sub_rank3_broadcast", {2, 8, 5, 5}, {8, 1, 1}, [](Tensor a, Tensor b) { return a - b; }));
    c.push_back(binary_case("div_positive_denominator", {3, 4}, {1, 4},
                            [](Tensor a, Tensor b) { return a / (sigmoid(b) + sigmoid(b)); }));
    // softmax
    c.push_back(unary_case("softmax_logits", {3, 10}, [](Tensor x) { return softmax(x); }, -4, 4));
    c.push_back(unary_case("softmax_channels", {2, 5, 3, 3}, [](Tensor x) { return softmax(x, 1); }, -4, 4));
    c.push_back(unary_case("log_softmax_logits", {3, 10}, [](Tensor x) { return log_softmax(x); }, -4, 4));
    c.push_back(unary_case("log_softmax_rank1", {7}, [](Tensor x) { return log_softmax(x, 0); }, -4, 4));
    // activations, on [-4, 4] to cover both sides and the saturating ends
    auto act = [&](const char* name, std::function<Tensor(Tensor)> f) {
      c.push_back(unary_case(std::string("act_") + name, {2, 19, 5, 3}, f, -4, 4));
    };
    act("identity", [](Tensor x) { return identity(x); });
    act("binary_step", [](Tensor x) { return binary_step(x); });
    act("sigmoid", [](Tensor x) { return sigmoid(x); });
    act("tanh", [](Tensor x) { return tanh(x); });
    act("arctan", [](Tensor x) { return arctan(x); });
    act("relu", [](Tensor x) { return relu(x); });
    act("relu6", [](Tensor x) { return relu6(x * x); });
    act("leaky_relu", [](Tensor x) { return leaky_relu(x, 0.2); });
    act("prelu_per_channel", [](Tensor x) { return prelu(x); });
    act("prelu_shared", [](Tensor x) { return prelu(x, false); });
    act("elu", [](Tensor x) { return elu(x, 0.7); });
    act("selu", [](Tensor x) { return selu(x); });
    act("softplus", [](Tensor x) { return softplus(x, 2.0, 5.0); });
    act("silu", [](Tensor x) { return silu(x); });
    act("gelu", [](Tensor x) { return gelu(x); });
    act("gelu_tanh", [](Tensor x) { return gelu(x, true); });
    act("hard_sigmoid", [](Tensor x) { return hard_sigmoid(x); });
    act("hard_swish", [](Tensor x) { return hard_swish(x); });
    add_training_op_cases(c);
    return c;
  }();
  return cases;
}

}  // namespace strata::testing
