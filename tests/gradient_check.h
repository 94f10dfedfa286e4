#pragma once
// Finite-difference checks of autodiff: the graph's outputs are projected on fixed random
// weights and summed into a scalar L; d L / d (every input and trainable parameter) from
// passes::append_gradients, run on the reference backend, is compared with central
// differences of L at sampled coordinates.
#include <string>

#include "ir/graph.h"
#include "runtime/parameter_store.h"

namespace strata::testing {

struct GradCheckOptions {
  float lo = -1.f, hi = 1.f;  // inputs
  double step = 3e-3;         // central-difference step
  // Float32 storage of intermediates limits the differences: |analytic - numeric| <=
  // atol + rtol * max(|analytic|, |numeric|).
  double atol = 1e-2, rtol = 3e-2;
  int samples = 6;            // coordinates checked per tensor
  uint64_t seed = 1;
  bool inputs = true;         // also differentiate with respect to the graph's inputs
  int max_tensors = 0;        // > 0: check this many tensors (inputs first, then every k-th parameter)
};

struct GradCheckResult {
  int checked = 0;
  double worst = 0;  // worst |analytic - numeric| / (atol + rtol * scale)
};

// CHECKs every sampled coordinate; returns counts for the caller's own assertions.
GradCheckResult check_gradients(const ir::Graph& forward, const GradCheckOptions& o = {});

// The gradient graph check_gradients builds (outputs "L" and "grad:<name>"), for
// comparing backends.
ir::Graph gradient_graph(const ir::Graph& forward, bool inputs, uint64_t seed);

}  // namespace strata::testing
