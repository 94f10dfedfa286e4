// Inception v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture", Table 1) as
// torchvision builds it: 299x299 input, every convolution conv (no bias) + batch norm (eps
// 0.001) + ReLU ("BasicConv2d"), 5x5 factorized into two 3x3 (InceptionA), n x n into 1x7
// and 7x1 (InceptionC), grid-size reductions by parallel stride-2 conv and pooling
// (InceptionB, InceptionD), the expanded 1x3/3x1 filter banks of the 8x8 grid (InceptionE),
// and the auxiliary classifier on the 17x17 grid (output "aux", a training-only head).
// Names follow torchvision (Mixed_6b.branch7x7_2.conv.weight, AuxLogits.fc.weight).
#include <cmath>

#include "frontend/zoo/zoo.h"

namespace strata::zoo {
using namespace dsl;

namespace {

struct Builder {
  double w;
  int64_t c(int64_t channels) const { return scale_channels(channels, w); }

  // kh x kw convolution with padding {ph, pw}.
  Tensor conv_rect(Tensor x, const std::string& name, int64_t out, int64_t kh, int64_t kw, int64_t ph, int64_t pw) {
    auto s = x.model().scope(name);
    Tensor y = conv2d(x, c(out), {kh, kw}, {.pads = std::array<int64_t, 4>{ph, pw, ph, pw}, .bias = false, .name = "conv"});
    return relu(batch_norm(y, {.eps = 1e-3, .name = "bn"}));
  }
  Tensor conv(Tensor x, const std::string& name, int64_t out, int64_t k, int64_t stride = 1, int64_t pad = 0) {
    auto s = x.model().scope(name);
    Tensor y = conv2d(x, c(out), k, {.stride = stride, .padding = pad, .bias = false, .name = "conv"});
    return relu(batch_norm(y, {.eps = 1e-3, .name = "bn"}));
  }
  static Tensor pool_branch_input(Tensor x) { return avg_pool2d(x, 3, {.stride = 1, .padding = 1}); }

  Tensor inception_a(Tensor x, const std::string& name, int64_t pool_features) {
    auto s = x.model().scope(name);
    Tensor b1 = conv(x, "branch1x1", 64, 1);
    Tensor b5 = conv(conv(x, "branch5x5_1", 48, 1), "branch5x5_2", 64, 5, 1, 2);
    Tensor b3 = conv(conv(conv(x, "branch3x3dbl_1", 64, 1), "branch3x3dbl_2", 96, 3, 1, 1), "branch3x3dbl_3", 96, 3, 1, 1);
    Tensor bp = conv(pool_branch_input(x), "branch_pool", pool_features, 1);
    return concat({b1, b5, b3, bp});
  }

  Tensor inception_b(Tensor x, const std::string& name) {  // 35x35 -> 17x17
    auto s = x.model().scope(name);
    Tensor b3 = conv(x, "branch3x3", 384, 3, 2);
    Tensor bd = conv(conv(conv(x, "branch3x3dbl_1", 64, 1), "branch3x3dbl_2", 96, 3, 1, 1), "branch3x3dbl_3", 96, 3, 2);
    return concat({b3, bd, max_pool2d(x, 3, {.stride = 2})});
  }

  Tensor inception_c(Tensor x, const std::string& name, int64_t c7) {
    auto s = x.model().scope(name);
    Tensor b1 = conv(x, "branch1x1", 192, 1);
    Tensor b7 = conv(x, "branch7x7_1", c7, 1);
    b7 = conv_rect(b7, "branch7x7_2", c7, 1, 7, 0, 3);
    b7 = conv_rect(b7, "branch7x7_3", 192, 7, 1, 3, 0);
    Tensor bd = conv(x, "branch7x7dbl_1", c7, 1);
    bd = conv_rect(bd, "branch7x7dbl_2", c7, 7, 1, 3, 0);
    bd = conv_rect(bd, "branch7x7dbl_3", c7, 1, 7, 0, 3);
    bd = conv_rect(bd, "branch7x7dbl_4", c7, 7, 1, 3, 0);
    bd = conv_rect(bd, "branch7x7dbl_5", 192, 1, 7, 0, 3);
    Tensor bp = conv(pool_branch_input(x), "branch_pool", 192, 1);
    return concat({b1, b7, bd, bp});
  }

  Tensor inception_d(Tensor x, const std::string& name) {  // 17x17 -> 8x8
    auto s = x.model().scope(name);
    Tensor b3 = conv(conv(x, "branch3x3_1", 192, 1), "branch3x3_2", 320, 3, 2);
    Tensor b7 = conv(x, "branch7x7x3_1", 192, 1);
    b7 = conv_rect(b7, "branch7x7x3_2", 192, 1, 7, 0, 3);
    b7 = conv_rect(b7, "branch7x7x3_3", 192, 7, 1, 3, 0);
    b7 = conv(b7, "branch7x7x3_4", 192, 3, 2);
    return concat({b3, b7, max_pool2d(x, 3, {.stride = 2})});
  }

  Tensor inception_e(Tensor x, const std::string& name) {
    auto s = x.model().scope(name);
    Tensor b1 = conv(x, "branch1x1", 320, 1);
    Tensor b3 = conv(x, "branch3x3_1", 384, 1);
    b3 = concat({conv_rect(b3, "branch3x3_2a", 384, 1, 3, 0, 1), conv_rect(b3, "branch3x3_2b", 384, 3, 1, 1, 0)});
    Tensor bd = conv(conv(x, "branch3x3dbl_1", 448, 1), "branch3x3dbl_2", 384, 3, 1, 1);
    bd = concat({conv_rect(bd, "branch3x3dbl_3a", 384, 1, 3, 0, 1), conv_rect(bd, "branch3x3dbl_3b", 384, 3, 1, 1, 0)});
    Tensor bp = conv(pool_branch_input(x), "branch_pool", 192, 1);
    return concat({b1, b3, bd, bp});
  }

  Tensor aux(Tensor x, int num_classes) {
    auto s = x.model().scope("AuxLogits");
    Tensor y = conv(avg_pool2d(x, 5, {.stride = 3}), "conv0", 128, 1);
    y = conv(y, "conv1", 768, 5);  // 5x5 grid -> 1x1 at 299x299; pooled globally otherwise
    return linear(flatten(global_avg_pool(y)), num_classes, {.name = "fc"});
  }
};

}  // namespace

Model inception_v3(bool aux_logits, const ImageOptions& o) {
  Builder b{o.width_multiplier};
  Model m("inception_v3");
  Tensor x = m.input("image", o.input_shape(299));
  x = b.conv(x, "Conv2d_1a_3x3", 32, 3, 2);
  x = b.conv(x, "Conv2d_2a_3x3", 32, 3);
  x = b.conv(x, "Conv2d_2b_3x3", 64, 3, 1, 1);
  x = max_pool2d(x, 3, {.stride = 2});
  x = b.conv(x, "Conv2d_3b_1x1", 80, 1);
  x = b.conv(x, "Conv2d_4a_3x3", 192, 3);
  x = max_pool2d(x, 3, {.stride = 2});
  x = b.inception_a(x, "Mixed_5b", 32);
  x = b.inception_a(x, "Mixed_5c", 64);
  x = b.inception_a(x, "Mixed_5d", 64);
  x = b.inception_b(x, "Mixed_6a");
  x = b.inception_c(x, "Mixed_6b", 128);
  x = b.inception_c(x, "Mixed_6c", 160);
  x = b.inception_c(x, "Mixed_6d", 160);
  x = b.inception_c(x, "Mixed_6e", 192);
  Tensor aux = aux_logits ? b.aux(x, o.num_classes) : Tensor();
  x = b.inception_d(x, "Mixed_7a");
  x = b.inception_e(x, "Mixed_7b");
  x = b.inception_e(x, "Mixed_7c");
  x = dropout(flatten(global_avg_pool(x)), 0.5);
  m.output("logits", linear(x, o.num_classes, {.name = "fc"}));
  if (aux_logits) m.output("aux", aux);
  return m;
}

}  // namespace strata::zoo
