// A small ResNet for Fashion-MNIST: basic residual blocks with batch norm and ReLU,
// global average pooling, one linear classifier.
#include "examples/examples.h"

namespace strata::examples {
using namespace dsl;

// ResNet's basic block, as in He et al. 2015, Fig. 2.
static Tensor basic_block(Tensor x, int64_t out_channels, int64_t stride) {
  Tensor y = relu(batch_norm(conv2d(x, out_channels, 3, {.stride = stride, .padding = 1, .bias = false})));
  y = batch_norm(conv2d(y, out_channels, 3, {.padding = 1, .bias = false}));
  Tensor shortcut = x;
  if (stride != 1 || x.channels() != out_channels) {
    auto scope = x.model().scope("downsample");
    shortcut = batch_norm(conv2d(x, out_channels, 1, {.stride = stride, .bias = false, .name = "0"}), {.name = "1"});
  }
  return relu(y + shortcut);
}

Model small_resnet(int num_classes) {
  Model m("small_resnet");
  Tensor x = m.input("image", {kBatch, 1, 28, 28});
  x = relu(batch_norm(conv2d(x, 16, 3, {.padding = 1, .bias = false})));
  int stage = 1;
  for (int64_t c : {16, 32, 64}) {
    auto layer = m.scope("layer" + std::to_string(stage++));
    for (int b = 0; b < 3; ++b) {  // ResNet-20: 3 blocks a stage
      auto block = m.scope(std::to_string(b));
      x = basic_block(x, c, b == 0 && c != 16 ? 2 : 1);
    }
  }
  m.output("logits", linear(flatten(global_avg_pool(x)), num_classes, {.name = "fc"}));
  return m;
}

}  // namespace strata::examples
