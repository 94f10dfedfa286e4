// VGG-11/13/16/19 (Simonyan and Zisserman 2014, Table 1, configurations A, B, D, E), with or
// without batch norm, as torchvision builds them: `features.N` numbered like its
// nn.Sequential, then classifier.0 / .3 / .6 with dropout between.
#include <fmt/format.h>

#include <cmath>

#include "frontend/zoo/zoo.h"
#include "ir/error.h"

namespace strata::zoo {
using namespace dsl;

Model vgg(int depth, bool batch_norm_layers, const ImageOptions& o) {
  const int M = 0;  // max pooling
  std::vector<int> cfg;
  switch (depth) {
    case 11: cfg = {64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M}; break;
    case 13: cfg = {64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M}; break;
    case 16: cfg = {64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M}; break;
    case 19: cfg = {64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M}; break;
    default: throw Error(fmt::format("vgg: depth {} is not one of 11, 13, 16, 19", depth));
  }
  auto width = [&](int64_t c) { return scale_channels(c, o.width_multiplier); };
  Model m(fmt::format("vgg{}{}", depth, batch_norm_layers ? "_bn" : ""));
  Tensor x = m.input("image", o.input_shape(224));
  {
    auto features = m.scope("features");
    int index = 0;  // torchvision's position in nn.Sequential
    for (int c : cfg) {
      if (c == M) {
        x = max_pool2d(x, 2, {.stride = 2});
        ++index;
        continue;
      }
      x = conv2d(x, width(c), 3, {.padding = 1, .name = std::to_string(index++)});
      if (batch_norm_layers) x = batch_norm(x, {.name = std::to_string(index++)});
      x = relu(x);
      ++index;
    }
  }
  // torchvision pools adaptively to 7x7 first: at 224x224 the features already are 7x7.
  x = flatten(x);
  auto classifier = m.scope("classifier");
  x = dropout(relu(linear(x, width(4096), {.name = "0"})), 0.5);
  x = dropout(relu(linear(x, width(4096), {.name = "3"})), 0.5);
  m.output("logits", linear(x, o.num_classes, {.name = "6"}));
  return m;
}

}  // namespace strata::zoo
