// The kernels' parallel loops (halide_do_par_for, installed in kernel_cache.cpp's runtime()):
// the caller and one worker per other hardware thread take iterations from one atomic
// counter. Halide's default pool hands out iterations under a mutex and its workers yield,
// then sleep, between loops; a model runs one short kernel after another (ResNet-50 at batch
// 1: ~120 a run), and every kernel paid for the mutex and the wake-ups (perf, MobileNet v2 at
// batch 1: ~15% of the samples). Here a worker spins on the pool for a while after each loop
// before it sleeps.
#include "backends/halide/thread_pool.h"

#include "backends/halide/halide_backend.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

namespace strata::halide_backend {

namespace {

// A spin-wait's k-th step: the pause instruction (which yields the core's shared
// resources), and from the 1024th on the processor too, in case the thread waited for has
// none (more threads than cores: two test processes at once, say).
inline void spin_step(int k) {
  if (k >= 1024) {
    std::this_thread::yield();
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

struct Job {
  Job(ParForTask f, void* uc, int min, int size, uint8_t* closure)
      : f(f), user_context(uc), closure(closure), end(min + size), next(min) {}
  ParForTask f;
  void* user_context;
  uint8_t* closure;
  int end;
  std::atomic<int> next;
  std::atomic<int> done{0};
  std::atomic<int> error{0};
  // The first failing iteration's runtime message, from the thread that ran it (the
  // runtime's error handler keeps it per thread): the caller takes it over, so that a kernel
  // failing on a worker still says why.
  std::string message;

  // Runs iterations until none are left.
  void work() {
    for (int i; (i = next.fetch_add(1, std::memory_order_relaxed)) < end;) {
      if (int rc = f(user_context, i, closure)) {
        int none = 0;
        if (error.compare_exchange_strong(none, rc)) message = last_runtime_error();
      }
      done.fetch_add(1, std::memory_order_release);  // (publishes `message` to the caller)
    }
  }
};

thread_local bool t_in_loop = false;  // inside a parallel loop's iteration (or its caller's)

class Pool {
 public:
  explicit Pool(int workers) {
    // A worker counts loops from the pool's start, not its own: one starting after the
    // first loop was published still joins it (that loop ran on its caller alone).
    uint64_t start = generation_.load(std::memory_order_acquire);
    for (int i = 0; i < workers; ++i) std::thread([this, start] { run(start); }).detach();
  }

  // False when another thread's loop holds the pool.
  bool try_run(ParForTask f, void* uc, int min, int size, uint8_t* closure, int* rc) {
    std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    Job job(f, uc, min, size, closure);
    job_.store(&job, std::memory_order_seq_cst);
    generation_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) generation_.notify_all();
    t_in_loop = true;
    job.work();
    t_in_loop = false;
    for (int k = 0; job.done.load(std::memory_order_acquire) < size; ++k) spin_step(k);
    // No worker may still hold the job when it leaves scope (Dekker: a worker announces
    // itself before it reads job_, the caller clears job_ before it reads active_).
    job_.store(nullptr, std::memory_order_seq_cst);
    for (int k = 0; active_.load(std::memory_order_seq_cst) > 0; ++k) spin_step(k);
    *rc = job.error.load(std::memory_order_relaxed);
    if (*rc != 0) set_runtime_error(job.message);
    return true;
  }

 private:
  void run(uint64_t seen) {
    t_in_loop = true;  // a loop its iterations start runs in place
    for (;;) {
      // Spin about 100 microseconds for the next loop (the gap between two kernels of a
      // model), then sleep until one comes.
      auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
      uint64_t g;
      for (int k = 0; (g = generation_.load(std::memory_order_acquire)) == seen; ++k) {
        spin_step(k);
        if ((k & 255) == 255 && std::chrono::steady_clock::now() > deadline) {
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          generation_.wait(seen, std::memory_order_seq_cst);
          sleepers_.fetch_sub(1, std::memory_order_seq_cst);
        }
      }
      seen = g;
      active_.fetch_add(1, std::memory_order_seq_cst);
      if (Job* j = job_.load(std::memory_order_seq_cst)) j->work();
      active_.fetch_sub(1, std::memory_order_seq_cst);
    }
  }

  std::mutex busy_;
  std::atomic<Job*> job_{nullptr};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> active_{0}, sleepers_{0};
};

DoParFor g_fallback = nullptr;
std::atomic<uint64_t> g_pooled{0}, g_in_place{0}, g_fallbacks{0};

}  // namespace

int pool_threads() {
  if (const char* e = std::getenv("HL_NUM_THREADS"))  // as Halide's own pool
    if (int n = std::atoi(e); n > 0) return n;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

int pool_do_par_for(void* uc, ParForTask f, int min, int size, uint8_t* closure) {
  // (Never freed: workers outlive static destruction at exit.)
  static Pool* pool = pool_threads() > 1 ? new Pool(pool_threads() - 1) : nullptr;
  int rc = 0;
  if (size <= 0) return 0;
  // One iteration, one thread, or a loop inside an iteration (the other threads have
  // iterations of their own): in place.
  // (Another thread's kernel meanwhile: Halide's own pool, where installed.)
  bool in_place = size == 1 || !pool || t_in_loop;
  if (!in_place && pool->try_run(f, uc, min, size, closure, &rc)) {
    g_pooled.fetch_add(1, std::memory_order_relaxed);
    return rc;
  }
  if (!in_place && g_fallback) {
    g_fallbacks.fetch_add(1, std::memory_order_relaxed);
    return g_fallback(uc, f, min, size, closure);
  }
  g_in_place.fetch_add(1, std::memory_order_relaxed);
  Job job(f, uc, min, size, closure);
  job.work();
  return job.error.load(std::memory_order_relaxed);
}

ParForStats par_for_stats() {
  return {g_pooled.load(std::memory_order_relaxed), g_in_place.load(std::memory_order_relaxed),
          g_fallbacks.load(std::memory_order_relaxed)};
}

void install_thread_pool(DoParFor (*set)(DoParFor), DoParFor fallback) {
  g_fallback = fallback;
  set(pool_do_par_for);
}

}  // namespace strata::halide_backend
