// Per-packet IP header validation for forwarding: RFC 1812 5.2.2 / 5.3.7 for
// IPv4, RFC 8200 (plus RFC 4291 address rules) for IPv6. Each returns the
// first failed check as a DropReason, or DropReason::none.
// TTL / hop limit is not checked here: the caller decides (a packet addressed
// to the router itself may arrive with TTL 1).
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/drop_reasons.hpp"
#include "dataplane/pkt/bytes.hpp"
#include "dataplane/pkt/checksum.hpp"
#include "dataplane/pkt/flow_hash.hpp"
#include "dataplane/pkt/ip.hpp"

namespace sluice::pkt {

inline constexpr uint8_t kIpOptEol = 0;
inline constexpr uint8_t kIpOptNop = 1;
inline constexpr uint8_t kIpOptLsrr = 131;
inline constexpr uint8_t kIpOptSsrr = 137;

// IPv4 options (RFC 791 3.1): EOL ends the list, NOP is one byte, every
// other option is type + length (>= 2, within the header). The whole list is
// checked first, so a malformed list is ipv4_bad_options even if it also
// carries a source route.
inline dp::DropReason ipv4_check_options(const uint8_t* opt, size_t len) {
    bool source_route = false;
    size_t i = 0;
    while (i < len) {
        uint8_t t = opt[i];
        if (t == kIpOptEol) break;
        if (t == kIpOptNop) {
            ++i;
            continue;
        }
        if (i + 2 > len) return dp::DropReason::ipv4_bad_options;
        uint8_t ol = opt[i + 1];
        if (ol < 2 || i + ol > len) return dp::DropReason::ipv4_bad_options;
        if (t == kIpOptLsrr || t == kIpOptSsrr) source_route = true;
        i += ol;
    }
    return source_route ? dp::DropReason::ipv4_source_route : dp::DropReason::none;
}

// What the NIC said about the IPv4 header checksum (mbuf RX offload flags):
// `good` skips the software check, `bad` fails at the checksum step (so the
// reason is the same as without offload), `unknown` checks in software.
enum class RxCsum : uint8_t { unknown, good, bad };

// First octets that need a closer look as a source or destination (RFC 1812
// 5.3.7, RFC 1122 3.2.1.3): 0/8, 127/8, 224/4 and 240/4. A packet with
// neither address in this set skips the per-class tests below: one table
// load and one branch in the common case instead of seven compares.
inline constexpr struct V4SpecialOctets {
    uint8_t v[256]{};  // 0 or 1; bytes, so two lookups OR into one test
    constexpr V4SpecialOctets() {
        v[0] = v[127] = 1;
        for (int i = 224; i < 256; ++i) v[i] = 1;
    }
} kV4SpecialOctet{};

// The address tests behind kV4SpecialOctet; outlined, they are rare.
[[gnu::noinline]] inline dp::DropReason ipv4_check_special_addresses(uint32_t src, uint32_t dst) {
    using dp::DropReason;
    // RFC 1812 5.3.7: not a single host (class E includes 255.255.255.255).
    if (ipv4_addr_is_multicast(src) || ipv4_addr_is_class_e(src) || ipv4_addr_is_loopback(src) ||
        ipv4_addr_is_this_network(src))
        return DropReason::ipv4_bad_source;
    if (ipv4_addr_is_this_network(dst) || ipv4_addr_is_loopback(dst) ||
        (ipv4_addr_is_class_e(dst) && !ipv4_addr_is_limited_broadcast(dst)))
        return DropReason::ipv4_bad_destination;
    return DropReason::none;  // multicast or limited broadcast: the caller's call
}

// `avail`: bytes from ip to the end of the frame (may include Ethernet padding).
// Always inlined: it runs once per packet in forward_burst's parse loop, and
// the common case (version 4, IHL 5, sane lengths, unicast addresses) is a
// handful of compares plus the 20-byte checksum.
[[gnu::always_inline]] inline dp::DropReason validate_ipv4(const uint8_t* ip, size_t avail,
                                                          RxCsum csum = RxCsum::unknown) {
    using dp::DropReason;
    if (avail < kIpv4MinHdrLen) [[unlikely]]
        return DropReason::ipv4_truncated;
    size_t hl = kIpv4MinHdrLen;
    if (ip[0] != 0x45) [[unlikely]] {  // not version 4 without options
        if (ipv4_version(ip) != 4) return DropReason::ipv4_bad_version;
        hl = ipv4_header_length(ip);
        if (hl < kIpv4MinHdrLen || hl > avail) return DropReason::ipv4_bad_ihl;
    }
    size_t total = ipv4_total_length(ip);
    if (total < hl) [[unlikely]]
        return DropReason::ipv4_bad_ihl;
    if (total > avail) [[unlikely]]
        return DropReason::ipv4_bad_total_length;
    if (csum != RxCsum::good) {
        bool ok = csum == RxCsum::unknown &&
                  (hl == kIpv4MinHdrLen ? ipv4_header20_checksum_ok(ip) : ipv4_header_checksum(ip, hl) == 0);
        if (!ok) [[unlikely]]
            return DropReason::ipv4_bad_checksum;
    }
    if (hl > kIpv4MinHdrLen) [[unlikely]] {
        DropReason r = ipv4_check_options(ip + kIpv4MinHdrLen, hl - kIpv4MinHdrLen);
        if (r != DropReason::none) return r;
    }
    if (kV4SpecialOctet.v[ip[12]] | kV4SpecialOctet.v[ip[16]]) [[unlikely]]
        return ipv4_check_special_addresses(ipv4_src(ip), ipv4_dst(ip));
    return DropReason::none;
}

[[gnu::always_inline]] inline dp::DropReason validate_ipv6(const uint8_t* ip, size_t avail) {
    using dp::DropReason;
    if (avail < kIpv6HdrLen) [[unlikely]]
        return DropReason::ipv6_truncated;
    if (ipv6_version(ip) != 6) [[unlikely]]
        return DropReason::ipv6_bad_version;
    if (kIpv6HdrLen + ipv6_payload_length(ip) > avail) [[unlikely]]
        return DropReason::ipv6_bad_payload_length;
    const uint8_t* src = ipv6_src(ip);
    // The unspecified source is legitimate only for ND duplicate address
    // detection, which parse_nd() validates on its own path.
    if (ipv6_addr_is_multicast(src) || ipv6_addr_is_unspecified(src) || ipv6_addr_is_loopback(src)) [[unlikely]]
        return DropReason::ipv6_bad_source;
    const uint8_t* dst = ipv6_dst(ip);
    if (ipv6_addr_is_unspecified(dst) || ipv6_addr_is_loopback(dst)) [[unlikely]]
        return DropReason::ipv6_bad_destination;
    return DropReason::none;
}

// The one legitimate use of the unspecified source (RFC 4861 7.2.2, RFC 4862
// 5.4.2): a duplicate address detection NS, ICMPv6 directly after the IPv6
// header, to a solicited-node multicast group. A cheap shape test for the
// forwarder to punt such packets to the ND path (which runs parse_nd) instead
// of dropping them as ipv6_bad_source. Needs avail >= 41.
inline bool ipv6_is_dad_candidate(const uint8_t* ip, size_t avail) {
    return avail > kIpv6HdrLen && ipv6_next_header(ip) == kProtoIcmpv6 && ip[kIpv6HdrLen] == 135 &&
           ipv6_addr_is_unspecified(ipv6_src(ip)) && ipv6_addr_is_solicited_node(ipv6_dst(ip));
}

}  // namespace sluice::pkt
