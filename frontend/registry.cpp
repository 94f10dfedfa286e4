#include "frontend/registry.h"

#include "examples/examples.h"
#include "frontend/zoo/zoo.h"

namespace strata::dsl {

const std::vector<ModelEntry>& model_registry() {
  static const std::vector<ModelEntry> models = {
      {"small_resnet", "ResNet for 28x28 grayscale (3 stages of basic blocks, 16/32/64 channels)",
       [](int k) { return examples::small_resnet(k); }, 10},
      {"lenet", "LeNet-5-style CNN for 28x28 grayscale", [](int k) { return examples::lenet(k); }, 10},
      {"resnet18", "ResNet-18 (torchvision), 224x224", [](int k) { return zoo::resnet(18, {.num_classes = k}); }, 1000},
      {"resnet34", "ResNet-34 (torchvision), 224x224", [](int k) { return zoo::resnet(34, {.num_classes = k}); }, 1000},
      {"resnet50", "ResNet-50 (torchvision v1.5), 224x224", [](int k) { return zoo::resnet(50, {.num_classes = k}); }, 1000},
      {"resnet101", "ResNet-101 (torchvision v1.5), 224x224", [](int k) { return zoo::resnet(101, {.num_classes = k}); }, 1000},
      {"resnet152", "ResNet-152 (torchvision v1.5), 224x224", [](int k) { return zoo::resnet(152, {.num_classes = k}); }, 1000},
      {"alexnet", "AlexNet (torchvision: no LRN, no groups), 224x224", [](int k) { return zoo::alexnet(false, {.num_classes = k}); }, 1000},
      {"alexnet_paper", "AlexNet as in Krizhevsky et al. 2012 (LRN, groups of 2), 227x227", [](int k) { return zoo::alexnet(true, {.num_classes = k}); }, 1000},
      {"densenet121", "DenseNet-121 (torchvision), 224x224", [](int k) { return zoo::densenet(121, {.num_classes = k}); }, 1000},
      {"densenet169", "DenseNet-169 (torchvision), 224x224", [](int k) { return zoo::densenet(169, {.num_classes = k}); }, 1000},
      {"densenet201", "DenseNet-201 (torchvision), 224x224", [](int k) { return zoo::densenet(201, {.num_classes = k}); }, 1000},
      {"efficientnet_b0", "EfficientNet-B0 (torchvision), 224x224", [](int k) { return zoo::efficientnet(0, {.num_classes = k}); }, 1000},
      {"efficientnet_b1", "EfficientNet-B1 (torchvision), 240x240", [](int k) { return zoo::efficientnet(1, {.num_classes = k}); }, 1000},
      {"efficientnet_b2", "EfficientNet-B2 (torchvision), 260x260", [](int k) { return zoo::efficientnet(2, {.num_classes = k}); }, 1000},
      {"efficientnet_b3", "EfficientNet-B3 (torchvision), 300x300", [](int k) { return zoo::efficientnet(3, {.num_classes = k}); }, 1000},
      {"efficientnet_b4", "EfficientNet-B4 (torchvision), 380x380", [](int k) { return zoo::efficientnet(4, {.num_classes = k}); }, 1000},
      {"efficientnet_b5", "EfficientNet-B5 (torchvision), 456x456", [](int k) { return zoo::efficientnet(5, {.num_classes = k}); }, 1000},
      {"efficientnet_b6", "EfficientNet-B6 (torchvision), 528x528", [](int k) { return zoo::efficientnet(6, {.num_classes = k}); }, 1000},
      {"efficientnet_b7", "EfficientNet-B7 (torchvision), 600x600", [](int k) { return zoo::efficientnet(7, {.num_classes = k}); }, 1000},
      {"googlenet", "GoogLeNet / Inception v1 with its two auxiliary classifiers (torchvision), 224x224", [](int k) { return zoo::googlenet(true, {.num_classes = k}); }, 1000},
      {"googlenet_noaux", "GoogLeNet / Inception v1 without auxiliary classifiers, 224x224", [](int k) { return zoo::googlenet(false, {.num_classes = k}); }, 1000},
      {"inception_v3", "Inception v3 with its auxiliary classifier (torchvision), 299x299", [](int k) { return zoo::inception_v3(true, {.num_classes = k}); }, 1000},
      {"inception_v3_noaux", "Inception v3 without the auxiliary classifier, 299x299", [](int k) { return zoo::inception_v3(false, {.num_classes = k}); }, 1000},
      {"xception", "Xception (Keras Applications), 299x299", [](int k) { return zoo::xception({.num_classes = k}); }, 1000},
      {"mobilenet_v1", "MobileNet v1, alpha 1, rho 1 (Keras Applications), 224x224", [](int k) { return zoo::mobilenet_v1(1.0, 1.0, {.num_classes = k}); }, 1000},
      {"mobilenet_v2", "MobileNet v2 (torchvision), 224x224", [](int k) { return zoo::mobilenet_v2({.num_classes = k}); }, 1000},
      {"vgg11", "VGG-11 (torchvision), 224x224", [](int k) { return zoo::vgg(11, false, {.num_classes = k}); }, 1000},
      {"vgg11_bn", "VGG-11 with batch norm (torchvision), 224x224", [](int k) { return zoo::vgg(11, true, {.num_classes = k}); }, 1000},
      {"vgg13", "VGG-13 (torchvision), 224x224", [](int k) { return zoo::vgg(13, false, {.num_classes = k}); }, 1000},
      {"vgg13_bn", "VGG-13 with batch norm (torchvision), 224x224", [](int k) { return zoo::vgg(13, true, {.num_classes = k}); }, 1000},
      {"vgg16", "VGG-16 (torchvision), 224x224", [](int k) { return zoo::vgg(16, false, {.num_classes = k}); }, 1000},
      {"vgg16_bn", "VGG-16 with batch norm (torchvision), 224x224", [](int k) { return zoo::vgg(16, true, {.num_classes = k}); }, 1000},
      {"vgg19", "VGG-19 (torchvision), 224x224", [](int k) { return zoo::vgg(19, false, {.num_classes = k}); }, 1000},
      {"vgg19_bn", "VGG-19 with batch norm (torchvision), 224x224", [](int k) { return zoo::vgg(19, true, {.num_classes = k}); }, 1000},
      {"plain18", "ResNet-18 without shortcuts (He et al. 2015, plain net), 224x224", [](int k) { return zoo::plain(18, {.num_classes = k}); }, 1000},
      {"plain34", "ResNet-34 without shortcuts (He et al. 2015, plain net), 224x224", [](int k) { return zoo::plain(34, {.num_classes = k}); }, 1000},
  };
  return models;
}

const ModelEntry* find_model(const std::string& name) {
  for (const auto& e : model_registry())
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace strata::dsl
