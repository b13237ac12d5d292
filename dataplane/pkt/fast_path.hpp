// The worker's inline fast path: predicates that can only say "certainly
// fine" for the common IPv4 and IPv6 packet. Anything they do not vouch for,
// every drop included, goes to classify_slow (classify.hpp), which gives the
// exact verdict; tests/unit/pkt/test_classify.cpp checks on generated frames
// that the fast path never changes one. Pure: frame bytes plus the few mbuf
// facts as plain integers, no DPDK.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#include "dataplane/pkt/bytes.hpp"
#include "dataplane/pkt/checksum.hpp"
#include "dataplane/pkt/eth.hpp"
#include "dataplane/pkt/ip.hpp"
#include "dataplane/pkt/validate.hpp"

namespace sluice::pkt {

// The IPv4 header checksum bits of the mbuf's RX offload flags, with DPDK's
// values (RTE_MBUF_F_RX_IP_CKSUM_*; forward.cpp asserts they match), so the
// worker hands over m->ol_flags untouched. Neither bit: the NIC did not look.
// Both (..._NONE): the header is intact but the stored checksum is not right
// (some virtual NICs); treated as "did not look", so the software check
// decides and such a packet is dropped as ipv4_bad_checksum rather than
// forwarded with a checksum that fails at the next hop.
inline constexpr uint64_t kRxIpCksumBad = uint64_t(1) << 4;
inline constexpr uint64_t kRxIpCksumGood = uint64_t(1) << 7;
inline constexpr uint64_t kRxIpCksumMask = kRxIpCksumBad | kRxIpCksumGood;

inline RxCsum rx_csum_of(uint64_t ol_flags) {
    switch (ol_flags & kRxIpCksumMask) {
    case kRxIpCksumGood:
        return RxCsum::good;
    case kRxIpCksumBad:
        return RxCsum::bad;
    default:
        return RxCsum::unknown;
    }
}

// Ethertypes as they sit in memory, compared without a byte swap.
inline constexpr uint16_t kRawEtherIpv4 = std::endian::native == std::endian::little ? 0x0008 : 0x0800;
inline constexpr uint16_t kRawEtherIpv6 = std::endian::native == std::endian::little ? 0xDD86 : 0x86DD;
inline constexpr uint32_t kMinV4Frame = kEthHdrLen + kIpv4MinHdrLen;
inline constexpr uint32_t kMinV6Frame = kEthHdrLen + kIpv6HdrLen;

// The common IPv4 packet in one breath: header without options, lengths
// sane, checksum good (NIC or software), source and destination ordinary
// unicast (kV4SpecialOctet also covers multicast and broadcast, which the
// slow path drops). `avail` >= 20: bytes from ip to the end of the frame.
[[gnu::always_inline]] inline bool ipv4_fast_ok(const uint8_t* ip, uint32_t avail, uint64_t ol_flags) {
    if (ip[0] != 0x45) return false;
    // 20 <= total <= avail, as one unsigned compare.
    uint32_t total = load_be16(ip + 2);
    if (total - uint32_t(kIpv4MinHdrLen) > avail - uint32_t(kIpv4MinHdrLen)) return false;
    uint64_t ck = ol_flags & kRxIpCksumMask;
    if (ck != kRxIpCksumGood && (ck == kRxIpCksumBad || !ipv4_header20_checksum_ok(ip))) return false;
    return (kV4SpecialOctet.v[ip[12]] | kV4SpecialOctet.v[ip[16]]) == 0;
}

// First bytes of an IPv6 address that the fast path leaves to the slow
// one: 0x00 (unspecified, loopback, IPv4-mapped and the rest of ::/8), 0xfe
// (link-local fe80::/10 and the old site-local fec0::/10) and 0xff
// (multicast). A table, as kV4SpecialOctet: two loads, one test.
inline constexpr struct V6SpecialFirstByte {
    uint8_t v[256]{};
    constexpr V6SpecialFirstByte() { v[0x00] = v[0xfe] = v[0xff] = 1; }
} kV6SpecialFirstByte{};

// The common IPv6 packet: version 6, payload within the frame, global or
// ULA unicast source and destination. `avail` >= 40.
[[gnu::always_inline]] inline bool ipv6_fast_ok(const uint8_t* ip, uint32_t avail) {
    if (ipv6_version(ip) != 6) return false;
    if (ipv6_payload_length(ip) > avail - uint32_t(kIpv6HdrLen)) return false;
    return (kV6SpecialFirstByte.v[ip[8]] | kV6SpecialFirstByte.v[ip[24]]) == 0;
}

enum class FastPath : uint8_t { slow, v4, v6 };

// A frame of `len` bytes at `d` (the whole packet: the caller has checked
// that it is one segment), for a port whose mac48() key is `port_mac`. The
// length is checked before any byte is read: a buffer need not extend past
// the frame (external or attached mbufs: memif zero-copy, vhost).
[[gnu::always_inline]] inline FastPath fast_path(const uint8_t* d, uint32_t len, uint64_t port_mac,
                                                 uint64_t ol_flags) {
    if (len < kMinV4Frame || mac48(d) != port_mac) return FastPath::slow;
    uint16_t et;
    std::memcpy(&et, d + kEthTypeOff, 2);
    const uint8_t* ip = d + kEthHdrLen;
    uint32_t avail = len - uint32_t(kEthHdrLen);
    if (et == kRawEtherIpv4) [[likely]]
        return ipv4_fast_ok(ip, avail, ol_flags) ? FastPath::v4 : FastPath::slow;
    if (et == kRawEtherIpv6 && len >= kMinV6Frame && ipv6_fast_ok(ip, avail)) return FastPath::v6;
    return FastPath::slow;
}

}  // namespace sluice::pkt
