// IPv4 (RFC 791) and IPv6 (RFC 8200) header accessors, address classes, and
// a bounded IPv6 extension header walk. All inline: used per packet.
// `ip` always points at the first byte of the IP header; callers have checked
// that the fixed header (20 / 40 bytes) is present (see validate.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "api/net.hpp"
#include "dataplane/pkt/bytes.hpp"

namespace sluice::pkt {

inline constexpr size_t kIpv4MinHdrLen = 20;
inline constexpr size_t kIpv4MaxHdrLen = 60;
inline constexpr size_t kIpv6HdrLen = 40;

inline constexpr uint8_t kProtoHopByHop = 0;
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoRouting = 43;
inline constexpr uint8_t kProtoFragment = 44;
inline constexpr uint8_t kProtoEsp = 50;
inline constexpr uint8_t kProtoAh = 51;
inline constexpr uint8_t kProtoIcmpv6 = 58;
inline constexpr uint8_t kProtoNoNext = 59;
inline constexpr uint8_t kProtoDstOpts = 60;
inline constexpr uint8_t kProtoSctp = 132;

// ---- IPv4 -----------------------------------------------------------------

inline uint8_t ipv4_version(const uint8_t* ip) { return uint8_t(ip[0] >> 4); }
// IHL * 4, in bytes.
inline size_t ipv4_header_length(const uint8_t* ip) { return size_t(ip[0] & 0x0f) * 4; }
inline uint8_t ipv4_tos(const uint8_t* ip) { return ip[1]; }
inline uint16_t ipv4_total_length(const uint8_t* ip) { return load_be16(ip + 2); }
inline uint16_t ipv4_id(const uint8_t* ip) { return load_be16(ip + 4); }
inline bool ipv4_df(const uint8_t* ip) { return (ip[6] & 0x40) != 0; }
inline bool ipv4_mf(const uint8_t* ip) { return (ip[6] & 0x20) != 0; }
// Fragment offset in 8-byte units.
inline uint16_t ipv4_frag_offset(const uint8_t* ip) { return uint16_t(load_be16(ip + 6) & 0x1fff); }
// Any fragment: MF set or offset non-zero.
inline bool ipv4_is_fragment(const uint8_t* ip) { return (load_be16(ip + 6) & 0x3fff) != 0; }
// A fragment other than the first: carries no L4 header.
inline bool ipv4_is_fragment_nonfirst(const uint8_t* ip) { return ipv4_frag_offset(ip) != 0; }
inline uint8_t ipv4_ttl(const uint8_t* ip) { return ip[8]; }
inline uint8_t ipv4_proto(const uint8_t* ip) { return ip[9]; }
inline uint16_t ipv4_checksum_field(const uint8_t* ip) { return load_be16(ip + 10); }
// Addresses as host-order integers.
inline uint32_t ipv4_src(const uint8_t* ip) { return load_be32(ip + 12); }
inline uint32_t ipv4_dst(const uint8_t* ip) { return load_be32(ip + 16); }
// Addresses as byte pointers (network order).
inline const uint8_t* ipv4_src_bytes(const uint8_t* ip) { return ip + 12; }
inline const uint8_t* ipv4_dst_bytes(const uint8_t* ip) { return ip + 16; }
inline uint8_t* ipv4_src_bytes(uint8_t* ip) { return ip + 12; }
inline uint8_t* ipv4_dst_bytes(uint8_t* ip) { return ip + 16; }

// Address classes, host-order argument.
inline bool ipv4_addr_is_this_network(uint32_t a) { return (a >> 24) == 0; }       // 0/8
inline bool ipv4_addr_is_loopback(uint32_t a) { return (a >> 24) == 127; }         // 127/8
inline bool ipv4_addr_is_multicast(uint32_t a) { return (a >> 28) == 0xe; }        // 224/4
inline bool ipv4_addr_is_class_e(uint32_t a) { return (a >> 28) == 0xf; }          // 240/4, broadcast included
inline bool ipv4_addr_is_limited_broadcast(uint32_t a) { return a == 0xffffffffu; }  // 255.255.255.255

// ---- IPv6 -----------------------------------------------------------------

inline uint8_t ipv6_version(const uint8_t* ip) { return uint8_t(ip[0] >> 4); }
inline uint8_t ipv6_traffic_class(const uint8_t* ip) { return uint8_t((ip[0] << 4) | (ip[1] >> 4)); }
inline uint32_t ipv6_flow_label(const uint8_t* ip) { return load_be32(ip) & 0x000fffffu; }
inline uint16_t ipv6_payload_length(const uint8_t* ip) { return load_be16(ip + 4); }
inline uint8_t ipv6_next_header(const uint8_t* ip) { return ip[6]; }
inline uint8_t ipv6_hop_limit(const uint8_t* ip) { return ip[7]; }
// IPv6 has no header checksum: nothing else to fix.
inline void ipv6_decrement_hop_limit(uint8_t* ip) { ip[7] = uint8_t(ip[7] - 1); }
inline const uint8_t* ipv6_src(const uint8_t* ip) { return ip + 8; }
inline const uint8_t* ipv6_dst(const uint8_t* ip) { return ip + 24; }
inline uint8_t* ipv6_src(uint8_t* ip) { return ip + 8; }
inline uint8_t* ipv6_dst(uint8_t* ip) { return ip + 24; }

// Address classes over 16 network-order bytes.
inline bool ipv6_addr_is_multicast(const uint8_t* a) { return a[0] == 0xff; }  // ff00::/8
inline bool ipv6_addr_is_unspecified(const uint8_t* a) {
    uint64_t h, l;
    std::memcpy(&h, a, 8);
    std::memcpy(&l, a + 8, 8);
    return (h | l) == 0;
}
inline bool ipv6_addr_is_loopback(const uint8_t* a) {  // ::1
    uint64_t h;
    std::memcpy(&h, a, 8);
    return h == 0 && load_be32(a + 8) == 0 && load_be32(a + 12) == 1;
}
// fe80::/10; the test itself lives in api/net.hpp, shared with the config.
inline bool ipv6_addr_is_link_local(const uint8_t* a) { return net::is_link_local6(a); }
// Multicast scope, the low nibble of the second byte (RFC 4291 2.7).
inline constexpr uint8_t kIpv6ScopeLinkLocal = 2;
inline uint8_t ipv6_multicast_scope(const uint8_t* a) { return uint8_t(a[1] & 0x0f); }
// ff02::1:ffXX:XXXX (RFC 4291 2.7.1).
inline bool ipv6_addr_is_solicited_node(const uint8_t* a) {
    static constexpr uint8_t kPrefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
    return std::memcmp(a, kPrefix, sizeof kPrefix) == 0;
}

// Bounded walk over the extension header chain (RFC 8200 4) to the
// upper-layer header. Stops at the first header that is not hop-by-hop (0),
// routing (43), fragment (44), destination options (60) or AH (51).
struct Ipv6Chain {
    uint8_t proto = 0;       // upper-layer protocol (or, for a fragmented packet, the
                             // fragment header's next header)
    uint16_t offset = 0;     // offset of the upper-layer header from the IPv6 header
    bool ok = false;         // chain parsed within `len` and within kMaxExtHeaders
    bool fragmented = false; // a fragment header with M set or offset != 0
    bool nonfirst_fragment = false;  // fragment offset != 0: no upper-layer header here
};

inline constexpr unsigned kIpv6MaxExtHeaders = 8;

// `len`: bytes readable from ip (normally min(avail, 40 + payload length)).
// With stop_at_fragment, a fragmented packet (first or not) ends the walk
// just after its fragment header, so every fragment of a datagram reports
// the same proto; `offset` then points past the fragment header (at the
// upper-layer header in a first fragment).
inline Ipv6Chain ipv6_walk_chain(const uint8_t* ip, size_t len, bool stop_at_fragment = false) {
    Ipv6Chain r;
    uint8_t nh = ip[6];
    size_t off = kIpv6HdrLen;
    for (unsigned i = 0; i <= kIpv6MaxExtHeaders; ++i) {
        switch (nh) {
        case kProtoHopByHop:
        case kProtoRouting:
        case kProtoDstOpts:
        case kProtoAh: {
            if (i == kIpv6MaxExtHeaders || off + 2 > len) return r;
            const uint8_t* p = ip + off;
            size_t hl = nh == kProtoAh ? (size_t(p[1]) + 2) * 4 : (size_t(p[1]) + 1) * 8;
            nh = p[0];
            off += hl;
            break;
        }
        case kProtoFragment: {
            if (i == kIpv6MaxExtHeaders || off + 8 > len) return r;
            const uint8_t* p = ip + off;
            uint16_t fo = load_be16(p + 2);
            bool nonfirst = (fo & 0xfff8) != 0;
            bool more = (fo & 1) != 0;
            nh = p[0];
            off += 8;
            if (nonfirst || more) {
                r.fragmented = true;
                r.nonfirst_fragment = nonfirst;
                if (nonfirst || stop_at_fragment) {
                    r.proto = nh;
                    r.offset = uint16_t(off);
                    r.ok = true;
                    return r;
                }
            }
            break;
        }
        default:
            if (off > len) return r;
            r.proto = nh;
            r.offset = uint16_t(off);
            r.ok = true;
            return r;
        }
    }
    return r;
}

}  // namespace sluice::pkt
