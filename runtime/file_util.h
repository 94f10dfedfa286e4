#pragma once
// Whole-file reads with clear errors, and atomic writes (temporary file, then rename), so
// no file a user had is ever left half-written.
#include <string>

namespace strata::runtime {

std::string read_binary_file(const std::string& path, const char* what);
void write_file_atomic(const std::string& path, const std::string& bytes, const char* what);

}  // namespace strata::runtime
