#pragma once
// The text form of a graph (grammar in docs/ir_text_format.md). parse(print(g)) rebuilds
// g exactly: print(parse(print(g))) == print(g).
#include <string>

#include "ir/graph.h"

namespace strata::ir {

std::string print(const Graph& g);
// Throws strata::Error with line and column on malformed text; the result is verified.
Graph parse(const std::string& text, const std::string& source_name = "<text>");
// Graphviz DOT: one box per node (op, name, output shape), inputs and parameters as ellipses.
std::string to_dot(const Graph& g);

}  // namespace strata::ir
