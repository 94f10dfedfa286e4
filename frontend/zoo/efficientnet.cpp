// EfficientNet (Tan & Le 2019) as torchvision builds it: B0's MBConv stages (Table 1),
// each block a 1x1 expansion, a k x k depthwise convolution, squeeze-and-excitation (reduce
// to a quarter of the block's input channels, SiLU, expand, sigmoid gate) and a linear 1x1
// projection, all with batch norm and swish (SiLU); residual blocks end in stochastic depth
// whose drop probability grows linearly from 0 to 0.2 over the blocks. Bigger models scale
// B0: channels by width (rounded to multiples of 8 by make_divisible), layers per stage by
// depth (ceil), and the input resolution. Names follow torchvision
// (features.2.0.block.1.0.weight, features.2.0.block.2.fc1.weight).
//
// Compound scaling: the paper fixes alpha = 1.2, beta = 1.1, gamma = 1.15 by grid search on
// B0 and scales depth alpha^phi, width beta^phi, resolution gamma^phi. The published B1..B7
// coefficients (efficientnet_scaling) are the authors' rounded choices, not exact powers
// (B1 is width 1.0, depth 1.1, 240 px where phi = 1 gives 1.1, 1.2, 258 px); torchvision
// and the official checkpoints use them, so the named models do too, and compound_scaling(phi)
// builds the formula's own network for any phi.
#include <fmt/format.h>

#include <cmath>

#include "frontend/zoo/zoo.h"
#include "ir/error.h"

namespace strata::zoo {
using namespace dsl;

EfficientNetScaling efficientnet_scaling(int b) {
  // torchvision: B5..B7 (ported from TensorFlow's checkpoints) use batch norm eps 1e-3, momentum 0.01.
  static const EfficientNetScaling table[] = {
      {1.0, 1.0, 224, 0.2}, {1.0, 1.1, 240, 0.2}, {1.1, 1.2, 260, 0.3}, {1.2, 1.4, 300, 0.3}, {1.4, 1.8, 380, 0.4},
      {1.6, 2.2, 456, 0.4, 1e-3, 0.01}, {1.8, 2.6, 528, 0.5, 1e-3, 0.01}, {2.0, 3.1, 600, 0.5, 1e-3, 0.01}};
  if (b < 0 || b > 7) throw Error(fmt::format("efficientnet: variant B{} does not exist (B0..B7)", b));
  return table[b];
}

EfficientNetScaling compound_scaling(double phi) {
  constexpr double alpha = 1.2, beta = 1.1, gamma = 1.15;
  // Dropout as the published models grow it: 0.2 at B0, +0.1 every two steps of phi.
  double dropout = std::min(0.5, 0.2 + 0.05 * std::floor(phi));
  return {std::pow(beta, phi), std::pow(alpha, phi), std::llround(224 * std::pow(gamma, phi)), dropout};
}

namespace {

struct Stage {  // Table 1 of the paper, B0
  int64_t expand, kernel, stride, in, out, layers;
};
constexpr Stage kStages[] = {{1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},  {6, 5, 2, 24, 40, 2},  {6, 3, 2, 40, 80, 3},
                             {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4}, {6, 3, 1, 192, 320, 1}};

struct Builder {
  double eps, momentum;

  // torchvision's Conv2dNormActivation: conv (no bias) ".0", batch norm ".1", optional SiLU.
  Tensor conv_bn(Tensor x, const std::string& name, int64_t out, int64_t k, int64_t stride, int64_t groups, bool act) {
    auto s = x.model().scope(name);
    Tensor y = conv2d(x, out, k, {.stride = stride, .padding = (k - 1) / 2, .groups = groups, .bias = false, .name = "0"});
    y = batch_norm(y, {.eps = eps, .momentum = momentum, .name = "1"});
    return act ? silu(y) : y;
  }

  static Tensor squeeze_excitation(Tensor x, const std::string& name, int64_t squeeze) {
    auto s = x.model().scope(name);
    Tensor scale = silu(conv2d(global_avg_pool(x), squeeze, 1, {.name = "fc1"}));
    scale = sigmoid(conv2d(scale, x.channels(), 1, {.name = "fc2"}));
    return x * scale;
  }

  // The MBConv's "block" Sequential; stochastic depth and the residual sum sit outside it.
  Tensor mbconv(Tensor x, int64_t expand, int64_t kernel, int64_t stride, int64_t out) {
    auto block = x.model().scope("block");
    int64_t in = x.channels(), expanded = make_divisible(static_cast<double>(in * expand));
    int i = 0;
    Tensor y = x;
    if (expanded != in) y = conv_bn(y, std::to_string(i++), expanded, 1, 1, 1, true);
    y = conv_bn(y, std::to_string(i++), expanded, kernel, stride, expanded, true);
    y = squeeze_excitation(y, std::to_string(i++), std::max<int64_t>(1, in / 4));
    return conv_bn(y, std::to_string(i++), out, 1, 1, 1, false);
  }

  Tensor mbconv_residual(Tensor x, int64_t expand, int64_t kernel, int64_t stride, int64_t out, double drop_prob) {
    Tensor y = mbconv(x, expand, kernel, stride, out);
    if (stride != 1 || x.channels() != out) return y;
    return stochastic_depth(y, drop_prob) + x;
  }
};

}  // namespace

Model efficientnet(const EfficientNetScaling& sc, const std::string& name, const ImageOptions& o) {
  double width = sc.width * o.width_multiplier;
  auto channels = [&](int64_t c) { return make_divisible(c * width); };
  auto depth = [&](int64_t layers) { return static_cast<int64_t>(std::ceil(layers * sc.depth)); };
  Builder b{sc.bn_eps, sc.bn_momentum};
  Model m(name);
  Tensor x = m.input("image", o.input_shape(sc.resolution));
  int64_t total_blocks = 0;
  for (const Stage& s : kStages) total_blocks += depth(s.layers);
  {
    auto features = m.scope("features");
    int index = 0;
    x = b.conv_bn(x, std::to_string(index++), channels(32), 3, 2, 1, true);
    int64_t block_id = 0;
    for (const Stage& st : kStages) {
      auto stage = m.scope(std::to_string(index++));
      for (int64_t j = 0; j < depth(st.layers); ++j, ++block_id) {
        auto blk = m.scope(std::to_string(j));
        double drop = 0.2 * static_cast<double>(block_id) / static_cast<double>(total_blocks);
        x = b.mbconv_residual(x, st.expand, st.kernel, j == 0 ? st.stride : 1, channels(st.out), drop);
      }
    }
    x = b.conv_bn(x, std::to_string(index++), 4 * channels(kStages[6].out), 1, 1, 1, true);
  }
  x = dropout(flatten(global_avg_pool(x)), sc.dropout);
  auto classifier = m.scope("classifier");
  m.output("logits", linear(x, o.num_classes, {.name = "1"}));
  return m;
}

Model efficientnet(int b, const ImageOptions& o) {
  return efficientnet(efficientnet_scaling(b), fmt::format("efficientnet_b{}", b), o);
}

}  // namespace strata::zoo
