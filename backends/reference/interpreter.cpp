#include <fmt/format.h>

#include "backends/reference/reference.h"
#include "ir/error.h"

namespace strata::reference {

static const std::map<std::string, Kernel>& table() {
  static const std::map<std::string, Kernel> t = [] {
    std::map<std::string, Kernel> m;
    register_nn_kernels(m);
    register_tensor_kernels(m);
    register_activation_kernels(m);
    register_gradient_kernels(m);
    register_training_kernels(m);
    return m;
  }();
  return t;
}

const Kernel* find_kernel(const std::string& op) {
  auto it = table().find(op);
  return it == table().end() ? nullptr : &it->second;
}

passes::PassContext pass_context() {
  passes::PassContext ctx;
  ctx.evaluate = [](const ir::Node& n, const std::vector<const HostTensor*>& in) { return run_node(n, in); };
  return ctx;
}

HostTensor run_node(const ir::Node& n, const std::vector<const HostTensor*>& inputs) {
  const Kernel* k = find_kernel(n.op);
  if (!k) throw Error(fmt::format("reference backend: no kernel for op '{}' (node '{}')", n.op, n.name()));
  HostTensor out = (*k)(n, inputs);
  if (out.shape != n.outputs[0]->type.shape)
    throw Error(fmt::format("reference backend: node '{}' ({}) produced {}, expected {}", n.name(), n.op,
                            shape_str(out.shape), shape_str(n.outputs[0]->type.shape)));
  return out;
}

NamedTensors run(const ir::Graph& g, const NamedTensors& inputs, const NamedTensors& params, NamedTensors* values) {
  std::map<const ir::Value*, const HostTensor*> env;
  std::vector<std::unique_ptr<HostTensor>> owned;
  auto bind = [&](const ir::Value* v, const NamedTensors& from, const char* what) {
    auto it = from.find(v->name);
    if (it == from.end()) throw Error(fmt::format("missing {} '{}' of type {}", what, v->name, v->type.str()));
    if (it->second.shape != v->type.shape)
      throw Error(fmt::format("{} '{}' has shape {}, the graph expects {}", what, v->name, shape_str(it->second.shape),
                              v->type.str()));
    env[v] = &it->second;
  };
  for (const ir::Value* v : g.inputs()) bind(v, inputs, "input");
  for (const ir::Value* v : g.parameters()) bind(v, params, "parameter");
  for (const ir::Value* v : g.constants()) env[v] = v->data.get();
  for (const auto& n : g.nodes()) {
    std::vector<const HostTensor*> ins;
    for (const ir::Value* v : n->inputs) ins.push_back(env.at(v));
    owned.push_back(std::make_unique<HostTensor>(run_node(*n, ins)));
    env[n->outputs[0]] = owned.back().get();
    if (values) (*values)[n->outputs[0]->name] = *owned.back();
  }
  NamedTensors out;
  for (auto& [name, v] : g.outputs()) out[name] = *env.at(v);
  return out;
}

std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int i = static_cast<int>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

void unravel(int64_t flat, const Shape& s, std::vector<int64_t>& idx) {
  idx.resize(s.size());
  for (int i = static_cast<int>(s.size()) - 1; i >= 0; --i) {
    idx[i] = flat % s[i];
    flat /= s[i];
  }
}


int64_t per_channel_count(const Shape& s) { return num_elements(s) / s[1]; }

ChannelStats channel_stats(const HostTensor& x) {
  int64_t C = x.shape[1];
  ChannelStats st;
  st.mean.assign(C, 0.0);
  st.var.assign(C, 0.0);
  double count = static_cast<double>(per_channel_count(x.shape));
  for (int64_t i = 0; i < x.numel(); ++i) st.mean[channel_of(x.shape, i)] += x.data[i];
  for (auto& m : st.mean) m /= count;
  for (int64_t i = 0; i < x.numel(); ++i) {
    double d = x.data[i] - st.mean[channel_of(x.shape, i)];
    st.var[channel_of(x.shape, i)] += d * d;
  }
  for (auto& v : st.var) v /= count;
  return st;
}

ChannelStats batch_stats(const ir::Node& n, const std::vector<const HostTensor*>& in, size_t stats_input) {
  if (n.inputs.size() <= stats_input) return channel_stats(*in[0]);
  const HostTensor& s = *in[stats_input];
  int64_t C = s.shape[1];
  ChannelStats st;
  st.mean.assign(s.data.begin(), s.data.begin() + C);
  st.var.assign(s.data.begin() + C, s.data.end());
  return st;
}

}  // namespace strata::reference
