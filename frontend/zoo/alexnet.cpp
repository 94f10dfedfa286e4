// AlexNet. The paper's network (Krizhevsky et al. 2012, Fig. 2): 227x227 input, 96/256/384/384/256
// filters with the two-GPU split as groups = 2 on conv2, conv4 and conv5, local response
// normalisation after the first two convolutions, overlapping 3x3 stride-2 max pooling, three
// fully connected layers with dropout (60,965,224 parameters, as Caffe's bvlc_alexnet). And
// torchvision's variant (64/192/384/256/256 filters, no LRN, no groups, 224x224).
#include <fmt/format.h>

#include <cmath>

#include "frontend/zoo/zoo.h"

namespace strata::zoo {
using namespace dsl;

Model alexnet(bool paper, const ImageOptions& o) {
  auto width = [&](int64_t c) { return scale_channels(c, o.width_multiplier); };
  Model m(paper ? "alexnet_paper" : "alexnet");
  Tensor x = m.input("image", o.input_shape(paper ? 227 : 224));  // 227: the paper's crop
  {
    auto features = m.scope("features");
    int i = 0;  // position in torchvision's nn.Sequential (and its equivalent for the paper's net)
    auto conv = [&](Tensor t, int64_t c, int64_t k, Conv2dOptions opt) {
      opt.name = std::to_string(i);
      Tensor y = relu(conv2d(t, width(c), k, opt));
      i += 2;
      return y;
    };
    auto pool = [&](Tensor t) {
      ++i;
      return max_pool2d(t, 3, {.stride = 2});
    };
    auto norm = [&](Tensor t) {
      ++i;
      return lrn(t, {.size = 5, .alpha = 1e-4, .beta = 0.75, .k = 2.0});
    };
    if (paper) {
      x = pool(norm(conv(x, 96, 11, {.stride = 4})));
      x = pool(norm(conv(x, 256, 5, {.padding = 2, .groups = 2})));
      x = conv(x, 384, 3, {.padding = 1});
      x = conv(x, 384, 3, {.padding = 1, .groups = 2});
      x = pool(conv(x, 256, 3, {.padding = 1, .groups = 2}));
    } else {
      x = pool(conv(x, 64, 11, {.stride = 4, .padding = 2}));
      x = pool(conv(x, 192, 5, {.padding = 2}));
      x = conv(x, 384, 3, {.padding = 1});
      x = conv(x, 256, 3, {.padding = 1});
      x = pool(conv(x, 256, 3, {.padding = 1}));
    }
  }
  // torchvision pools adaptively to 6x6 first: at 224x224 the features already are 6x6.
  x = flatten(x);
  auto classifier = m.scope("classifier");
  x = relu(linear(dropout(x, 0.5, "0"), width(4096), {.name = "1"}));
  x = relu(linear(dropout(x, 0.5, "3"), width(4096), {.name = "4"}));
  m.output("logits", linear(x, o.num_classes, {.name = "6"}));
  return m;
}

}  // namespace strata::zoo
