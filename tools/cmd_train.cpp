// `strata train` and `strata eval`.
#include <fmt/format.h>

#include <filesystem>

#include "ir/error.h"
#include "runtime/trainer.h"
#include "tools/common.h"

namespace strata::tools {

using cli::Args;
using cli::Flag;

static int cmd_train(const Args& a) {
  runtime::TrainerOptions o;
  o.data = a.get("data");
  o.epochs = a.get_int("epochs", 1, 100000);
  o.batch = a.get_int("batch", 1, 1 << 16);
  o.eval_batch = a.get_int("eval-batch", 1, 1 << 16);
  o.train_limit = a.get_int("train-limit", 0, INT64_MAX);
  o.test_limit = a.get_int("test-limit", 0, INT64_MAX);
  o.seed = static_cast<uint64_t>(a.get_int("seed", 0, INT64_MAX));
  o.optimizer.name = a.get("optimizer");
  o.optimizer.momentum = a.get_double("momentum", 0, 1);
  o.optimizer.weight_decay = a.get_double("weight-decay", 0, 1);
  o.optimizer.l1 = a.get_double("l1", 0, 1);
  o.optimizer.clip_norm = a.get_double("clip-norm", 0, 1e9);
  o.optimizer.clip_value = a.get_double("clip-value", 0, 1e9);
  o.loss.label_smoothing = a.get_double("label-smoothing", 0, 1);
  double aux = a.get_double("aux-weight", 0, 1e3);
  o.schedule.kind = a.get("schedule");
  o.schedule.base_lr = a.get_double("lr", 0, 1e3);
  o.schedule.warmup_epochs = a.get_double("warmup", 0, 1e4);
  o.schedule.step_size = a.get_int("step-size", 1, 100000);
  o.schedule.gamma = a.get_double("gamma", 0, 1);
  o.crop_padding = a.get_int("crop-padding", 0, 64);
  o.horizontal_flip = a.has("flip");
  o.checkpoint_dir = a.get("checkpoint");
  o.resume = a.has("resume");
  o.stop_after = a.get_int("stop-after", 0, 100000);
  o.log_path = a.get("log");
  o.plot_path = a.get("plot");
  o.compile = compile_options(a, "halide-schedule");
  try {
    passes::optimizer_state_names(o.optimizer.name);
    o.schedule.check();
  } catch (const Error& e) {
    throw cli::UsageError(fmt::format("strata train: {}", e.what()));
  }
  if (!o.log_path.empty() && !o.log_path.ends_with(".csv") && !o.log_path.ends_with(".jsonl"))
    throw cli::UsageError("strata train: --log must end in .csv or .jsonl");
  if (!o.plot_path.empty() && !o.plot_path.ends_with(".svg")) throw cli::UsageError("strata train: --plot must end in .svg");
  ir::Graph model = load_model_not_step("train", a.positional(0));
  if (aux > 0) {  // every output after the first is an auxiliary head (GoogLeNet: 0.3)
    o.loss.outputs.push_back({model.outputs().at(0).first, 1.0});
    for (size_t i = 1; i < model.outputs().size(); ++i) o.loss.outputs.push_back({model.outputs()[i].first, aux});
  }

  fmt::print(stderr, "compiling the training step of {} (batch {}, {} optimizer)...\n", model.name(), o.batch,
             o.optimizer.name);
  runtime::Trainer t(model, o);
  const auto& r = t.step_report();
  fmt::print(stderr, "compiled {} kernels ({} distinct: {} compiled, {} from the disk cache) in {:.1f} s\n", r.kernels,
             r.distinct_kernels, r.compiled, r.loaded_from_disk, r.seconds);
  auto epochs = t.fit();
  if (o.compile.profile) {
    double total = 0;
    for (auto& p : t.step_profile()) total += p.seconds;
    fmt::print(stderr, "time per {} in the training step ({:.2f} s in all):\n", o.compile.profile_nodes ? "node" : "op kind",
               total);
    for (auto& p : t.step_profile())
      fmt::print(stderr, "  {:<32} {:8.3f} s {:5.1f}%  {:8} calls\n", p.op, p.seconds, 100 * p.seconds / total, p.calls);
  }
  runtime::EvalResult test = t.evaluate_test();
  fmt::print("test accuracy after {} epoch(s): {:.2f}% (loss {:.4f}, {} images)\n", t.epochs_done(), 100 * test.accuracy,
             test.loss, test.examples);
  if (!o.checkpoint_dir.empty()) {
    namespace fs = std::filesystem;
    fmt::print("weights: {}\ncheckpoint: {}\n", (fs::path(o.checkpoint_dir) / runtime::Trainer::kWeightsFile).string(),
               (fs::path(o.checkpoint_dir) / runtime::Trainer::kCheckpointFile).string());
    fmt::print("metrics: {}  curves: {}\n", o.log_path.empty() ? (fs::path(o.checkpoint_dir) / "metrics.csv").string() : o.log_path,
               o.plot_path.empty() ? (fs::path(o.checkpoint_dir) / "curves.svg").string() : o.plot_path);
  }
  return 0;
}

static int cmd_eval(const Args& a) {
  if (a.get("weights").empty()) throw cli::UsageError("strata eval: --weights FILE is required");
  runtime::CompileOptions c = compile_options(a);
  ir::Graph model = load_model_not_step("eval", a.positional(0));
  runtime::Dataset data = runtime::load_dataset(a.get("data"), a.get("split") == "train", a.get_int("limit", 0, INT64_MAX));
  if (a.get("split") != "train" && a.get("split") != "test") throw cli::UsageError("strata eval: --split is train or test");
  c.batch = std::min<int64_t>(a.get_int("batch", 1, 1 << 16), data.size());
  runtime::Executable exe(model, c);
  runtime::ParameterStore w = runtime::ParameterStore::load(a.get("weights"));
  exe.set_parameters(w);
  runtime::Normalization norm = runtime::stored_normalization(w);
  if (norm.mean.empty())
    fmt::print(stderr, "note: {} has no input normalisation; using the training set's statistics\n", a.get("weights"));
  if (norm.mean.empty()) norm = runtime::channel_statistics(runtime::load_dataset(a.get("data"), true).images);
  runtime::EvalResult r = runtime::evaluate(exe, data, norm);
  fmt::print("{} on {} ({} split, {} images): accuracy {:.2f}%, loss {:.4f}\n", model.name(), data.name, a.get("split"),
             r.examples, 100 * r.accuracy, r.loss);
  return 0;
}

std::vector<Subcommand> training_subcommands() {
  const Flag data{"data", "SPEC", "fashion-mnist (built in), mnist:DIR or cifar10:DIR", "fashion-mnist"};
  return {
      {{"train",
        "Train a model: one compiled static step (forward, loss, backward, update) per batch, evaluation after "
        "each epoch, atomic checkpoints.",
        {"MODEL"},
        with_pass_flags({data,
         {"epochs", "N", "epochs to train", "1"},
         {"batch", "N", "batch size (the step is compiled for it)", "64"},
         {"lr", "X", "base learning rate", "0.1"},
         {"optimizer", "NAME", "sgd, momentum, nesterov, rmsprop, adam or adamw", "momentum"},
         {"momentum", "X", "momentum of momentum / nesterov", "0.9"},
         {"weight-decay", "X", "L2 weight decay (decoupled for adamw)", "0"},
         {"l1", "X", "L1 regularisation strength", "0"},
         {"clip-norm", "X", "clip gradients to this global L2 norm (0: off)", "0"},
         {"clip-value", "X", "clamp each gradient element to +-X (0: off)", "0"},
         {"schedule", "NAME", "learning-rate schedule: constant, step or cosine", "cosine"},
         {"warmup", "EPOCHS", "linear learning-rate warm-up (fractions allowed)", "0"},
         {"step-size", "N", "step schedule: epochs between decays", "30"},
         {"gamma", "X", "step schedule: decay factor", "0.1"},
         {"label-smoothing", "X", "cross-entropy label smoothing", "0"},
         {"aux-weight", "X", "loss weight of every output after the first (auxiliary heads; 0: first output only)", "0"},
         {"crop-padding", "N", "augmentation: random crop from the image zero-padded by N", "0"},
         {"flip", "", "augmentation: random horizontal flips", ""},
         {"train-limit", "N", "use the first N training images (0: all)", "0"},
         {"test-limit", "N", "use the first N test images (0: all)", "0"},
         {"eval-batch", "N", "batch size of the evaluation after each epoch", "250"},
         {"checkpoint", "DIR", "write weights, checkpoint, metrics and curves here after every epoch", "runs/latest"},
         {"resume", "", "continue from DIR/checkpoint.strataw", ""},
         {"stop-after", "N", "stop after N epochs of this run (continue later with --resume)", "0"},
         {"log", "FILE", "per-epoch metrics (.csv or .jsonl; default DIR/metrics.csv)", ""},
         {"plot", "FILE", "loss and accuracy curves (.svg; default DIR/curves.svg)", ""},
         {"seed", "N", "seed of initial weights, shuffling, augmentation and dropout", "0"},
         {"profile", "", "time every kernel of the step and print the time per op kind", ""},
         {"profile-nodes", "", "as --profile, per node of the step (op, node, output type)", ""},
         kTarget,
         kBackend,
         {"halide-schedule", "NAME", "manual, auto:Adams2019, auto:Li2018 or auto:Mullapudi2016", "manual"},
         kNoWinograd})},
       cmd_train},
      {{"eval",
        "Evaluate trained weights: accuracy and loss on a dataset split.",
        {"MODEL"},
        with_pass_flags({data, kWeights, {"split", "NAME", "test or train", "test"}, {"batch", "N", "batch size", "250"},
         {"limit", "N", "use the first N images (0: all)", "0"}, kTarget, kBackend, kSchedule, kNoWinograd})},
       cmd_eval},
  };
}

}  // namespace strata::tools
