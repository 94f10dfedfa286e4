#pragma once
// NumPy .npy files (format 1.0, 2.0 and 3.0 read; 1.0 written, 2.0 when the header needs
// it). Only little-endian float32 in C order is accepted; anything else is a clear error.
#include <string>

#include "ir/types.h"

namespace strata::runtime {

HostTensor read_npy(const std::string& path);
HostTensor parse_npy(const std::string& bytes, const std::string& source);
void write_npy(const std::string& path, const HostTensor& t);  // atomic
std::string serialize_npy(const HostTensor& t);

}  // namespace strata::runtime
