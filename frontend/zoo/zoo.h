#pragma once
// The model zoo: the architectures our users study, each a short DSL file that reads like
// its paper's table, with parameter names following the reference implementation.
#include <strata/dsl.h>

namespace strata::zoo {

struct ImageOptions {
  int num_classes = 1000;
  int64_t height = 224, width = 224, in_channels = 3;
  double width_multiplier = 1.0;  // scales every layer's channels (reduced variants in tests)
};

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
// VGG 11, 13, 16 or 19 (configurations A, B, D, E), optionally with batch norm.
dsl::Model vgg(int depth, bool batch_norm, const ImageOptions& o = {});

}  // namespace strata::zoo
