#pragma once
// Reverse-mode automatic differentiation over the graph IR (DESIGN.md, fact 2 of every op).
// The backward pass is appended to the graph as ordinary ops (conv2d_backward_input,
// activation_grad, ...), so it is verified, lowered and scheduled like the forward pass.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace strata::passes {

// What a gradient rule sees: the node, the gradient of its output, which inputs need a
// gradient, and a builder appending ops to the graph.
struct GradContext {
  ir::Graph& g;
  const ir::Node& node;
  ir::Value* dy;
  std::vector<bool> needs;  // per input
  ir::Value* x(int i) const { return node.inputs.at(i); }
  ir::Value* y() const { return node.outputs.at(0); }
  // Appends a node named after the node being differentiated ("<node>.grad/<what>").
  ir::Value* op(const std::string& op, std::vector<ir::Value*> inputs, ir::AttrMap attrs, const std::string& what);
  ir::Value* scalar(float v, const std::string& what);  // a f32[1] constant
  // Sums dy over the axes a broadcast expanded, back to `shape`.
  ir::Value* unbroadcast(ir::Value* d, const Shape& shape, const std::string& what);
};

// Returns one gradient per input (nullptr where the input needs none). A rule may throw
// strata::Error for modes it cannot differentiate (pad in reflect mode, ...).
using GradRule = std::function<std::vector<ir::Value*>(GradContext&)>;

struct GradEntry {
  GradRule rule;               // empty: the op is not differentiable
  std::string not_differentiable;  // why, when rule is empty
};
// The gradient table: every op of ir::op_table() has an entry (a test checks it).
const std::map<std::string, GradEntry>& gradient_table();

// Appends the backward pass of `loss` (f32[1]) to g and returns d loss / d v for every v in
// `wrt` (a zero constant where v does not reach the loss). Only nodes between wrt and the
// loss are differentiated; a non-differentiable op on that path is an error naming it.
std::map<ir::Value*, ir::Value*> append_gradients(ir::Graph& g, ir::Value* loss, const std::vector<ir::Value*>& wrt);

// Registration of the rule families (gradient_rules_*.cpp).
void register_nn_gradients(std::map<std::string, GradEntry>& t);
void register_tensor_gradients(std::map<std::string, GradEntry>& t);

}  // namespace strata::passes
