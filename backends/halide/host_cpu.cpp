#include "backends/halide/host_cpu.h"

#include <cpuid.h>

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

}  // namespace strata::halide_backend
