// GoogLeNet / Inception v1 (Szegedy et al. 2014, Table 1) as torchvision builds it: every
// convolution is conv (no bias) + batch norm (eps 0.001) + ReLU ("BasicConv2d"), the
// "5x5" branch uses a 3x3 convolution (torchvision's layout, kept for its weights), max
// pooling in ceil mode. The two auxiliary classifiers (after 4a and 4d) are extra outputs
// "aux1" and "aux2" for training (loss weight 0.3 each: `strata train --aux-weight 0.3`);
// they average-pool 5x5 with stride 3 as in the paper.
#include <fmt/format.h>

#include <cmath>

#include "frontend/zoo/zoo.h"

namespace strata::zoo {
using namespace dsl;

namespace {

struct Builder {
  double w;
  int64_t c(int64_t channels) const { return scale_channels(channels, w); }

  Tensor basic_conv(Tensor x, const std::string& name, int64_t out, int64_t k, int64_t stride = 1, int64_t pad = 0) {
    auto s = x.model().scope(name);
    Tensor y = conv2d(x, c(out), k, {.stride = stride, .padding = pad, .bias = false, .name = "conv"});
    return relu(batch_norm(y, {.eps = 1e-3, .name = "bn"}));
  }

  Tensor inception(Tensor x, const std::string& name, int64_t ch1, int64_t ch3red, int64_t ch3, int64_t ch5red,
                   int64_t ch5, int64_t pool_proj) {
    auto s = x.model().scope(name);
    Tensor b1 = basic_conv(x, "branch1", ch1, 1);
    Tensor b2, b3, b4;
    {
      auto b = x.model().scope("branch2");
      b2 = basic_conv(basic_conv(x, "0", ch3red, 1), "1", ch3, 3, 1, 1);
    }
    {
      auto b = x.model().scope("branch3");
      b3 = basic_conv(basic_conv(x, "0", ch5red, 1), "1", ch5, 3, 1, 1);
    }
    {
      auto b = x.model().scope("branch4");
      b4 = basic_conv(max_pool2d(x, 3, {.stride = 1, .padding = 1, .ceil_mode = true}), "1", pool_proj, 1);
    }
    return concat({b1, b2, b3, b4}, 1);
  }

  Tensor aux(Tensor x, const std::string& name, int num_classes) {
    auto s = x.model().scope(name);
    Tensor y = basic_conv(avg_pool2d(x, 5, {.stride = 3}), "conv", 128, 1);
    y = dropout(relu(linear(flatten(y), c(1024), {.name = "fc1"})), 0.7);
    return linear(y, num_classes, {.name = "fc2"});
  }
};

}  // namespace

Model googlenet(bool aux_logits, const ImageOptions& o) {
  Builder b{o.width_multiplier};
  Model m("googlenet");
  Tensor x = m.input("image", o.input_shape(224));
  x = b.basic_conv(x, "conv1", 64, 7, 2, 3);
  x = max_pool2d(x, 3, {.stride = 2, .ceil_mode = true});
  x = b.basic_conv(x, "conv2", 64, 1);
  x = b.basic_conv(x, "conv3", 192, 3, 1, 1);
  x = max_pool2d(x, 3, {.stride = 2, .ceil_mode = true});
  x = b.inception(x, "inception3a", 64, 96, 128, 16, 32, 32);
  x = b.inception(x, "inception3b", 128, 128, 192, 32, 96, 64);
  x = max_pool2d(x, 3, {.stride = 2, .ceil_mode = true});
  x = b.inception(x, "inception4a", 192, 96, 208, 16, 48, 64);
  Tensor aux1 = aux_logits ? b.aux(x, "aux1", o.num_classes) : Tensor();
  x = b.inception(x, "inception4b", 160, 112, 224, 24, 64, 64);
  x = b.inception(x, "inception4c", 128, 128, 256, 24, 64, 64);
  x = b.inception(x, "inception4d", 112, 144, 288, 32, 64, 64);
  Tensor aux2 = aux_logits ? b.aux(x, "aux2", o.num_classes) : Tensor();
  x = b.inception(x, "inception4e", 256, 160, 320, 32, 128, 128);
  x = max_pool2d(x, 2, {.stride = 2, .ceil_mode = true});
  x = b.inception(x, "inception5a", 256, 160, 320, 32, 128, 128);
  x = b.inception(x, "inception5b", 384, 192, 384, 48, 128, 128);
  x = dropout(flatten(global_avg_pool(x)), 0.2);
  m.output("logits", linear(x, o.num_classes, {.name = "fc"}));
  if (aux_logits) {
    m.output("aux1", aux1);
    m.output("aux2", aux2);
  }
  return m;
}

}  // namespace strata::zoo
