#pragma once
// A pool for the buffers Halide kernels allocate while they run (halide_malloc): Winograd's
// transformed tiles, a convolution's padded input, a weight gradient's packed input. See
// buffer_pool.cpp for why.
#include <cstddef>
#include <cstdint>

namespace strata::halide_backend {

// halide_malloc / halide_free replacements (installed in the shared Halide runtime by the
// kernel cache): 128-byte aligned, with 128 readable bytes before and after the block.
void* pool_malloc(void* user_context, size_t bytes);
void pool_free(void* user_context, void* ptr);

struct PoolStats {
  int64_t cached_bytes = 0;  // freed blocks kept for reuse
  int64_t reused = 0;        // allocations served from them
  int64_t fresh = 0;         // allocations of pooled sizes that were not
};
PoolStats pool_stats();
// Blocks from `kPoolMinBytes` up are pooled, at most `kPoolMaxCachedBytes` of them cached.
constexpr size_t kPoolMinBytes = size_t{64} << 10;
constexpr int64_t kPoolMaxCachedBytes = int64_t{1} << 30;
void pool_release();  // frees every cached block

// `bytes` (at least 1) rounded up to `align`, from aligned_alloc; with align kHugePage also
// advised as transparent huge pages before the first touch (Linux's default "madvise" mode
// gives none otherwise). Null when out of memory; freed with std::free. The pool's blocks
// and the executable's buffers (runtime/page_allocator.h) both come from here.
constexpr size_t kHugePage = size_t{2} << 20;
void* aligned_pages(size_t bytes, size_t align);

}  // namespace strata::halide_backend
