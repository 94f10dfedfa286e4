// LeNet-5 (LeCun et al. 1998) with the modern choices: ReLU and max pooling.
#include "examples/examples.h"

namespace strata::examples {
using namespace dsl;

Model lenet(int num_classes) {
  Model m("lenet");
  Tensor x = m.input("image", {kBatch, 1, 28, 28});
  x = max_pool2d(relu(conv2d(x, 6, 5, {.padding = 2})), 2);  // 6 x 14 x 14
  x = max_pool2d(relu(conv2d(x, 16, 5)), 2);                 // 16 x 5 x 5
  x = flatten(x);
  x = relu(linear(x, 120));
  x = relu(linear(x, 84));
  m.output("logits", linear(x, num_classes));
  return m;
}

}  // namespace strata::examples
