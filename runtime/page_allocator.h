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

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace strata::runtime {

template <class T>
struct PageAllocator {
  using value_type = T;
  static constexpr size_t kHuge = size_t{2} << 20;

  PageAllocator() = default;
  template <class U>
  PageAllocator(const PageAllocator<U>&) noexcept {}

  T* allocate(size_t n) {
    size_t bytes = n * sizeof(T);
    size_t align = bytes >= (size_t{1} << 20) ? kHuge : 64;
    size_t rounded = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, rounded == 0 ? align : rounded);
    if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == kHuge) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) noexcept { std::free(p); }

  template <class U>
  bool operator==(const PageAllocator<U>&) const noexcept { return true; }
};

// A float buffer in such storage.
using FloatBuffer = std::vector<float, PageAllocator<float>>;

}  // namespace strata::runtime
