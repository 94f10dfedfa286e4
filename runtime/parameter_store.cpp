#include "runtime/parameter_store.h"

#include <fmt/format.h>

#include <cstring>

#include "ir/error.h"
#include "runtime/crc32.h"
#include "runtime/file_util.h"
#include "runtime/initializers.h"

namespace strata::runtime {

static const char kMagic[8] = {'S', 'T', 'R', 'A', 'T', 'A', 'W', '\0'};

ParameterStore ParameterStore::initialize(const ir::Graph& g, uint64_t seed) {
  ParameterStore s;
  for (const ir::Value* p : g.parameters()) s.tensors_[p->name] = runtime::initialize(*p, seed);
  return s;
}

HostTensor& ParameterStore::at(const std::string& name) {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error(fmt::format("no parameter named '{}'", name));
  return it->second;
}

const HostTensor& ParameterStore::at(const std::string& name) const {
  return const_cast<ParameterStore*>(this)->at(name);
}

void ParameterStore::check_against(const ir::Graph& g) const {
  std::vector<std::string> problems;
  for (const ir::Value* p : g.parameters()) {
    auto it = tensors_.find(p->name);
    if (it == tensors_.end()) problems.push_back(fmt::format("'{}' is missing (expected {})", p->name, p->type.str()));
    else if (it->second.shape != p->type.shape)
      problems.push_back(fmt::format("'{}' has shape {}, the model expects {}", p->name, shape_str(it->second.shape),
                                     p->type.str()));
  }
  if (!problems.empty())
    throw Error(fmt::format("weights do not fit model '{}': {}", g.name(), fmt::join(problems, "; ")));
}

template <typename T>
static void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void ParameterStore::save(const std::string& path) const {
  std::string out(kMagic, 8);
  put<uint32_t>(out, kFormatVersion);
  put<uint32_t>(out, static_cast<uint32_t>(tensors_.size()));
  for (auto& [name, t] : tensors_) {
    put<uint32_t>(out, static_cast<uint32_t>(name.size()));
    out += name;
    put<uint8_t>(out, static_cast<uint8_t>(DataType::f32));
    put<uint32_t>(out, static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) put<int64_t>(out, d);
    put<uint64_t>(out, t.data.size() * 4);
    out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size() * 4);
  }
  put<uint32_t>(out, crc32(out.data(), out.size()));
  write_file_atomic(path, out, "weights file");
}

namespace {
class Reader {
 public:
  Reader(const std::string& b, std::string path) : b_(b), path_(std::move(path)) {}
  template <typename T>
  T get(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  std::string bytes(size_t n, const std::string& what) {
    need(n, what);
    std::string s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  size_t pos() const { return pos_; }

 private:
  void need(size_t n, const std::string& what) {
    if (pos_ + n > b_.size() - 4)
      throw Error(fmt::format("weights file '{}' is corrupt: {} runs past the end of the data", path_, what));
  }
  const std::string& b_;
  std::string path_;
  size_t pos_ = 0;
};
}  // namespace

ParameterStore ParameterStore::load(const std::string& path) {
  std::string b = read_binary_file(path, "weights file");
  if (b.size() < 20 || std::memcmp(b.data(), kMagic, 8) != 0)
    throw Error(fmt::format("'{}' is not a Strata weights file (bad magic or too short: {} bytes)", path, b.size()));
  uint32_t stored;
  std::memcpy(&stored, b.data() + b.size() - 4, 4);
  uint32_t actual = crc32(b.data(), b.size() - 4);
  if (stored != actual)
    throw Error(fmt::format("weights file '{}' is corrupt or truncated: checksum {:08x} does not match the stored {:08x}",
                            path, actual, stored));
  Reader r(b, path);
  r.bytes(8, "magic");
  uint32_t version = r.get<uint32_t>("format version");
  if (version != kFormatVersion)
    throw Error(fmt::format("weights file '{}' has format version {}; this build reads version {}", path, version, kFormatVersion));
  uint32_t count = r.get<uint32_t>("tensor count");
  ParameterStore s;
  for (uint32_t i = 0; i < count; ++i) {
    std::string where = fmt::format("tensor {}", i);
    uint32_t len = r.get<uint32_t>(where + " name length");
    std::string name = r.bytes(len, where + " name");
    auto dtype = r.get<uint8_t>(where + " dtype");
    if (dtype != static_cast<uint8_t>(DataType::f32))
      throw Error(fmt::format("weights file '{}': tensor '{}' has dtype code {}; only f32 is supported", path, name, dtype));
    uint32_t rank = r.get<uint32_t>(where + " rank");
    if (rank > 8) throw Error(fmt::format("weights file '{}': tensor '{}' has implausible rank {}", path, name, rank));
    Shape shape;
    for (uint32_t d = 0; d < rank; ++d) {
      int64_t v = r.get<int64_t>(where + " shape");
      if (v < 0) throw Error(fmt::format("weights file '{}': tensor '{}' has a negative dimension", path, name));
      shape.push_back(v);
    }
    uint64_t nbytes = r.get<uint64_t>(where + " data size");
    if (nbytes != static_cast<uint64_t>(num_elements(shape)) * 4)
      throw Error(fmt::format("weights file '{}': tensor '{}' of shape {} declares {} bytes", path, name, shape_str(shape), nbytes));
    std::string data = r.bytes(nbytes, fmt::format("tensor '{}' data", name));
    HostTensor t(shape);
    std::memcpy(t.data.data(), data.data(), nbytes);
    s.tensors_[name] = std::move(t);
  }
  if (r.pos() != b.size() - 4) throw Error(fmt::format("weights file '{}' has trailing bytes after its tensors", path));
  return s;
}

}  // namespace strata::runtime
