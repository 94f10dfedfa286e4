#include "backends/halide/host_cpu.h"

#include <cpuid.h>

#include <fmt/format.h>

#include <cstring>

namespace strata::halide_backend {

namespace {

// CPUID's vendor, family and model (the extended fields folded in, as the vendors document).
struct CpuId {
  std::string vendor;
  unsigned family = 0, model = 0;
};

CpuId read_cpuid() {
  CpuId id;
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return id;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  id.vendor = vendor;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return id;
  unsigned base_family = (a >> 8) & 0xf;
  id.family = base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family;
  id.model = (a >> 4) & 0xf;
  if (base_family == 0xf || base_family == 0x6) id.model += ((a >> 16) & 0xf) << 4;
  return id;
}

}  // namespace

bool host_has_half_width_fma() {
  static const bool half = [] {
    CpuId id = read_cpuid();
    // Family 19h with AVX-512 is Zen 4 (Zen 3, the same family, has none); Zen 5 (1Ah)
    // server cores run it at full width.
    return id.vendor == "AuthenticAMD" && id.family == 0x19 && __builtin_cpu_supports("avx512f");
  }();
  return half;
}

std::string host_cpu_description() {
  CpuId id = read_cpuid();
  if (id.vendor.empty()) return "unknown CPU";
  std::string brand;
  unsigned a, b, c, d;
  if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000004) {
    char text[49] = {};
    for (unsigned leaf = 0; leaf < 3; ++leaf) {
      unsigned r[4];
      __get_cpuid(0x80000002 + leaf, &r[0], &r[1], &r[2], &r[3]);
      std::memcpy(text + 16 * leaf, r, 16);
    }
    // Printable ASCII only, so the text goes into reports (and JSON strings) as it is.
    for (char ch : std::string(text))
      if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') brand += ch;
    brand.erase(0, brand.find_first_not_of(' '));
    brand.erase(brand.find_last_not_of(' ') + 1);
  }
  if (brand.empty()) brand = id.vendor;
  std::string core;
  if (id.vendor == "AuthenticAMD") {
    if (id.family == 0x17) core = "Zen 1/2";
    if (id.family == 0x19) core = __builtin_cpu_supports("avx512f") ? "Zen 4" : "Zen 3";
    if (id.family == 0x1a) core = "Zen 5";
  }
  std::string s = fmt::format("{}, family {:X}h model {:02X}h", brand, id.family, id.model);
  if (!core.empty()) s += fmt::format(" ({})", core);
  return s;
}

}  // namespace strata::halide_backend
