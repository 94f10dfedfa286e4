// Xception (Chollet 2017, Fig. 5) as Keras Applications builds it: 299x299 input; an entry
// flow of two convolutions and three blocks of depthwise separable convolutions whose max
// pooling halves the grid, each with a strided 1x1 projection shortcut; a middle flow of
// eight residual blocks of three separable convolutions (728 channels, 19x19); an exit flow
// of one more projected block and two separable convolutions to 2048 channels. Batch norm
// eps 0.001, no biases before batch norm. Names follow Keras' layers (block2_sepconv1 owns
// block2_sepconv1.depthwise/.pointwise, Keras' depthwise_kernel and pointwise_kernel);
// Keras names the shortcut layers conv2d_N / batch_normalization_N by creation order, here
// they are blockN_shortcut and blockN_shortcut_bn.
#include <fmt/format.h>

#include <cmath>

#include "frontend/zoo/zoo.h"

namespace strata::zoo {
using namespace dsl;

namespace {

struct Builder {
  double w;
  int64_t c(int64_t channels) const { return scale_channels(channels, w); }

  static Tensor bn(Tensor x, const std::string& name) { return batch_norm(x, {.eps = 1e-3, .name = name + "_bn"}); }

  // Keras' SeparableConv2D(padding="same", use_bias=False) followed by its batch norm.
  Tensor sepconv_bn(Tensor x, const std::string& name, int64_t out) {
    Tensor y;
    {
      auto s = x.model().scope(name);
      y = depthwise_conv2d(x, 3, {.padding = 1, .bias = false, .name = "depthwise"});
      y = conv2d(y, c(out), 1, {.bias = false, .name = "pointwise"});
    }
    return bn(y, name);
  }

  // TensorFlow's "same" 3x3 / 2 max pooling: the extra padding of an odd total goes to the
  // bottom/right, which ceil mode reproduces (the padded cells never win a maximum).
  static Tensor max_pool_same(Tensor x) {
    int64_t in = x.shape()[2], out = (in + 1) / 2, total = std::max<int64_t>((out - 1) * 2 + 3 - in, 0);
    return max_pool2d(x, 3, {.stride = 2, .padding = total / 2, .ceil_mode = total % 2 == 1});
  }

  // Entry/exit-flow block: [ReLU] sepconv-BN, ReLU, sepconv-BN, pool; plus the projection.
  Tensor down_block(Tensor x, int block, int64_t ch1, int64_t ch2, bool relu_first) {
    std::string name = fmt::format("block{}", block);
    Tensor shortcut = bn(conv2d(x, c(ch2), 1, {.stride = 2, .bias = false, .name = name + "_shortcut"}), name + "_shortcut");
    Tensor y = relu_first ? relu(x) : x;
    y = relu(sepconv_bn(y, name + "_sepconv1", ch1));
    y = sepconv_bn(y, name + "_sepconv2", ch2);
    return max_pool_same(y) + shortcut;
  }

  Tensor middle_block(Tensor x, int block) {
    Tensor y = x;
    for (int i = 1; i <= 3; ++i) y = sepconv_bn(relu(y), fmt::format("block{}_sepconv{}", block, i), 728);
    return y + x;
  }
};

}  // namespace

Model xception(const ImageOptions& o) {
  Builder b{o.width_multiplier};
  Model m("xception");
  Tensor x = m.input("image", o.input_shape(299));
  // Entry flow.
  x = relu(b.bn(conv2d(x, b.c(32), 3, {.stride = 2, .bias = false, .name = "block1_conv1"}), "block1_conv1"));
  x = relu(b.bn(conv2d(x, b.c(64), 3, {.bias = false, .name = "block1_conv2"}), "block1_conv2"));
  x = b.down_block(x, 2, 128, 128, false);
  x = b.down_block(x, 3, 256, 256, true);
  x = b.down_block(x, 4, 728, 728, true);
  // Middle flow.
  for (int block = 5; block <= 12; ++block) x = b.middle_block(x, block);
  // Exit flow.
  x = b.down_block(x, 13, 728, 1024, true);
  x = relu(b.sepconv_bn(x, "block14_sepconv1", 1536));
  x = relu(b.sepconv_bn(x, "block14_sepconv2", 2048));
  m.output("logits", linear(flatten(global_avg_pool(x, "avg_pool")), o.num_classes, {.name = "predictions"}));
  return m;
}

}  // namespace strata::zoo
