#pragma once
// Parameter values by name, and the weights file.
//
// Weights file (little-endian): "STRATAW\0", u32 format version, u32 tensor count; per
// tensor: u32 name length, name, u8 dtype, u32 rank, i64 dims[rank], u64 data bytes, data;
// then a u32 CRC-32 of everything before it. Written to a temporary file and renamed.
#include <string>

#include "ir/graph.h"

namespace strata::runtime {

class ParameterStore {
 public:
  ParameterStore() = default;
  // Every parameter of the graph, initialised per its InitSpec.
  static ParameterStore initialize(const ir::Graph& g, uint64_t seed = 0);
  static ParameterStore load(const std::string& path);
  void save(const std::string& path) const;

  // Throws naming each parameter that is missing or has the wrong shape.
  void check_against(const ir::Graph& g) const;

  bool contains(const std::string& name) const { return tensors_.count(name) > 0; }
  HostTensor& at(const std::string& name);
  const HostTensor& at(const std::string& name) const;
  void set(const std::string& name, HostTensor t) { tensors_[name] = std::move(t); }
  const NamedTensors& tensors() const { return tensors_; }
  size_t size() const { return tensors_.size(); }

  static constexpr uint32_t kFormatVersion = 1;

 private:
  NamedTensors tensors_;
};

}  // namespace strata::runtime
