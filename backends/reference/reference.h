#pragma once
// The reference backend: plain C++ loops for every op, written for clarity, never for
// speed. It is the oracle every Halide kernel and every gradient is tested against.
#include <functional>
#include <map>
#include <vector>

#include "ir/graph.h"
#include "passes/pass_manager.h"

namespace strata::reference {

using Kernel = std::function<HostTensor(const ir::Node&, const std::vector<const HostTensor*>&)>;

// The kernel of an op, or nullptr when it has none (a test walks the op table).
const Kernel* find_kernel(const std::string& op);

// Runs one node on its input tensors.
HostTensor run_node(const ir::Node& n, const std::vector<const HostTensor*>& inputs);

// A pass context whose constant folding evaluates nodes with these kernels (passes/ may
// not include a backend, so whoever runs a pipeline hands this in).
passes::PassContext pass_context();

// Runs the whole graph. Parameters are looked up by name; inputs by input name.
// Throws strata::Error naming the missing or mis-shaped tensor.
// With `values`, every node's output is also kept there, by value name.
NamedTensors run(const ir::Graph& g, const NamedTensors& inputs, const NamedTensors& params,
                 NamedTensors* values = nullptr);

// Registration, one per family (each in its own file).
void register_nn_kernels(std::map<std::string, Kernel>& t);
void register_tensor_kernels(std::map<std::string, Kernel>& t);
void register_activation_kernels(std::map<std::string, Kernel>& t);
void register_gradient_kernels(std::map<std::string, Kernel>& t);
void register_training_kernels(std::map<std::string, Kernel>& t);

// Per-channel (axis 1) mean and biased variance over every other axis, as batch norm uses.
struct ChannelStats {
  std::vector<double> mean, var;
  ChannelStats() = default;
  ChannelStats(const HostTensor& m, const HostTensor& v) : mean(m.data.begin(), m.data.end()), var(v.data.begin(), v.data.end()) {}
};
ChannelStats channel_stats(const HostTensor& x);
// The batch statistics a training batch norm kernel uses: its batch_stats input (row 0 mean,
// row 1 biased variance) when the node has input `stats_input`, else computed from x.
ChannelStats batch_stats(const ir::Node& n, const std::vector<const HostTensor*>& in, size_t stats_input);
// Elements per channel (N * H * W) and the channel of flat index i.
int64_t per_channel_count(const Shape& s);
inline int64_t channel_of(const Shape& s, int64_t i) {
  int64_t inner = 1;
  for (size_t d = 2; d < s.size(); ++d) inner *= s[d];
  return (i / inner) % s[1];
}

// NCHW index helper for the kernels.
inline int64_t idx4(const Shape& s, int64_t n, int64_t c, int64_t h, int64_t w) {
  return ((n * s[1] + c) * s[2] + h) * s[3] + w;
}
// Strides of a row-major shape, and the multi-index of a flat index.
std::vector<int64_t> strides_of(const Shape& s);
void unravel(int64_t flat, const Shape& s, std::vector<int64_t>& idx);

}  // namespace strata::reference
