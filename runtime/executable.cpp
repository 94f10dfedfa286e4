#include "runtime/executable.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "backends/reference/reference.h"
#include "ir/error.h"
#include "ir/fusion_group.h"
#include "ir/op_registry.h"
#include "ir/verifier.h"
#include "passes/memory_plan.h"
#include "runtime/page_allocator.h"

namespace strata::runtime {

namespace hb = halide_backend;

Backend backend_from_name(const std::string& s) {
  if (s == "halide") return Backend::Halide;
  if (s == "reference") return Backend::Reference;
  throw Error(fmt::format("unknown backend '{}' (expected halide or reference)", s));
}

struct Step {
  std::shared_ptr<const hb::Kernel> kernel;
  std::vector<int> inputs;  // value slots
  int output;               // value slot
  int second_output = -1;   // a sibling reduction's [2, C] (ir/fusion_group.h), or -1
  const ir::Node* node;     // the node, or the member whose output a fusion group stores
  bool is_static = false;   // reads only parameters: run when they change
  // --profile: this step's entry of Impl::profile, found at its first run. Building its
  // name and looking it up at every call put a gap between kernels (the small ResNet's
  // training step at batch 64, 384 kernels: profiled 33.4-33.9 ms against 32.1-32.3 plain;
  // now within the noise of the plain step).
  OpProfile* profile = nullptr;
};

struct Executable::Impl {
  ir::Graph graph;
  CompileOptions opts;
  CompileReport report;
  // Halide backend state: every value has a layout and a storage; values the memory plan
  // puts in one slot share a storage.
  std::map<const ir::Value*, int> value_of;
  std::vector<int> storage_of;
  std::vector<int64_t> offset_of;  // a folded concat's slice starts inside its storage
  std::vector<bool> is_view;
  std::vector<hb::Layout> layouts;
  std::vector<FloatBuffer> storage;
  std::vector<Step> steps;
  bool params_set = false, params_changed = true;
  // GPU targets: every storage has a device copy (made at the first run) where the kernels
  // read and write it; host_newer marks storages written on the host since (parameters,
  // inputs), device_newer those kernels wrote since the host copy was brought up to date.
  bool gpu = false;
  std::vector<std::unique_ptr<hb::DeviceBuffer>> device;
  std::vector<char> host_newer;
  mutable std::vector<char> device_newer;
  // Reference backend state.
  NamedTensors ref_params;
  NamedTensors ref_values;  // every node output of the last run
  // Update pairs resolved: output value -> parameter value.
  std::vector<std::pair<const ir::Value*, const ir::Value*>> updates;
  std::set<std::string> update_outputs;
  std::map<std::string, OpProfile> profile;

  float* data(int value) { return storage[storage_of[value]].data() + offset_of[value]; }
  hb::BufferRef ref(int value) {
    return {data(value), gpu ? device[storage_of[value]]->address(offset_of[value]) : 0};
  }
  void make_device() {
    if (!gpu || !device.empty()) return;
    if (!hb::gpu_available())
      throw Error(fmt::format("model '{}' is compiled for the GPU target '{}', but no CUDA device answers (libcuda.so.1); "
                              "run it on a CPU target such as host",
                              graph.name(), opts.halide.target));
    for (size_t st = 0; st < storage.size(); ++st)
      device.push_back(std::make_unique<hb::DeviceBuffer>(std::max<int64_t>(1, static_cast<int64_t>(storage[st].size()))));
  }
  void written_on_host(int st) {
    if (!gpu) return;
    host_newer[st] = 1;
    device_newer[st] = 0;
  }
  // Brings storage st's host copy up to date (the host copy is a cache of the device's, so
  // const readers may refresh it).
  void to_host(int st) const {
    if (!gpu || !device_newer[st]) return;
    auto& host = const_cast<FloatBuffer&>(storage[st]);
    device[st]->download(host.data());
    device_newer[st] = 0;
  }
  const float* data(int value) const { return storage[storage_of[value]].data() + offset_of[value]; }
  ir::Graph copies{"concat-copies"};  // identity nodes copying a folded concat's other inputs
  const FloatBuffer& buffer(const ir::Value* v) const { return storage[storage_of[value_of.at(v)]]; }
};

// In place (an elementwise kernel writing over an input that dies there) is safe only when
// no vector is computed twice: the CPU schedules split the innermost dimension by the
// vector width and recompute a shifted last vector when it does not divide the extent.
static bool in_place_safe(const ir::Value* v, const hb::Layout& out_layout, const hb::Layout& in_layout, bool gpu) {
  return !gpu && out_layout == in_layout && v->type.shape[out_layout[0]] % 16 == 0;
}

// Input `input` of a concat stored in `layout`: the strides of the concat's buffer and
// where the input's slice begins in it (floats).
struct Slice {
  std::vector<int64_t> strides;
  int64_t offset = 0;
};
static Slice concat_slice(const ir::Node& concat, size_t input, const hb::Layout& layout) {
  const Shape& shape = concat.outputs[0]->type.shape;
  int axis = ir::normalize_axis(concat, concat.attr_int("axis"), static_cast<int>(shape.size()));
  int64_t begin = 0;
  for (size_t k = 0; k < input; ++k) begin += concat.inputs[k]->type.shape[axis];
  Slice s;
  int64_t stride = 1;
  for (int d : layout) {
    if (d == axis) s.offset = begin * stride;
    s.strides.push_back(stride);
    stride *= shape[d];
  }
  return s;
}

Executable::Executable(const ir::Graph& g, CompileOptions o) : impl_(std::make_unique<Impl>()) {
  auto t0 = std::chrono::steady_clock::now();
  Impl& m = *impl_;
  ir::Graph source = ir::clone(g);
  if (o.batch > 0) source.set_batch_size(o.batch);
  ir::verify(source, "compile");
  m.graph = passes::run_pipeline(source, o.passes, reference::pass_context(), &m.report.pass_timings);
  ir::verify(m.graph, "after the pass pipeline");
  m.opts = o;
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
  passes::MemoryPlan plan = passes::annotated_plan(m.graph);  // empty without the memory-plan pass
  if (o.backend == Backend::Reference) {
    m.report.kernels = m.report.distinct_kernels = static_cast<int>(m.graph.nodes().size());
    return;
  }
  hb::check_options(o.halide);
  bool gpu = m.gpu = o.halide.target.find("cuda") != std::string::npos;
  std::map<int, int> storage_of_slot;
  auto add_value = [&](const ir::Value* v, hb::Layout l, int slot = -1) {
    m.value_of[v] = static_cast<int>(m.layouts.size());
    m.layouts.push_back(std::move(l));
    m.offset_of.push_back(0);
    m.is_view.push_back(false);
    // (A Winograd weight holds (m + 2)^2 floats per 9 weights.)
    int64_t n = m.layouts.back().winograd ? hb::physical_elements(v->type.shape, m.layouts.back()) : v->type.numel();
    if (slot >= 0 && storage_of_slot.count(slot)) {
      int st = storage_of_slot[slot];
      if (static_cast<int64_t>(m.storage[st].size()) < n) m.storage[st].resize(n);
      m.storage_of.push_back(st);
      return;
    }
    m.storage_of.push_back(static_cast<int>(m.storage.size()));
    m.storage.emplace_back(n);
    if (slot >= 0) storage_of_slot[slot] = m.storage_of.back();
  };
  // A view into another value's storage (a slice of a folded concat).
  auto add_view = [&](int of, int64_t offset) {
    m.layouts.push_back(m.layouts[of]);
    m.storage_of.push_back(m.storage_of[of]);
    m.offset_of.push_back(m.offset_of[of] + offset);
    m.is_view.push_back(true);
    return static_cast<int>(m.layouts.size()) - 1;
  };
  for (const ir::Value* v : m.graph.inputs()) add_value(v, hb::default_layout(v->type.rank()));
  // Weights take the layout their consumers want when all that care agree (in a training
  // step the conv's preference wins over its gradient ops and optimizer updates).
  auto wanted_layout = [&](const ir::Value* v) -> std::optional<hb::Layout> {
    std::set<hb::Layout> wanted;
    for (const ir::Node* u : v->users)
      for (size_t i = 0; i < u->inputs.size(); ++i)
        if (u->inputs[i] == v && hb::has_layout_preference(*u, static_cast<int>(i)))
          wanted.insert(hb::preferred_layout(*u, static_cast<int>(i), o.halide.target));
    if (wanted.size() == 1) return *wanted.begin();
    return std::nullopt;
  };
  // An optimizer's state (momentum, Adam's moments) is stored like its parameter, so that an
  // update reads both, and writes either, at the same positions: a momentum buffer in the
  // plain layout beside a blocked conv weight was read by a gather of 16 rows per vector.
  auto weight_layout = [&](const ir::Value* v) {
    if (auto l = wanted_layout(v)) return *l;
    // (An update's state is its input 3 or later; input 2 holds the hyper-parameters.)
    for (const ir::Node* u : v->users) {
      if (u->op != "optimizer_update" || u->inputs[0] == v) continue;
      auto state = u->inputs.begin() + static_cast<long>(std::min<size_t>(3, u->inputs.size()));
      if (std::find(state, u->inputs.end(), v) == u->inputs.end()) continue;
      if (auto l = wanted_layout(u->inputs[0])) return *l;
    }
    return hb::default_layout(v->type.rank());
  };
  for (const ir::Value* v : m.graph.parameters()) add_value(v, weight_layout(v));
  for (const ir::Value* v : m.graph.constants()) {
    add_value(v, weight_layout(v));
    hb::to_layout(*v->data, m.layouts.back(), m.data(m.value_of.at(v)));
  }
  hb::reset_cache_stats();
  std::set<std::string> distinct;
  const auto& nodes = m.graph.nodes();
  auto views = passes::folded_concat_views(m.graph);
  std::map<const ir::Node*, std::vector<bool>> folded;  // folded concats -> which inputs are views
  std::map<std::pair<int, std::string>, int> winograd_of;  // (weight, Winograd layout) -> its transform's value
  std::set<const ir::Value*> updated_params;               // the parameters an update replaces at every run
  for (auto& [ov, pv] : m.updates) updated_params.insert(pv);
  for (const auto& [v, concat] : views) folded[concat] = passes::folded_concat_inputs(m.graph, *concat);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const ir::Node* n = nodes[i].get();
    int grp = ir::group_of(*n);
    if (grp >= 0 && i + 1 < nodes.size() && ir::group_of(*nodes[i + 1]) == grp) continue;  // not the last member
    hb::NodeGroup group{n};
    if (grp >= 0)
      for (size_t j = i; j-- > 0 && ir::group_of(*nodes[j]) == grp;) group.insert(group.begin(), nodes[j].get());
    const std::vector<const ir::Value*> group_out = ir::group_outputs(group);
    const ir::Value* out = group_out[0];
    // A parameter's update is computed in the parameter's layout, so the two buffers swap;
    // a gradient consumed by an optimizer update is stored like its parameter; a weight
    // computed from parameters (bn-fold) is stored as its convolution wants it.
    Step s;
    s.node = out->producer;
    s.is_static = passes::is_static(out);
    hb::Layout layout = s.is_static ? weight_layout(out) : hb::default_layout(out->type.rank());
    auto upd = param_of_output.find(out);
    if (upd != param_of_output.end()) layout = m.layouts[m.value_of.at(upd->second)];
    for (const ir::Node* u : out->users)  // (an update read by another, fuse-optimizer's, keeps its state's)
      if (u->op == "optimizer_update" && u->inputs[1] == out && m.value_of.count(u->inputs[0]) && upd == param_of_output.end())
        layout = m.layouts[m.value_of.at(u->inputs[0])];
    std::vector<hb::Layout> in_layouts;
    const std::vector<const ir::Value*> group_in = ir::group_inputs(group);
    for (const ir::Value* v : group_in) {
      s.inputs.push_back(m.value_of.at(v));
      in_layouts.push_back(m.layouts[m.value_of.at(v)]);
    }
    int slot = plan.slot.count(out) ? plan.slot.at(out) : -1;
    // A slot shared with one of this kernel's inputs is an in-place write: keep it only
    // where it is safe for this layout and target, else give the output its own storage.
    for (size_t k = 0; k < s.inputs.size() && slot >= 0; ++k) {
      const ir::Value* v = group_in[k];
      if (!plan.slot.count(v) || plan.slot.at(v) != slot || views.count(v)) continue;
      if (!in_place_safe(out, layout, in_layouts[k], gpu)) slot = -1;
    }
    std::vector<int64_t> strides;
    if (auto view = views.find(out); view != views.end()) {
      // fold-concat: this kernel writes its slice of the concat's buffer, a strided view.
      const ir::Node& concat = *view->second;
      const ir::Value* cv = concat.outputs[0];
      if (!m.value_of.count(cv)) add_value(cv, hb::default_layout(cv->type.rank()), plan.slot.count(cv) ? plan.slot.at(cv) : -1);
      int ci = m.value_of.at(cv);
      layout = m.layouts[ci];
      size_t input = std::find(concat.inputs.begin(), concat.inputs.end(), out) - concat.inputs.begin();
      Slice slice = concat_slice(concat, input, layout);
      strides = slice.strides;
      m.value_of[out] = add_view(ci, slice.offset);
    } else if (!(n->op == "concat" && m.value_of.count(out))) {
      add_value(out, layout, slot);
    }
    s.output = m.value_of.at(out);
    if (group_out.size() > 1) {
      // A sibling reduction's [2, C] sums, row-major, or a pointwise sibling's tensor in the
      // first output's layout (a parameter's step beside its momentum: both are stored like
      // the parameter); either in a storage of its own.
      const ir::Value* sv = group_out[1];
      bool pointwise = ir::is_pointwise_sibling_op(*sv->producer);
      hb::Layout slayout = pointwise ? layout : hb::default_layout(sv->type.rank());
      if (auto su = param_of_output.find(sv); pointwise && su != param_of_output.end() && m.layouts[m.value_of.at(su->second)] != layout)
        throw Error(fmt::format("compile: '{}' and '{}' are computed together but their parameters are stored in "
                                "different layouts",
                                out->name, sv->name));
      int sslot = plan.slot.count(sv) ? plan.slot.at(sv) : -1;
      for (size_t k = 0; k < s.inputs.size() && sslot >= 0; ++k)
        if (plan.slot.count(group_in[k]) && plan.slot.at(group_in[k]) == sslot) sslot = -1;
      if (plan.slot.count(out) && plan.slot.at(out) == sslot) sslot = -1;
      add_value(sv, slayout, sslot);
      s.second_output = m.value_of.at(sv);
    }
    if (folded.count(n)) {
      // The folded concat copies only the inputs not written in place, each into its slice.
      const auto& in_place = folded.at(n);
      for (size_t k = 0; k < n->inputs.size(); ++k) {
        if (in_place[k]) continue;
        const ir::Value* v = n->inputs[k];
        Slice slice = concat_slice(*n, k, m.layouts[s.output]);
        ir::Node* copy = m.copies.add_node("identity", {m.copies.add_input(m.copies.unique_name("x"), v->type)});
        Step c;
        c.node = n;
        c.inputs = {m.value_of.at(v)};
        c.output = add_view(s.output, slice.offset);
        c.kernel = hb::get_kernel(hb::NodeGroup{copy}, {m.layouts[c.inputs[0]]}, m.layouts[s.output], o.halide, slice.strides);
        distinct.insert(c.kernel->key());
        m.steps.push_back(std::move(c));
      }
      continue;
    }
    // A 3x3 convolution the backend computes as Winograd F(m x m, 3x3) reads its weight in
    // the Winograd form, which a kernel of its own computes from the weight: once per
    // parameter change where the weight is static (backends/halide/winograd.cpp). Its
    // group may have a prologue and write a folded concat's slice.
    // A weight an update replaces at every run (a training step's) is transformed at every
    // run too, which the backend weighs (weight_static).
    const ir::Node& anchor = *group[ir::anchor_index(group)];
    bool weight_static = anchor.inputs.size() < 2 || !updated_params.count(anchor.inputs[1]);
    if (hb::Layout wl = gpu || layout != hb::channels_last() ? hb::Layout{}
                                                             : hb::winograd_weight_layout(anchor, o.halide, weight_static);
        !wl.empty()) {
      size_t k = std::find(group_in.begin(), group_in.end(), anchor.inputs[1]) - group_in.begin();
      int from = s.inputs.at(k);
      auto key = std::make_pair(from, hb::layout_str(wl));
      if (!winograd_of.count(key)) {
        const ir::Value* wv = group_in[k];
        ir::Node* copy = m.copies.add_node("identity", {m.copies.add_input(m.copies.unique_name("w"), wv->type)}, {},
                                           anchor.name() + ".winograd_weight");  // (so --profile names it)
        Step c;
        c.node = copy;
        c.is_static = passes::is_static(wv);
        c.inputs = {from};
        add_value(copy->outputs[0], wl);
        c.output = m.value_of.at(copy->outputs[0]);
        c.kernel = hb::get_kernel(hb::NodeGroup{copy}, {m.layouts[from]}, wl, o.halide);
        distinct.insert(c.kernel->key());
        m.report.static_kernels += c.is_static;
        m.steps.push_back(std::move(c));
        winograd_of[key] = m.steps.back().output;
      }
      s.inputs[k] = winograd_of.at(key);
      in_layouts[k] = wl;
      ++m.report.winograd_convs;
    }
    m.report.winograd_convs += hb::winograd_weight_grad_m(anchor, o.halide) > 0;  // (its kernel's choice)
    s.kernel = hb::get_kernel(group, in_layouts, layout, o.halide, strides);
    distinct.insert(s.kernel->key());
    m.report.fused_groups += group.size() > 1;
    m.report.static_kernels += s.is_static;
    m.steps.push_back(std::move(s));
  }
  hb::CacheStats cs = hb::cache_stats();
  m.report.kernels = static_cast<int>(m.steps.size());
  m.report.distinct_kernels = static_cast<int>(distinct.size());
  m.report.compiled = cs.compiled;
  m.report.loaded_from_disk = cs.disk_hits;
  m.report.reused_in_memory = cs.memory_hits;
  for (const auto& n : m.graph.nodes())
    if (passes::is_stored(n->outputs[0]) && !passes::is_static(n->outputs[0]))
      m.report.activation_bytes_unplanned += 4 * n->outputs[0]->type.numel();
  std::set<int> counted;
  for (const auto& n : m.graph.nodes()) {
    const ir::Value* v = n->outputs[0];
    if (!m.value_of.count(v) || !passes::is_stored(v) || passes::is_static(v)) continue;
    int st = m.storage_of[m.value_of.at(v)];
    if (counted.insert(st).second) m.report.activation_bytes += 4 * static_cast<int64_t>(m.storage[st].size());
  }
  m.host_newer.assign(m.storage.size(), 0);
  m.device_newer.assign(m.storage.size(), 0);
  for (const ir::Value* v : m.graph.constants()) m.written_on_host(m.storage_of[m.value_of.at(v)]);
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
      int b = m.value_of.at(v);
      hb::to_layout(p.at(v->name), m.layouts[b], m.data(b));
      m.written_on_host(m.storage_of[b]);
    }
  }
  m.params_set = true;
  m.params_changed = true;
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
    int b = m.value_of.at(v);
    hb::to_layout(it->second, m.layouts[b], m.data(b));
    m.written_on_host(m.storage_of[b]);
  }
  if (m.gpu) {  // only what the host wrote crosses to the device
    m.make_device();
    for (size_t st = 0; st < m.storage.size(); ++st)
      if (m.host_newer[st]) m.device[st]->upload(m.storage[st].data());
    std::fill(m.host_newer.begin(), m.host_newer.end(), 0);
  }
  std::vector<hb::BufferRef> ins, outs;
  bool recompute_static = m.params_changed;
  for (Step& s : m.steps) {
    if (s.is_static && !recompute_static) continue;
    ins.clear();
    for (int i : s.inputs) ins.push_back(m.ref(i));
    outs = {m.ref(s.output)};
    if (s.second_output >= 0) outs.push_back(m.ref(s.second_output));
    if (m.gpu) {
      m.device_newer[m.storage_of[s.output]] = 1;
      if (s.second_output >= 0) m.device_newer[m.storage_of[s.second_output]] = 1;
    }
    if (!m.opts.profile) {
      s.kernel->run_buffers(ins, outs);
      continue;
    }
    if (!s.profile) {
      const ir::Node& node = *s.node;
      std::string op = ir::group_of(node) >= 0 ? "fused:" + node.op : node.op;
      std::string key = m.opts.profile_nodes ? op + " " + node.name() + " " + node.outputs[0]->type.str() : op;
      s.profile = &m.profile[key];  // (std::map: the entry stays where it is)
      s.profile->op = key;
    }
    auto t0 = std::chrono::steady_clock::now();
    s.kernel->run_buffers(ins, outs);
    if (m.gpu) m.device[m.storage_of[s.output]]->synchronize();  // (launches are asynchronous)
    s.profile->seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++s.profile->calls;
  }
  m.params_changed = !m.updates.empty();  // static kernels read parameters an update may change
  for (auto& [ov, pv] : m.updates) std::swap(m.storage_of[m.value_of.at(ov)], m.storage_of[m.value_of.at(pv)]);
  NamedTensors out;
  for (auto& [name, v] : m.graph.outputs()) {
    if (m.update_outputs.count(name)) continue;
    int b = m.value_of.at(v);
    m.to_host(m.storage_of[b]);
    HostTensor t(v->type.shape);
    hb::from_layout(m.data(b), m.layouts[b], t);
    out[name] = std::move(t);
  }
  return out;
}

std::string Executable::storage_layout(const std::string& value) const {
  const Impl& m = *impl_;
  if (m.opts.backend == Backend::Reference) throw Error("storage_layout: the reference backend stores every tensor in NCHW");
  const ir::Value* v = m.graph.find_value(value);
  if (!v || (v->kind != ir::ValueKind::Parameter && v->kind != ir::ValueKind::Constant))
    throw Error(fmt::format("storage_layout: model '{}' has no parameter or constant '{}'", m.graph.name(), value));
  return hb::layout_str(m.layouts[m.value_of.at(v)]);
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
    int b = m.value_of.at(v);
    m.to_host(m.storage_of[b]);
    HostTensor t(v->type.shape);
    hb::from_layout(m.data(b), m.layouts[b], t);
    p.set(v->name, std::move(t));
  }
  return p;
}

void Executable::reset_profile() {
  for (auto& [op, p] : impl_->profile) p.seconds = 0, p.calls = 0;
}

std::vector<OpProfile> Executable::profile() const {
  std::vector<OpProfile> v;
  for (auto& [op, p] : impl_->profile)
    if (p.calls) v.push_back(p);  // (a kernel not run since reset_profile: a static one)
  std::sort(v.begin(), v.end(), [](const OpProfile& a, const OpProfile& b) { return a.seconds > b.seconds; });
  return v;
}

// Whether no float in d[0, n) is a NaN or an infinity (all exponent bits set): a branch-free
// test over blocks, which the compiler vectorizes (the trainer scans every parameter each
// step: ResNet-50's weights and momenta took 19 ms a step with std::isfinite per float).
static bool finite(const float* d, size_t n) {
  constexpr uint32_t exponent = 0x7f800000u;
  for (size_t i = 0; i < n; i += 4096) {
    size_t end = std::min(n, i + 4096);
    uint32_t any = 0;
    for (size_t k = i; k < end; ++k) {
      uint32_t bits;
      std::memcpy(&bits, d + k, 4);
      any |= (bits & exponent) == exponent;
    }
    if (any) return false;
  }
  return true;
}

bool Executable::parameters_finite() const {
  const Impl& m = *impl_;
  for (const ir::Value* v : m.graph.parameters()) {
    if (m.opts.backend == Backend::Reference) {
      auto it = m.ref_params.find(v->name);
      if (it != m.ref_params.end() && !finite(it->second.ptr(), it->second.data.size())) return false;
      continue;
    }
    m.to_host(m.storage_of[m.value_of.at(v)]);
    if (!finite(m.buffer(v).data(), m.buffer(v).size())) return false;
  }
  return true;
}

std::string Executable::first_nonfinite() const {
  const Impl& m = *impl_;
  if (m.opts.backend == Backend::Reference) {
    for (const auto& n : m.graph.nodes()) {
      auto it = m.ref_values.find(n->outputs[0]->name);
      if (it != m.ref_values.end() && !finite(it->second.ptr(), it->second.data.size())) return n->name();
    }
    return "";
  }
  // Only values still in their storage can be checked: a slot the memory plan shares holds
  // the last value written to it (fusion-group interiors are never stored).
  for (size_t st = 0; st < m.storage.size(); ++st) m.to_host(static_cast<int>(st));
  std::map<int, const Step*> last_writer;
  for (const Step& s : m.steps) last_writer[m.storage_of[s.output]] = &s;
  for (const Step& s : m.steps) {
    const ir::Value* v = s.node->outputs[0];
    int st = m.storage_of[s.output];
    // An update's storage was swapped with its parameter's after the run.
    for (auto& [ov, pv] : m.updates)
      if (ov == v) st = m.storage_of[m.value_of.at(pv)];
    if (last_writer[m.storage_of[s.output]] != &s || m.is_view[s.output]) continue;
    int64_t n = v->type.numel();
    if (!finite(m.storage[st].data(), static_cast<size_t>(n))) return s.node->name();
  }
  return "";
}

}  // namespace strata::runtime
