#pragma once
// Registered models by name (`strata summary small_resnet`). Each builder takes the number
// of classes; the models are built at batch 1.
#include <functional>
#include <string>
#include <vector>

#include "frontend/model.h"

namespace strata::dsl {

struct ModelEntry {
  std::string name;
  std::string description;
  std::function<Model(int num_classes)> build;
  int default_classes;
};

const std::vector<ModelEntry>& model_registry();
const ModelEntry* find_model(const std::string& name);  // nullptr when unknown

}  // namespace strata::dsl
