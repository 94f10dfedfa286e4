#include "runtime/idx.h"

#include <fmt/format.h>
#include <zlib.h>

#include <cstdlib>

#include "ir/error.h"

namespace strata::runtime {

const char* const kFashionMnistClasses[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

std::string fashion_mnist_dir() {
  if (const char* d = std::getenv("STRATA_FASHION_MNIST"); d && *d) return d;
  return "/usr/share/datasets/fashion-mnist";
}

// gzread reads raw files transparently, so one reader serves both.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path), f_(gzopen(path.c_str(), "rb")) {
    if (!f_) throw Error(fmt::format("cannot open IDX file '{}'", path));
  }
  ~GzFile() { gzclose(f_); }
  void read(void* dst, size_t n, const char* what) {
    char* p = static_cast<char*>(dst);
    while (n > 0) {
      unsigned chunk = n > (1u << 30) ? (1u << 30) : static_cast<unsigned>(n);
      int got = gzread(f_, p, chunk);
      if (got <= 0) {
        int err = 0;
        const char* msg = gzerror(f_, &err);
        throw Error(fmt::format("IDX file '{}' is truncated or corrupt while reading {}{}", path_, what,
                                err ? fmt::format(" ({})", msg) : ""));
      }
      p += got;
      n -= static_cast<size_t>(got);
    }
  }
  uint32_t be32(const char* what) {
    unsigned char b[4];
    read(b, 4, what);
    return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
  }

 private:
  std::string path_;
  gzFile f_;
};

LabeledImages read_idx(const std::string& images_path, const std::string& labels_path, int64_t limit) {
  GzFile img(images_path), lab(labels_path);
  uint32_t m1 = img.be32("the magic number");
  if (m1 != 0x803) throw Error(fmt::format("'{}' is not an IDX image file (magic {:#x}, expected 0x803)", images_path, m1));
  uint32_t m2 = lab.be32("the magic number");
  if (m2 != 0x801) throw Error(fmt::format("'{}' is not an IDX label file (magic {:#x}, expected 0x801)", labels_path, m2));
  uint32_t n = img.be32("the image count"), rows = img.be32("the row count"), cols = img.be32("the column count");
  uint32_t nl = lab.be32("the label count");
  if (n != nl)
    throw Error(fmt::format("'{}' has {} images but '{}' has {} labels", images_path, n, labels_path, nl));
  if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096)
    throw Error(fmt::format("'{}' declares implausible image size {}x{}", images_path, rows, cols));
  int64_t keep = limit > 0 ? std::min<int64_t>(limit, n) : n;
  LabeledImages out{HostTensor({keep, 1, rows, cols}), std::vector<int>(keep)};
  std::vector<unsigned char> pix(static_cast<size_t>(keep) * rows * cols), labels(keep);
  img.read(pix.data(), pix.size(), "pixels");
  lab.read(labels.data(), labels.size(), "labels");
  for (size_t i = 0; i < pix.size(); ++i) out.images.data[i] = pix[i] / 255.0f;
  for (int64_t i = 0; i < keep; ++i) {
    if (labels[i] > 9) throw Error(fmt::format("'{}': label {} of example {} is out of range", labels_path, int(labels[i]), i));
    out.labels[i] = labels[i];
  }
  return out;
}

}  // namespace strata::runtime
