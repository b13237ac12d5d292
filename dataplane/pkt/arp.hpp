// ARP for IPv4 over Ethernet (RFC 826). `arp` points after the Ethernet
// header. Slow path: out of line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "dataplane/pkt/eth.hpp"

namespace sluice::pkt {

inline constexpr size_t kArpLen = 28;
inline constexpr uint16_t kArpHtypeEthernet = 1;
inline constexpr uint16_t kArpOpRequest = 1;
inline constexpr uint16_t kArpOpReply = 2;

struct ArpPacket {
    uint16_t op = 0;  // 1 request, 2 reply
    MacBytes sha{};   // sender hardware address
    uint32_t spa = 0; // sender protocol address, host order
    MacBytes tha{};   // target hardware address
    uint32_t tpa = 0; // target protocol address, host order
};

// Accepts only htype 1, ptype 0x0800, hlen 6, plen 4, op 1 or 2, len >= 28
// (trailing Ethernet padding is fine).
std::optional<ArpPacket> parse_arp(const uint8_t* arp, size_t len);

// Ethernet header (ethertype 0x0806) + ARP, zero padded to 60 bytes.
// Returns 60, or 0 when cap < 60. `out` may overlap the inputs' storage.
size_t build_arp_frame(uint8_t* out, size_t cap, const MacBytes& eth_dst, const MacBytes& eth_src, const ArpPacket& a);

}  // namespace sluice::pkt
