#pragma once
// Single-op graphs covering every op of the table at several shapes: odd sizes, stride 2,
// padding (asymmetric and "same"), dilation, groups and depthwise, batch > 1.
#include <functional>
#include <string>
#include <vector>

#include "frontend/model.h"

namespace strata::testing {

struct OpCase {
  std::string name;
  std::function<dsl::Model()> build;
  float lo = -1.f, hi = 1.f;  // input range
};

const std::vector<OpCase>& op_cases();
// The gradient and training ops' cases (op_cases_train.cpp), appended to op_cases().
void add_training_op_cases(std::vector<OpCase>& c);

}  // namespace strata::testing
