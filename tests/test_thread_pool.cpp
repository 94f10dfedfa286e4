// The kernels' parallel loops (backends/halide/thread_pool.cpp): every iteration runs once,
// errors come back, nested loops and loops from two threads at once complete, and the
// kernel cache installs the pool in the Halide runtime.
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <strata/dsl.h>

#include "backends/halide/halide_backend.h"
#include "backends/halide/thread_pool.h"
#include "tests/helpers.h"

using namespace strata;
namespace hb = strata::halide_backend;

namespace {

// A closure: per-iteration counters, an iteration that fails, and a nested loop's size.
struct Counts {
  std::vector<std::atomic<int>> hits;
  int base = 0, fail_at = -1, nested = 0;
  std::atomic<int> nested_hits{0};
  explicit Counts(int n, int base) : hits(n), base(base) {}
};

int nested_task(void*, int, uint8_t* closure) {
  reinterpret_cast<Counts*>(closure)->nested_hits.fetch_add(1);
  return 0;
}

int task(void* uc, int i, uint8_t* closure) {
  auto* c = reinterpret_cast<Counts*>(closure);
  c->hits.at(i - c->base).fetch_add(1);
  if (c->nested > 0) hb::pool_do_par_for(uc, nested_task, 0, c->nested, closure);
  return i == c->fail_at ? 7 : 0;
}

bool each_once(const Counts& c) {
  for (const auto& h : c.hits)
    if (h.load() != 1) return false;
  return true;
}

}  // namespace

TEST_CASE("the thread pool runs every iteration of a loop once", "[thread_pool]") {
  for (int size : {0, 1, 2, 3, 17, 1000}) {
    INFO("size " << size);
    Counts c(size, 5);
    CHECK(hb::pool_do_par_for(nullptr, task, 5, size, reinterpret_cast<uint8_t*>(&c)) == 0);
    CHECK(each_once(c));
  }
}

TEST_CASE("the thread pool returns an iteration's error and still runs the others", "[thread_pool]") {
  Counts c(64, 0);
  c.fail_at = 40;
  CHECK(hb::pool_do_par_for(nullptr, task, 0, 64, reinterpret_cast<uint8_t*>(&c)) == 7);
  CHECK(each_once(c));
}

// An iteration failing on a worker: its runtime message (kept per thread) reaches the
// thread whose loop it was, as a kernel's error must (Kernel::run_buffers reports it).
struct WorkerFailure {
  std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> on_workers{0};
};
int fail_on_worker(void*, int, uint8_t* closure) {
  auto* w = reinterpret_cast<WorkerFailure*>(closure);
  std::this_thread::sleep_for(std::chrono::microseconds(200));  // (long enough for the worker to take some)
  if (std::this_thread::get_id() == w->caller) return 0;
  w->on_workers.fetch_add(1);
  hb::set_runtime_error("iteration failed on a worker");
  return 3;
}

TEST_CASE("an iteration's error message on a worker reaches the loop's caller", "[thread_pool]") {
  if (hb::pool_threads() < 2) {
    WARN("skipped: one hardware thread (HL_NUM_THREADS or the machine), so no worker runs an iteration");
    return;
  }
  WorkerFailure w;
  hb::clear_runtime_error();
  CHECK(hb::pool_do_par_for(nullptr, fail_on_worker, 0, 200, reinterpret_cast<uint8_t*>(&w)) == 3);
  REQUIRE(w.on_workers.load() > 0);
  CHECK(hb::last_runtime_error() == "iteration failed on a worker");
}

TEST_CASE("loops nested in an iteration and loops from two threads at once complete", "[thread_pool]") {
  Counts c(32, 0);
  c.nested = 9;
  CHECK(hb::pool_do_par_for(nullptr, task, 0, 32, reinterpret_cast<uint8_t*>(&c)) == 0);
  CHECK(each_once(c));
  CHECK(c.nested_hits.load() == 32 * 9);
  // Two callers: one holds the pool, the other runs on Halide's pool or in place.
  std::vector<std::unique_ptr<Counts>> cs;
  for (int t = 0; t < 2; ++t) cs.push_back(std::make_unique<Counts>(5000, 0));
  std::vector<int> rc(2, -1);
  std::vector<std::thread> ts;
  for (int t = 0; t < 2; ++t)
    ts.emplace_back([&, t] {
      for (int round = 0; round < 20 && rc[t] <= 0; ++round) {
        for (auto& h : cs[t]->hits) h.store(0);
        rc[t] = hb::pool_do_par_for(nullptr, task, 0, 5000, reinterpret_cast<uint8_t*>(cs[t].get()));
        if (!each_once(*cs[t])) rc[t] = 99;
      }
    });
  for (auto& t : ts) t.join();
  CHECK(rc == std::vector<int>{0, 0});
}

TEST_CASE("kernels run their parallel loops on the thread pool", "[thread_pool][executable]") {
  dsl::Model m("pooled_loops");
  {
    using namespace dsl;
    Tensor x = m.input("x", {2, 32, 28, 28});
    m.output("y", relu(conv2d(x, 32, 3, {.padding = 1})));
  }
  runtime::Executable exe(m.graph(), {});
  exe.set_parameters(testing::random_parameters(m.graph(), 1));
  auto x = testing::random_inputs(m.graph(), 2);
  exe.run(x);
  hb::ParForStats before = hb::par_for_stats();
  exe.run(x);
  hb::ParForStats after = hb::par_for_stats();
  if (hb::pool_threads() < 2) {
    WARN("one thread (HL_NUM_THREADS or the hardware): every loop runs in place, so this checks only that they ran");
    CHECK(after.in_place > before.in_place);
  } else {
    CHECK(after.pooled > before.pooled);
  }
  CHECK(after.fallback == before.fallback);
}
