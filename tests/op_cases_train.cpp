// Single-op graphs for the gradient and training ops (the forward ops' cases are in
// op_cases.cpp): every op, its modes and awkward shapes.
#include <strata/dsl.h>

#include "tests/op_cases.h"

namespace strata::testing {
using namespace dsl;

using Ints = std::vector<int64_t>;

// One op applied to fresh inputs of the given shapes (named in0, in1, ...), plus
// constant inputs appended after them.
static OpCase op_case(std::string name, std::string op, std::vector<Shape> shapes, ir::AttrMap attrs, float lo = -1.f,
                      float hi = 1.f, std::vector<HostTensor> constants = {}) {
  return {name,
          [=] {
            Model m(name);
            std::vector<Tensor> in;
            for (size_t i = 0; i < shapes.size(); ++i) in.push_back(m.input("in" + std::to_string(i), shapes[i]));
            for (size_t i = 0; i < constants.size(); ++i) in.push_back(m.constant("const" + std::to_string(i), constants[i]));
            m.output("y", m.apply(op, in, attrs));
            return m;
          },
          lo, hi};
}

void add_training_op_cases(std::vector<OpCase>& c) {
  // Activation derivatives, with the attributes the activations' own cases use.
  std::vector<std::pair<std::string, ir::AttrMap>> acts{
      {"identity", {}}, {"sigmoid", {}}, {"tanh", {}}, {"arctan", {}}, {"relu", {}}, {"relu6", {}},
      {"leaky_relu", {{"alpha", 0.2}}}, {"elu", {{"alpha", 0.7}}}, {"selu", {}},
      {"softplus", {{"beta", 2.0}, {"threshold", 5.0}}}, {"silu", {}}, {"gelu", {}},
      {"gelu", {{"approximate", std::string("tanh")}}}, {"hard_sigmoid", {{"alpha", 1.0 / 6}, {"beta", 0.5}}},
      {"hard_swish", {}}};
  for (auto [act, attrs] : acts) {
    attrs["activation"] = act;
    std::string suffix = attrs.count("approximate") ? "_tanh" : "";
    c.push_back(op_case("grad_" + act + suffix, "activation_grad", {{2, 7, 5, 3}, {2, 7, 5, 3}}, attrs, -8, 8));
  }
  // Pools.
  ir::AttrMap k3s2p1{{"kernel_size", Ints{3, 3}}, {"stride", Ints{2, 2}}, {"padding", Ints{1, 1, 1, 1}}};
  c.push_back(op_case("max_pool_backward_3s2p1", "max_pool2d_backward", {{2, 16, 11, 11}, {2, 16, 6, 6}}, k3s2p1));
  // Overlapping windows at stride 1 (Inception's pool branches): 9 candidate windows per input.
  c.push_back(op_case("max_pool_backward_3s1p1", "max_pool2d_backward", {{2, 16, 6, 5}, {2, 16, 6, 5}},
                      {{"kernel_size", Ints{3, 3}}, {"stride", Ints{1, 1}}, {"padding", Ints{1, 1, 1, 1}}}));
  c.push_back(op_case("max_pool_backward_ceil", "max_pool2d_backward", {{1, 3, 7, 7}, {1, 3, 4, 4}},
                      {{"kernel_size", Ints{2, 2}}, {"ceil_mode", 1}}));
  ir::AttrMap avg = k3s2p1;
  avg["input_shape"] = Ints{2, 4, 9, 9};
  c.push_back(op_case("avg_pool_backward_include_pad", "avg_pool2d_backward", {{2, 4, 5, 5}}, avg));
  avg["input_shape"] = Ints{1, 5, 8, 8};
  avg["ceil_mode"] = 1;
  avg["count_include_pad"] = 0;
  c.push_back(op_case("avg_pool_backward_exclude_pad_ceil", "avg_pool2d_backward", {{1, 5, 5, 5}}, avg));
  c.push_back(op_case("global_avg_pool_backward", "avg_pool2d_backward", {{2, 20, 1, 1}},
                      {{"kernel_size", Ints{5, 7}}, {"input_shape", Ints{2, 20, 5, 7}}}));
  c.push_back(op_case("lrn_backward", "lrn_backward", {{2, 7, 5, 5}, {2, 7, 5, 5}}, {}));
  c.push_back(op_case("lrn_backward_even_size", "lrn_backward", {{1, 6, 3, 4}, {1, 6, 3, 4}},
                      {{"size", 4}, {"alpha", 0.01}, {"k", 2.0}}));
  // Batch norm in training form, its gradients and running statistics.
  c.push_back(op_case("batch_norm_training_4d", "batch_norm", {{2, 5, 7, 7}, {5}, {5}, {5}, {5}}, {{"training", 1}}));
  c.push_back(op_case("batch_norm_training_16_channels", "batch_norm", {{2, 16, 5, 3}, {16}, {16}, {16}, {16}},
                      {{"training", 1}}));
  c.push_back(op_case("bn_backward_input_training_16_channels", "batch_norm_backward_input",
                      {{2, 16, 3, 5}, {16}, {16}, {16}, {2, 16, 3, 5}}, {}));
  c.push_back(op_case("batch_norm_training_2d", "batch_norm", {{4, 12}, {12}, {12}, {12}, {12}}, {{"training", 1}}));
  c.push_back(op_case("bn_backward_input_training", "batch_norm_backward_input",
                      {{2, 5, 7, 7}, {5}, {5}, {5}, {2, 5, 7, 7}}, {}));
  c.push_back(op_case("bn_backward_input_eval", "batch_norm_backward_input", {{3, 6}, {6}, {6}, {6}, {3, 6}},
                      {{"training", 0}}, 0.1f, 1.f));
  c.push_back(op_case("bn_backward_weight_training", "batch_norm_backward_weight", {{2, 5, 7, 7}, {5}, {5}, {2, 5, 7, 7}}, {}));
  c.push_back(op_case("bn_backward_weight_2d", "batch_norm_backward_weight", {{4, 12}, {12}, {12}, {4, 12}}, {}));
  // bn-fold's ops (inputs in [0.1, 1]: running variances are positive).
  c.push_back(op_case("bn_fold_conv_weight", "batch_norm_fold_weight", {{6, 3, 3, 3}, {6}, {6}}, {{"eps", 1e-3}}, 0.1f, 1.f));
  c.push_back(op_case("bn_fold_linear_weight", "batch_norm_fold_weight", {{10, 7}, {10}, {10}}, {}, 0.1f, 1.f));
  c.push_back(op_case("bn_fold_bias", "batch_norm_fold_bias", {{6}, {6}, {6}, {6}, {6}}, {}, 0.1f, 1.f));
  c.push_back(op_case("bn_fold_no_bias", "batch_norm_fold_bias", {{6}, {6}, {6}, {6}}, {}, 0.1f, 1.f));
  c.push_back(op_case("bn_running_mean", "batch_norm_running_stats", {{2, 5, 7, 7}, {5}}, {{"stat", std::string("mean")}}));
  c.push_back(op_case("bn_running_var", "batch_norm_running_stats", {{4, 12}, {12}}, {{"stat", std::string("var")}, {"momentum", 0.3}}));
  // Shared batch statistics (pass fuse-bn-stats): batch_norm_stats, and the kernels reading
  // its [2, C] (inputs in [0.1, 1]: the variance row is positive).
  c.push_back(op_case("bn_stats_4d", "batch_norm_stats", {{2, 5, 7, 7}}, {}));
  c.push_back(op_case("bn_stats_16_channels", "batch_norm_stats", {{2, 16, 5, 3}}, {}));
  c.push_back(op_case("bn_stats_2d", "batch_norm_stats", {{4, 12}}, {}));
  c.push_back(op_case("batch_norm_training_shared_stats", "batch_norm", {{2, 16, 5, 3}, {16}, {16}, {16}, {16}, {2, 16}},
                      {{"training", 1}}, 0.1f, 1.f));
  c.push_back(op_case("bn_running_var_shared_stats", "batch_norm_running_stats", {{4, 12}, {12}, {2, 12}},
                      {{"stat", std::string("var")}}, 0.1f, 1.f));
  c.push_back(op_case("bn_backward_weight_shared_stats", "batch_norm_backward_weight",
                      {{2, 5, 7, 7}, {5}, {5}, {2, 5, 7, 7}, {2, 5}}, {}, 0.1f, 1.f));
  // fuse-bn-stats's sibling sums: the weight and bias gradients as rows of one [2, C]
  // (32 channels: two vectors on AVX-512), with shared statistics and without.
  c.push_back(op_case("bn_backward_weight_and_bias_shared_stats", "batch_norm_backward_weight",
                      {{2, 32, 5, 3}, {32}, {32}, {2, 32, 5, 3}, {2, 32}}, {{"with_bias", 1}}, 0.1f, 1.f));
  c.push_back(op_case("bn_backward_weight_and_bias_2d", "batch_norm_backward_weight", {{4, 12}, {12}, {12}, {4, 12}},
                      {{"with_bias", 1}}));
  c.push_back(op_case("bn_backward_input_shared_stats_and_sums", "batch_norm_backward_input",
                      {{2, 16, 3, 5}, {16}, {16}, {16}, {2, 16, 3, 5}, {2, 16}, {16}, {16}}, {}, 0.1f, 1.f));
  c.push_back(op_case("bn_backward_input_shared_stats", "batch_norm_backward_input",
                      {{2, 5, 7, 7}, {5}, {5}, {5}, {2, 5, 7, 7}, {2, 5}}, {}, 0.1f, 1.f));
  // Per-channel sums in chunks of rows (channel_sums): two chunks of 3 rows per image at
  // 2048 channels and 6x6, one row per chunk (three per image) at 8192 channels. Many
  // channels keep each channel's sum short (72 terms): a float sum of thousands of values in
  // [-1, 1] differs from the reference's double by more than the tolerance in any order.
  c.push_back(op_case("bn_stats_two_chunks_per_image", "batch_norm_stats", {{2, 2048, 6, 6}}, {}));
  c.push_back(op_case("bn_stats_row_chunks", "batch_norm_stats", {{2, 8192, 3, 3}}, {}));
  c.push_back(op_case("batch_norm_training_two_chunks_per_image", "batch_norm", {{2, 2048, 6, 6}, {2048}, {2048}, {2048}, {2048}},
                      {{"training", 1}}));
  c.push_back(op_case("bn_backward_weight_and_bias_two_chunks_per_image", "batch_norm_backward_weight",
                      {{2, 2048, 6, 6}, {2048}, {2048}, {2, 2048, 6, 6}}, {{"with_bias", 1}}));
  c.push_back(op_case("bn_backward_input_two_chunks_per_image", "batch_norm_backward_input",
                      {{2, 2048, 6, 6}, {2048}, {2048}, {2048}, {2, 2048, 6, 6}}, {}));
  // Dropout in training form: the mask is the same hash in both backends.
  c.push_back(op_case("dropout_training", "dropout", {{2, 6, 5, 5}}, {{"p", 0.3}, {"training", 1}, {"salt", 7}}, -1, 1,
                      {HostTensor({1}, std::vector<float>{12345.f})}));
  c.push_back(op_case("stochastic_depth_training", "dropout", {{8, 3, 4, 5}},
                      {{"p", 0.5}, {"training", 1}, {"salt", 3}, {"mode", std::string("row")}}, -1, 1,
                      {HostTensor({1}, std::vector<float>{777.f})}));
  // Softmax gradients, PReLU's two gradients.
  c.push_back(op_case("softmax_backward", "softmax_backward", {{3, 10}, {3, 10}}, {}, 0.f, 1.f));
  c.push_back(op_case("log_softmax_backward_channels", "softmax_backward", {{2, 5, 3, 3}, {2, 5, 3, 3}},
                      {{"axis", 1}, {"log", 1}}, -3, 0));
  c.push_back(op_case("pad_backward_reflect", "pad_backward", {{1, 2, 8, 9}},
                      {{"pads", Ints{0, 0, 2, 1, 0, 0, 1, 3}}, {"mode", std::string("reflect")}, {"input_shape", Ints{1, 2, 5, 5}}}));
  c.push_back(op_case("pad_backward_edge", "pad_backward", {{2, 4, 8}},
                      {{"pads", Ints{0, 1, 2, 1, 0, 2}}, {"mode", std::string("edge")}, {"input_shape", Ints{1, 3, 4}}}));
  c.push_back(op_case("prelu_backward_input", "prelu_backward", {{2, 6, 4, 4}, {6}, {2, 6, 4, 4}}, {}));
  c.push_back(op_case("prelu_backward_slope_per_channel", "prelu_backward", {{2, 6, 4, 4}, {6}, {2, 6, 4, 4}},
                      {{"wrt", std::string("slope")}}));
  c.push_back(op_case("prelu_backward_slope_shared", "prelu_backward", {{3, 5}, {1}, {3, 5}}, {{"wrt", std::string("slope")}}));
  // Data movement and reductions the gradients use.
  c.push_back(op_case("slice_4d", "slice", {{2, 7, 5, 5}}, {{"starts", Ints{0, 2, 1, 0}}, {"ends", Ints{2, 6, 5, 3}}}));
  c.push_back(op_case("reduce_sum_bias_grad", "reduce_sum", {{2, 9, 5, 3}}, {{"axes", Ints{0, 2, 3}}}));
  c.push_back(op_case("reduce_sum_keepdims", "reduce_sum", {{2, 9, 5, 3}}, {{"axes", Ints{-1, 1}}, {"keepdims", 1}}));
  c.push_back(op_case("reduce_sum_all", "reduce_sum", {{3, 17}}, {{"axes", Ints{0, 1}}}));
  for (int ta : {0, 1})
    for (int tb : {0, 1}) {
      Shape a = ta ? Shape{9, 4} : Shape{4, 9}, b = tb ? Shape{6, 9} : Shape{9, 6};
      c.push_back(op_case("matmul_t" + std::to_string(ta) + std::to_string(tb), "matmul", {a, b},
                          {{"trans_a", ta}, {"trans_b", tb}}));
    }
  // Losses and their gradients.
  c.push_back(op_case("cross_entropy", "cross_entropy", {{5, 10}, {5, 10}}, {}, -4, 4));
  c.push_back(op_case("cross_entropy_smoothed", "cross_entropy", {{5, 10}, {5, 10}}, {{"label_smoothing", 0.1}}, -4, 4));
  c.push_back(op_case("cross_entropy_backward", "cross_entropy_backward", {{5, 10}, {5, 10}, {1}},
                      {{"label_smoothing", 0.1}}, -4, 4));
  c.push_back(op_case("bce_probabilities", "binary_cross_entropy", {{4, 3}, {4, 3}}, {}, 0.05f, 0.95f));
  c.push_back(op_case("bce_logits", "binary_cross_entropy", {{4, 3}, {4, 3}}, {{"from_logits", 1}}, -4, 4));
  c.push_back(op_case("bce_backward_probabilities", "binary_cross_entropy_backward", {{4, 3}, {4, 3}, {1}}, {}, 0.05f, 0.95f));
  c.push_back(op_case("bce_backward_logits", "binary_cross_entropy_backward", {{4, 3}, {4, 3}, {1}},
                      {{"from_logits", 1}}, -4, 4));
  c.push_back(op_case("mse_loss", "mse_loss", {{2, 3, 4, 5}, {2, 3, 4, 5}}, {}));
  // Optimizer updates: every optimizer, every result, with decay, L1 and clipping on.
  HostTensor hyper({2}, std::vector<float>{0.05f, 3.f});
  for (auto [opt, states] : std::vector<std::pair<std::string, int>>{
           {"sgd", 0}, {"momentum", 1}, {"nesterov", 1}, {"rmsprop", 1}, {"adam", 2}, {"adamw", 2}})
    for (int result = 0; result <= states; ++result) {
      std::vector<Shape> shapes(2 + states, Shape{3, 4, 3, 3});
      ir::AttrMap a{{"optimizer", opt}, {"result", result}, {"weight_decay", 0.01}, {"l1", 0.001}, {"clip_value", 0.8}};
      c.push_back({"optimizer_" + opt + "_result" + std::to_string(result), [=] {
                     Model m("optimizer_" + opt);
                     Tensor p = m.input("param", shapes[0]), g = m.input("grad", shapes[1]);
                     std::vector<Tensor> in{p, g, m.constant("hyper", hyper)};
                     for (int s = 0; s < states; ++s) in.push_back(m.input("state" + std::to_string(s + 1), shapes[0]));
                     m.output("y", m.apply("optimizer_update", in, a));
                     return m;
                   },
                   0.f, 1.f});
    }
  c.push_back(op_case("clip_grad_norm_scale", "clip_grad_norm_scale", {{1}}, {{"max_norm", 0.5}}, 0.f, 4.f));
}

}  // namespace strata::testing
