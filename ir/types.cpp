#include "ir/types.h"

#include <fmt/format.h>

#include "ir/error.h"

namespace strata {

const char* dtype_name(DataType t) {
  switch (t) {
    case DataType::f32: return "f32";
    case DataType::f16: return "f16";
    case DataType::bf16: return "bf16";
    case DataType::i32: return "i32";
    case DataType::i64: return "i64";
    case DataType::boolean: return "bool";
  }
  return "?";
}

DataType dtype_from_name(const std::string& s) {
  for (auto t : {DataType::f32, DataType::f16, DataType::bf16, DataType::i32, DataType::i64,
                 DataType::boolean})
    if (s == dtype_name(t)) return t;
  throw Error(fmt::format("unknown dtype '{}' (expected f32, f16, bf16, i32, i64 or bool)", s));
}

int dtype_size(DataType t) {
  switch (t) {
    case DataType::f32: case DataType::i32: return 4;
    case DataType::f16: case DataType::bf16: return 2;
    case DataType::i64: return 8;
    case DataType::boolean: return 1;
  }
  return 0;
}

int64_t num_elements(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

std::string TensorType::str() const { return std::string(dtype_name(dtype)) + shape_str(shape); }

HostTensor::HostTensor(Shape s, std::vector<float> d) : shape(std::move(s)), data(std::move(d)) {
  if (num_elements(shape) != static_cast<int64_t>(data.size()))
    throw Error(fmt::format("HostTensor: shape {} needs {} elements, got {}", shape_str(shape),
                            num_elements(shape), data.size()));
}

}  // namespace strata
