#pragma once
// The Trainer: compiles a model's static training step (passes/training) once, feeds it
// batches from the DataLoader with the learning rate of each iteration, evaluates on the
// test set after every epoch, logs and plots the metrics, and checkpoints atomically so an
// interrupted run resumes to the same result (bit for bit on the CPU).
#include <cstdio>
#include <string>
#include <vector>

#include "passes/training.h"
#include "runtime/data.h"
#include "runtime/executable.h"
#include "runtime/lr_schedule.h"
#include "runtime/parameter_store.h"

namespace strata::runtime {

struct TrainerOptions {
  std::string data = "fashion-mnist";  // load_dataset spec
  int64_t epochs = 1, batch = 64;
  int64_t train_limit = 0, test_limit = 0;  // > 0: use the first examples only
  int64_t eval_batch = 250;
  passes::OptimizerSpec optimizer{.name = "momentum"};
  passes::LossSpec loss;
  LrSchedule schedule;
  uint64_t seed = 0;  // initial weights, shuffling, augmentation, dropout
  int64_t crop_padding = 0;
  bool horizontal_flip = false;
  CompileOptions compile;
  std::string checkpoint_dir;  // empty: no checkpoints
  bool resume = false;         // continue from checkpoint_dir/checkpoint.strataw
  int64_t stop_after = 0;      // > 0: stop after this many epochs in this run (resume later)
  std::string log_path;        // .csv or .jsonl; empty: <checkpoint_dir>/metrics.csv if any
  std::string plot_path;       // .svg; empty: <checkpoint_dir>/curves.svg if any
  std::FILE* out = stderr;     // progress and summaries; nullptr: silent
};

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  double lr = 0, train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = 0;
  double images_per_second = 0, seconds = 0;
};

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t examples = 0;
};

// Inference over a whole dataset in fixed-size batches (the last one zero-padded).
EvalResult evaluate(Executable& exe, const Dataset& data, const Normalization& norm);

class Trainer {
 public:
  Trainer(const ir::Graph& model, TrainerOptions o);
  ~Trainer();

  // Trains for the remaining epochs; returns the metrics of the epochs run now.
  std::vector<EpochMetrics> fit();
  EvalResult evaluate_test();
  // The model's weights with the input normalisation ("normalization.mean" / ".std"):
  // what `strata eval` and `strata run` load.
  ParameterStore model_weights() const;
  int64_t epochs_done() const { return epoch_; }
  const CompileReport& step_report() const { return step_exe_->report(); }
  std::vector<OpProfile> step_profile() const { return step_exe_->profile(); }
  const passes::TrainingStep& step() const { return step_; }

  static constexpr const char* kCheckpointFile = "checkpoint.strataw";
  static constexpr const char* kWeightsFile = "weights.strataw";

 private:
  void save_checkpoint() const;
  void load_checkpoint();
  void write_curves(const std::string& plot_path) const;  // loss and accuracy so far, SVG

  ir::Graph model_;
  TrainerOptions o_;
  passes::TrainingStep step_;
  Dataset train_, test_;
  Normalization norm_;
  std::unique_ptr<Executable> step_exe_, eval_exe_;
  int64_t epoch_ = 0, iteration_ = 0;
  std::vector<EpochMetrics> history_;
};

// The normalisation stored with weights (empty when absent).
Normalization stored_normalization(const ParameterStore& weights);

}  // namespace strata::runtime
