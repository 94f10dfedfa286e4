// Files: .npy, weights files and IDX data, round trips and every way they can be bad.
#include <zlib.h>

#include <cstring>

#include <filesystem>
#include <fstream>

#include "examples/examples.h"
#include "ir/error.h"
#include "runtime/crc32.h"
#include "runtime/file_util.h"
#include "runtime/idx.h"
#include "runtime/npy.h"
#include "runtime/parameter_store.h"
#include "tests/helpers.h"

using namespace strata;
using namespace strata::runtime;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

static fs::path scratch(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("strata-test-files-" + std::to_string(getpid()));
  fs::create_directories(d);
  return d / name;
}

static void write_raw(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f << bytes;
}

TEST_CASE(".npy round-trips shapes and values", "[files][npy]") {
  for (Shape s : {Shape{2, 3, 4, 5}, Shape{7}, Shape{1, 10}}) {
    HostTensor t = testing::random_tensor(s, 3);
    auto p = scratch("t.npy");
    write_npy(p, t);
    HostTensor back = read_npy(p);
    CHECK(back.shape == s);
    CHECK(back.data == t.data);
  }
  std::string bytes = serialize_npy(HostTensor({3}, {1, 2, 3}));
  CHECK(bytes.size() % 64 == 12);  // header padded to 64 bytes, then 3 floats
}

TEST_CASE(".npy format 2.0 headers are read", "[files][npy]") {
  std::string v1 = serialize_npy(HostTensor({2}, {1.5f, -2.f}));
  size_t hlen = static_cast<unsigned char>(v1[8]) | (static_cast<unsigned char>(v1[9]) << 8);
  std::string v2 = v1.substr(0, 6) + std::string("\x02\x00", 2);
  for (int i = 0; i < 4; ++i) v2 += static_cast<char>(((hlen - 2) >> (8 * i)) & 0xff);
  v2 += v1.substr(10, hlen - 2) + v1.substr(10 + hlen);
  HostTensor t = parse_npy(v2, "v2");
  CHECK(t.data == std::vector<float>{1.5f, -2.f});
}

TEST_CASE("bad .npy files are rejected with clear errors", "[files][npy][errors]") {
  std::string good = serialize_npy(HostTensor({4}, {1, 2, 3, 4}));
  CHECK_THROWS_WITH(parse_npy("hello world, not numpy", "x.npy"), Contains("x.npy") && Contains("bad magic"));
  CHECK_THROWS_WITH(parse_npy(good.substr(0, good.size() - 3), "t.npy"), Contains("truncated .npy data"));
  CHECK_THROWS_WITH(parse_npy(good.substr(0, 20), "t.npy"), Contains("truncated .npy header"));
  std::string f8 = good;
  f8.replace(f8.find("<f4"), 3, "<f8");
  CHECK_THROWS_WITH(parse_npy(f8, "d.npy"), Contains("'<f8' is not supported") && Contains("float32"));
  std::string be = good;
  be.replace(be.find("<f4"), 3, ">f4");
  CHECK_THROWS_WITH(parse_npy(be, "b.npy"), Contains("'>f4'"));
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  CHECK_THROWS_WITH(parse_npy(fortran, "f.npy"), Contains("Fortran"));
  CHECK_THROWS_WITH(read_npy(scratch("missing.npy")), Contains("cannot open"));
}

TEST_CASE("weights files round-trip and verify their checksum", "[files][weights]") {
  dsl::Model m = examples::lenet(10);
  ParameterStore p = ParameterStore::initialize(m.graph(), 42);
  auto path = scratch("w.strata");
  p.save(path);
  ParameterStore q = ParameterStore::load(path);
  REQUIRE(q.size() == p.size());
  for (auto& [name, t] : p.tensors()) CHECK(q.at(name).data == t.data);
  q.check_against(m.graph());
  CHECK(!fs::exists(path.string() + ".tmp." + std::to_string(getpid())));  // no temporary left behind
}

TEST_CASE("corrupt and truncated and mismatched weights are rejected", "[files][weights][errors]") {
  dsl::Model m = examples::lenet(10);
  ParameterStore p = ParameterStore::initialize(m.graph(), 1);
  auto path = scratch("w2.strata");
  p.save(path);
  std::string bytes = read_binary_file(path, "w");
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  write_raw(path, flipped);
  CHECK_THROWS_WITH(ParameterStore::load(path), Contains("corrupt or truncated") && Contains("checksum"));
  write_raw(path, bytes.substr(0, bytes.size() - 100));
  CHECK_THROWS_WITH(ParameterStore::load(path), Contains("corrupt or truncated"));
  write_raw(path, "STRAT");
  CHECK_THROWS_WITH(ParameterStore::load(path), Contains("not a Strata weights file"));
  dsl::Model other = examples::small_resnet(10);
  CHECK_THROWS_WITH(p.check_against(other.graph()), Contains("layer1.0.conv1.weight") && Contains("missing"));
  ParameterStore wrong = p;
  wrong.set("conv1.weight", HostTensor({6, 1, 3, 3}));
  CHECK_THROWS_WITH(wrong.check_against(m.graph()), Contains("conv1.weight") && Contains("[6, 1, 3, 3]"));
}

TEST_CASE("weights of another dtype are rejected even with a valid checksum", "[files][weights][errors]") {
  ParameterStore p;
  p.set("w", HostTensor({2}, {1.f, 2.f}));
  auto path = scratch("dtype.strata");
  p.save(path);
  std::string bytes = read_binary_file(path, "w");
  size_t dtype_at = 8 + 4 + 4 + 4 + 1;  // magic, version, count, name length, name "w"
  bytes[dtype_at] = static_cast<char>(DataType::f16);
  uint32_t crc = crc32(bytes.data(), bytes.size() - 4);
  std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
  write_raw(path, bytes);
  CHECK_THROWS_WITH(ParameterStore::load(path), Contains("'w'") && Contains("only f32"));
}

TEST_CASE("a failed save leaves the existing file as it was", "[files][weights][errors]") {
  dsl::Model m = examples::lenet(10);
  ParameterStore p = ParameterStore::initialize(m.graph(), 1);
  CHECK_THROWS_WITH(p.save(scratch("no-such-dir/w.strata")), Contains("cannot write"));
  auto path = scratch("keep.strata");
  p.save(path);
  std::string before = read_binary_file(path, "w");
  fs::permissions(path.parent_path(), fs::perms::owner_read | fs::perms::owner_exec);
  bool can_write_anyway = ::access(path.parent_path().c_str(), W_OK) == 0;  // root ignores permissions
  if (can_write_anyway) {
    WARN("running as root: directory permissions are not enforced, skipping the read-only directory case");
  } else {
    CHECK_THROWS(ParameterStore::initialize(m.graph(), 2).save(path));
    CHECK(read_binary_file(path, "w") == before);
  }
  fs::permissions(path.parent_path(), fs::perms::owner_all);
}

static std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

static void write_gz(const fs::path& p, const std::string& bytes) {
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

TEST_CASE("IDX files: raw and gzip read then bad files rejected", "[files][idx]") {
  std::string images = be32(0x803) + be32(2) + be32(2) + be32(2) + std::string("\x00\xff\x80\x01\x02\x03\x04\x05", 8);
  std::string labels = be32(0x801) + be32(2) + std::string("\x03\x09", 2);
  auto ip = scratch("img.idx"), lp = scratch("lab.idx.gz");
  write_raw(ip, images);
  write_gz(lp, labels);
  LabeledImages d = read_idx(ip, lp);
  CHECK(d.images.shape == Shape{2, 1, 2, 2});
  CHECK(d.images.data[1] == 1.0f);
  CHECK(d.labels == std::vector<int>{3, 9});
  write_raw(ip, images.substr(0, images.size() - 3));
  CHECK_THROWS_WITH(read_idx(ip, lp), Contains("truncated"));
  write_raw(ip, be32(0x801) + images.substr(4));
  CHECK_THROWS_WITH(read_idx(ip, lp), Contains("not an IDX image file"));
  write_raw(ip, images);
  write_gz(lp, be32(0x801) + be32(3) + std::string("\x01\x02\x03", 3));
  CHECK_THROWS_WITH(read_idx(ip, lp), Contains("2 images") && Contains("3 labels"));
}

TEST_CASE("Fashion-MNIST from the Debian package is readable", "[files][idx]") {
  std::string dir = fashion_mnist_dir();
  if (!fs::exists(dir + "/t10k-images-idx3-ubyte.gz")) {
    WARN("skipped: dataset-fashion-mnist is not installed at " << dir);
    return;
  }
  LabeledImages d = read_idx(dir + "/t10k-images-idx3-ubyte.gz", dir + "/t10k-labels-idx1-ubyte.gz", 100);
  CHECK(d.images.shape == Shape{100, 1, 28, 28});
  CHECK(d.labels[0] == 9);  // the first test image is an ankle boot
}
