#pragma once
// Keras/torchsummary-style model statistics.
#include <string>

#include "ir/graph.h"

namespace strata::dsl {

struct ModelStats {
  int64_t trainable_params = 0;
  int64_t non_trainable_params = 0;  // e.g. batch norm's running statistics (buffers)
  int64_t macs = 0;                  // multiply-accumulates of one forward pass
};

ModelStats model_stats(const ir::Graph& g);
// Per-layer table: layer, op, output shape, parameters, multiply-adds; then totals.
std::string summary(const ir::Graph& g);

}  // namespace strata::dsl
