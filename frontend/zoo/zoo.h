#pragma once
// The model zoo: the architectures our users study, each a short DSL file that reads like
// its paper's table, with parameter names following the reference implementation.
#include <strata/dsl.h>

#include <algorithm>
#include <cmath>

namespace strata::zoo {

struct ImageOptions {
  int num_classes = 1000;
  int64_t height = 0, width = 0;  // 0: the architecture's own input size (224, 227, 299, ...)
  int64_t in_channels = 3;
  double width_multiplier = 1.0;  // scales every layer's channels (reduced variants in tests)

  // The model input's shape [batch, C, H, W], default_size where height/width are unset.
  Shape input_shape(int64_t default_size) const {
    return {dsl::kBatch, in_channels, height ? height : default_size, width ? width : default_size};
  }
};

// Channels under a width multiplier (reduced variants in tests), never fewer than one.
inline int64_t scale_channels(int64_t channels, double width_multiplier) {
  return std::max<int64_t>(1, std::llround(static_cast<double>(channels) * width_multiplier));
}

// torchvision's _make_divisible (MobileNet v2, EfficientNet): round to a multiple of
// divisor, never more than 10% down.
int64_t make_divisible(double v, int64_t divisor = 8);

// ResNet (He et al. 2015), torchvision's v1.5 layout (stride in the bottleneck's 3x3).
// depth 18 or 34: basic blocks; 50, 101 or 152: bottleneck blocks.
dsl::Model resnet(int depth, const ImageOptions& o = {});
// The paper's "plain" counterparts (Sec. 4.1): the same stacks without shortcut
// connections (so without the 1x1 projections), for the vanishing-gradient comparison.
dsl::Model plain(int depth, const ImageOptions& o = {});
// AlexNet: the paper's (LRN, two-GPU groups, 227x227) or torchvision's variant.
dsl::Model alexnet(bool paper, const ImageOptions& o = {});
// DenseNet-BC 121, 169 or 201 (growth rate 32, bottleneck 4x, compression 0.5).
dsl::Model densenet(int depth, const ImageOptions& o = {});
// GoogLeNet (Inception v1), with or without its two auxiliary classifiers.
dsl::Model googlenet(bool aux_logits = true, const ImageOptions& o = {});
// MobileNet v1 with width multiplier alpha and resolution multiplier rho (Keras Applications).
dsl::Model mobilenet_v1(double alpha = 1.0, double rho = 1.0, const ImageOptions& o = {});
// MobileNet v2 (width multiplier alpha = ImageOptions::width_multiplier).
dsl::Model mobilenet_v2(const ImageOptions& o = {});
// Inception v3 (299x299), with or without its auxiliary classifier (output "aux").
dsl::Model inception_v3(bool aux_logits = true, const ImageOptions& o = {});
// Xception (Chollet 2017) as Keras Applications builds it, 299x299.
dsl::Model xception(const ImageOptions& o = {});
// EfficientNet-B0..B7 (Tan & Le 2019), torchvision's layout; see efficientnet.cpp for how
// the published coefficients relate to compound scaling.
struct EfficientNetScaling {
  double width, depth;
  int64_t resolution;
  double dropout;  // before the classifier
  double bn_eps = 1e-5, bn_momentum = 0.1;
};
EfficientNetScaling efficientnet_scaling(int b);  // the published B0..B7 coefficients
// Compound scaling (Sec. 3.3): depth alpha^phi, width beta^phi, resolution gamma^phi
// (alpha 1.2, beta 1.1, gamma 1.15, alpha * beta^2 * gamma^2 ~ 2), from B0's 224.
EfficientNetScaling compound_scaling(double phi);
dsl::Model efficientnet(int b, const ImageOptions& o = {});
dsl::Model efficientnet(const EfficientNetScaling& s, const std::string& name, const ImageOptions& o = {});
// VGG 11, 13, 16 or 19 (configurations A, B, D, E), optionally with batch norm.
dsl::Model vgg(int depth, bool batch_norm, const ImageOptions& o = {});

}  // namespace strata::zoo
