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

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// The common IPv4 packet in one breath: lengths sane, checksum good (NIC or
// software), source and destination ordinary unicast (kV4SpecialOctet also
// covers multicast and broadcast, which the slow path drops). The caller has
// checked that the header has no options (first byte 0x45). `avail` >= 20:
// bytes from ip to the end of the frame.
[[gnu::always_inline]] inline bool ipv4_fast_ok_after_version(const uint8_t* ip, uint32_t avail, uint64_t ol_flags) {
    // 20 <= total <= avail, as one unsigned compare.
    uint32_t total = load_be16(ip + 2);
    if (total - uint32_t(kIpv4MinHdrLen) > avail - uint32_t(kIpv4MinHdrLen)) return false;
    uint64_t ck = ol_flags & kRxIpCksumMask;
    if (ck != kRxIpCksumGood && (ck == kRxIpCksumBad || !ipv4_header20_checksum_ok(ip))) return false;
    return (kV4SpecialOctet.v[ip[12]] | kV4SpecialOctet.v[ip[16]]) == 0;
}
[[gnu::always_inline]] inline bool ipv4_fast_ok(const uint8_t* ip, uint32_t avail, uint64_t ol_flags) {
    return ip[0] == 0x45 && ipv4_fast_ok_after_version(ip, avail, ol_flags);
}

// First bytes of an IPv6 address that the fast path leaves to the slow
// one: 0x00 (unspecified, loopback, IPv4-mapped and the rest of ::/8), 0xfe
// (link-local fe80::/10 and the old site-local fec0::/10) and 0xff
// (multicast). A table, as kV4SpecialOctet: two loads, one test.
inline constexpr struct V6SpecialFirstByte {
    uint8_t v[256]{};
    constexpr V6SpecialFirstByte() { v[0x00] = v[0xfe] = v[0xff] = 1; }
} kV6SpecialFirstByte{};

// The common IPv6 packet: payload within the frame, global or ULA unicast
// source and destination. The caller has checked the version. `avail` >= 40.
[[gnu::always_inline]] inline bool ipv6_fast_ok_after_version(const uint8_t* ip, uint32_t avail) {
    if (ipv6_payload_length(ip) > avail - uint32_t(kIpv6HdrLen)) return false;
    return (kV6SpecialFirstByte.v[ip[8]] | kV6SpecialFirstByte.v[ip[24]]) == 0;
}
[[gnu::always_inline]] inline bool ipv6_fast_ok(const uint8_t* ip, uint32_t avail) {
    return ipv6_version(ip) == 6 && ipv6_fast_ok_after_version(ip, avail);
}

enum class FastPath : uint8_t { slow, v4, v6 };

// What the first 16 bytes of a frame must hold for the fast path, for one
// receiving port: the port's MAC as destination, then (past the source MAC)
// EtherType 0x0800 and first IP byte 0x45 (IPv4 without options), or
// EtherType 0x86DD and version 6. With SSE2 that is one 16-byte load, a mask
// and a byte compare per family, where the scalar test takes a load and a
// compare per field: IPv4 1k x 1k under callgrind, 320.3 -> 318.6
// instructions a packet, IPv6 unchanged (335.6; an earlier attempt at one
// compare, docs/perf.md, had cost IPv6 3.8). The template is built from the
// port's mac48() key once a burst (a few instructions). Comparing without
// the mask and setting the ignored bytes' bits in the answer instead: 319.3.
// kNoPortMac (above 2^48) puts 0xff in `want`'s bytes 6-7, where the mask
// keeps nothing, so no frame matches it.
// The masks travel with the templates: as constants GCC loaded the mask from
// memory into a register for every packet; beside the template it is a
// memory operand of the AND (measured with two other cuts, forward.cpp:
// IPv4 311.4 -> 310.7, IPv6 332.8 -> 330.0 instructions a packet).
struct HeaderMatch {
#if defined(__SSE2__)
    __m128i want4, want6;
    __m128i mask4, mask6;
#else
    uint64_t port_mac;
#endif
};

#if defined(__SSE2__)
namespace fast_detail {
// Bytes 0-5: the destination MAC; 12-13: the EtherType; 14: the first IP
// byte (IPv6: its high nibble, the version).
inline __m128i mask(uint8_t first_ip_byte) {
    return _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, -1, -1, char(first_ip_byte), 0);
}
inline __m128i fields(uint8_t et_hi, uint8_t et_lo, uint8_t first_ip_byte) {
    return _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, char(et_hi), char(et_lo), char(first_ip_byte), 0);
}
inline bool matches(__m128i head, __m128i mask, __m128i want) {
    return _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(head, mask), want)) == 0xffff;
}
}  // namespace fast_detail
#endif

inline HeaderMatch header_match(uint64_t port_mac) {
#if defined(__SSE2__)
    // mac48() is the MAC's bytes in memory order: movq puts them in bytes 0-7.
    const __m128i mac = _mm_cvtsi64_si128(static_cast<long long>(port_mac));
    return {_mm_or_si128(mac, fast_detail::fields(0x08, 0x00, 0x45)),
            _mm_or_si128(mac, fast_detail::fields(0x86, 0xDD, 0x60)), fast_detail::mask(0xff),
            fast_detail::mask(0xf0)};
#else
    return {port_mac};
#endif
}

// A frame of `len` bytes at `d` (the whole packet: the caller has checked
// that it is one segment), for a port whose header_match() is `hm`. The
// length is checked before any byte is read: a buffer need not extend past
// the frame (external or attached mbufs: memif zero-copy, vhost).
[[gnu::always_inline]] inline FastPath fast_path(const uint8_t* d, uint32_t len, const HeaderMatch& hm,
                                                 uint64_t ol_flags) {
    static_assert(kMinV4Frame >= 16 && kMinV6Frame >= 16);
    if (len < kMinV4Frame) return FastPath::slow;
    const uint8_t* ip = d + kEthHdrLen;
    const uint32_t avail = len - uint32_t(kEthHdrLen);
#if defined(__SSE2__)
    const __m128i head = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d));
    if (fast_detail::matches(head, hm.mask4, hm.want4)) [[likely]]
        return ipv4_fast_ok_after_version(ip, avail, ol_flags) ? FastPath::v4 : FastPath::slow;
    if (len >= kMinV6Frame && fast_detail::matches(head, hm.mask6, hm.want6) &&
        ipv6_fast_ok_after_version(ip, avail))
        return FastPath::v6;
    return FastPath::slow;
#else
    if (mac48(d) != hm.port_mac) return FastPath::slow;
    uint16_t et;
    std::memcpy(&et, d + kEthTypeOff, 2);
    if (et == kRawEtherIpv4) [[likely]]
        return ipv4_fast_ok(ip, avail, ol_flags) ? FastPath::v4 : FastPath::slow;
    if (et == kRawEtherIpv6 && len >= kMinV6Frame && ipv6_fast_ok(ip, avail)) return FastPath::v6;
    return FastPath::slow;
#endif
}
[[gnu::always_inline]] inline FastPath fast_path(const uint8_t* d, uint32_t len, uint64_t port_mac,
                                                 uint64_t ol_flags) {
    return fast_path(d, len, header_match(port_mac), ol_flags);
}

}  // namespace sluice::pkt
