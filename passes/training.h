#pragma once
// Builds the static training step of a model (DESIGN.md: forward + loss + backward +
// optimizer update in one graph, compiled once): batch norm and dropout switched to their
// training forms, the loss, the gradients (passes/autodiff), optional gradient clipping and
// one optimizer update per trainable parameter. New parameter, optimizer-state and
// running-statistics values are graph outputs the runtime writes back after each step.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"

namespace strata::passes {

struct LossSpec {
  std::string kind = "cross_entropy";  // cross_entropy | binary_cross_entropy | mse
  double label_smoothing = 0;          // cross_entropy only
  bool from_logits = true;             // binary_cross_entropy only
  // Model outputs and their weights, summed (GoogLeNet: {"logits", 1}, {"aux1", 0.3},
  // {"aux2", 0.3}). Empty: the model's first output with weight 1.
  std::vector<std::pair<std::string, double>> outputs;
};

struct OptimizerSpec {
  std::string name = "sgd";  // sgd | momentum | nesterov | rmsprop | adam | adamw
  double momentum = 0.9, beta1 = 0.9, beta2 = 0.999, alpha = 0.99, eps = 1e-8;
  double weight_decay = 0;  // L2 (decoupled for adamw)
  double l1 = 0;
  double clip_value = 0;  // > 0: clamp each gradient element
  double clip_norm = 0;   // > 0: rescale all gradients to at most this global L2 norm
};

// Optimizer state names, as PyTorch's state dicts call them.
std::vector<std::string> optimizer_state_names(const std::string& optimizer);

struct TrainingStep {
  ir::Graph graph;
  std::string target_input = "target";  // the loss's target, shaped like the first loss output
  std::string hyper_input = "hyper";    // f32[2] = {learning rate, step (from 1)}
  std::string seed_input = "rng_seed";  // f32[1], present when the model has dropout
  std::string loss_output = "loss";
  // Graph output name -> the parameter it replaces after each step.
  std::vector<std::pair<std::string, std::string>> updates;
  // Optimizer state parameters (created zero), e.g. "fc.weight.exp_avg".
  std::vector<std::string> state_parameters;
};

TrainingStep build_training_step(const ir::Graph& model, const LossSpec& loss, const OptimizerSpec& opt);

// The step the benchmarks compile (`strata bench --train`, bench/) and `strata print /
// summary / dot --train` show: cross-entropy loss, `optimizer`'s update (momentum SGD, as
// the PyTorch peer runs it) with weight decay 5e-4.
TrainingStep benchmark_training_step(const ir::Graph& model, const std::string& optimizer = "momentum");

// Inputs of one step on synthetic data, for benchmarks: every value of the model's inputs
// 0.5, sample i of class i mod C (one-hot), the learning rate at step 1, seed 1 for dropout.
NamedTensors synthetic_step_inputs(const TrainingStep& step, float lr = 0.01f);

// A training step read back from its text form (`strata print MODEL --train`): the inputs
// and outputs build_training_step names (`target`, `hyper`, `loss`, `rng_seed`), and an
// update for each output `update/P` (the new value of parameter P, as the runtime writes it
// back after each step). Nullopt for a graph without the `hyper` input and `update/`
// outputs; an error naming the output where an update matches no parameter of its type.
std::optional<TrainingStep> printed_training_step(const ir::Graph& g);

// The model with batch norm and dropout in training form and the given graph inputs for
// dropout's seed (used by build_training_step; exposed for gradient tests).
ir::Graph training_forward(const ir::Graph& model, bool* has_dropout = nullptr);

}  // namespace strata::passes
