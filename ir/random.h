#pragma once
// The counter-based hash behind training-mode dropout: the mask of element i is a pure
// function of (seed, salt, i), so a step is reproducible, the backward pass recomputes the
// forward mask instead of storing it, and every backend draws the same mask. The Halide
// lowering computes the same function with the same constants.
#include <cstdint>

namespace strata::ir {

inline constexpr uint32_t kHashIndexMul = 0x9E3779B1u, kHashSeedMul = 0x85EBCA77u, kHashSaltMul = 0xC2B2AE3Du,
                          kHashMix1 = 0x7FEB352Du, kHashMix2 = 0x846CA68Bu;

inline uint32_t dropout_hash(uint32_t seed, uint32_t salt, uint32_t index) {
  uint32_t h = index * kHashIndexMul ^ (seed * kHashSeedMul + salt * kHashSaltMul);
  h ^= h >> 16;
  h *= kHashMix1;
  h ^= h >> 15;
  h *= kHashMix2;
  h ^= h >> 16;
  return h;
}

// Uniform in [0, 1) with 24 bits; the element is kept when it is >= p.
inline float dropout_uniform(uint32_t h) { return static_cast<float>(h >> 8) * (1.0f / 16777216.0f); }

}  // namespace strata::ir
