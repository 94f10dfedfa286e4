#pragma once
// IDX files (MNIST, Fashion-MNIST), gzip-compressed or raw.
#include <string>
#include <vector>

#include "ir/types.h"

namespace strata::runtime {

struct LabeledImages {
  HostTensor images;         // [N, 1, H, W], pixels scaled to [0, 1]
  std::vector<int> labels;   // N
};

// Reads an image file (magic 0x803) and its label file (magic 0x801); `limit` > 0 keeps
// the first `limit` examples. Wrong magic, truncation and count mismatches are errors.
LabeledImages read_idx(const std::string& images_path, const std::string& labels_path, int64_t limit = 0);

// Where Debian's dataset-fashion-mnist package puts the data.
std::string fashion_mnist_dir();
extern const char* const kFashionMnistClasses[10];

}  // namespace strata::runtime
