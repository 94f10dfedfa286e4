#pragma once
// Passes rebuild graphs (ir/graph.h): a Rewriter copies the inputs and parameters of a
// source graph into a fresh one (constants at their first use, so unused ones vanish) and
// maps source values to new values, so a pass walks the source nodes in order and either
// copies each one or emits something else.
#include <unordered_map>

#include "ir/graph.h"

namespace strata::passes {

// v is read by one node and is not a graph output (what folding a producer into its
// consumer needs).
bool single_use(const ir::Graph& g, const ir::Value* v);

class Rewriter {
 public:
  explicit Rewriter(const ir::Graph& source);

  ir::Graph& graph() { return out_; }
  ir::Value* operator()(const ir::Value* v);  // the new value standing for source value v
  void replace(const ir::Value* source_value, ir::Value* now) { map_[source_value] = now; }
  bool mapped(const ir::Value* v) const { return map_.count(v) > 0; }

  // Copies a source node (same op, mapped inputs, same output names); attrs default to its own.
  ir::Node* copy(const ir::Node& n);
  ir::Node* copy(const ir::Node& n, ir::AttrMap attrs);
  // Adds a node whose outputs stand for the source node's (same first-output name).
  ir::Node* emit_for(const ir::Node& n, const std::string& op, std::vector<ir::Value*> inputs, ir::AttrMap attrs);

  // Maps the source graph's outputs and returns the new graph.
  ir::Graph finish();

 private:
  const ir::Graph& src_;
  ir::Graph out_;
  std::unordered_map<const ir::Value*, ir::Value*> map_;
};

}  // namespace strata::passes
