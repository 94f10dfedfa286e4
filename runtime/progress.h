#pragma once
// Training progress: a one-line bar redrawn in place on a terminal (epoch, step, loss,
// accuracy, images/s, ETA), or plain lines every tenth of an epoch when the output is a
// file or a pipe.
#include <cstdint>
#include <cstdio>
#include <string>

namespace strata::runtime {

class Progress {
 public:
  Progress(std::FILE* out, bool enabled);
  void begin_epoch(int64_t epoch, int64_t epochs, int64_t steps);
  void update(int64_t step, double loss, double accuracy, double images_per_second);
  // Ends the epoch's bar with a summary line.
  void end_epoch(const std::string& summary);

 private:
  std::FILE* out_;
  bool enabled_, tty_;
  int64_t epoch_ = 0, epochs_ = 0, steps_ = 0, last_line_ = -1;
  double started_ = 0;
};

std::string format_duration(double seconds);  // "1:02:03" or "2:03"

}  // namespace strata::runtime
