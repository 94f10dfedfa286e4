#include "frontend/registry.h"

#include "examples/examples.h"

namespace strata::dsl {

const std::vector<ModelEntry>& model_registry() {
  static const std::vector<ModelEntry> models = {
      {"small_resnet", "ResNet for 28x28 grayscale (3 stages of basic blocks, 16/32/64 channels)",
       [](int k) { return examples::small_resnet(k); }, 10},
      {"lenet", "LeNet-5-style CNN for 28x28 grayscale", [](int k) { return examples::lenet(k); }, 10},
  };
  return models;
}

const ModelEntry* find_model(const std::string& name) {
  for (const auto& e : model_registry())
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace strata::dsl
