#pragma once
// Memory planning: which activation buffers can share storage. Kernels run in node order
// (a fusion group at its last member); a value lives from the kernel that writes it to the
// last kernel that reads it. Values whose lives do not overlap share a slot (best fit by
// size), and an elementwise op may write over an input that dies at it (in place). Graph
// outputs and values computed only from parameters (kept between runs) get slots of their
// own; inputs, parameters and constants are not activations and are not planned.
#include <cstdint>
#include <map>
#include <vector>

#include "ir/graph.h"

namespace strata::passes {

inline constexpr const char* kBufferAttr = "_buffer";
// fold-concat marks a concat "_fold = 1": the inputs folded_concat_inputs() accepts are
// written by their producers straight into their slice of the concat's buffer (a strided
// view), so the concat copies only the others (GoogLeNet, Inception, DenseNet).
inline constexpr const char* kFoldAttr = "_fold";
std::vector<bool> folded_concat_inputs(const ir::Graph& g, const ir::Node& concat);
// Every value written into a folded concat's buffer -> that concat.
std::map<const ir::Value*, const ir::Node*> folded_concat_views(const ir::Graph& g);

struct MemoryPlan {
  std::map<const ir::Value*, int> slot;  // every stored activation -> its slot
  std::vector<int64_t> slot_floats;      // each slot's size, in floats
  std::vector<bool> slot_static;         // holds a value computed from parameters (kept between runs)
  int64_t peak_bytes = 0;                // sum of the activation slots: activation memory with the plan
  int64_t unplanned_bytes = 0;           // one buffer per stored activation, as without it
  int64_t static_bytes = 0;              // values computed from parameters (bn-fold's weights)
};

// Values a graph stores: node outputs, except inside fusion groups (ir/fusion_group.h).
bool is_stored(const ir::Value* v);
// Values computed only from parameters and constants (bn-fold's folded weights): the
// runtime computes them when parameters change, so they are never reused.
bool is_static(const ir::Value* v);

MemoryPlan plan_memory(const ir::Graph& g);
// The plan read back from "_buffer" annotations (the memory-plan pass writes them).
MemoryPlan annotated_plan(const ir::Graph& g);

}  // namespace strata::passes
