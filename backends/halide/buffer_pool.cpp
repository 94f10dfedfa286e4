// Halide kernels allocate their internal buffers with halide_malloc at every call and free
// them before returning. glibc serves blocks over its mmap threshold (128 KiB, raised as
// such blocks are freed, and the heap's top trimmed back again) with fresh pages, which the
// kernel then faults in one by one: in bench_fusion's conv_bn_relu pattern (a Winograd
// convolution at 56x56x64, 1.8 MB of transformed tiles twice per call) a quarter of the time
// went to page faults, and a run took 0.8 or 1.9 ms depending on the heap's history. The
// pool keeps freed blocks by size, so a kernel run again gets memory already mapped back.
#include "backends/halide/buffer_pool.h"

#include <algorithm>
#include <cstdlib>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#include <mutex>
#include <unordered_map>
#include <vector>

namespace strata::halide_backend {

namespace {

constexpr size_t kAlign = 128;  // also the header before the block and the slack after it

std::mutex g_mu;
std::unordered_map<size_t, std::vector<void*>> g_free;  // size class -> free blocks (their bases)
PoolStats g_stats;

size_t size_class(size_t bytes) {
  size_t page = 4096;
  return bytes < kPoolMinBytes ? (bytes + kAlign - 1) / kAlign * kAlign : (bytes + page - 1) / page * page;
}

void* to_user(void* base, size_t cls) {
  *static_cast<size_t*>(base) = cls;
  return static_cast<char*>(base) + kAlign;
}

}  // namespace

void* pool_malloc(void*, size_t bytes) {
  size_t cls = size_class(bytes);
  if (cls >= kPoolMinBytes) {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_free.find(cls);
    if (it != g_free.end() && !it->second.empty()) {
      void* base = it->second.back();
      it->second.pop_back();
      g_stats.cached_bytes -= static_cast<int64_t>(cls);
      ++g_stats.reused;
      return to_user(base, cls);
    }
    ++g_stats.fresh;
  }
  // Blocks of 2 MiB or more: 2 MiB-aligned and advised as transparent huge pages before
  // the first touch, as the executable's own buffers are (runtime/page_allocator.h): a 25
  // MB padded copy or transform on 4 KiB pages missed the TLB. ResNet-50's fused training
  // step at batch 8 (`strata bench resnet50 --train --batch 8 --runs 6 --warmup 1`, seven
  // alternating pairs): median 704 -> 672 ms, five pairs of seven faster; per kernel the
  // stem's conv + statistics 9.19 -> 5.79 ms and layer1.0.conv3's 4.11 -> 2.98 (--profile).
  // The unfused step and batch 1 inference: unchanged within the noise.
  void* base = aligned_pages(cls + 2 * kAlign, cls >= kHugePage ? kHugePage : kAlign);
  return base ? to_user(base, cls) : nullptr;
}

void* aligned_pages(size_t bytes, size_t align) {
  size_t span = (std::max<size_t>(bytes, 1) + align - 1) / align * align;
  void* p = std::aligned_alloc(align, span);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p && align == kHugePage) madvise(p, span, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
  return p;
}

void pool_free(void*, void* ptr) {
  if (!ptr) return;
  void* base = static_cast<char*>(ptr) - kAlign;
  size_t cls = *static_cast<size_t*>(base);
  if (cls >= kPoolMinBytes) {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_stats.cached_bytes + static_cast<int64_t>(cls) <= kPoolMaxCachedBytes) {
      g_free[cls].push_back(base);
      g_stats.cached_bytes += static_cast<int64_t>(cls);
      return;
    }
  }
  std::free(base);
}

PoolStats pool_stats() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_stats;
}

void pool_release() {
  std::lock_guard<std::mutex> lock(g_mu);
  for (auto& [cls, blocks] : g_free)
    for (void* b : blocks) std::free(b);
  g_free.clear();
  g_stats.cached_bytes = 0;
}

}  // namespace strata::halide_backend
