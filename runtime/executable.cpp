#include "runtime/executable.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include "backends/reference/reference.h"
#include "ir/error.h"
#include "ir/verifier.h"

namespace strata::runtime {

namespace hb = halide_backend;

Backend backend_from_name(const std::string& s) {
  if (s == "halide") return Backend::Halide;
  if (s == "reference") return Backend::Reference;
  throw Error(fmt::format("unknown backend '{}' (expected halide or reference)", s));
}

struct Step {
  std::shared_ptr<const hb::Kernel> kernel;
  std::vector<int> inputs;  // buffer indices
  int output;
};

struct Executable::Impl {
  ir::Graph graph;
  CompileOptions opts;
  CompileReport report;
  // Halide backend state.
  std::map<const ir::Value*, int> buffer_of;
  std::vector<std::vector<float>> buffers;
  std::vector<hb::Layout> layouts;
  std::vector<Step> steps;
  bool params_set = false;
  // Reference backend state.
  NamedTensors ref_params;
  NamedTensors ref_values;  // every node output of the last run
  // Update pairs resolved: output value -> parameter value.
  std::vector<std::pair<const ir::Value*, const ir::Value*>> updates;
  std::set<std::string> update_outputs;
  std::map<std::string, OpProfile> profile;
};

Executable::Executable(const ir::Graph& g, CompileOptions o) : impl_(std::make_unique<Impl>()) {
  auto t0 = std::chrono::steady_clock::now();
  Impl& m = *impl_;
  m.graph = ir::clone(g);
  m.opts = o;
  if (o.batch > 0) m.graph.set_batch_size(o.batch);
  ir::verify(m.graph, "compile");
  m.report.kernels = static_cast<int>(m.graph.nodes().size());
  std::map<const ir::Value*, const ir::Value*> param_of_output;
  for (auto& [out, param] : o.updates) {
    const ir::Value* ov = nullptr;
    for (auto& [name, v] : m.graph.outputs())
      if (name == out) ov = v;
    const ir::Value* pv = m.graph.find_value(param);
    if (!ov) throw Error(fmt::format("update: model '{}' has no output '{}'", m.graph.name(), out));
    if (!pv || pv->kind != ir::ValueKind::Parameter)
      throw Error(fmt::format("update: '{}' is not a parameter of model '{}'", param, m.graph.name()));
    if (ov->type != pv->type)
      throw Error(fmt::format("update: output '{}' is {} but parameter '{}' is {}", out, ov->type.str(), param, pv->type.str()));
    m.updates.push_back({ov, pv});
    m.update_outputs.insert(out);
    param_of_output[ov] = pv;
  }
  if (o.backend == Backend::Reference) {
    m.report.distinct_kernels = m.report.kernels;
    return;
  }
  hb::check_options(o.halide);
  auto add_buffer = [&](const ir::Value* v, hb::Layout l) {
    m.buffer_of[v] = static_cast<int>(m.buffers.size());
    m.buffers.emplace_back(v->type.numel());
    m.layouts.push_back(std::move(l));
  };
  for (const ir::Value* v : m.graph.inputs()) add_buffer(v, hb::default_layout(v->type.rank()));
  // Weights take the layout their consumers want when all that care agree (in a training
  // step the conv's preference wins over its gradient ops and optimizer updates).
  auto weight_layout = [](const ir::Value* v) {
    std::set<hb::Layout> wanted;
    for (const ir::Node* u : v->users)
      for (size_t i = 0; i < u->inputs.size(); ++i)
        if (u->inputs[i] == v && hb::has_layout_preference(*u, static_cast<int>(i)))
          wanted.insert(hb::preferred_layout(*u, static_cast<int>(i)));
    return wanted.size() == 1 ? *wanted.begin() : hb::default_layout(v->type.rank());
  };
  for (const ir::Value* v : m.graph.parameters()) add_buffer(v, weight_layout(v));
  for (const ir::Value* v : m.graph.constants()) {
    add_buffer(v, weight_layout(v));
    hb::to_layout(*v->data, m.layouts.back(), m.buffers.back().data());
  }
  hb::reset_cache_stats();
  std::set<std::string> distinct;
  for (const auto& n : m.graph.nodes()) {
    // A parameter's update is computed in the parameter's layout, so the two buffers swap;
    // a gradient consumed by an optimizer update is stored like its parameter.
    auto upd = param_of_output.find(n->outputs[0]);
    hb::Layout layout = hb::default_layout(n->outputs[0]->type.rank());
    if (upd != param_of_output.end()) layout = m.layouts[m.buffer_of.at(upd->second)];
    for (const ir::Node* u : n->outputs[0]->users)
      if (u->op == "optimizer_update" && u->inputs[1] == n->outputs[0] && m.buffer_of.count(u->inputs[0]))
        layout = m.layouts[m.buffer_of.at(u->inputs[0])];
    add_buffer(n->outputs[0], layout);
    Step s;
    std::vector<hb::Layout> in_layouts;
    for (const ir::Value* v : n->inputs) {
      s.inputs.push_back(m.buffer_of.at(v));
      in_layouts.push_back(m.layouts[m.buffer_of.at(v)]);
    }
    s.output = m.buffer_of.at(n->outputs[0]);
    s.kernel = hb::get_kernel(*n, in_layouts, m.layouts[s.output], o.halide);
    distinct.insert(s.kernel->key());
    m.steps.push_back(std::move(s));
  }
  hb::CacheStats cs = hb::cache_stats();
  m.report.distinct_kernels = static_cast<int>(distinct.size());
  m.report.compiled = cs.compiled;
  m.report.loaded_from_disk = cs.disk_hits;
  m.report.reused_in_memory = cs.memory_hits;
  m.report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Executable::~Executable() = default;
Executable::Executable(Executable&&) noexcept = default;
Executable& Executable::operator=(Executable&&) noexcept = default;

const ir::Graph& Executable::graph() const { return impl_->graph; }
const CompileReport& Executable::report() const { return impl_->report; }

void Executable::set_parameters(const ParameterStore& p) {
  Impl& m = *impl_;
  p.check_against(m.graph);
  if (m.opts.backend == Backend::Reference) {
    m.ref_params.clear();
    for (const ir::Value* v : m.graph.parameters()) m.ref_params[v->name] = p.at(v->name);
  } else {
    for (const ir::Value* v : m.graph.parameters()) {
      int b = m.buffer_of.at(v);
      hb::to_layout(p.at(v->name), m.layouts[b], m.buffers[b].data());
    }
  }
  m.params_set = true;
}

NamedTensors Executable::run(const NamedTensors& inputs) {
  Impl& m = *impl_;
  if (!m.params_set && !m.graph.parameters().empty())
    throw Error(fmt::format("model '{}': set_parameters() must be called before run()", m.graph.name()));
  for (auto& [name, t] : inputs) {
    bool known = false;
    for (const ir::Value* v : m.graph.inputs()) known |= v->name == name;
    if (!known) throw Error(fmt::format("model '{}' has no input named '{}'", m.graph.name(), name));
  }
  if (m.opts.backend == Backend::Reference) {
    m.ref_values.clear();
    NamedTensors all = reference::run(m.graph, inputs, m.ref_params, &m.ref_values);
    for (auto& [ov, pv] : m.updates) m.ref_params[pv->name] = m.ref_values.at(ov->name);
    for (const std::string& u : m.update_outputs) all.erase(u);
    return all;
  }
  for (const ir::Value* v : m.graph.inputs()) {
    auto it = inputs.find(v->name);
    if (it == inputs.end()) throw Error(fmt::format("missing input '{}' of type {}", v->name, v->type.str()));
    if (it->second.shape != v->type.shape)
      throw Error(fmt::format("input '{}' has shape {}, the compiled model expects {}", v->name,
                              shape_str(it->second.shape), v->type.str()));
    int b = m.buffer_of.at(v);
    hb::to_layout(it->second, m.layouts[b], m.buffers[b].data());
  }
  std::vector<const float*> ins;
  for (size_t k = 0; k < m.steps.size(); ++k) {
    const Step& s = m.steps[k];
    ins.clear();
    for (int i : s.inputs) ins.push_back(m.buffers[i].data());
    if (!m.opts.profile) {
      s.kernel->run(ins, m.buffers[s.output].data());
      continue;
    }
    auto t0 = std::chrono::steady_clock::now();
    s.kernel->run(ins, m.buffers[s.output].data());
    const ir::Node& node = *m.graph.nodes()[k];
    std::string key = getenv("STRATA_PROFILE_NODES") ? node.op + " " + node.name() + " " + node.outputs[0]->type.str() : node.op;
    OpProfile& p = m.profile[key];
    p.op = key;
    p.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++p.calls;
  }
  for (auto& [ov, pv] : m.updates) std::swap(m.buffers[m.buffer_of.at(ov)], m.buffers[m.buffer_of.at(pv)]);
  NamedTensors out;
  for (auto& [name, v] : m.graph.outputs()) {
    if (m.update_outputs.count(name)) continue;
    int b = m.buffer_of.at(v);
    HostTensor t(v->type.shape);
    hb::from_layout(m.buffers[b].data(), m.layouts[b], t);
    out[name] = std::move(t);
  }
  return out;
}

ParameterStore Executable::parameters() const {
  const Impl& m = *impl_;
  ParameterStore p;
  for (const ir::Value* v : m.graph.parameters()) {
    if (m.opts.backend == Backend::Reference) {
      auto it = m.ref_params.find(v->name);
      if (it != m.ref_params.end()) p.set(v->name, it->second);
      continue;
    }
    int b = m.buffer_of.at(v);
    HostTensor t(v->type.shape);
    hb::from_layout(m.buffers[b].data(), m.layouts[b], t);
    p.set(v->name, std::move(t));
  }
  return p;
}

std::vector<OpProfile> Executable::profile() const {
  std::vector<OpProfile> v;
  for (auto& [op, p] : impl_->profile) v.push_back(p);
  std::sort(v.begin(), v.end(), [](const OpProfile& a, const OpProfile& b) { return a.seconds > b.seconds; });
  return v;
}

bool Executable::parameters_finite() const {
  const Impl& m = *impl_;
  for (const ir::Value* v : m.graph.parameters()) {
    if (m.opts.backend == Backend::Reference) {
      auto it = m.ref_params.find(v->name);
      if (it == m.ref_params.end()) continue;
      for (float x : it->second.data)
        if (!std::isfinite(x)) return false;
      continue;
    }
    for (float x : m.buffers[m.buffer_of.at(v)])
      if (!std::isfinite(x)) return false;
  }
  return true;
}

std::string Executable::first_nonfinite() const {
  const Impl& m = *impl_;
  auto finite = [](const float* d, size_t n) {
    for (size_t i = 0; i < n; ++i)
      if (!std::isfinite(d[i])) return false;
    return true;
  };
  for (const auto& n : m.graph.nodes()) {
    const ir::Value* v = n->outputs[0];
    if (m.opts.backend == Backend::Reference) {
      auto it = m.ref_values.find(v->name);
      if (it != m.ref_values.end() && !finite(it->second.ptr(), it->second.data.size())) return n->name();
      continue;
    }
    // An update's buffer was swapped with its parameter's after the run.
    const ir::Value* holder = v;
    for (auto& [ov, pv] : m.updates)
      if (ov == v) holder = pv;
    const auto& buf = m.buffers[m.buffer_of.at(holder)];
    if (!finite(buf.data(), buf.size())) return n->name();
  }
  return "";
}

}  // namespace strata::runtime
