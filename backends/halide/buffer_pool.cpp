// Halide kernels allocate their internal buffers with halide_malloc at every call and free
// them before returning. glibc serves blocks over its mmap threshold (128 KiB, raised as
// such blocks are freed, and the heap's top trimmed back again) with fresh pages, which the
// kernel then faults in one by one: in bench_fusion's conv_bn_relu pattern (a Winograd
// convolution at 56x56x64, 1.8 MB of transformed tiles twice per call) a quarter of the time
// went to page faults, and a run took 0.8 or 1.9 ms depending on the heap's history. The
// pool keeps freed blocks by size, so a kernel run again gets memory already mapped back.
#include "backends/halide/buffer_pool.h"

#include <cstdlib>
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
  void* base = std::aligned_alloc(kAlign, cls + 2 * kAlign);
  return base ? to_user(base, cls) : nullptr;
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
