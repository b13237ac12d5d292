// The NAT rewrite of the common packet, inline in the load balancer stage:
// IPv4 without options, TCP or UDP, the destination (and port) set to the
// backend's and the TTL decremented, each checksum updated once. Everything
// else goes to nat_set_dst (rewrite.hpp) and ipv4_decrement_ttl, which this
// must equal byte for byte (tests/unit/lb/test_nat_fast.cpp holds that on
// generated packets).
//
// Why a second path: nat_set_dst is out of line and general (IPv6, options,
// fragments, ICMPv6), and the TTL decrement then updates the IP checksum a
// second time. IPv4 NAT, 10 backends, 1k flows, under callgrind: 813.3 ->
// 768.6 instructions a packet (the out-of-line nat_set_dst alone was 99).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#include "dataplane/pkt/bytes.hpp"
#include "dataplane/pkt/ip.hpp"

namespace sluice::lb {

namespace nat_fast_detail {

// A 16-bit word as stored. The ones' complement sum is byte-order
// independent (RFC 1071 2.B): sums of stored words, stored back as they
// come out, are the sums of the network-order words, with no byte swaps.
inline uint32_t stored16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
inline uint32_t not16(uint32_t w) { return 0xffffu - w; }
// An address's two words as one term, folded once (at most 0xffff), as
// rewrite.cpp's delta_replace_n<4> takes it: the same terms make the same
// representative of zero (0x0000 or 0xffff) come out in every case, so the
// bytes equal the reference's, not only its checksum's value.
inline uint32_t addr_sum(const uint8_t* p) {
    const uint32_t s = stored16(p) + stored16(p + 2);
    return (s & 0xffffu) + (s >> 16);
}

// ~(sum) folded to 16 bits: sum is at most six 16-bit words (< 2^19), two
// end-around-carry folds suffice.
inline uint16_t fold_not(uint32_t sum) {
    sum = (sum & 0xffffu) + (sum >> 16);
    sum = (sum & 0xffffu) + (sum >> 16);
    return uint16_t(~sum);
}

// ~m + m' for the word holding the TTL (TTL, protocol) when the TTL drops by
// one, as stored words: the stored word drops by 1 (little-endian: the TTL
// is its low byte) or 0x100, and ~m + (m - k) = 0xffff - k.
inline constexpr uint32_t kTtlDelta = std::endian::native == std::endian::little ? 0xfffeu : 0xfeffu;

}  // namespace nat_fast_detail

// `ip`: an IPv4 packet whose TTL the caller has checked is at least 2
// (RFC 1812 5.3.1: it is forwarded), `avail` bytes of it valid. When the
// header is 20 bytes, the protocol TCP or UDP, the packet not a non-first
// fragment and its L4 header long enough to hold the checksum: the
// destination address becomes `addr` (4 bytes), the destination port
// `port_be` (network order; 0 keeps the port), the TTL drops by one, and the
// header and L4 checksums get RFC 1624 eqn. 3's update (HC' = ~(~HC + ~m +
// m')) once, for all the words changed. An IPv4 UDP checksum of 0 ("none",
// RFC 768) stays 0, and a computed 0 is sent as 0xffff. Returns false with
// nothing written for any other packet.
[[gnu::always_inline]] inline bool nat_v4_dst_and_ttl(uint8_t* ip, uint32_t avail, const uint8_t* addr,
                                                       uint16_t port_be) {
    using namespace nat_fast_detail;
    if (avail < pkt::kIpv4MinHdrLen || ip[0] != 0x45) return false;
    const uint8_t proto = ip[9];
    const bool udp = proto == pkt::kProtoUdp;
    if (!udp && proto != pkt::kProtoTcp) return false;
    if (pkt::ipv4_is_fragment_nonfirst(ip)) return false;
    const uint32_t total = pkt::load_be16(ip + 2);
    const uint32_t end = total < avail ? total : avail;
    if (total < pkt::kIpv4MinHdrLen || pkt::kIpv4MinHdrLen + (udp ? 8u : 18u) > end) return false;

    uint8_t* l4 = ip + pkt::kIpv4MinHdrLen;
    uint8_t* l4_csum = l4 + (udp ? 6 : 16);
    // The address's change, shared by the header checksum and the L4 one
    // (its pseudo-header).
    const uint32_t addr_delta = not16(addr_sum(ip + 16)) + addr_sum(addr);
    const uint16_t hc = uint16_t(stored16(ip + 10));
    const uint16_t new_hc = fold_not(not16(hc) + addr_delta + kTtlDelta);
    const uint16_t lc = uint16_t(stored16(l4_csum));
    if (!(udp && lc == 0)) {
        uint32_t d = addr_delta;
        if (port_be != 0) d += not16(stored16(l4 + 2)) + port_be;
        uint16_t new_lc = fold_not(not16(lc) + d);
        if (udp && new_lc == 0) new_lc = 0xffff;  // RFC 768; 0 and 0xffff read the same in either byte order
        std::memcpy(l4_csum, &new_lc, 2);
    }
    if (port_be != 0) std::memcpy(l4 + 2, &port_be, 2);
    std::memcpy(ip + 16, addr, 4);
    ip[8] = uint8_t(ip[8] - 1);
    std::memcpy(ip + 10, &new_hc, 2);
    return true;
}

}  // namespace sluice::lb
