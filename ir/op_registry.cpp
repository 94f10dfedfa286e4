#include "ir/op_registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "ir/error.h"

namespace strata::ir {

const std::vector<OpDef>& op_table() {
  static const std::vector<OpDef> table = [] {
    std::vector<OpDef> t;
    register_nn_ops(t);
    register_tensor_ops(t);
    register_activation_ops(t);
    register_gradient_ops(t);
    register_training_ops(t);
    std::sort(t.begin(), t.end(), [](const OpDef& a, const OpDef& b) { return a.name < b.name; });
    return t;
  }();
  return table;
}

bool is_op(const std::string& op) {
  const auto& t = op_table();
  return std::any_of(t.begin(), t.end(), [&](const OpDef& d) { return d.name == op; });
}

const OpDef& op_def(const std::string& op) {
  for (const OpDef& d : op_table())
    if (d.name == op) return d;
  throw Error(fmt::format("unknown op '{}'", op));
}

void complete_attrs(const OpDef& def, Node& n) {
  for (auto& [k, v] : n.attrs) {
    if (is_annotation(k)) {  // pass-added, op-independent (fusion group, buffer slot)
      if (attr_kind(v) != AttrKind::Int) shape_error(n, fmt::format("annotation '{}' must be an int", k));
      continue;
    }
    auto it = std::find_if(def.attrs.begin(), def.attrs.end(), [&](const AttrDef& a) { return a.name == k; });
    if (it == def.attrs.end()) {
      std::vector<std::string> names;
      for (auto& a : def.attrs) names.push_back(a.name);
      shape_error(n, fmt::format("unknown attribute '{}' (this op has: {})", k,
                                 names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
    }
    AttrKind got = attr_kind(v);
    if (got == it->kind) continue;
    // Ints are accepted where floats are expected; an empty list fits either list kind.
    if (it->kind == AttrKind::Float && got == AttrKind::Int) {
      v = static_cast<double>(std::get<int64_t>(v));
    } else if (it->kind == AttrKind::Floats && got == AttrKind::Ints) {
      auto& iv = std::get<std::vector<int64_t>>(v);
      v = std::vector<double>(iv.begin(), iv.end());
    } else if (it->kind == AttrKind::Ints && got == AttrKind::Floats &&
               std::get<std::vector<double>>(v).empty()) {
      v = std::vector<int64_t>{};
    } else {
      shape_error(n, fmt::format("attribute '{}' must be {}, got {} {}", k, attr_kind_name(it->kind),
                                 attr_kind_name(got), attr_str(v)));
    }
  }
  for (const AttrDef& a : def.attrs)
    if (!n.attrs.count(a.name)) n.attrs[a.name] = a.default_value;
}

void check_inputs(const OpDef& def, const Node& n) {
  size_t required = 0, max = def.inputs.size();
  bool variadic = !def.inputs.empty() && def.inputs.back().ends_with("...");
  for (auto& s : def.inputs)
    if (!s.ends_with("?") && !s.ends_with("...")) ++required;
  if (variadic) required = std::max<size_t>(required, def.inputs.size()), max = SIZE_MAX;
  for (size_t i = 0; i < n.inputs.size(); ++i)
    if (!n.inputs[i]) shape_error(n, fmt::format("input {} is null (a tensor handle from no model?)", i));
  if (n.inputs.size() < required || n.inputs.size() > max) {
    std::string want = variadic ? fmt::format("at least {}", required)
                       : required == max ? fmt::format("{}", required)
                                         : fmt::format("{} to {}", required, max);
    shape_error(n, fmt::format("takes {} inputs ({}), got {}", want, fmt::join(def.inputs, ", "),
                               n.inputs.size()));
  }
}

std::string input_name(const Node& n, int input) {
  const OpDef* def = nullptr;
  for (const OpDef& d : op_table())
    if (d.name == n.op) def = &d;
  if (!def || def->inputs.empty()) return std::to_string(input);
  if (def->inputs.back().ends_with("...") && input >= static_cast<int>(def->inputs.size()) - 1) {
    std::string base = def->inputs.back().substr(0, def->inputs.back().size() - 3);
    return fmt::format("{}[{}]", base, input - (static_cast<int>(def->inputs.size()) - 1));
  }
  if (input >= static_cast<int>(def->inputs.size())) return std::to_string(input);
  std::string s = def->inputs[input];
  if (s.ends_with("?")) s.pop_back();
  return s;
}

void shape_error(const Node& n, const std::string& msg) {
  std::vector<std::string> ins;
  for (size_t i = 0; i < n.inputs.size(); ++i)
    if (n.inputs[i])
      ins.push_back(fmt::format("{}=%{}:{}", input_name(n, static_cast<int>(i)), n.inputs[i]->name,
                                n.inputs[i]->type.str()));
  throw Error(fmt::format("node '{}' ({}): {} [inputs: {}]", n.outputs.empty() ? "?" : n.name(), n.op, msg,
                          fmt::join(ins, ", ")));
}

void input_error(const Node& n, int input, const std::string& msg) {
  shape_error(n, fmt::format("input '{}' {}: {}", input_name(n, input), n.inputs.at(input)->type.str(), msg));
}

std::array<int64_t, 4> conv_padding(const Node& n) {
  if (n.attrs.count("auto_pad") && n.attr_string("auto_pad") == "same") {
    const auto& x = n.inputs.at(0)->type.shape;
    std::vector<int64_t> k, s, d{1, 1};
    if (n.op == "conv2d") {
      const auto& w = n.inputs.at(1)->type.shape;
      k = {w.at(2), w.at(3)};
      d = n.attr_ints("dilation");
    } else {
      k = n.attr_ints("kernel_size");
    }
    s = n.attr_ints("stride");
    if (s.empty()) s = k;
    // TensorFlow/ONNX SAME_UPPER: output = ceil(input / stride); the odd pixel goes last.
    std::array<int64_t, 4> p{};
    for (int i = 0; i < 2; ++i) {
      int64_t in = x.at(2 + i), out = (in + s[i] - 1) / s[i];
      int64_t total = std::max<int64_t>((out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in, 0);
      p[i] = total / 2;
      p[i + 2] = total - total / 2;
    }
    return p;
  }
  const auto& p = n.attr_ints("padding");
  if (p.size() == 2) return {p[0], p[1], p[0], p[1]};
  if (p.size() == 4) return {p[0], p[1], p[2], p[3]};
  shape_error(n, fmt::format("padding must have 2 ({{h, w}}) or 4 ({{top, left, bottom, right}}) values, got {}",
                             attr_str(n.attrs.at("padding"))));
}

ConvGeometry conv_geometry(const Node& n) {
  return {conv_padding(n), n.attr_ints("stride"), n.attr_ints("dilation"), n.attr_int("groups")};
}

int normalize_axis(const Node& n, int64_t axis, int rank) {
  if (axis < -rank || axis >= rank)
    shape_error(n, fmt::format("axis {} is out of range for rank {}", axis, rank));
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

Shape broadcast_shapes(const Node& n, const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      shape_error(n, fmt::format("shapes {} and {} do not broadcast (dimension {}: {} vs {})", shape_str(a),
                                 shape_str(b), i, da, db));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void expect_rank(const Node& n, int input, int rank) {
  if (n.inputs[input]->type.rank() != rank)
    input_error(n, input, fmt::format("expected rank {}, got rank {}", rank, n.inputs[input]->type.rank()));
}

void expect_batch_stats(const Node& n, int input, int64_t channels) {
  if (static_cast<int>(n.inputs.size()) <= input) return;
  if (n.inputs[input]->type.shape != Shape{2, channels})
    input_error(n, input, fmt::format("must be f32[2, {}] (mean; biased variance per channel), got {}", channels,
                                      n.inputs[input]->type.str()));
  if (n.attrs.count("training") && n.attr_int("training") == 0)
    input_error(n, input, "batch statistics are only read with training = 1");
}

}  // namespace strata::ir
