// MobileNet v1 (Howard et al. 2017, Table 1) as Keras Applications builds it: depthwise
// separable blocks with batch norm and ReLU6, stride-2 layers padded bottom/right only
// (Keras' ZeroPadding2D then "valid"), width multiplier alpha and resolution multiplier rho;
// names as Keras' layers (conv_dw_1, conv_pw_1_bn, conv_preds).
// MobileNet v2 (Sandler et al. 2018, Table 2) as torchvision builds it: inverted residual
// blocks (1x1 expansion, 3x3 depthwise, linear 1x1 projection), ReLU6, channels rounded to
// multiples of 8 under the width multiplier. Names follow torchvision (features.N.conv.M).
#include <fmt/format.h>

#include <algorithm>

#include "frontend/zoo/zoo.h"

namespace strata::zoo {
using namespace dsl;

int64_t make_divisible(double v, int64_t divisor) {
  int64_t r = std::max<int64_t>(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (r < 0.9 * v) r += divisor;
  return r;
}

// conv + batch norm (+ ReLU6), named <name>.0 and <name>.1 like torchvision's ConvBNActivation.
static Tensor conv_bn(Tensor x, const std::string& name, int64_t out, int64_t k, int64_t stride, int64_t groups, bool act) {
  auto s = x.model().scope(name);
  Tensor y = conv2d(x, out, k, {.stride = stride, .padding = (k - 1) / 2, .groups = groups, .bias = false, .name = "0"});
  y = batch_norm(y, {.name = "1"});
  return act ? relu6(y) : y;
}

static Tensor inverted_residual(Tensor x, int64_t out, int64_t stride, int64_t expand) {
  int64_t in = x.channels(), hidden = in * expand;
  Tensor y = x;
  auto conv = x.model().scope("conv");
  int i = 0;
  if (expand != 1) y = conv_bn(y, std::to_string(i++), hidden, 1, 1, 1, true);
  y = conv_bn(y, std::to_string(i++), hidden, 3, stride, hidden, true);
  y = conv2d(y, out, 1, {.bias = false, .name = std::to_string(i++)});  // linear bottleneck
  y = batch_norm(y, {.name = std::to_string(i++)});
  return stride == 1 && in == out ? x + y : y;
}

Model mobilenet_v1(double alpha, double rho, const ImageOptions& o) {
  auto filters = [&](int64_t f) { return std::max<int64_t>(1, static_cast<int64_t>(f * alpha)); };
  auto bn_relu6 = [](Tensor t, const std::string& name) { return relu6(batch_norm(t, {.eps = 1e-3, .name = name + "_bn"})); };
  auto pads = [](int64_t stride) {
    return stride == 2 ? std::array<int64_t, 4>{0, 0, 1, 1} : std::array<int64_t, 4>{1, 1, 1, 1};
  };
  Model m("mobilenet_v1");
  Shape in = o.input_shape(224);
  in[2] = std::llround(in[2] * rho), in[3] = std::llround(in[3] * rho);
  Tensor x = m.input("image", in);
  x = bn_relu6(conv2d(x, filters(32), 3, {.stride = 2, .pads = pads(2), .bias = false, .name = "conv1"}), "conv1");
  const std::pair<int64_t, int64_t> blocks[] = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1}, {512, 2},  {512, 1},
                                                {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}};
  int id = 1;
  for (auto [f, stride] : blocks) {
    std::string dw = fmt::format("conv_dw_{}", id), pw = fmt::format("conv_pw_{}", id);
    ++id;
    x = bn_relu6(depthwise_conv2d(x, 3, {.stride = stride, .pads = pads(stride), .bias = false, .name = dw}), dw);
    x = bn_relu6(conv2d(x, filters(f), 1, {.bias = false, .name = pw}), pw);
  }
  // Keras: global average pooling, dropout, a 1x1 convolution as the classifier.
  x = dropout(global_avg_pool(x), 1e-3);
  m.output("logits", flatten(conv2d(x, o.num_classes, 1, {.name = "conv_preds"})));
  return m;
}

Model mobilenet_v2(const ImageOptions& o) {
  struct Stage {
    int64_t t, c, n, s;
  };
  const Stage stages[] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                          {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  double w = o.width_multiplier;
  Model m("mobilenet_v2");
  Tensor x = m.input("image", o.input_shape(224));
  int64_t last = make_divisible(1280 * std::max(1.0, w));
  {
    auto features = m.scope("features");
    int index = 0;
    x = conv_bn(x, std::to_string(index++), make_divisible(32 * w), 3, 2, 1, true);
    for (const Stage& st : stages)
      for (int64_t b = 0; b < st.n; ++b) {
        auto block = m.scope(std::to_string(index++));
        x = inverted_residual(x, make_divisible(st.c * w), b == 0 ? st.s : 1, st.t);
      }
    x = conv_bn(x, std::to_string(index++), last, 1, 1, 1, true);
  }
  x = dropout(flatten(global_avg_pool(x)), 0.2);
  auto classifier = m.scope("classifier");
  m.output("logits", linear(x, o.num_classes, {.name = "1"}));
  return m;
}

}  // namespace strata::zoo
