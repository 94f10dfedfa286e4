#pragma once
// Element types, shapes and tensor types of the IR, and HostTensor, a dense NCHW
// (row-major) array of floats used for constants, parameters and I/O.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace strata {

// Only f32 is computed today; the others are named so the IR, text form and files can
// carry them when kernels for them land.
enum class DataType : uint8_t { f32 = 0, f16 = 1, bf16 = 2, i32 = 3, i64 = 4, boolean = 5 };

const char* dtype_name(DataType t);
DataType dtype_from_name(const std::string& s);  // throws strata::Error
int dtype_size(DataType t);

using Shape = std::vector<int64_t>;
int64_t num_elements(const Shape& s);
std::string shape_str(const Shape& s);  // "[1, 16, 28, 28]"

struct TensorType {
  DataType dtype = DataType::f32;
  Shape shape;
  int rank() const { return static_cast<int>(shape.size()); }
  int64_t numel() const { return num_elements(shape); }
  bool operator==(const TensorType&) const = default;
  std::string str() const;  // "f32[1, 16, 28, 28]"
};

// Row-major (logical NCHW) float data.
struct HostTensor {
  Shape shape;
  std::vector<float> data;
  HostTensor() = default;
  explicit HostTensor(Shape s, float fill = 0.f) : shape(std::move(s)), data(num_elements(shape), fill) {}
  HostTensor(Shape s, std::vector<float> d);
  int64_t numel() const { return static_cast<int64_t>(data.size()); }
  float* ptr() { return data.data(); }
  const float* ptr() const { return data.data(); }
};

// Tensors by name: graph inputs and outputs, parameter values.
using NamedTensors = std::map<std::string, HostTensor>;

}  // namespace strata
