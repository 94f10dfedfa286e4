// ResNet-18/34/50/101/152 as torchvision builds them (He et al. 2015, Table 1; stride on
// the 3x3 convolution of a bottleneck, "ResNet v1.5"). Names match torchvision's state
// dict: conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, fc.
#include <fmt/format.h>

#include <cmath>

#include "frontend/zoo/zoo.h"
#include "ir/error.h"

namespace strata::zoo {
using namespace dsl;

static Tensor downsample(Tensor x, int64_t out_channels, int64_t stride) {
  auto scope = x.model().scope("downsample");
  return batch_norm(conv2d(x, out_channels, 1, {.stride = stride, .bias = false, .name = "0"}), {.name = "1"});
}

// Fig. 2 left: two 3x3 convolutions.
static Tensor basic_block(Tensor x, int64_t planes, int64_t stride, bool shortcuts) {
  Tensor y = relu(batch_norm(conv2d(x, planes, 3, {.stride = stride, .padding = 1, .bias = false})));
  y = batch_norm(conv2d(y, planes, 3, {.padding = 1, .bias = false}));
  if (!shortcuts) return relu(y);
  Tensor shortcut = stride != 1 || x.channels() != planes ? downsample(x, planes, stride) : x;
  return relu(y + shortcut);
}

// Fig. 5 right: 1x1 reduce, 3x3, 1x1 expand by 4.
static Tensor bottleneck(Tensor x, int64_t planes, int64_t stride, bool shortcuts) {
  Tensor y = relu(batch_norm(conv2d(x, planes, 1, {.bias = false})));
  y = relu(batch_norm(conv2d(y, planes, 3, {.stride = stride, .padding = 1, .bias = false})));
  y = batch_norm(conv2d(y, planes * 4, 1, {.bias = false}));
  if (!shortcuts) return relu(y);
  Tensor shortcut = stride != 1 || x.channels() != planes * 4 ? downsample(x, planes * 4, stride) : x;
  return relu(y + shortcut);
}

static Model build(int depth, const ImageOptions& o, bool shortcuts) {
  std::vector<int> blocks;
  bool basic = depth < 50;
  switch (depth) {
    case 18: blocks = {2, 2, 2, 2}; break;
    case 34: blocks = {3, 4, 6, 3}; break;
    case 50: blocks = {3, 4, 6, 3}; break;
    case 101: blocks = {3, 4, 23, 3}; break;
    case 152: blocks = {3, 8, 36, 3}; break;
    default: throw Error(fmt::format("resnet / plain: depth {} is not one of 18, 34, 50, 101, 152", depth));
  }
  auto width = [&](int64_t c) { return scale_channels(c, o.width_multiplier); };
  Model m(fmt::format("{}{}", shortcuts ? "resnet" : "plain", depth));
  Tensor x = m.input("image", o.input_shape(224));
  x = relu(batch_norm(conv2d(x, width(64), 7, {.stride = 2, .padding = 3, .bias = false})));
  x = max_pool2d(x, 3, {.stride = 2, .padding = 1});
  for (int stage = 0; stage < 4; ++stage) {
    auto layer = m.scope(fmt::format("layer{}", stage + 1));
    for (int b = 0; b < blocks[stage]; ++b) {
      auto block = m.scope(std::to_string(b));
      int64_t stride = b == 0 && stage > 0 ? 2 : 1;
      x = basic ? basic_block(x, width(64 << stage), stride, shortcuts)
                : bottleneck(x, width(64 << stage), stride, shortcuts);
    }
  }
  m.output("logits", linear(flatten(global_avg_pool(x)), o.num_classes, {.name = "fc"}));
  return m;
}

Model resnet(int depth, const ImageOptions& o) { return build(depth, o, true); }
Model plain(int depth, const ImageOptions& o) { return build(depth, o, false); }

}  // namespace strata::zoo
