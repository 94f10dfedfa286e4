#include "backends/halide/host_cpu.h"

#include <cpuid.h>

#include <fmt/format.h>

#include <cstring>

namespace strata::halide_backend {

bool host_has_half_width_fma() {
  static const bool half = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
    char vendor[13] = {};
    std::memcpy(vendor, &b, 4);
    std::memcpy(vendor + 4, &d, 4);
    std::memcpy(vendor + 8, &c, 4);
    if (std::strcmp(vendor, "AuthenticAMD") != 0 || !__get_cpuid(1, &a, &b, &c, &d)) return false;
    unsigned family = (a >> 8) & 0xf;
    if (family == 0xf) family += (a >> 20) & 0xff;
    // Family 19h with AVX-512 is Zen 4 (Zen 3, the same family, has none); Zen 5 (1Ah)
    // server cores run it at full width.
    return family == 0x19 && __builtin_cpu_supports("avx512f");
  }();
  return half;
}

std::string host_cpu_description() {
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return "unknown CPU";
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  std::string brand;
  if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000004) {
    char text[49] = {};
    for (unsigned leaf = 0; leaf < 3; ++leaf) {
      unsigned r[4];
      __get_cpuid(0x80000002 + leaf, &r[0], &r[1], &r[2], &r[3]);
      std::memcpy(text + 16 * leaf, r, 16);
    }
    brand = text;
    brand.erase(0, brand.find_first_not_of(' '));
    brand.erase(brand.find_last_not_of(' ') + 1);
  }
  if (brand.empty()) brand = vendor;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return brand;
  unsigned family = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
  if (family == 0xf) family += (a >> 20) & 0xff;
  if (family == 0xf || family == 0x6) model += ((a >> 16) & 0xf) << 4;
  std::string core;
  if (std::strcmp(vendor, "AuthenticAMD") == 0) {
    if (family == 0x17) core = "Zen 1/2";
    if (family == 0x19) core = __builtin_cpu_supports("avx512f") ? "Zen 4" : "Zen 3";
    if (family == 0x1a) core = "Zen 5";
  }
  std::string s = fmt::format("{}, family {:X}h model {:02X}h", brand, family, model);
  if (!core.empty()) s += fmt::format(" ({})", core);
  return s;
}

}  // namespace strata::halide_backend
