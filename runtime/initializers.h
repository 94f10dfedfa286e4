#pragma once
// Parameter initialisers, as torch.nn.init defines them (fans, gains, modes).
#include <cstdint>

#include "ir/graph.h"

namespace strata::runtime {

// Fills a tensor of the parameter's shape per its InitSpec. The stream depends on the seed
// and the parameter's name only, so adding a layer does not change the others' values.
HostTensor initialize(const ir::Value& param, uint64_t seed);
// PyTorch's calculate_gain.
double init_gain(const std::string& nonlinearity, double a = 0);

}  // namespace strata::runtime
