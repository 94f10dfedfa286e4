#include <fmt/format.h>

#include <sstream>

#include "ir/text_format.h"

namespace strata::ir {

static std::string attrs_str(const AttrMap& attrs) {
  if (attrs.empty()) return "";
  std::vector<std::string> parts;
  for (auto& [k, v] : attrs) parts.push_back(fmt::format("{} = {}", k, attr_str(v)));
  return fmt::format(" {{{}}}", fmt::join(parts, ", "));
}

std::string print(const Graph& g) {
  std::ostringstream out;
  out << "graph " << g.name() << " {\n";
  for (const Value* v : g.inputs()) out << fmt::format("  input %{} : {}\n", v->name, v->type.str());
  for (const Value* v : g.parameters())
    out << fmt::format("  param %{} : {}{} init {}{}\n", v->name, v->type.str(), v->trainable ? "" : " frozen",
                       v->init.name, attrs_str(v->init.args));
  for (const Value* v : g.constants()) {
    std::vector<double> d(v->data->data.begin(), v->data->data.end());
    out << fmt::format("  const %{} : {} = {}\n", v->name, v->type.str(), attr_str(Attr(d)));
  }
  for (const auto& n : g.nodes()) {
    std::vector<std::string> outs, types, ins;
    for (const Value* v : n->outputs) outs.push_back("%" + v->name), types.push_back(v->type.str());
    for (const Value* v : n->inputs) ins.push_back("%" + v->name);
    out << fmt::format("  {} = {}({}){} : {}\n", fmt::join(outs, ", "), n->op, fmt::join(ins, ", "),
                       attrs_str(n->attrs), fmt::join(types, ", "));
  }
  for (auto& [name, v] : g.outputs()) out << fmt::format("  output {} = %{}\n", attr_str(Attr(name)), v->name);
  out << "}\n";
  return out.str();
}

std::string to_dot(const Graph& g) {
  std::ostringstream out;
  auto id = [](const Value* v) { return fmt::format("v{}", v->id); };
  out << "digraph \"" << g.name() << "\" {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n";
  for (const Value* v : g.inputs())
    out << fmt::format("  {} [shape=ellipse, style=filled, fillcolor=\"#d0e8ff\", label=\"{}\\n{}\"];\n", id(v),
                       v->name, v->type.str());
  for (const auto& n : g.nodes()) {
    const Value* o = n->outputs[0];
    out << fmt::format("  {} [shape=box, style=rounded, label=\"{}\\n{}\\n{}\"];\n", id(o), n->op, n->name(),
                       o->type.str());
    for (const Value* in : n->inputs) {
      if (in->kind == ValueKind::Parameter || in->kind == ValueKind::Constant) continue;  // keep the picture readable
      out << fmt::format("  {} -> {};\n", id(in), id(o));
    }
  }
  for (auto& [name, v] : g.outputs()) {
    out << fmt::format("  out_{} [shape=ellipse, style=filled, fillcolor=\"#ffe0c0\", label=\"{}\"];\n", v->id, name);
    out << fmt::format("  {} -> out_{};\n", id(v), v->id);
  }
  out << "}\n";
  return out.str();
}

}  // namespace strata::ir
