// DenseNet-121/169/201 (Huang et al. 2017, Table 1; DenseNet-BC: bottleneck layers and
// compression 0.5) as torchvision builds them: every layer is BN-ReLU-conv 1x1 (4 x growth)
// -BN-ReLU-conv 3x3 (growth) and its output is concatenated to its input; transitions
// halve channels and resolution. Names follow torchvision (features.denseblock1.denselayer1.conv1).
#include <fmt/format.h>

#include <cmath>

#include "frontend/zoo/zoo.h"
#include "ir/error.h"

namespace strata::zoo {
using namespace dsl;

Model densenet(int depth, const ImageOptions& o) {
  std::vector<int> blocks;
  switch (depth) {
    case 121: blocks = {6, 12, 24, 16}; break;
    case 169: blocks = {6, 12, 32, 32}; break;
    case 201: blocks = {6, 12, 48, 32}; break;
    default: throw Error(fmt::format("densenet: depth {} is not one of 121, 169, 201", depth));
  }
  auto width = [&](int64_t c) { return scale_channels(c, o.width_multiplier); };
  const int64_t growth = width(32), bottleneck = 4 * growth;
  Model m(fmt::format("densenet{}", depth));
  Tensor x = m.input("image", o.input_shape(224));
  {
    auto features = m.scope("features");
    x = conv2d(x, width(64), 7, {.stride = 2, .padding = 3, .bias = false, .name = "conv0"});
    x = max_pool2d(relu(batch_norm(x, {.name = "norm0"})), 3, {.stride = 2, .padding = 1});
    for (size_t b = 0; b < blocks.size(); ++b) {
      {
        auto block = m.scope(fmt::format("denseblock{}", b + 1));
        for (int l = 0; l < blocks[b]; ++l) {
          auto layer = m.scope(fmt::format("denselayer{}", l + 1));
          Tensor y = conv2d(relu(batch_norm(x, {.name = "norm1"})), bottleneck, 1, {.bias = false, .name = "conv1"});
          y = conv2d(relu(batch_norm(y, {.name = "norm2"})), growth, 3, {.padding = 1, .bias = false, .name = "conv2"});
          x = concat({x, y}, 1);
        }
      }
      if (b + 1 < blocks.size()) {  // transition: compression 0.5
        auto t = m.scope(fmt::format("transition{}", b + 1));
        x = conv2d(relu(batch_norm(x, {.name = "norm"})), x.channels() / 2, 1, {.bias = false, .name = "conv"});
        x = avg_pool2d(x, 2, {.stride = 2});
      }
    }
    x = relu(batch_norm(x, {.name = "norm5"}));
  }
  m.output("logits", linear(flatten(global_avg_pool(x)), o.num_classes, {.name = "classifier"}));
  return m;
}

}  // namespace strata::zoo
