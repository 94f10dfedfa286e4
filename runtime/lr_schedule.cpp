#include "runtime/lr_schedule.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "ir/error.h"

namespace strata::runtime {

void LrSchedule::check() const {
  if (kind != "constant" && kind != "step" && kind != "cosine")
    throw Error(fmt::format("unknown learning-rate schedule '{}' (constant, step, cosine)", kind));
  if (!(base_lr > 0)) throw Error(fmt::format("the learning rate must be positive, got {}", base_lr));
  if (warmup_epochs < 0) throw Error("warm-up epochs must not be negative");
  if (kind == "step" && (step_size < 1 || gamma <= 0))
    throw Error(fmt::format("step schedule needs step_size >= 1 and gamma > 0 (got {}, {})", step_size, gamma));
  if (min_lr < 0 || min_lr > base_lr) throw Error("min_lr must be in [0, lr]");
}

double LrSchedule::at(int64_t step, int64_t steps_per_epoch, int64_t total_steps) const {
  int64_t warmup = static_cast<int64_t>(std::llround(warmup_epochs * steps_per_epoch));
  if (step < warmup) return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (kind == "step") return base_lr * std::pow(gamma, static_cast<double>(step / steps_per_epoch / step_size));
  if (kind == "cosine") {
    double span = static_cast<double>(std::max<int64_t>(1, total_steps - warmup));
    double t = std::min(1.0, static_cast<double>(step - warmup) / span);
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + std::cos(M_PI * t));
  }
  return base_lr;
}

}  // namespace strata::runtime
