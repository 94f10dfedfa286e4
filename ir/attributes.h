#pragma once
// Typed node attributes: int, float, string, list of ints, list of floats.
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace strata::ir {

enum class AttrKind { Int, Float, String, Ints, Floats };
using Attr = std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>>;
// Ordered, so printing is deterministic.
using AttrMap = std::map<std::string, Attr>;

AttrKind attr_kind(const Attr& a);
const char* attr_kind_name(AttrKind k);
std::string attr_str(const Attr& a);  // text-form spelling, parsed back exactly

}  // namespace strata::ir
