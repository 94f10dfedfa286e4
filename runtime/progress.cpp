#include "runtime/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>

namespace strata::runtime {

static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string format_duration(double s) {
  auto t = static_cast<int64_t>(std::llround(std::max(0.0, s)));
  if (t >= 3600) return fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
  return fmt::format("{}:{:02}", t / 60, t % 60);
}

Progress::Progress(std::FILE* out, bool enabled) : out_(out), enabled_(enabled && out), tty_(out && isatty(fileno(out))) {}

void Progress::begin_epoch(int64_t epoch, int64_t epochs, int64_t steps) {
  epoch_ = epoch;
  epochs_ = epochs;
  steps_ = steps;
  last_line_ = -1;
  started_ = now();
}

void Progress::update(int64_t step, double loss, double accuracy, double ips) {
  if (!enabled_) return;
  double elapsed = now() - started_;
  double eta = step > 0 ? elapsed / step * (steps_ - step) : 0;
  std::string stats = fmt::format("loss {:.4f}  acc {:5.1f}%  {:6.0f} img/s  ETA {}", loss, 100 * accuracy, ips,
                                  format_duration(eta));
  if (tty_) {
    const int width = 24;
    int filled = steps_ > 0 ? static_cast<int>(width * step / steps_) : width;
    std::string bar = std::string(filled, '=') + (filled < width ? ">" : "") + std::string(std::max(0, width - filled - 1), ' ');
    fmt::print(out_, "\r\033[Kepoch {}/{} [{}] {}/{}  {}", epoch_ + 1, epochs_, bar, step, steps_, stats);
    std::fflush(out_);
    return;
  }
  int64_t tenth = steps_ >= 10 ? step * 10 / steps_ : step;
  if (tenth == last_line_) return;
  last_line_ = tenth;
  fmt::print(out_, "epoch {}/{} step {}/{}  {}\n", epoch_ + 1, epochs_, step, steps_, stats);
  std::fflush(out_);
}

void Progress::end_epoch(const std::string& summary) {
  if (!enabled_) return;
  if (tty_) fmt::print(out_, "\r\033[K");
  fmt::print(out_, "{}\n", summary);
  std::fflush(out_);
}

}  // namespace strata::runtime
