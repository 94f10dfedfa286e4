// Data: CIFAR-10 and dataset specs, normalisation, and the DataLoader (shuffling, batches,
// augmentation, reproducibility, background preparation).
#include <filesystem>
#include <fstream>
#include <set>

#include "ir/error.h"
#include "runtime/data.h"
#include "runtime/idx.h"
#include "tests/helpers.h"

using namespace strata;
using namespace strata::runtime;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

static fs::path scratch_dir() {
  fs::path d = fs::temp_directory_path() / ("strata-test-data-" + std::to_string(getpid()));
  fs::create_directories(d);
  return d;
}

static void write_cifar(const fs::path& p, int records, unsigned char first_label) {
  std::ofstream f(p, std::ios::binary);
  for (int r = 0; r < records; ++r) {
    f.put(static_cast<char>((first_label + r) % 10));
    for (int i = 0; i < 3072; ++i) f.put(static_cast<char>((i + r) % 256));
  }
}

static Dataset toy(int64_t n, int64_t hw = 4) {
  Dataset d{"toy", HostTensor({n, 1, hw, hw}), std::vector<int>(n), 10};
  for (int64_t i = 0; i < d.images.numel(); ++i) d.images.data[i] = static_cast<float>(i % 97) / 97.f + 0.01f;
  for (int64_t i = 0; i < n; ++i) d.labels[i] = static_cast<int>(i % 10);
  return d;
}

TEST_CASE("CIFAR-10 binary files are read and bad ones rejected", "[data]") {
  fs::path dir = scratch_dir() / "cifar";
  fs::create_directories(dir);
  for (int i = 1; i <= 5; ++i) write_cifar(dir / ("data_batch_" + std::to_string(i) + ".bin"), 2, static_cast<unsigned char>(i));
  write_cifar(dir / "test_batch.bin", 3, 7);
  Dataset train = load_dataset("cifar10:" + dir.string(), true);
  CHECK(train.size() == 10);
  CHECK(train.images.shape == Shape{10, 3, 32, 32});
  CHECK(train.labels[0] == 1);
  CHECK(train.images.data[1] == Approx(1 / 255.0));
  Dataset test = read_cifar10(dir.string(), false, 2);
  CHECK(test.size() == 2);
  CHECK(test.labels[1] == 8);
  std::ofstream(dir / "test_batch.bin", std::ios::binary | std::ios::app).put('x');
  CHECK_THROWS_WITH(read_cifar10(dir.string(), false), Contains("truncated or corrupt"));
  std::ofstream bad(dir / "test_batch.bin", std::ios::binary | std::ios::trunc);
  bad.put(static_cast<char>(42));
  for (int i = 0; i < 3072; ++i) bad.put(0);
  bad.close();
  CHECK_THROWS_WITH(read_cifar10(dir.string(), false), Contains("label 42"));
  CHECK_THROWS_WITH(load_dataset("imagenet", true), Contains("unknown data 'imagenet'"));
  CHECK_THROWS_WITH(load_dataset("mnist:" + (scratch_dir() / "none").string(), true), Contains("not found"));
}

TEST_CASE("Fashion-MNIST is the default dataset and needs no path", "[data]") {
  if (!fs::exists(fashion_mnist_dir() + "/train-images-idx3-ubyte.gz")) {
    WARN("skipped: dataset-fashion-mnist is not installed at " << fashion_mnist_dir());
    return;
  }
  Dataset d = load_dataset("fashion-mnist", true, 256);
  CHECK(d.size() == 256);
  CHECK(d.images.shape == Shape{256, 1, 28, 28});
}

TEST_CASE("per-channel statistics normalise to mean 0 and std 1", "[data]") {
  Dataset d = toy(50);
  Normalization n = channel_statistics(d.images);
  DataLoader loader(d, {.batch_size = 50, .shuffle = false, .normalization = n});
  loader.start_epoch(0);
  Batch b = *loader.next();
  double sum = 0, sq = 0;
  for (float v : b.images.data) sum += v, sq += double(v) * v;
  CHECK(sum / b.images.numel() == Approx(0).margin(1e-4));
  CHECK(sq / b.images.numel() == Approx(1).epsilon(1e-3));
}

TEST_CASE("an epoch visits every example once in batches", "[data][loader]") {
  Dataset d = toy(103);
  DataLoader loader(d, {.batch_size = 10, .seed = 3});
  CHECK(loader.batches_per_epoch() == 11);
  loader.start_epoch(0);
  std::multiset<int64_t> seen;
  int batches = 0;
  while (auto b = loader.next()) {
    ++batches;
    CHECK(b->images.shape[0] == static_cast<int64_t>(b->labels.size()));
    for (size_t k = 0; k < b->indices.size(); ++k) {
      seen.insert(b->indices[k]);
      CHECK(b->labels[k] == d.labels[b->indices[k]]);
    }
  }
  CHECK(batches == 11);
  CHECK(seen.size() == 103);
  CHECK(std::set<int64_t>(seen.begin(), seen.end()).size() == 103);
  DataLoader dropping(d, {.batch_size = 10, .drop_last = true});
  CHECK(dropping.batches_per_epoch() == 10);
}

static std::vector<int64_t> epoch_order(const Dataset& d, LoaderOptions o, int64_t epoch) {
  DataLoader loader(d, o);
  loader.start_epoch(epoch);
  std::vector<int64_t> order;
  while (auto b = loader.next()) order.insert(order.end(), b->indices.begin(), b->indices.end());
  return order;
}

TEST_CASE("shuffling is seeded and reproducible and differs between epochs", "[data][loader]") {
  Dataset d = toy(64);
  LoaderOptions o{.batch_size = 8, .seed = 11};
  auto a = epoch_order(d, o, 0), b = epoch_order(d, o, 0), c = epoch_order(d, o, 1);
  CHECK(a == b);
  CHECK(a != c);
  o.seed = 12;
  CHECK(epoch_order(d, o, 0) != a);
  o.shuffle = false;
  auto plain = epoch_order(d, o, 5);
  for (int64_t i = 0; i < 64; ++i) CHECK(plain[i] == i);
}

TEST_CASE("random crop with padding shifts the image and flips mirror it", "[data][loader]") {
  Dataset d = toy(32, 6);
  const int64_t hw = 6, per = hw * hw;
  DataLoader crop(d, {.batch_size = 32, .shuffle = false, .seed = 5, .crop_padding = 2});
  crop.start_epoch(0);
  Batch b = *crop.next();
  int shifted = 0;
  for (int64_t k = 0; k < 32; ++k) {
    const float* img = &b.images.data[k * per];
    const float* src = &d.images.data[k * per];
    bool found = false;
    for (int64_t dy = -2; dy <= 2 && !found; ++dy)
      for (int64_t dx = -2; dx <= 2 && !found; ++dx) {
        bool match = true;
        for (int64_t y = 0; y < hw && match; ++y)
          for (int64_t x = 0; x < hw && match; ++x) {
            int64_t sy = y + dy, sx = x + dx;
            float want = (sy >= 0 && sy < hw && sx >= 0 && sx < hw) ? src[sy * hw + sx] : 0.f;
            match = img[y * hw + x] == want;
          }
        found = match;
        if (match && (dy || dx)) ++shifted;
      }
    CHECK(found);
  }
  CHECK(shifted > 16);  // most of the 32 images moved (a zero shift has chance 1/25)
  DataLoader flip(d, {.batch_size = 32, .shuffle = false, .seed = 5, .horizontal_flip = true});
  flip.start_epoch(0);
  Batch f = *flip.next();
  int flipped = 0;
  for (int64_t k = 0; k < 32; ++k) {
    bool same = true, mirrored = true;
    for (int64_t y = 0; y < hw; ++y)
      for (int64_t x = 0; x < hw; ++x) {
        float v = f.images.data[k * per + y * hw + x];
        same &= v == d.images.data[k * per + y * hw + x];
        mirrored &= v == d.images.data[k * per + y * hw + (hw - 1 - x)];
      }
    CHECK((same || mirrored));
    flipped += mirrored && !same;
  }
  CHECK(flipped > 4);
  CHECK(flipped < 28);
}

TEST_CASE("augmentation does not depend on the batch size or the threads", "[data][loader]") {
  Dataset d = toy(40, 6);
  auto images = [&](int64_t batch) {
    DataLoader l(d, {.batch_size = batch, .seed = 9, .crop_padding = 1, .horizontal_flip = true, .prefetch = 3});
    l.start_epoch(2);
    std::map<int64_t, std::vector<float>> by_example;
    while (auto b = l.next())
      for (size_t k = 0; k < b->indices.size(); ++k)
        by_example[b->indices[k]] = std::vector<float>(b->images.data.begin() + k * 36, b->images.data.begin() + (k + 1) * 36);
    return by_example;
  };
  CHECK(images(7) == images(40));
}

TEST_CASE("loader misuse raises clear errors", "[data][loader][errors]") {
  Dataset d = toy(10);
  CHECK_THROWS_WITH(DataLoader(d, {.batch_size = 0}), Contains("batch size"));
  CHECK_THROWS_WITH(DataLoader(d, {.normalization = {{0.5f, 0.5f}, {1.f, 1.f}}}), Contains("2 means") && Contains("1 channels"));
  Dataset empty{"empty", HostTensor({0, 1, 2, 2}), {}, 10};
  CHECK_THROWS_WITH(DataLoader(empty, {}), Contains("empty"));
}
