#pragma once
// The op table: for every op its inputs, typed attributes with defaults and its shape
// rule (DESIGN.md, "One op, four facts": this is fact 1). One entry per op.
#include <array>
#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace strata::ir {

struct AttrDef {
  std::string name;
  AttrKind kind;
  Attr default_value;
};

enum class OpClass {
  Unary,   // elementwise, one input (activations)
  Binary,  // elementwise with broadcasting
  Other,
};

struct OpDef {
  std::string name;
  // Input names. A name ending in '?' is optional (only at the end); a single name
  // ending in "..." takes one or more inputs.
  std::vector<std::string> inputs;
  std::vector<AttrDef> attrs;
  std::function<std::vector<TensorType>(const Node&)> infer;
  // Multiply-accumulates of one execution, for summary(); absent means 0.
  std::function<int64_t(const Node&)> macs;
  OpClass cls = OpClass::Other;
  std::string doc;
};

const std::vector<OpDef>& op_table();
const OpDef& op_def(const std::string& op);  // throws strata::Error for unknown ops
bool is_op(const std::string& op);

// Attributes named "_..." are annotations that passes add to any op (MLIR's discardable
// attributes): "_group" (fusion group, ir/fusion_group.h), "_buffer" (memory plan slot).
// They never change what a node computes, and kernels are keyed without them.
inline bool is_annotation(const std::string& attr) { return !attr.empty() && attr[0] == '_'; }
// Fills attributes left out with their defaults; rejects unknown attributes and
// attributes of the wrong kind (an int literal is accepted where a float is expected).
void complete_attrs(const OpDef& def, Node& n);
// Checks the number of inputs against the op's signature.
void check_inputs(const OpDef& def, const Node& n);

// Error helpers used by shape rules: they name the node, the op, the input and shapes.
[[noreturn]] void shape_error(const Node& n, const std::string& msg);
[[noreturn]] void input_error(const Node& n, int input, const std::string& msg);
std::string input_name(const Node& n, int input);
void expect_rank(const Node& n, int input, int rank);
// Batch norm's optional "batch_stats" input (from batch_norm_stats, set by the
// fuse-bn-stats pass): when input `i` exists it must be f32[2, C] (mean; biased variance),
// on an op in training form where the op has a training attribute.
void expect_batch_stats(const Node& n, int input, int64_t channels);

// Resolved spatial padding of conv2d / pools: {top, left, bottom, right}.
std::array<int64_t, 4> conv_padding(const Node& n);
// conv2d's geometry (and that of its gradient ops), read once: padding resolved,
// {h, w} strides and dilations, groups.
struct ConvGeometry {
  std::array<int64_t, 4> pad;
  std::vector<int64_t> stride, dilation;
  int64_t groups;
};
ConvGeometry conv_geometry(const Node& n);
// Output shape of max_pool2d / avg_pool2d (and their gradients) on an input of shape x.
Shape pool_output_shape(const Node& n, const Shape& x);
// Normalises a possibly negative axis against a rank; throws naming the node.
int normalize_axis(const Node& n, int64_t axis, int rank);
// NumPy broadcasting of two shapes; throws naming the node on mismatch.
Shape broadcast_shapes(const Node& n, const Shape& a, const Shape& b);

// Registration, one per family of ops (each in its own file).
void register_nn_ops(std::vector<OpDef>& table);
void register_tensor_ops(std::vector<OpDef>& table);
void register_activation_ops(std::vector<OpDef>& table);
void register_gradient_ops(std::vector<OpDef>& table);
void register_training_ops(std::vector<OpDef>& table);

}  // namespace strata::ir
