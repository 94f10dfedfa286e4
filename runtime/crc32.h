#pragma once
#include <cstddef>
#include <cstdint>

namespace strata::runtime {
// CRC-32 (IEEE 802.3, as zlib and PNG use), for weight-file checksums.
uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);
}  // namespace strata::runtime
