#pragma once
// Learning-rate schedules, evaluated on the host each iteration and fed to the static
// training step through its `hyper` input (PyTorch's StepLR, CosineAnnealingLR and a
// linear warm-up, per iteration).
#include <cstdint>
#include <string>

namespace strata::runtime {

struct LrSchedule {
  std::string kind = "constant";  // constant | step | cosine
  double base_lr = 0.1;
  double warmup_epochs = 0;       // linear ramp from base_lr / warmup_steps to base_lr
  int64_t step_size = 30;         // step: multiply by gamma every step_size epochs
  double gamma = 0.1;
  double min_lr = 0;              // cosine: the final learning rate

  // The rate of iteration `step` (0-based) of `total_steps`, `steps_per_epoch` per epoch.
  double at(int64_t step, int64_t steps_per_epoch, int64_t total_steps) const;
  void check() const;  // throws strata::Error on a bad kind or value
};

}  // namespace strata::runtime
