#include "ir/attributes.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>

namespace strata::ir {

AttrKind attr_kind(const Attr& a) { return static_cast<AttrKind>(a.index()); }

const char* attr_kind_name(AttrKind k) {
  switch (k) {
    case AttrKind::Int: return "int";
    case AttrKind::Float: return "float";
    case AttrKind::String: return "string";
    case AttrKind::Ints: return "int list";
    case AttrKind::Floats: return "float list";
  }
  return "?";
}

// Shortest spelling that parses back to the same double; always has '.', 'e', "inf" or
// "nan" so the parser can tell it from an int.
static std::string float_str(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s;
  for (int prec = 6; prec <= 17; ++prec) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    s = buf;
    if (std::strtod(buf, nullptr) == v) break;
  }
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

static std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string attr_str(const Attr& a) {
  switch (attr_kind(a)) {
    case AttrKind::Int: return std::to_string(std::get<int64_t>(a));
    case AttrKind::Float: return float_str(std::get<double>(a));
    case AttrKind::String: return quote(std::get<std::string>(a));
    case AttrKind::Ints: return fmt::format("[{}]", fmt::join(std::get<std::vector<int64_t>>(a), ", "));
    case AttrKind::Floats: {
      std::vector<std::string> parts;
      for (double v : std::get<std::vector<double>>(a)) parts.push_back(float_str(v));
      // An empty list reads back as an empty int list; complete_attrs converts it.
      return fmt::format("[{}]", fmt::join(parts, ", "));
    }
  }
  return "";
}

}  // namespace strata::ir
