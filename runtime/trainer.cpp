#include "runtime/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>

#include "ir/error.h"
#include "runtime/file_util.h"
#include "runtime/metrics_log.h"
#include "runtime/plot.h"
#include "runtime/progress.h"

namespace strata::runtime {

namespace fs = std::filesystem;

static double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

static HostTensor scalar(double v) { return HostTensor({1}, std::vector<float>{static_cast<float>(v)}); }

// Correct predictions among the first `rows` rows of [N, C] logits.
static int64_t correct(const HostTensor& logits, const std::vector<int>& labels, int64_t rows) {
  int64_t C = logits.shape[1], hits = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const float* r = logits.ptr() + i * C;
    hits += std::max_element(r, r + C) - r == labels[i];
  }
  return hits;
}

// Mean cross-entropy of the first `rows` rows (for evaluation; training's comes from the graph).
static double cross_entropy_sum(const HostTensor& logits, const std::vector<int>& labels, int64_t rows) {
  int64_t C = logits.shape[1];
  double total = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const float* r = logits.ptr() + i * C;
    double mx = *std::max_element(r, r + C), s = 0;
    for (int64_t c = 0; c < C; ++c) s += std::exp(r[c] - mx);
    total += mx + std::log(s) - r[labels[i]];
  }
  return total;
}

EvalResult evaluate(Executable& exe, const Dataset& data, const Normalization& norm) {
  const ir::Graph& g = exe.graph();
  if (g.inputs().size() != 1 || g.outputs().empty())
    throw Error(fmt::format("evaluate: model '{}' needs one input and an output", g.name()));
  const ir::Value* in = g.inputs()[0];
  int64_t B = in->type.shape[0];
  LoaderOptions lo;
  lo.batch_size = B;
  lo.shuffle = false;
  lo.normalization = norm;
  DataLoader loader(data, lo);
  loader.start_epoch(0);
  EvalResult r;
  double loss = 0;
  int64_t hits = 0;
  while (auto b = loader.next()) {
    int64_t rows = static_cast<int64_t>(b->labels.size());
    HostTensor x(in->type.shape);  // zero-padded when the last batch is short
    std::copy(b->images.data.begin(), b->images.data.end(), x.data.begin());
    NamedTensors out = exe.run({{in->name, std::move(x)}});
    const HostTensor& logits = out.at(g.outputs()[0].first);
    hits += correct(logits, b->labels, rows);
    loss += cross_entropy_sum(logits, b->labels, rows);
    r.examples += rows;
  }
  r.loss = loss / std::max<int64_t>(1, r.examples);
  r.accuracy = static_cast<double>(hits) / std::max<int64_t>(1, r.examples);
  return r;
}

Normalization stored_normalization(const ParameterStore& w) {
  Normalization n;
  if (w.contains("normalization.mean") && w.contains("normalization.std")) {
    n.mean = w.at("normalization.mean").data;
    n.std = w.at("normalization.std").data;
  }
  return n;
}

Trainer::Trainer(const ir::Graph& model, TrainerOptions o) : model_(ir::clone(model)), o_(std::move(o)) {
  if (model_.inputs().size() != 1 || model_.inputs()[0]->type.rank() != 4)
    throw Error(fmt::format("train: model '{}' must have one image input [N, C, H, W]", model_.name()));
  if (model_.outputs().empty()) throw Error(fmt::format("train: model '{}' has no output", model_.name()));
  if (o_.epochs < 1 || o_.batch < 1 || o_.eval_batch < 1) throw Error("train: epochs and batch sizes must be >= 1");
  o_.schedule.check();
  passes::optimizer_state_names(o_.optimizer.name);  // validates the name

  train_ = load_dataset(o_.data, true, o_.train_limit);
  test_ = load_dataset(o_.data, false, o_.test_limit);
  const Shape& want = model_.inputs()[0]->type.shape;
  const Shape& have = train_.images.shape;
  if (want[1] != have[1] || want[2] != have[2] || want[3] != have[3])
    throw Error(fmt::format("train: model '{}' takes {}x{}x{} images, dataset '{}' has {}x{}x{}", model_.name(), want[1],
                            want[2], want[3], train_.name, have[1], have[2], have[3]));
  const TensorType& out = model_.outputs()[0].second->type;
  if (out.rank() != 2 || out.shape[1] != train_.num_classes)
    throw Error(fmt::format("train: model output '{}' is {}, dataset '{}' has {} classes", model_.outputs()[0].first,
                            out.str(), train_.name, train_.num_classes));
  if (o_.batch > train_.size())
    throw Error(fmt::format("train: batch {} is larger than the {} training examples", o_.batch, train_.size()));
  norm_ = channel_statistics(train_.images);

  ir::Graph batched = ir::clone(model_);
  batched.set_batch_size(o_.batch);
  step_ = passes::build_training_step(batched, o_.loss, o_.optimizer);
  CompileOptions sc = o_.compile;
  sc.batch = 0;
  sc.updates = step_.updates;
  step_exe_ = std::make_unique<Executable>(step_.graph, sc);
  CompileOptions ec = o_.compile;
  ec.batch = std::min(o_.eval_batch, test_.size());
  eval_exe_ = std::make_unique<Executable>(model_, ec);

  ParameterStore init = ParameterStore::initialize(step_.graph, o_.seed);
  step_exe_->set_parameters(init);
  if (o_.resume) load_checkpoint();
}

Trainer::~Trainer() = default;

ParameterStore Trainer::model_weights() const {
  ParameterStore all = step_exe_->parameters(), w;
  for (const ir::Value* p : model_.parameters()) w.set(p->name, all.at(p->name));
  w.set("normalization.mean", HostTensor({static_cast<int64_t>(norm_.mean.size())}, norm_.mean));
  w.set("normalization.std", HostTensor({static_cast<int64_t>(norm_.std.size())}, norm_.std));
  return w;
}

// Checkpoint = every parameter of the training step (weights, optimizer state, running
// statistics), the position in training and the metrics so far; written atomically.
void Trainer::save_checkpoint() const {
  if (o_.checkpoint_dir.empty()) return;
  fs::create_directories(o_.checkpoint_dir);
  ParameterStore c = step_exe_->parameters();
  c.set("trainer.epoch", scalar(static_cast<double>(epoch_)));
  c.set("trainer.iteration", scalar(static_cast<double>(iteration_)));
  HostTensor h({static_cast<int64_t>(history_.size()), 8});
  for (size_t i = 0; i < history_.size(); ++i) {
    const EpochMetrics& m = history_[i];
    double row[8] = {double(m.epoch), m.lr, m.train_loss, m.train_accuracy, m.test_loss, m.test_accuracy,
                     m.images_per_second, m.seconds};
    for (int k = 0; k < 8; ++k) h.data[i * 8 + k] = static_cast<float>(row[k]);
  }
  if (!history_.empty()) c.set("trainer.history", h);
  ParameterStore w = model_weights();
  for (auto& [name, t] : w.tensors())
    if (name.starts_with("normalization.")) c.set(name, t);
  c.save((fs::path(o_.checkpoint_dir) / kCheckpointFile).string());
  w.save((fs::path(o_.checkpoint_dir) / kWeightsFile).string());
}

void Trainer::load_checkpoint() {
  std::string path = (fs::path(o_.checkpoint_dir) / kCheckpointFile).string();
  if (o_.checkpoint_dir.empty()) throw Error("train: --resume needs a checkpoint directory");
  if (!fs::exists(path)) {
    if (o_.out) fmt::print(o_.out, "no checkpoint at {}: starting from scratch\n", path);
    return;
  }
  ParameterStore c = ParameterStore::load(path);
  try {
    c.check_against(step_.graph);
  } catch (const Error& e) {
    throw Error(fmt::format("checkpoint {} does not fit this training run (same model and optimizer?): {}", path, e.what()));
  }
  for (const char* k : {"trainer.epoch", "trainer.iteration"})
    if (!c.contains(k)) throw Error(fmt::format("checkpoint {} has no '{}': not a training checkpoint", path, k));
  epoch_ = static_cast<int64_t>(c.at("trainer.epoch").data[0]);
  iteration_ = static_cast<int64_t>(c.at("trainer.iteration").data[0]);
  Normalization n = stored_normalization(c);
  if (!n.mean.empty()) norm_ = n;
  history_.clear();
  if (c.contains("trainer.history")) {
    const HostTensor& h = c.at("trainer.history");
    for (int64_t i = 0; i < h.shape[0]; ++i) {
      const float* r = h.ptr() + i * 8;
      history_.push_back({static_cast<int64_t>(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7]});
    }
  }
  step_exe_->set_parameters(c);
  if (o_.out) fmt::print(o_.out, "resumed from {} after epoch {}\n", path, epoch_);
}

EvalResult Trainer::evaluate_test() {
  eval_exe_->set_parameters(step_exe_->parameters());
  return evaluate(*eval_exe_, test_, norm_);
}

void Trainer::write_curves(const std::string& plot_path) const {
  Series tl{"train loss", {}, {}}, vl{"test loss", {}, {}}, ta{"train accuracy", {}, {}}, va{"test accuracy", {}, {}};
  for (const EpochMetrics& m : history_) {
    for (Series* s : {&tl, &vl, &ta, &va}) s->x.push_back(double(m.epoch));
    tl.y.push_back(m.train_loss);
    vl.y.push_back(m.test_loss);
    ta.y.push_back(m.train_accuracy);
    va.y.push_back(m.test_accuracy);
  }
  write_file_atomic(plot_path, line_chart_svg(fmt::format("{} on {}", model_.name(), train_.name), "epoch",
                                              "loss / accuracy (fraction)", {tl, vl, ta, va}),
                    "plot");
}

std::vector<EpochMetrics> Trainer::fit() {
  LoaderOptions lo;
  lo.batch_size = o_.batch;
  lo.seed = o_.seed;
  lo.drop_last = true;  // the step is compiled for one batch size
  lo.crop_padding = o_.crop_padding;
  lo.horizontal_flip = o_.horizontal_flip;
  lo.normalization = norm_;
  DataLoader loader(train_, lo);
  int64_t spe = loader.batches_per_epoch(), total = o_.epochs * spe;
  std::string log_path = o_.log_path, plot_path = o_.plot_path;
  if (!o_.checkpoint_dir.empty()) {
    if (log_path.empty()) log_path = (fs::path(o_.checkpoint_dir) / "metrics.csv").string();
    if (plot_path.empty()) plot_path = (fs::path(o_.checkpoint_dir) / "curves.svg").string();
  }
  std::optional<MetricsLog> log;
  if (!log_path.empty()) log.emplace(log_path);
  Progress progress(o_.out, true);
  const std::string& in_name = model_.inputs()[0]->name;
  const std::string& out_name = model_.outputs()[0].first;
  int64_t classes = train_.num_classes;
  uint64_t seed_base = (o_.seed * 7919u) % 16777216u;

  std::vector<EpochMetrics> now;
  int64_t last = o_.stop_after > 0 ? std::min(o_.epochs, epoch_ + o_.stop_after) : o_.epochs;
  while (epoch_ < last) {
    auto t0 = std::chrono::steady_clock::now();
    loader.start_epoch(epoch_);
    progress.begin_epoch(epoch_, o_.epochs, spe);
    double loss_sum = 0, lr = 0;
    int64_t hits = 0, seen = 0, step = 0;
    while (auto b = loader.next()) {
      lr = o_.schedule.at(iteration_, spe, total);
      HostTensor target({o_.batch, classes});
      for (int64_t i = 0; i < o_.batch; ++i) target.data[i * classes + b->labels[i]] = 1.f;
      NamedTensors in{{in_name, std::move(b->images)},
                      {step_.target_input, std::move(target)},
                      {step_.hyper_input, HostTensor({2}, std::vector<float>{static_cast<float>(lr),
                                                                              static_cast<float>(iteration_ + 1)})}};
      if (!step_.seed_input.empty())
        in[step_.seed_input] = scalar(static_cast<double>((seed_base + static_cast<uint64_t>(iteration_)) % 16777216u));
      NamedTensors out = step_exe_->run(in);
      double loss = out.at(step_.loss_output).data[0];
      if (!std::isfinite(loss) || !step_exe_->parameters_finite()) {
        std::string node = step_exe_->first_nonfinite();
        if (o_.out) fmt::print(o_.out, "\n");
        throw Error(fmt::format(
            "training diverged at epoch {}, step {} (learning rate {:.4g}): the loss is {}; the first non-finite "
            "value appeared at node '{}'. The last checkpoint (if any) is from before this epoch; try a lower "
            "--lr or --clip-norm",
            epoch_ + 1, step + 1, lr, loss, node.empty() ? "?" : node));
      }
      loss_sum += loss;
      hits += correct(out.at(out_name), b->labels, o_.batch);
      seen += o_.batch;
      ++step;
      ++iteration_;
      progress.update(step, loss_sum / step, double(hits) / seen, seen / seconds_since(t0));
    }
    double train_seconds = seconds_since(t0);
    EvalResult test = evaluate_test();
    EpochMetrics m{epoch_ + 1, lr, loss_sum / std::max<int64_t>(1, step), double(hits) / std::max<int64_t>(1, seen),
                   test.loss, test.accuracy, seen / train_seconds, seconds_since(t0)};
    history_.push_back(m);
    now.push_back(m);
    ++epoch_;  // epochs done: what the checkpoint records
    save_checkpoint();
    if (!plot_path.empty()) write_curves(plot_path);
    if (log)
      log->append({{"epoch", double(m.epoch)}, {"lr", m.lr}, {"train_loss", m.train_loss},
                   {"train_accuracy", m.train_accuracy}, {"test_loss", m.test_loss}, {"test_accuracy", m.test_accuracy},
                   {"images_per_second", m.images_per_second}, {"seconds", m.seconds}});
    progress.end_epoch(fmt::format("epoch {}/{}: train loss {:.4f} acc {:.2f}%  test loss {:.4f} acc {:.2f}%  "
                                   "{:.0f} img/s  {}",
                                   m.epoch, o_.epochs, m.train_loss, 100 * m.train_accuracy, m.test_loss,
                                   100 * m.test_accuracy, m.images_per_second, format_duration(m.seconds)));
  }
  return now;
}

}  // namespace strata::runtime
