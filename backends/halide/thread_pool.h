#pragma once
// The kernels' parallel loops on a pool of spinning workers (thread_pool.cpp).
#include <cstdint>

namespace strata::halide_backend {

// Halide's halide_task_t and halide_do_par_for_t (HalideRuntime.h), spelled out so that
// includers need not see Halide's headers.
using ParForTask = int (*)(void* user_context, int task_number, uint8_t* closure);
using DoParFor = int (*)(void* user_context, ParForTask f, int min, int size, uint8_t* closure);

// Threads a parallel loop runs on, the caller's included: HL_NUM_THREADS where set (as for
// Halide's own pool), else the hardware threads.
int pool_threads();

// halide_do_par_for: iterations [min, min + size) of f shared by the caller and the pool's
// workers; the first non-zero return of an iteration is the result.
int pool_do_par_for(void* user_context, ParForTask f, int min, int size, uint8_t* closure);
// Installs pool_do_par_for with the runtime's setter; `fallback` (the runtime's default
// do_par_for) runs loops another thread starts while the pool is busy.
void install_thread_pool(DoParFor (*set)(DoParFor), DoParFor fallback);

// Loops pool_do_par_for has run since the process started: shared by the pool, run in place
// (one iteration, one thread, or nested in an iteration), or handed to the fallback.
struct ParForStats {
  uint64_t pooled = 0, in_place = 0, fallback = 0;
};
ParForStats par_for_stats();

}  // namespace strata::halide_backend
