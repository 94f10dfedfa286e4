// Device memory that outlives kernels (DeviceBuffer, halide_backend.h): allocated through
// the Halide runtime's CUDA interface, so kernels take its address as their buffers' own.
// A CUDA device address is a plain CUdeviceptr, so a view into it (a memory-plan slot's
// value, a folded concat's slice) is its base plus an offset in bytes.
#include <fmt/format.h>

#include "backends/halide/halide_backend.h"
#include "backends/halide/halide_runtime.h"
#include "ir/error.h"

namespace strata::halide_backend {

struct DeviceBuffer::Impl {
  halide_dimension_t dim{};
  halide_buffer_t buf{};
};

// The whole buffer, its host side at `host` (a copy's other end).
static halide_buffer_t with_host(const halide_buffer_t& b, float* host) {
  halide_buffer_t r = b;
  r.host = reinterpret_cast<uint8_t*>(host);
  return r;
}

DeviceBuffer::DeviceBuffer(int64_t n) : impl_(std::make_unique<Impl>()) {
  const Runtime& rt = runtime();
  if (n <= 0 || n > INT32_MAX) throw Error(fmt::format("device buffer: {} floats is out of range", n));
  impl_->dim = halide_dimension_t(0, static_cast<int32_t>(n), 1);
  halide_buffer_t& b = impl_->buf;
  b.type = halide_type_t(halide_type_float, 32);
  b.dimensions = 1;
  b.dim = &impl_->dim;
  clear_runtime_error();
  if (int rc = rt.device_malloc(nullptr, &b, rt.cuda); rc != 0 || !b.device)
    throw Error(fmt::format("cannot allocate {:.1f} MiB on the CUDA device (Halide error {}): {}", 4.0 * n / (1 << 20), rc,
                            last_runtime_error()));
}

DeviceBuffer::~DeviceBuffer() {
  if (impl_->buf.device) runtime().device_free(nullptr, &impl_->buf);
}

uint64_t DeviceBuffer::address(int64_t offset) const { return impl_->buf.device + 4 * static_cast<uint64_t>(offset); }
int64_t DeviceBuffer::size() const { return impl_->dim.extent; }

void DeviceBuffer::upload(const float* host) {
  const Runtime& rt = runtime();
  halide_buffer_t r = with_host(impl_->buf, const_cast<float*>(host));
  r.flags = halide_buffer_flag_host_dirty;
  clear_runtime_error();
  if (int rc = rt.copy_to_device(nullptr, &r, rt.cuda))
    throw Error(fmt::format("copying {} floats to the CUDA device failed (Halide error {}): {}", size(), rc, last_runtime_error()));
}

void DeviceBuffer::download(float* host) {
  halide_buffer_t r = with_host(impl_->buf, host);
  r.flags = halide_buffer_flag_device_dirty;
  clear_runtime_error();
  if (int rc = runtime().copy_to_host(nullptr, &r))
    throw Error(fmt::format("copying {} floats from the CUDA device failed (Halide error {}): {}", size(), rc, last_runtime_error()));
}

void DeviceBuffer::synchronize() {
  // (The CUDA runtime synchronizes its context; a buffer only names the interface.)
  if (int rc = runtime().device_sync(nullptr, &impl_->buf))
    throw Error(fmt::format("synchronizing the CUDA device failed (Halide error {})", rc));
}

}  // namespace strata::halide_backend
