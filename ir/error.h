#pragma once
// strata::Error: the one exception type for user-facing errors (bad DSL use, shape
// mismatches, bad files, bad flags). Messages name what is wrong and where.
#include <stdexcept>
#include <string>

namespace strata {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace strata
