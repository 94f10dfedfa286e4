#pragma once
// The one Halide runtime every kernel library binds to (kernel_cache.cpp compiles and loads
// it): the entry points the backend calls itself, for GPU memory and copies.
#include <HalideRuntime.h>

#include "backends/halide/halide_backend.h"

namespace strata::halide_backend {

struct Runtime {
  void* handle = nullptr;
  int (*copy_to_host)(void*, halide_buffer_t*) = nullptr;
  int (*copy_to_device)(void*, halide_buffer_t*, const halide_device_interface_t*) = nullptr;
  int (*device_malloc)(void*, halide_buffer_t*, const halide_device_interface_t*) = nullptr;
  int (*device_free)(void*, halide_buffer_t*) = nullptr;
  int (*device_sync)(void*, halide_buffer_t*) = nullptr;
  const halide_device_interface_t* cuda = nullptr;
};
const Runtime& runtime();  // loads it on first use; throws strata::Error when it cannot
// (The runtime's error messages per thread: halide_backend.h's last_runtime_error.)

}  // namespace strata::halide_backend
