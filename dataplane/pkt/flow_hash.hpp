// ECMP flow hash (RFC 2992): a deterministic hash of the 5-tuple with a fixed
// seed, so every instance with the same configuration picks the same member
// for a flow. Murmur3-style (x86_32 body + fmix32 finaliser): portable (no
// ISA dependency, identical on every build), fast, and mixes into the high
// bits, which matter because ecmp_pick() uses multiply-shift.
//
// Ports are hashed for TCP, UDP and SCTP when the L4 header is present. Any
// fragment (MF set or offset != 0) uses the 3-tuple (src, dst, proto), so all
// fragments of a datagram, the first included, take the same path.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/pkt/bytes.hpp"
#include "dataplane/pkt/ip.hpp"

namespace sluice::pkt {

inline constexpr uint32_t kFlowHashSeed = 0x51ce5eedu;

namespace detail {

inline uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

inline uint32_t murmur_step(uint32_t h, uint32_t k) {
    k *= 0xcc9e2d51u;
    k = rotl32(k, 15);
    k *= 0x1b873593u;
    h ^= k;
    h = rotl32(h, 13);
    return h * 5 + 0xe6546b64u;
}

inline uint32_t murmur_fmix(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

inline bool l4_has_ports(uint8_t proto) { return proto == kProtoTcp || proto == kProtoUdp || proto == kProtoSctp; }

}  // namespace detail

inline uint32_t flow_hash_v4(const uint8_t* ip, size_t avail) {
    uint32_t h = kFlowHashSeed;
    if (avail < kIpv4MinHdrLen) return detail::murmur_fmix(h);
    uint8_t proto = ipv4_proto(ip);
    h = detail::murmur_step(h, load_be32(ip + 12));
    h = detail::murmur_step(h, load_be32(ip + 16));
    h = detail::murmur_step(h, proto);
    uint32_t n = 12;
    size_t hl = ipv4_header_length(ip);
    size_t end = ipv4_total_length(ip);
    if (end > avail) end = avail;
    if (detail::l4_has_ports(proto) && hl >= kIpv4MinHdrLen && hl + 4 <= end && !ipv4_is_fragment(ip)) {
        h = detail::murmur_step(h, load_be32(ip + hl));
        n += 4;
    }
    return detail::murmur_fmix(h ^ n);
}

inline uint32_t flow_hash_v6(const uint8_t* ip, size_t avail) {
    uint32_t h = kFlowHashSeed;
    if (avail < kIpv6HdrLen) return detail::murmur_fmix(h);
    for (size_t i = 8; i < 40; i += 4) h = detail::murmur_step(h, load_be32(ip + i));
    size_t end = kIpv6HdrLen + ipv6_payload_length(ip);
    if (end > avail) end = avail;
    Ipv6Chain c = ipv6_walk_chain(ip, end, /*stop_at_fragment=*/true);
    // An unparsable chain hashes as (src, dst, first next header).
    uint8_t proto = c.ok ? c.proto : ipv6_next_header(ip);
    h = detail::murmur_step(h, proto);
    uint32_t n = 36;
    if (c.ok && !c.fragmented && detail::l4_has_ports(proto) && size_t(c.offset) + 4 <= end) {
        h = detail::murmur_step(h, load_be32(ip + c.offset));
        n += 4;
    }
    return detail::murmur_fmix(h ^ n);
}

}  // namespace sluice::pkt
