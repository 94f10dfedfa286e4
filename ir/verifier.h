#pragma once
#include "ir/graph.h"

namespace strata::ir {

// Checks every rule of the IR; the first violation raises strata::Error naming the node,
// the op, the input and the shapes involved. `context` (e.g. "after pass bn-fold")
// prefixes the message when given.
void verify(const Graph& g, const std::string& context = "");

}  // namespace strata::ir
