// The load balancer's packet rewrites, as pure functions over byte buffers
// (no mbuf, no DPDK), in the style of dataplane/pkt: encapsulation headers
// (IPIP, GUE), NAT with incremental checksums, and the inner flow of an ICMP
// error about a VIP flow. tests/unit/lb/test_rewrite.cpp checks each one
// byte for byte against packets built by scapy (tests/unit/lb/fixtures/).
//
// Conventions: `ip` points at an IP header; `avail` is the bytes from there
// to the end of the frame; addresses and ports are in network order as they
// sit in the packet (IPv4 addresses as 4 bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "dataplane/lb/flow_table.hpp"
#include "dataplane/pkt/bytes.hpp"
#include "dataplane/pkt/checksum.hpp"

namespace sluice::lb {

inline constexpr uint32_t kIpv4OuterLen = 20;
inline constexpr uint32_t kIpv6OuterLen = 40;
inline constexpr uint32_t kUdpLen = 8;
inline constexpr uint8_t kOuterTtl = 64;

// Bytes an encapsulation adds in front of the inner IP packet.
constexpr uint32_t encap_overhead(bool outer_v6, bool gue) {
    return (outer_v6 ? kIpv6OuterLen : kIpv4OuterLen) + (gue ? kUdpLen : 0);
}

// The outer source: `prefix` (len bits kept) with the host bits taken from
// `hash` (low bits of the address), so that a receiver hashing the outer
// header (RSS) spreads the flows; a /32 or /128 gives the prefix itself.
// IPv6: only the low 32 bits take hash bits; bits between len and 96 keep
// the prefix's (zero for a prefix written with clear host bits).
// Inline, one branch per family with fixed-size copies: as a call with a
// copy of a variable length it cost 28 instructions a packet under
// callgrind (docs/perf.md).
inline void encap_source(const uint8_t* prefix, uint8_t len, bool v6, uint32_t hash, uint8_t* out) {
    // Only the last 32 bits take hash bits: 2^32 outer sources are more than
    // a receiver's RSS needs. For an IPv6 prefix shorter than /96 the bits
    // between len and 96 are the prefix's own (zero for a prefix written
    // with its host bits clear, which the config requires of prefixes).
    const unsigned bits = v6 ? 128 : 32;
    const unsigned host = len >= bits ? 0 : bits - len;  // host bits of the address
    const uint32_t mask = host == 0 ? 0 : host >= 32 ? 0xffffffffu : (uint32_t(1) << host) - 1;
    uint8_t* low = out;  // the last four bytes
    if (v6) {
        std::memcpy(out, prefix, 12);
        low = out + 12;
        prefix += 12;
    }
    pkt::store_be32(low, (pkt::load_be32(prefix) & ~mask) | (hash & mask));
}

// GUE's outer UDP source port: from the flow hash (both halves folded),
// within 32768..65535 (the ephemeral range, so a receiver's RSS over the UDP
// ports spreads flows). Network order like every port here: pass it to
// write_gue as it is.
uint16_t gue_source_port(uint32_t hash);

struct Outer {
    bool v6 = false;
    uint8_t src[16]{};
    uint8_t dst[16]{};
};

// Writes the outer headers at `out`; the inner IP packet (inner_len bytes,
// IPv4 or IPv6 by its version nibble) starts right after them, i.e. at
// out + encap_overhead(o.v6, gue), and must already be there (the caller
// prepends room and leaves the inner in place). Returns the bytes written
// (encap_overhead), or 0, writing nothing, when the inner is not an IPv4 or
// IPv6 packet at least its fixed header long, or the outer length field
// would pass 65535.
//
// IPIP: IPv4 outer (RFC 2003): protocol 4 for an IPv4 inner, 41 for IPv6;
// TOS copied from the inner; DF copied from an IPv4 inner (RFC 2003 3.1),
// set for an IPv6 inner; ID 0; TTL kOuterTtl; header checksum. IPv6 outer
// (RFC 2473): next header 41 or 4, traffic class copied, flow label from
// the inner's hash (given), hop limit kOuterTtl.
// GUE variant 1 (draft-ietf-intarea-gue 4.): outer IP with protocol /
// next header 17, UDP (sport, dport) and the inner IP packet directly; the
// UDP checksum is 0 over IPv4 (RFC 768) and computed over IPv6 (RFC 8200
// 8.1: a zero checksum is only allowed by RFC 6935 tunnels that opt in).
uint32_t write_ipip(uint8_t* out, const Outer& o, uint32_t inner_len, uint32_t flow_label);

// write_ipip's most common case, inline: IPv4 in IPv4 (RFC 2003), the inner
// an IPv4 packet at least its 20-byte header long (the caller checked).
// write_ipip takes this path too, so both write the same bytes; inline and
// without the general case's branches, the stage's IPIP path cost 36
// fewer instructions a packet under callgrind than through write_ipip.
inline uint32_t write_ipip4(uint8_t* out, const uint8_t* src, const uint8_t* dst, uint32_t inner_len) {
    const uint8_t* inner = out + kIpv4OuterLen;
    const uint32_t total = kIpv4OuterLen + inner_len;
    if (total > 0xffff) return 0;
    out[0] = 0x45;
    out[1] = inner[1];  // TOS copied whole: DSCP as RFC 2983's uniform model, ECN as RFC 6040's normal mode
    pkt::store_be16(out + 2, uint16_t(total));
    pkt::store_be16(out + 4, 0);  // ID 0: see write_outer (RFC 6864 4.1)
    out[6] = uint8_t(inner[6] & 0x40);  // DF copied from the inner header (RFC 2003 3.1)
    out[7] = 0;
    out[8] = kOuterTtl;
    out[9] = 4;  // IPv4 in IP (RFC 2003)
    std::memcpy(out + 12, src, 4);
    std::memcpy(out + 16, dst, 4);
    pkt::ipv4_set_header_checksum(out);
    return kIpv4OuterLen;
}
uint32_t write_gue(uint8_t* out, const Outer& o, uint32_t inner_len, uint16_t sport, uint16_t dport,
                   uint32_t flow_label);

// NAT in place, checksums updated incrementally (RFC 1624, eqn. 3): the IP
// header checksum (IPv4), and the TCP or UDP checksum over the pseudo-header
// (an IPv4 UDP checksum of 0 stays 0, RFC 768; an IPv6 one, not allowed by
// RFC 8200 8.1, is left 0 as well), or the ICMPv6 checksum (pseudo-header);
// other protocols: the address only. port 0: the port is kept.
// A non-first fragment carries no L4 header: only the address changes (and
// the L4 checksum in the first fragment covers the whole datagram, so the
// first fragment's update is the right one). False when the packet is too
// short to hold what would be rewritten, or its IPv6 extension header chain
// does not parse (nothing is changed then).
bool nat_set_dst(uint8_t* ip, uint32_t avail, const uint8_t* addr, uint16_t port);
bool nat_set_src(uint8_t* ip, uint32_t avail, const uint8_t* addr, uint16_t port);

// An ICMP error about a VIP flow: ICMPv4 destination unreachable /
// fragmentation needed (type 3 code 4) or ICMPv6 packet too big (type 2),
// sent to the VIP by a router between the backend and the client. It quotes
// a packet that went VIP -> client; the flow it belongs to is the client's
// (client -> VIP), which this returns (ports 0 when the quote is too short to
// hold them, quotes a non-first fragment, or its protocol has no ports; proto
// from the quote). Nothing for anything else, or a quote that does not parse.
std::optional<FlowKey> icmp_error_inner_flow(const uint8_t* ip, uint32_t avail);

// NAT mode: the same ICMP error, delivered to the backend: the outer
// destination becomes the backend, and the quoted packet's source (the VIP
// and its port) becomes the backend's address and port, so the backend's
// stack matches it to its socket; ICMP checksum (and ICMPv6 pseudo-header)
// and the quote's IPv4 header checksum updated. False (nothing changed) when
// it does not parse, is not whole within avail (or is a fragment), or its
// ICMP checksum is wrong as received.
bool nat_icmp_error_to_backend(uint8_t* ip, uint32_t avail, const uint8_t* backend_addr, uint16_t backend_port);

}  // namespace sluice::lb
