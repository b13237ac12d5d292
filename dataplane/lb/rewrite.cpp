// The load balancer's packet rewrites (contracts in rewrite.hpp). The
// encapsulation and NAT functions run per packet: no allocation, bounded
// work. The ICMP error functions are the slow path and favour plain
// recomputation where it is cheap enough.
#include "dataplane/lb/rewrite.hpp"

#include <algorithm>
#include <cstring>

#include "dataplane/pkt/bytes.hpp"
#include "dataplane/pkt/checksum.hpp"
#include "dataplane/pkt/icmp.hpp"
#include "dataplane/pkt/ip.hpp"

namespace sluice::lb {

namespace {

using pkt::csum_add;
using pkt::csum_add16;
using pkt::csum_fold;
using pkt::load_be16;
using pkt::store_be16;
using pkt::store_be32;

constexpr uint8_t kProtoIpip = 4;   // IPv4 in IP (RFC 2003)
constexpr uint8_t kProtoIpv6 = 41;  // IPv6 in IP (RFC 2473, RFC 4213)

// Protocols whose first four L4 bytes are the source and destination ports
// (the same set the flow hash uses, dataplane/pkt/flow_hash.hpp).
bool has_ports(uint8_t proto) {
    return proto == pkt::kProtoTcp || proto == pkt::kProtoUdp || proto == pkt::kProtoSctp;
}

// ---- RFC 1624 incremental update ---------------------------------------------
//
// Eqn. 3, HC' = ~(~HC + ~m + m'), holds for any number of changed 16-bit
// words because the ones' complement sum is associative and commutative:
// with m and m' the folded sums of the old and new words, the changes of
// several fields (an address and a port) add into one delta applied once.
// Every changed field here starts at an even offset of the checksummed data
// (addresses at 12/16 or 8/24 of the IP header, ports at 0/2 of the L4
// header, the pseudo-header words), so the words line up.

// Folded (not complemented) ones' complement sum of n bytes, n even.
// Inline, so that a constant n (16: an IPv6 address) unrolls csum_add into
// a few loads and adds; through a call with n variable the NAT rewrite
// (nat_set) cost 152 instructions a packet under callgrind, 128 with n a
// constant (IPv4 NAT, 1k flows).
inline uint16_t folded_sum(const uint8_t* p, size_t n) { return uint16_t(~csum_fold(csum_add(0, p, n))); }

// Adds ~m + m' for the field change old -> now (n bytes, n even) to delta.
inline uint32_t delta_replace(uint32_t delta, const uint8_t* old, const uint8_t* now, size_t n) {
    delta = csum_add16(delta, uint16_t(~folded_sum(old, n)));
    return csum_add16(delta, folded_sum(now, n));
}

// folded_sum for a field of N bytes known at compile time. A port is its
// own sum; an IPv4 address is its two words added with the end-around carry
// (the sum stays within 17 bits, one carry fold suffices). Both give what
// folded_sum gives: the ones' complement sum in [1, 0xffff], or 0 for zero
// bytes only, so the same representative. With csum_add's general loop
// for these nat_set_dst cost 123 instructions a packet under callgrind,
// 99 with these (and nat_apply inline).
template <size_t N>
inline uint16_t folded_sum_n(const uint8_t* p) {
    if constexpr (N == 2) {
        return load_be16(p);
    } else if constexpr (N == 4) {
        const uint32_t s = uint32_t(load_be16(p)) + load_be16(p + 2);
        return uint16_t((s & 0xffffu) + (s >> 16));
    } else {
        return folded_sum(p, N);
    }
}

template <size_t N>
inline uint32_t delta_replace_n(uint32_t delta, const uint8_t* old, const uint8_t* now) {
    delta = csum_add16(delta, uint16_t(~folded_sum_n<N>(old)));
    return csum_add16(delta, folded_sum_n<N>(now));
}

// HC' from HC and the accumulated delta. Exact, i.e. equal to a full
// recomputation, whenever the checksummed data is not all zero words (RFC
// 1624 section 3): the sum inside is then never +0.
uint16_t csum_apply(uint16_t hc, uint32_t delta) { return csum_fold(csum_add16(delta, uint16_t(~hc))); }

// ---- NAT ------------------------------------------------------------------------

// What nat_set_* found and will rewrite; computed before anything is written
// so that a refusal leaves the packet untouched.
struct NatPlan {
    uint8_t* addr = nullptr;  // the address field (source or destination)
    size_t addr_len = 0;
    uint8_t* ip_csum = nullptr;  // IPv4 header checksum, null for IPv6
    uint8_t* port = nullptr;     // the port field, null when the port is not rewritten
    uint8_t* l4_csum = nullptr;  // the L4 checksum, null when none is updated
    bool udp = false;
};

// The L4 checksum field offset for the protocols whose checksum covers the
// IP addresses (the pseudo-header), and the L4 bytes needed to reach it.
// ICMPv6 is included although it has no ports: its checksum covers the
// pseudo-header (RFC 4443 2.3), so changing an address without it would
// corrupt the message. ICMPv4 (no pseudo-header, RFC 792), SCTP (CRC32c
// over its own packet only, RFC 9260 6.8), ESP and the rest have no checksum
// over the addresses: only the address changes for them (so SCTP keeps its
// port too: rewriting it would need the CRC over the whole packet). AH's
// ICV covers the addresses and no NAT can keep it valid (RFC 3715 2.1).
struct L4Csum {
    size_t offset;  // from the L4 header
    size_t need;    // L4 bytes that must be present (ports and checksum)
};
std::optional<L4Csum> l4_csum_field(uint8_t proto, bool v6) {
    if (proto == pkt::kProtoTcp) return L4Csum{16, 18};
    if (proto == pkt::kProtoUdp) return L4Csum{6, 8};
    if (v6 && proto == pkt::kProtoIcmpv6) return L4Csum{2, 4};
    return std::nullopt;
}

// Known limitation: with an IPv6 Routing header whose segments left is not
// zero (or an IPv4 source route option), the pseudo-header carries the final
// destination, not the IP destination field (RFC 8200 8.1); a VIP is never a
// waypoint, so such a packet is not expected here and its L4 checksum is
// updated as if the IP destination were the final one.
bool nat_plan(uint8_t* ip, uint32_t avail, bool dst, uint16_t port, NatPlan& p) {
    if (avail < 1) return false;
    const uint8_t version = uint8_t(ip[0] >> 4);
    size_t end = 0;   // end of the datagram within avail (Ethernet padding excluded)
    size_t l4 = 0;    // offset of the L4 header
    uint8_t proto = 0;
    bool l4_here = false;  // false for a non-first fragment
    if (version == 4) {
        if (avail < pkt::kIpv4MinHdrLen) return false;
        const size_t hl = pkt::ipv4_header_length(ip);
        const size_t total = pkt::ipv4_total_length(ip);
        if (hl < pkt::kIpv4MinHdrLen || hl > total || hl > avail) return false;
        end = std::min<size_t>(avail, total);
        l4 = hl;
        proto = pkt::ipv4_proto(ip);
        l4_here = !pkt::ipv4_is_fragment_nonfirst(ip);
        p.addr = ip + (dst ? 16 : 12);
        p.addr_len = 4;
        p.ip_csum = ip + 10;
    } else if (version == 6) {
        if (avail < pkt::kIpv6HdrLen) return false;
        end = std::min<size_t>(avail, pkt::kIpv6HdrLen + pkt::ipv6_payload_length(ip));
        // A first fragment's L4 header follows its fragment header: walk on
        // to it (its checksum covers the whole datagram, so updating it here
        // is the right update for all fragments).
        const pkt::Ipv6Chain c = pkt::ipv6_walk_chain(ip, end);
        if (!c.ok) return false;  // where the L4 header is cannot be told
        l4 = c.offset;
        proto = c.proto;
        l4_here = !c.nonfirst_fragment;
        p.addr = ip + (dst ? 24 : 8);
        p.addr_len = 16;
    } else {
        return false;
    }
    if (!l4_here) return true;  // address only: the L4 header is in the first fragment
    const auto f = l4_csum_field(proto, version == 6);
    if (!f) return true;
    if (l4 + f->need > end) return false;
    p.l4_csum = ip + l4 + f->offset;
    p.udp = proto == pkt::kProtoUdp;
    if (port != 0 && has_ports(proto)) p.port = ip + l4 + (dst ? 2 : 0);
    return true;
}

// The rewrite once planned, for an address of N bytes (4 or 16): with N a
// constant the checksum deltas and the copies are a few fixed-size loads
// and stores instead of loops and memcpy calls of a variable length.
template <size_t N>
[[gnu::always_inline]] inline void nat_apply(const NatPlan& p, const uint8_t* addr, uint16_t port) {
    uint8_t port_bytes[2];
    std::memcpy(port_bytes, &port, 2);  // network order already
    const uint32_t addr_delta = delta_replace_n<N>(0, p.addr, addr);
    if (p.ip_csum) store_be16(p.ip_csum, csum_apply(load_be16(p.ip_csum), addr_delta));
    if (p.l4_csum) {
        const uint16_t hc = load_be16(p.l4_csum);
        // UDP checksum 0 means "none" over IPv4 (RFC 768) and stays so. Over
        // IPv6 it is not allowed (RFC 8200 8.1; receivers drop it, RFC 6936
        // tunnels aside) but an incremental update of "no checksum" would
        // produce a wrong non-zero one, and a full recomputation is not
        // possible on a truncated or fragmented datagram: it is left 0, and
        // the packet stays what the sender made it.
        if (!(p.udp && hc == 0)) {
            uint32_t d = addr_delta;
            if (p.port) d = delta_replace_n<2>(d, p.port, port_bytes);
            uint16_t nc = csum_apply(hc, d);
            if (p.udp && nc == 0) nc = 0xffff;  // RFC 768: a computed 0 is sent as all ones
            store_be16(p.l4_csum, nc);
        }
    }
    std::memcpy(p.addr, addr, N);
    if (p.port) std::memcpy(p.port, port_bytes, 2);
}

// nat_plan's answer for the common case, an IPv4 TCP or UDP packet with a
// 20-byte header that is not a non-first fragment and holds the L4 fields;
// false for anything else, which nat_plan then decides. The same plan
// nat_plan makes for these packets, with fewer tests: nat_set_dst went
// from 131 to 123 instructions a packet under callgrind.
inline bool nat_plan_v4_common(uint8_t* ip, uint32_t avail, bool dst, uint16_t port, NatPlan& p) {
    if (avail < pkt::kIpv4MinHdrLen || ip[0] != 0x45) return false;
    const uint8_t proto = ip[9];
    const bool udp = proto == pkt::kProtoUdp;
    if (!udp && proto != pkt::kProtoTcp) return false;
    if (pkt::ipv4_is_fragment_nonfirst(ip)) return false;
    const uint32_t total = load_be16(ip + 2);
    const uint32_t end = total < avail ? total : avail;
    if (total < pkt::kIpv4MinHdrLen || pkt::kIpv4MinHdrLen + (udp ? 8u : 18u) > end) return false;
    p.addr = ip + (dst ? 16 : 12);
    p.addr_len = 4;
    p.ip_csum = ip + 10;
    p.l4_csum = ip + pkt::kIpv4MinHdrLen + (udp ? 6 : 16);
    p.udp = udp;
    if (port != 0) p.port = ip + pkt::kIpv4MinHdrLen + (dst ? 2 : 0);
    return true;
}

// Inline into nat_set_dst and nat_set_src, each with `dst` a constant.
inline bool nat_set(uint8_t* ip, uint32_t avail, const uint8_t* addr, uint16_t port, bool dst) {
    NatPlan p;
    if (nat_plan_v4_common(ip, avail, dst, port, p)) [[likely]] {
        nat_apply<4>(p, addr, port);
        return true;
    }
    if (!nat_plan(ip, avail, dst, port, p)) return false;
    if (p.addr_len == 4)
        nat_apply<4>(p, addr, port);
    else
        nat_apply<16>(p, addr, port);
    return true;
}

// ---- encapsulation -------------------------------------------------------------

uint32_t write_outer(uint8_t* out, const Outer& o, uint32_t inner_len, uint32_t flow_label, bool gue,
                     uint16_t sport, uint16_t dport) {
    const uint32_t overhead = encap_overhead(o.v6, gue);
    const uint8_t* inner = out + overhead;
    if (inner_len < 1) return 0;
    if (!o.v6 && !gue && (inner[0] >> 4) == 4 && inner_len >= pkt::kIpv4MinHdrLen)
        return write_ipip4(out, o.src, o.dst, inner_len);
    uint8_t tos = 0;
    bool df = true;
    uint8_t inner_proto = 0;
    const uint8_t inner_version = uint8_t(inner[0] >> 4);
    if (inner_version == 4 && inner_len >= pkt::kIpv4MinHdrLen) {
        tos = pkt::ipv4_tos(inner);
        df = pkt::ipv4_df(inner);  // RFC 2003 3.1: DF copied from the inner header
        inner_proto = kProtoIpip;
    } else if (inner_version == 6 && inner_len >= pkt::kIpv6HdrLen) {
        tos = pkt::ipv6_traffic_class(inner);
        // IPv6 is never fragmented on the path (RFC 8200 5): the outer IPv4
        // header must not be either, or PMTUD for the inner would break
        // (RFC 4213 3.2).
        df = true;
        inner_proto = kProtoIpv6;
    } else {
        return 0;
    }
    const uint32_t l3_payload = (gue ? kUdpLen : 0) + inner_len;
    const uint8_t proto = gue ? pkt::kProtoUdp : inner_proto;
    // The TOS / traffic class byte is copied whole: DSCP as RFC 2983's
    // uniform model, ECN as RFC 6040's normal mode.
    if (!o.v6) {
        const uint32_t total = kIpv4OuterLen + l3_payload;
        if (total > 0xffff) return 0;
        out[0] = 0x45;
        out[1] = tos;
        store_be16(out + 2, uint16_t(total));
        // ID 0: with DF set (the usual case: TCP inners set DF, IPv6 inners
        // always) the ID is unused (RFC 6864 4.1). An IPv4 inner without DF
        // keeps an outer without DF, as RFC 2003 3.1 asks; such packets are
        // rare and their (unlikely) fragmentation would share ID 0.
        store_be16(out + 4, 0);
        store_be16(out + 6, df ? 0x4000 : 0);
        out[8] = kOuterTtl;
        out[9] = proto;
        std::memcpy(out + 12, o.src, 4);
        std::memcpy(out + 16, o.dst, 4);
        pkt::ipv4_set_header_checksum(out);
    } else {
        if (l3_payload > 0xffff) return 0;  // no jumbograms (RFC 2675)
        store_be32(out, (uint32_t(6) << 28) | (uint32_t(tos) << 20) | (flow_label & 0xfffffu));
        store_be16(out + 4, uint16_t(l3_payload));
        out[6] = proto;
        out[7] = kOuterTtl;
        std::memcpy(out + 8, o.src, 16);
        std::memcpy(out + 24, o.dst, 16);
    }
    if (gue) {
        uint8_t* udp = out + (o.v6 ? kIpv6OuterLen : kIpv4OuterLen);
        std::memcpy(udp, &sport, 2);  // network order already
        std::memcpy(udp + 2, &dport, 2);
        store_be16(udp + 4, uint16_t(l3_payload));
        store_be16(udp + 6, 0);
        if (o.v6) {
            uint16_t c = pkt::l4_checksum_v6(o.src, o.dst, pkt::kProtoUdp, udp, l3_payload);
            store_be16(udp + 6, c == 0 ? 0xffff : c);  // RFC 8200 8.1: a computed 0 is sent as all ones
        }
    }
    return overhead;
}

// ---- ICMP errors about a VIP flow ------------------------------------------------

// An ICMP error as parsed: offsets from the outer IP header.
struct IcmpError {
    bool v6 = false;
    size_t end = 0;        // end of the outer datagram within avail
    bool complete = false; // the whole outer datagram is within avail and unfragmented
    size_t icmp = 0;       // the ICMP header
    size_t q = 0;          // the quoted IP header
    size_t qend = 0;       // end of the quoted packet within the quote
    size_t ql4 = 0;        // the quoted L4 header (may be at or past qend)
    uint8_t qproto = 0;
    bool q_l4_here = false;  // the quoted packet is not a non-first fragment
};

// ICMPv4 type 3 code 4 or ICMPv6 type 2, quoting an IP packet of the same
// family whose header (and, for IPv6, extension header chain) is whole
// within the quote. Reads nothing past avail.
std::optional<IcmpError> parse_icmp_error(const uint8_t* ip, uint32_t avail) {
    IcmpError e;
    if (avail < 1) return std::nullopt;
    const uint8_t version = uint8_t(ip[0] >> 4);
    if (version == 4) {
        if (avail < pkt::kIpv4MinHdrLen) return std::nullopt;
        const size_t hl = pkt::ipv4_header_length(ip);
        const size_t total = pkt::ipv4_total_length(ip);
        if (hl < pkt::kIpv4MinHdrLen || hl > total || hl > avail) return std::nullopt;
        if (pkt::ipv4_is_fragment_nonfirst(ip) || pkt::ipv4_proto(ip) != pkt::kProtoIcmp) return std::nullopt;
        e.end = std::min<size_t>(avail, total);
        e.complete = total <= avail && !pkt::ipv4_is_fragment(ip);
        e.icmp = hl;
        if (e.icmp + pkt::kIcmpHdrLen > e.end) return std::nullopt;
        if (ip[e.icmp] != pkt::kIcmp4DestUnreachable || ip[e.icmp + 1] != 4) return std::nullopt;
        e.q = e.icmp + pkt::kIcmpHdrLen;
        if (e.q + pkt::kIpv4MinHdrLen > e.end) return std::nullopt;
        const uint8_t* q = ip + e.q;
        const size_t qhl = pkt::ipv4_header_length(q);
        const size_t qtotal = pkt::ipv4_total_length(q);
        if (pkt::ipv4_version(q) != 4 || qhl < pkt::kIpv4MinHdrLen || qhl > qtotal || e.q + qhl > e.end)
            return std::nullopt;
        // Bytes past the quoted packet's own length are not part of it.
        e.qend = std::min(e.end, e.q + qtotal);
        e.ql4 = e.q + qhl;
        e.qproto = pkt::ipv4_proto(q);
        e.q_l4_here = !pkt::ipv4_is_fragment_nonfirst(q);
        return e;
    }
    if (version != 6 || avail < pkt::kIpv6HdrLen) return std::nullopt;
    e.v6 = true;
    const size_t total = pkt::kIpv6HdrLen + pkt::ipv6_payload_length(ip);
    e.end = std::min<size_t>(avail, total);
    const pkt::Ipv6Chain c = pkt::ipv6_walk_chain(ip, e.end);
    if (!c.ok || c.nonfirst_fragment || c.proto != pkt::kProtoIcmpv6) return std::nullopt;
    e.complete = total <= avail && !c.fragmented;
    e.icmp = c.offset;
    if (e.icmp + pkt::kIcmpHdrLen > e.end) return std::nullopt;
    // RFC 4443 3.2: the code is always 0 and ignored by the receiver.
    if (ip[e.icmp] != pkt::kIcmp6PacketTooBig) return std::nullopt;
    e.q = e.icmp + pkt::kIcmpHdrLen;
    if (e.q + pkt::kIpv6HdrLen > e.end) return std::nullopt;
    const uint8_t* q = ip + e.q;
    if (pkt::ipv6_version(q) != 6) return std::nullopt;
    e.qend = std::min(e.end, e.q + pkt::kIpv6HdrLen + pkt::ipv6_payload_length(q));
    const pkt::Ipv6Chain qc = pkt::ipv6_walk_chain(q, e.qend - e.q);
    if (!qc.ok) return std::nullopt;  // the chain runs past the quote: the protocol is unknown
    e.ql4 = e.q + qc.offset;
    e.qproto = qc.proto;
    e.q_l4_here = !qc.nonfirst_fragment;
    return e;
}

// The quoted packet's source and destination addresses.
const uint8_t* quoted_src(const uint8_t* ip, const IcmpError& e) { return ip + e.q + (e.v6 ? 8 : 12); }
const uint8_t* quoted_dst(const uint8_t* ip, const IcmpError& e) { return ip + e.q + (e.v6 ? 24 : 16); }

// The ICMP checksum of the message [icmp, end) as it stands: the value to
// store when the field is zero, 0 when the stored one is right. ICMPv6
// covers the pseudo-header (RFC 4443 2.3), ICMPv4 does not (RFC 792).
uint16_t icmp_checksum(const uint8_t* ip, const IcmpError& e) {
    const uint8_t* m = ip + e.icmp;
    const size_t len = e.end - e.icmp;
    if (!e.v6) return csum_fold(csum_add(0, m, len));
    return pkt::l4_checksum_v6(pkt::ipv6_src(ip), pkt::ipv6_dst(ip), pkt::kProtoIcmpv6, m, len);
}

}  // namespace

uint16_t gue_source_port(uint32_t hash) {
    // The high half folded into the low one, so that every bit of the flow
    // hash counts (the low bits alone also index the Maglev table and the
    // flow table's buckets); the top bit set puts the port in 32768..65535,
    // the range GUE and other UDP tunnels draw entropy ports from (RFC 8086
    // 3.2.1, RFC 7510 3). Network order, like every port in rewrite.hpp.
    const uint16_t v = uint16_t(0x8000u | ((hash ^ (hash >> 16)) & 0x7fffu));
    uint8_t b[2];
    store_be16(b, v);
    uint16_t r;
    std::memcpy(&r, b, 2);
    return r;
}

uint32_t write_ipip(uint8_t* out, const Outer& o, uint32_t inner_len, uint32_t flow_label) {
    return write_outer(out, o, inner_len, flow_label, false, 0, 0);
}

uint32_t write_gue(uint8_t* out, const Outer& o, uint32_t inner_len, uint16_t sport, uint16_t dport,
                   uint32_t flow_label) {
    return write_outer(out, o, inner_len, flow_label, true, sport, dport);
}

bool nat_set_dst(uint8_t* ip, uint32_t avail, const uint8_t* addr, uint16_t port) {
    return nat_set(ip, avail, addr, port, true);
}

bool nat_set_src(uint8_t* ip, uint32_t avail, const uint8_t* addr, uint16_t port) {
    return nat_set(ip, avail, addr, port, false);
}

std::optional<FlowKey> icmp_error_inner_flow(const uint8_t* ip, uint32_t avail) {
    const auto e = parse_icmp_error(ip, avail);
    if (!e) return std::nullopt;
    FlowKey k;
    const size_t alen = e->v6 ? 16 : 4;
    // The quote went VIP -> client; the client's flow is the reverse.
    std::memcpy(k.src.data(), quoted_dst(ip, *e), alen);
    std::memcpy(k.dst.data(), quoted_src(ip, *e), alen);
    if (has_ports(e->qproto) && e->q_l4_here && e->ql4 + 4 <= e->qend) {
        std::memcpy(&k.sport, ip + e->ql4 + 2, 2);
        std::memcpy(&k.dport, ip + e->ql4, 2);
    }
    k.proto = e->qproto;
    k.v6 = e->v6 ? 1 : 0;
    return k;
}

bool nat_icmp_error_to_backend(uint8_t* ip, uint32_t avail, const uint8_t* backend_addr, uint16_t backend_port) {
    const auto e = parse_icmp_error(ip, avail);
    // The ICMP checksum covers the whole message: it is recomputed below,
    // so the whole message must be here, and it must be right as received
    // (recomputing a wrong one would hide the corruption from the backend).
    if (!e || !e->complete || icmp_checksum(ip, *e) != 0) return false;
    const size_t alen = e->v6 ? 16 : 4;
    uint8_t* qsrc = ip + e->q + (e->v6 ? 8 : 12);
    uint8_t* sport = nullptr;
    if (backend_port != 0 && has_ports(e->qproto) && e->q_l4_here && e->ql4 + 2 <= e->qend) sport = ip + e->ql4;

    // Outer destination: the VIP becomes the backend.
    uint8_t* odst = ip + (e->v6 ? 24 : 16);
    if (!e->v6) store_be16(ip + 10, csum_apply(load_be16(ip + 10), delta_replace(0, odst, backend_addr, 4)));
    std::memcpy(odst, backend_addr, alen);
    // Quoted source: the VIP (and its port) becomes the backend's, as the
    // backend sent it before the reverse NAT. The quoted IPv4 header
    // checksum is updated incrementally, so it stays exactly as right (or
    // wrong) as the router quoted it. The quoted L4 checksum is left alone:
    // the quote is usually cut short (RFC 792 asks for 64 bits of data, RFC
    // 1812 4.3.2.3 for at most 576 bytes in all), the checksum covers the
    // whole original datagram, and no stack verifies it in a quote (Linux
    // matches the quote to its socket by addresses and ports only).
    if (!e->v6) {
        uint8_t* qcsum = ip + e->q + 10;
        store_be16(qcsum, csum_apply(load_be16(qcsum), delta_replace(0, qsrc, backend_addr, 4)));
    }
    std::memcpy(qsrc, backend_addr, alen);
    if (sport) std::memcpy(sport, &backend_port, 2);
    // The ICMP checksum, recomputed over the message (and, for ICMPv6, the
    // pseudo-header with the new destination): a slow path, and simpler to
    // get right than three incremental updates.
    ip[e->icmp + 2] = 0;
    ip[e->icmp + 3] = 0;
    store_be16(ip + e->icmp + 2, icmp_checksum(ip, *e));
    return true;
}

}  // namespace sluice::lb
