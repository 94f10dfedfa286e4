#include "runtime/npy.h"

#include <fmt/format.h>

#include <cstring>

#include "ir/error.h"
#include "runtime/file_util.h"

namespace strata::runtime {

static const char kMagic[] = "\x93NUMPY";

// Value of `key` in the header dict: the text after "'key':" up to the matching end.
static std::string dict_value(const std::string& h, const std::string& key, const std::string& src) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) throw Error(fmt::format("{}: .npy header lacks '{}': {}", src, key, h));
  size_t colon = h.find(':', k);
  if (colon == std::string::npos) throw Error(fmt::format("{}: malformed .npy header: {}", src, h));
  size_t b = h.find_first_not_of(' ', colon + 1);
  if (b == std::string::npos) throw Error(fmt::format("{}: malformed .npy header: {}", src, h));
  size_t e = h[b] == '(' ? h.find(')', b) + 1 : h[b] == '\'' ? h.find('\'', b + 1) + 1 : h.find_first_of(",}", b);
  if (e == std::string::npos || e == 0) throw Error(fmt::format("{}: malformed .npy header: {}", src, h));
  return h.substr(b, e - b);
}

HostTensor parse_npy(const std::string& bytes, const std::string& src) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0)
    throw Error(fmt::format("{}: not a .npy file (bad magic)", src));
  int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, offset;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw Error(fmt::format("{}: truncated .npy header", src));
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= size_t(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    offset = 12;
  } else {
    throw Error(fmt::format("{}: unsupported .npy format version {}.{}", src, major, int(bytes[7])));
  }
  if (bytes.size() < offset + header_len) throw Error(fmt::format("{}: truncated .npy header", src));
  std::string h = bytes.substr(offset, header_len);
  std::string descr = dict_value(h, "descr", src);
  if (descr != "'<f4'" && descr != "'=f4'")
    throw Error(fmt::format("{}: dtype {} is not supported (Strata reads little-endian float32 '<f4'; "
                            "convert with array.astype(numpy.float32))", src, descr));
  if (dict_value(h, "fortran_order", src) != "False")
    throw Error(fmt::format("{}: Fortran-ordered arrays are not supported (save with numpy.ascontiguousarray)", src));
  std::string shp = dict_value(h, "shape", src);
  Shape shape;
  std::string num;
  for (char c : shp.substr(1)) {
    if (std::isdigit(static_cast<unsigned char>(c))) num += c;
    else if (c == ',' || c == ')') {
      if (!num.empty()) shape.push_back(std::stoll(num)), num.clear();
    } else if (c != ' ') {
      throw Error(fmt::format("{}: malformed shape {} in .npy header", src, shp));
    }
  }
  size_t data_bytes = static_cast<size_t>(num_elements(shape)) * 4;
  if (bytes.size() - offset - header_len < data_bytes)
    throw Error(fmt::format("{}: truncated .npy data: shape {} needs {} bytes, the file has {}", src, shape_str(shape),
                            data_bytes, bytes.size() - offset - header_len));
  HostTensor t(shape);
  std::memcpy(t.data.data(), bytes.data() + offset + header_len, data_bytes);
  return t;
}

HostTensor read_npy(const std::string& path) { return parse_npy(read_binary_file(path, ".npy file"), path); }

std::string serialize_npy(const HostTensor& t) {
  std::string shape = "(";
  for (size_t i = 0; i < t.shape.size(); ++i) shape += std::to_string(t.shape[i]) + (t.shape.size() == 1 || i + 1 < t.shape.size() ? "," : "");
  shape += ")";
  std::string dict = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': {}, }}", shape);
  bool v2 = dict.size() + 11 > 65535;
  size_t pre = v2 ? 12 : 10;
  size_t total = (pre + dict.size() + 1 + 63) / 64 * 64;  // header padded to 64 bytes, ends in '\n'
  dict.append(total - pre - dict.size() - 1, ' ');
  dict += '\n';
  std::string out(kMagic, 6);
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  size_t len = dict.size();
  for (int i = 0; i < (v2 ? 4 : 2); ++i) out += static_cast<char>((len >> (8 * i)) & 0xff);
  out += dict;
  out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size() * 4);
  return out;
}

void write_npy(const std::string& path, const HostTensor& t) { write_file_atomic(path, serialize_npy(t), ".npy file"); }

}  // namespace strata::runtime
