#pragma once
#include <strata/dsl.h>

namespace strata::examples {

// A small ResNet for 28x28 grayscale images (He et al. 2015's CIFAR-style net: three
// stages of three basic blocks at 16, 32 and 64 channels: ResNet-20), about 0.27 M parameters.
dsl::Model small_resnet(int num_classes = 10);
// A LeNet-5-style CNN (LeCun et al. 1998) with ReLU and max pooling.
dsl::Model lenet(int num_classes = 10);

}  // namespace strata::examples
