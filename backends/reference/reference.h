#pragma once
// The reference backend: plain C++ loops for every op, written for clarity, never for
// speed. It is the oracle every Halide kernel and every gradient is tested against.
#include <functional>
#include <vector>

#include "ir/graph.h"

namespace strata::reference {

using Kernel = std::function<HostTensor(const ir::Node&, const std::vector<const HostTensor*>&)>;

// The kernel of an op, or nullptr when it has none (a test walks the op table).
const Kernel* find_kernel(const std::string& op);

// Runs one node on its input tensors.
HostTensor run_node(const ir::Node& n, const std::vector<const HostTensor*>& inputs);

// Runs the whole graph. Parameters are looked up by name; inputs by input name.
// Throws strata::Error naming the missing or mis-shaped tensor.
NamedTensors run(const ir::Graph& g, const NamedTensors& inputs, const NamedTensors& params);

// Registration, one per family (each in its own file).
void register_nn_kernels(std::map<std::string, Kernel>& t);
void register_tensor_kernels(std::map<std::string, Kernel>& t);
void register_activation_kernels(std::map<std::string, Kernel>& t);

// NCHW index helper for the kernels.
inline int64_t idx4(const Shape& s, int64_t n, int64_t c, int64_t h, int64_t w) {
  return ((n * s[1] + c) * s[2] + h) * s[3] + w;
}
// Strides of a row-major shape, and the multi-index of a flat index.
std::vector<int64_t> strides_of(const Shape& s);
void unravel(int64_t flat, const Shape& s, std::vector<int64_t>& idx);

}  // namespace strata::reference
