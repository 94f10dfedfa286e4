#pragma once
// Storage for tensors of a compiled model. Buffers of 1 MiB and more are 2 MiB-aligned and
// advised as transparent huge pages (Linux's default "madvise" mode gives none otherwise):
// a convolution reading one output-channel tile of a 9 MiB weight touches a cache line in
// every 4 KiB page of it, more pages than the TLB holds. Smaller buffers are 64-byte
// aligned (one cache line, a whole AVX-512 vector).
#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

#include "backends/halide/buffer_pool.h"

namespace strata::runtime {

template <class T>
struct PageAllocator {
  using value_type = T;

  PageAllocator() = default;
  template <class U>
  PageAllocator(const PageAllocator<U>&) noexcept {}

  T* allocate(size_t n) {
    size_t bytes = n * sizeof(T);
    void* p = halide_backend::aligned_pages(bytes, bytes >= (size_t{1} << 20) ? halide_backend::kHugePage : 64);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) noexcept { std::free(p); }

  template <class U>
  bool operator==(const PageAllocator<U>&) const noexcept { return true; }
};

// A float buffer in such storage.
using FloatBuffer = std::vector<float, PageAllocator<float>>;

}  // namespace strata::runtime
