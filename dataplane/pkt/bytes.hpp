// Unaligned big-endian loads and stores over byte buffers. Frames may start
// at any address, so every multi-byte access goes through memcpy (which the
// compiler turns into a plain load plus a byte swap).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sluice::pkt {

inline uint16_t bswap16(uint16_t v) { return uint16_t((v >> 8) | (v << 8)); }
inline uint32_t bswap32(uint32_t v) { return __builtin_bswap32(v); }

inline uint16_t load_be16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    if constexpr (std::endian::native == std::endian::little) v = bswap16(v);
    return v;
}

inline uint32_t load_be32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    if constexpr (std::endian::native == std::endian::little) v = bswap32(v);
    return v;
}

inline void store_be16(uint8_t* p, uint16_t v) {
    if constexpr (std::endian::native == std::endian::little) v = bswap16(v);
    std::memcpy(p, &v, 2);
}

inline void store_be32(uint8_t* p, uint32_t v) {
    if constexpr (std::endian::native == std::endian::little) v = bswap32(v);
    std::memcpy(p, &v, 4);
}

}  // namespace sluice::pkt
