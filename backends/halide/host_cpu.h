// Facts about the machine this process runs on that Halide's target string does not carry.
#pragma once

#include <string>

namespace strata::halide_backend {

// Whether this CPU runs 512-bit FMAs at half the rate of its AVX-512 registers (AMD Zen 4
// splits each into two 256-bit halves): its arithmetic costs twice as much against memory
// as a full-width AVX-512 core's, which moves where Winograd pays (winograd.cpp).
bool host_has_half_width_fma();

// The CPU this process runs on, for benchmark reports: its brand string with CPUID's family
// and model, and the core's name where the family says it ("AMD EPYC, family 1Ah model
// 02h (Zen 5)"). What fusion buys depends on it: a core whose memory keeps pace with its
// FMAs gains less from passes removed (README, What fusion buys).
std::string host_cpu_description();

}  // namespace strata::halide_backend
