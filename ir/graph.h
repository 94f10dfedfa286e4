#pragma once
// The graph IR: Values (SSA, one definition each) and Nodes (one op applied to values),
// with def-use lists. Nodes are kept in a topological order (every node after the nodes
// that produce its inputs); builders append, passes rebuild.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/attributes.h"
#include "ir/types.h"

namespace strata::ir {

struct Node;

// How a parameter is initialised: a name (kaiming_normal, xavier_uniform, zeros, ...)
// and its arguments (mode, nonlinearity, gain, value, ...).
struct InitSpec {
  std::string name = "zeros";
  AttrMap args;
  bool operator==(const InitSpec&) const = default;
};

enum class ValueKind { Input, Parameter, Constant, NodeOutput };

struct Value {
  int id = 0;
  std::string name;  // unique in the graph
  TensorType type;
  ValueKind kind = ValueKind::NodeOutput;
  Node* producer = nullptr;  // for NodeOutput
  int output_index = 0;
  std::vector<Node*> users;  // one entry per use (a node using it twice appears twice)
  // Parameter only.
  bool trainable = true;
  InitSpec init;
  // Constant only.
  std::shared_ptr<const HostTensor> data;
};

struct Node {
  int id = 0;
  std::string op;
  std::vector<Value*> inputs;
  std::vector<Value*> outputs;
  AttrMap attrs;
  const std::string& name() const { return outputs.at(0)->name; }

  int64_t attr_int(const std::string& k) const;
  double attr_float(const std::string& k) const;
  const std::string& attr_string(const std::string& k) const;
  const std::vector<int64_t>& attr_ints(const std::string& k) const;
  const std::vector<double>& attr_floats(const std::string& k) const;
};

class Graph {
 public:
  explicit Graph(std::string name = "graph") : name_(std::move(name)) {}
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  Graph(Graph&&) = default;
  Graph& operator=(Graph&&) = default;

  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }

  Value* add_input(const std::string& name, TensorType type);
  Value* add_parameter(const std::string& name, TensorType type, InitSpec init, bool trainable = true);
  Value* add_constant(const std::string& name, HostTensor data);
  // Appends a node: fills default attributes, checks attributes and input count
  // against the op table, infers output types. `name` is made unique if taken.
  Node* add_node(const std::string& op, std::vector<Value*> inputs, AttrMap attrs = {},
                 const std::string& name = "");
  // Like add_node, but with explicit output types (the parser uses it; the verifier
  // checks them against the shape rule).
  Node* add_node_typed(const std::string& op, std::vector<Value*> inputs, AttrMap attrs,
                       std::vector<std::pair<std::string, TensorType>> outputs);
  void add_output(const std::string& name, Value* v);

  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& parameters() const { return params_; }
  const std::vector<Value*>& constants() const { return constants_; }
  const std::vector<std::pair<std::string, Value*>>& outputs() const { return outputs_; }

  Value* find_value(const std::string& name) const;  // nullptr when absent
  Value* value(const std::string& name) const;       // throws when absent
  std::string unique_name(const std::string& base) const;

  // Shapes are static: re-infers every node's output type after giving each batched input
  // (rank 2 or more, with the first such input's leading dimension) a new leading dimension;
  // attributes that hold a re-batched value's batch (a backward's input_shape, a reshape's
  // shape, a slice over the batch) follow it.
  void set_batch_size(int64_t n);
  // The leading dimension of the first input of rank 2 or more (the batch set_batch_size
  // changes), or 1 where there is none.
  int64_t batch_size() const;
  // Re-runs every node's shape rule in order (after inputs changed), `before_each` first.
  void reinfer_shapes(const std::function<void(Node&)>& before_each = {});

 private:
  Value* new_value(const std::string& name, TensorType type, ValueKind kind);
  std::string name_;
  std::vector<std::unique_ptr<Value>> values_;
  std::unordered_map<std::string, Value*> by_name_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Value*> inputs_, params_, constants_;
  std::vector<std::pair<std::string, Value*>> outputs_;
  int next_id_ = 0;
};

// Deep copy (values keep names; constant data is shared, it is immutable).
Graph clone(const Graph& g);

}  // namespace strata::ir
