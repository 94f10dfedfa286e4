#include "runtime/data.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>

#include "ir/error.h"
#include "runtime/file_util.h"
#include "runtime/idx.h"

namespace strata::runtime {

Dataset read_cifar10(const std::string& dir, bool train, int64_t limit) {
  std::vector<std::string> files;
  if (train)
    for (int i = 1; i <= 5; ++i) files.push_back(fmt::format("{}/data_batch_{}.bin", dir, i));
  else
    files.push_back(dir + "/test_batch.bin");
  constexpr int64_t kRecord = 1 + 3 * 32 * 32;
  std::vector<std::string> blobs;
  int64_t n = 0;
  for (auto& f : files) {
    blobs.push_back(read_binary_file(f, "CIFAR-10 file"));
    if (blobs.back().empty() || blobs.back().size() % kRecord != 0)
      throw Error(fmt::format("CIFAR-10 file '{}' is truncated or corrupt: {} bytes is not a whole number of {}-byte records",
                              f, blobs.back().size(), kRecord));
    n += static_cast<int64_t>(blobs.back().size()) / kRecord;
  }
  if (limit > 0) n = std::min(n, limit);
  Dataset d{"cifar10", HostTensor({n, 3, 32, 32}), std::vector<int>(n), 10};
  int64_t i = 0;
  for (size_t f = 0; f < blobs.size() && i < n; ++f)
    for (size_t off = 0; off < blobs[f].size() && i < n; off += kRecord, ++i) {
      auto label = static_cast<unsigned char>(blobs[f][off]);
      if (label > 9) throw Error(fmt::format("CIFAR-10 file '{}': record {} has label {} (expected 0-9)", files[f], off / kRecord, int(label)));
      d.labels[i] = label;
      for (int64_t p = 0; p < 3 * 32 * 32; ++p)
        d.images.data[i * 3 * 32 * 32 + p] = static_cast<unsigned char>(blobs[f][off + 1 + p]) / 255.0f;
    }
  return d;
}

static Dataset mnist_like(const std::string& name, const std::string& dir, bool train, int64_t limit) {
  std::string prefix = train ? "train" : "t10k";
  auto pick = [&](const std::string& base) {
    for (const char* ext : {".gz", ""})
      if (std::filesystem::exists(dir + "/" + base + ext)) return dir + "/" + base + ext;
    throw Error(fmt::format("{}: '{}/{}' (or .gz) not found", name, dir, base));
  };
  LabeledImages li = read_idx(pick(prefix + "-images-idx3-ubyte"), pick(prefix + "-labels-idx1-ubyte"), limit);
  return Dataset{name, std::move(li.images), std::move(li.labels), 10};
}

Dataset load_dataset(const std::string& spec, bool train, int64_t limit) {
  if (spec == "fashion-mnist") return mnist_like("fashion-mnist", fashion_mnist_dir(), train, limit);
  auto colon = spec.find(':');
  std::string kind = spec.substr(0, colon), dir = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (kind == "mnist" && !dir.empty()) return mnist_like("mnist", dir, train, limit);
  if (kind == "cifar10" && !dir.empty()) return read_cifar10(dir, train, limit);
  throw Error(fmt::format("unknown data '{}' (expected fashion-mnist, mnist:DIR or cifar10:DIR)", spec));
}

Normalization channel_statistics(const HostTensor& images) {
  const Shape& s = images.shape;
  if (s.size() != 4) throw Error("channel_statistics: images must be [N, C, H, W]");
  Normalization n{std::vector<float>(s[1]), std::vector<float>(s[1])};
  int64_t hw = s[2] * s[3];
  for (int64_t c = 0; c < s[1]; ++c) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < s[0]; ++i)
      for (int64_t p = 0; p < hw; ++p) {
        double v = images.data[(i * s[1] + c) * hw + p];
        sum += v, sq += v * v;
      }
    double count = double(s[0] * hw), mean = sum / count;
    n.mean[c] = static_cast<float>(mean);
    n.std[c] = static_cast<float>(std::sqrt(std::max(sq / count - mean * mean, 1e-12)));
  }
  return n;
}

DataLoader::DataLoader(const Dataset& data, LoaderOptions o) : data_(data), o_(std::move(o)) {
  if (o_.batch_size < 1) throw Error(fmt::format("batch size must be >= 1, got {}", o_.batch_size));
  if (data_.size() == 0) throw Error(fmt::format("dataset '{}' is empty", data_.name));
  if (o_.crop_padding < 0) throw Error("crop padding must not be negative");
  int64_t c = data_.images.shape.at(1);
  if (!o_.normalization.mean.empty() &&
      (static_cast<int64_t>(o_.normalization.mean.size()) != c || static_cast<int64_t>(o_.normalization.std.size()) != c))
    throw Error(fmt::format("normalisation has {} means and {} stds for {} channels", o_.normalization.mean.size(),
                            o_.normalization.std.size(), c));
  if (o_.prefetch < 1) o_.prefetch = 1;
}

DataLoader::~DataLoader() { stop(); }

int64_t DataLoader::batches_per_epoch() const {
  int64_t n = data_.size();
  return o_.drop_last ? n / o_.batch_size : (n + o_.batch_size - 1) / o_.batch_size;
}

// A stream for (seed, epoch, salt): SplitMix64-style mixing so nearby inputs decorrelate.
static uint64_t mix(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull ^ c * 0x94D049BB133111EBull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

Batch DataLoader::make_batch(int64_t epoch, int64_t b, const std::vector<int64_t>& order) const {
  const Shape& s = data_.images.shape;
  int64_t C = s[1], H = s[2], W = s[3], per = C * H * W;
  int64_t begin = b * o_.batch_size, end = std::min<int64_t>(begin + o_.batch_size, data_.size());
  Batch out{HostTensor({end - begin, C, H, W}), {}, {}};
  for (int64_t i = begin; i < end; ++i) {
    int64_t ex = order[i], k = i - begin;
    out.labels.push_back(data_.labels[ex]);
    out.indices.push_back(ex);
    std::mt19937_64 rng(mix(o_.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(ex)));
    int64_t p = o_.crop_padding;
    int64_t dy = p ? static_cast<int64_t>(rng() % (2 * p + 1)) - p : 0;
    int64_t dx = p ? static_cast<int64_t>(rng() % (2 * p + 1)) - p : 0;
    bool flip = o_.horizontal_flip && (rng() & 1);
    for (int64_t c = 0; c < C; ++c) {
      float mean = o_.normalization.mean.empty() ? 0.f : o_.normalization.mean[c];
      float inv = o_.normalization.std.empty() ? 1.f : 1.f / o_.normalization.std[c];
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          int64_t sy = y + dy, sx = (flip ? W - 1 - x : x) + dx;
          // Pixels cropped in from the padding are zero before normalisation.
          float v = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? data_.images.data[ex * per + (c * H + sy) * W + sx] : 0.f;
          out.images.data[k * per + (c * H + y) * W + x] = (v - mean) * inv;
        }
    }
  }
  return out;
}

void DataLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancel_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  ready_.clear();
  cancel_ = false;
}

void DataLoader::start_epoch(int64_t epoch) {
  stop();
  std::vector<int64_t> order(data_.size());
  std::iota(order.begin(), order.end(), 0);
  if (o_.shuffle) {
    std::mt19937_64 rng(mix(o_.seed, static_cast<uint64_t>(epoch), ~0ull));
    for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i)  // Fisher-Yates, portable
      std::swap(order[i], order[rng() % static_cast<uint64_t>(i + 1)]);
  }
  done_ = false;
  error_.reset();
  worker_ = std::thread([this, epoch, order = std::move(order)] {
    for (int64_t b = 0; b < batches_per_epoch(); ++b) {
      std::optional<Batch> batch;
      try {
        batch = make_batch(epoch, b, order);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu_);
        error_ = e.what();
        break;
      }
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return cancel_ || static_cast<int>(ready_.size()) < o_.prefetch; });
      if (cancel_) return;
      ready_.push_back(std::move(*batch));
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  });
}

std::optional<Batch> DataLoader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !ready_.empty() || done_ || error_; });
  if (error_) throw Error(fmt::format("data loader: {}", *error_));
  if (ready_.empty()) return std::nullopt;
  Batch b = std::move(ready_.front());
  ready_.pop_front();
  cv_.notify_all();
  return b;
}

}  // namespace strata::runtime
