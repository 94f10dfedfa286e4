#pragma once
// Data for training and evaluation: datasets (Fashion-MNIST by default, MNIST and CIFAR-10
// from files the user has), per-channel normalisation, and a DataLoader that shuffles with a
// seed, augments (random crop with padding, horizontal flip) and prepares batches on a
// background thread. Every random choice depends only on (seed, epoch, example), so a run
// is reproducible however the threads interleave.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ir/types.h"

namespace strata::runtime {

struct Dataset {
  std::string name;
  HostTensor images;  // [N, C, H, W] in [0, 1]
  std::vector<int> labels;
  int num_classes = 10;
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

// "fashion-mnist" (Debian's dataset-fashion-mnist, no path needed), "mnist:DIR" (IDX files,
// gzip or raw) or "cifar10:DIR" (the CIFAR-10 binary version: data_batch_1..5.bin,
// test_batch.bin). `limit` > 0 keeps the first examples only.
Dataset load_dataset(const std::string& spec, bool train, int64_t limit = 0);
Dataset read_cifar10(const std::string& dir, bool train, int64_t limit = 0);

struct Normalization {
  std::vector<float> mean, std;  // per channel; empty: no normalisation
};
Normalization channel_statistics(const HostTensor& images);

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;
  int64_t crop_padding = 0;  // random crop of the original size from the zero-padded image
  bool horizontal_flip = false;
  Normalization normalization;
  int prefetch = 2;  // batches prepared ahead
};

struct Batch {
  HostTensor images;  // [B, C, H, W], normalised and augmented
  std::vector<int> labels;
  std::vector<int64_t> indices;  // which examples, for reproducibility checks
};

class DataLoader {
 public:
  DataLoader(const Dataset& data, LoaderOptions o);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t batches_per_epoch() const;
  // Starts preparing `epoch` (stopping any epoch in progress).
  void start_epoch(int64_t epoch);
  // The next batch of the current epoch, or nullopt at its end.
  std::optional<Batch> next();

 private:
  Batch make_batch(int64_t epoch, int64_t b, const std::vector<int64_t>& order) const;
  void stop();

  const Dataset& data_;
  LoaderOptions o_;
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  bool done_ = true, cancel_ = false;
  std::optional<std::string> error_;
};

}  // namespace strata::runtime
