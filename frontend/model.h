#pragma once
// The DSL's Model builder and Tensor handles. A Model owns an ir::Graph; layer functions
// (frontend/layers.h) append nodes and create their parameters.
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace strata::dsl {

// Models are built with batch 1; shapes are static, so a graph is re-batched before
// compiling (ir::Graph::set_batch_size).
inline constexpr int64_t kBatch = 1;

class Model;

class Tensor {
 public:
  Tensor() = default;
  Tensor(Model* m, ir::Value* v) : model_(m), value_(v) {}
  bool defined() const { return value_ != nullptr; }
  Model& model() const;
  ir::Value* value() const;
  const Shape& shape() const { return value()->type.shape; }
  int rank() const { return static_cast<int>(shape().size()); }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t channels() const { return dim(1); }
  const std::string& name() const { return value()->name; }

 private:
  Model* model_ = nullptr;
  ir::Value* value_ = nullptr;
};

class Model {
 public:
  explicit Model(std::string name);
  Model(Model&&) = default;
  Model& operator=(Model&&) = default;

  Tensor input(const std::string& name, Shape shape);
  void output(const std::string& name, Tensor t);

  // Creates a parameter named <scope>.<layer>.<local> (torchvision style).
  Tensor parameter(const std::string& full_name, Shape shape, ir::InitSpec init, bool trainable = true);
  Tensor constant(const std::string& name, HostTensor data);

  // Adds a node of `op`; `name` is the layer name (already scoped) or empty for an
  // automatic one.
  Tensor apply(const std::string& op, std::vector<Tensor> inputs, ir::AttrMap attrs = {}, const std::string& name = "");

  // Naming: scopes nest ("layer1" then "0" gives "layer1.0"); layers without a name get
  // <scope>.<prefix><k> with k counting per scope and prefix (conv1, conv2, bn1, ...).
  class Scope {
   public:
    Scope(Model* m, const std::string& name);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Model* m_;
  };
  Scope scope(const std::string& name) { return Scope(this, name); }
  std::string scoped(const std::string& local) const;
  std::string layer_name(const std::string& given, const std::string& prefix);

  // Initializer hints: a weight created with the default (Xavier) initializer switches to
  // He/Kaiming when a ReLU-family activation follows its layer (through batch norm).
  void mark_default_init(ir::Value* weight) { default_init_.insert(weight); }
  void hint_nonlinearity(const Tensor& pre_activation, const std::string& nonlinearity, double a = 0);

  ir::Graph& graph() { return graph_; }
  const ir::Graph& graph() const { return graph_; }
  const std::string& name() const { return graph_.name(); }
  std::string summary() const;

 private:
  ir::Graph graph_;
  std::vector<std::string> scopes_;
  std::vector<std::pair<std::string, int>> counters_;  // "<scope>|<prefix>" -> count
  std::set<ir::Value*> default_init_;
};

}  // namespace strata::dsl
