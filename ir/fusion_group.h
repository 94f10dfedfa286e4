#pragma once
// Fusion groups: consecutive nodes annotated with the same "_group" id that run as one
// kernel. The first node is the anchor (any op: a convolution, a linear layer, a batch
// norm, a pooling...), or prologues and then the anchor; the rest are its elementwise
// epilogue, each reading the previous member's output (shape unchanged) and otherwise only
// values from outside the group. No member but the last has a use outside the group, so
// its output is never materialized.
// The verifier checks these rules; the Halide backend lowers a group to one pipeline
// whose schedule is the anchor's; the reference backend ignores the annotation.
#include <vector>

#include "ir/graph.h"

namespace strata::ir {

inline constexpr const char* kGroupAttr = "_group";
// A prologue: a pointwise node (prologue_fits) leading its group, marked "_prologue = 1",
// whose output one later member reads and nothing else: the anchor after it, a convolution
// or its weight gradient, as its input x, computed inside the anchor's loads (or its copy of
// x: squeeze-and-excitation's channel scale, a training batch norm and its activation); or
// an epilogue member, as an input it does not chain on, computed where that member is (a
// downsample block's second batch norm, which the add after the first reads). Prologues may
// form a chain, each reading the one before it (a batch norm, then its ReLU): the last is
// the one read.
inline constexpr const char* kPrologueAttr = "_prologue";
// What a prologue may be: an elementwise node, or a training batch norm given its batch
// statistics (then it is pointwise too).
bool prologue_fits(const Node& n);
// Whether `n` may read a prologue as its input 0 (x) when it is the anchor.
bool reads_prologue_as_x(const Node& n);

// A sibling: a node that ends a group and reads the previous member's output, marked
// "_sibling = 1"; the group then has two outputs, both stored: the previous member's and the
// sibling's. Two kinds:
// - a per-channel reduction of a convolution's (or its input gradient's) output, summed
//   inside the convolution's loops while each output tile is still in registers:
//   batch_norm_stats of a conv2d's output (the batch statistics), and a training
//   batch_norm_backward_weight {with_bias = 1} with its batch statistics given, of the dy a
//   conv2d_backward_input (with its epilogue) makes (the scale and bias gradients);
// - pointwise: momentum SGD's parameter step p' = p - lr * b' (optimizer_update {optimizer =
//   "sgd"}) after the momentum update b' of the same parameter, under any anchor (a weight
//   gradient's kernel): b' and p' are written from the same loops, in the same layout.
inline constexpr const char* kSiblingAttr = "_sibling";
// Which input of `n` a sibling reads the previous member's output through (-1: `n` cannot
// be a sibling), and the anchor op it needs (nullptr: any, for a pointwise sibling).
int sibling_input(const Node& n);
const char* sibling_anchor(const Node& n);
bool is_pointwise_sibling_op(const Node& n);
// Whether `sib` may follow `prev` (the member before it) under `anchor` as a sibling.
bool sibling_fits(const Node& anchor, const Node& prev, const Node& sib);

int group_of(const Node& n);  // -1 when the node is in no group
// Group ids 0, 1, 2, ... in the order the groups first appear (after a pass removed some).
void renumber_groups(Graph& g);
bool is_sibling(const Node& n);
// The values a group stores: the last member's output, or with a sibling the previous
// member's and then the sibling's.
std::vector<const Value*> group_outputs(const std::vector<const Node*>& group);
bool is_prologue(const Node& n);
// The anchor's position in a group: the number of prologues before it.
size_t anchor_index(const std::vector<const Node*>& group);
// Elementwise in the sense of an epilogue: output shaped like the input it chains on
// (activations, broadcasting arithmetic, eval-form batch norm, inference dropout).
bool is_elementwise(const Node& n);
// Which input of `n` an epilogue may chain through: those shaped like the output.
bool chainable_input(const Node& n, int input);

// A group's inputs from outside it, in kernel-argument order: each member's inputs in
// member order, but those a member of the group makes (a value may appear twice).
std::vector<const Value*> group_inputs(const std::vector<const Node*>& group);
// Which input of group[k] (k > 0) reads group[k - 1]'s output; -1 for an anchor after a
// prologue that a later member reads.
int chained_input(const std::vector<const Node*>& group, size_t k);
// Which input of group[k] (the anchor or a later member) reads the last prologue, or -1.
int prologue_input(const std::vector<const Node*>& group, size_t k);

// Groups in node order (each a list of consecutive nodes, anchor first); nodes in no
// group are not listed.
std::vector<std::vector<const Node*>> fusion_groups(const Graph& g);
// Throws strata::Error naming the group and node when a group breaks the rules above.
void verify_groups(const Graph& g);

}  // namespace strata::ir
