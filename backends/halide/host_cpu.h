// Facts about the machine this process runs on that Halide's target string does not carry.
#pragma once

namespace strata::halide_backend {

// Whether this CPU runs 512-bit FMAs at half the rate of its AVX-512 registers (AMD Zen 4
// splits each into two 256-bit halves): its arithmetic costs twice as much against memory
// as a full-width AVX-512 core's, which moves where Winograd pays (winograd.cpp).
bool host_has_half_width_fma();

}  // namespace strata::halide_backend
