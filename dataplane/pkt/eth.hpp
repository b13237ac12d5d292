// Ethernet II framing (IEEE 802.3 / RFC 894): offsets, ethertypes, MAC tests.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dataplane/pkt/bytes.hpp"

namespace sluice::pkt {

// Same type as sluice::dp::MacBytes (dataplane/neighbor/fsm.hpp).
using MacBytes = std::array<uint8_t, 6>;

inline constexpr size_t kEthAddrLen = 6;
inline constexpr size_t kEthDstOff = 0;
inline constexpr size_t kEthSrcOff = 6;
inline constexpr size_t kEthTypeOff = 12;
inline constexpr size_t kEthHdrLen = 14;
inline constexpr size_t kVlanTagLen = 4;
// Shortest Ethernet frame without the FCS; shorter frames are zero padded.
inline constexpr size_t kEthMinFrameLen = 60;

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86DD;

inline constexpr MacBytes kBroadcastMac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

// Group bit (I/G) set: multicast, broadcast included.
inline bool is_multicast_mac(const uint8_t* mac) { return (mac[0] & 0x01) != 0; }
inline bool is_multicast_mac(const MacBytes& mac) { return is_multicast_mac(mac.data()); }

inline bool is_broadcast_mac(const uint8_t* mac) {
    return (mac[0] & mac[1] & mac[2] & mac[3] & mac[4] & mac[5]) == 0xff;
}
inline bool is_broadcast_mac(const MacBytes& mac) { return is_broadcast_mac(mac.data()); }

inline bool is_zero_mac(const uint8_t* mac) { return (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0; }

inline uint16_t eth_type(const uint8_t* frame) { return load_be16(frame + kEthTypeOff); }

// A 48-bit MAC as an integer (its six bytes in memory order, little-endian),
// so a destination check is one load and one compare.
static_assert(std::endian::native == std::endian::little, "MAC words are little-endian (x86, arm64)");
inline uint64_t mac48(const MacBytes& mac) {
    uint64_t v = 0;
    std::memcpy(&v, mac.data(), kEthAddrLen);
    return v;
}
// The destination MAC of a frame of at least 8 bytes, with one 8-byte load:
// the two bytes past it (the start of the source MAC) are masked off.
inline uint64_t mac48(const uint8_t* frame) {
    uint64_t v;
    std::memcpy(&v, frame, 8);
    return v & 0x0000FFFFFFFFFFFFull;
}

// Writes the 14-byte header. dst/src may point into `out` (memmove).
inline void write_eth_header(uint8_t* out, const uint8_t* dst, const uint8_t* src, uint16_t ethertype) {
    uint8_t s[kEthAddrLen];
    std::memcpy(s, src, kEthAddrLen);
    std::memmove(out + kEthDstOff, dst, kEthAddrLen);
    std::memcpy(out + kEthSrcOff, s, kEthAddrLen);
    store_be16(out + kEthTypeOff, ethertype);
}

inline void write_eth_header(uint8_t* out, const MacBytes& dst, const MacBytes& src, uint16_t ethertype) {
    write_eth_header(out, dst.data(), src.data(), ethertype);
}

}  // namespace sluice::pkt
