#include "dataplane/worker/forward.hpp"

#include <bit>
#include <cstring>

#include <rte_byteorder.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "dataplane/pkt/checksum.hpp"
#include "dataplane/pkt/flow_hash.hpp"
#include "dataplane/pkt/validate.hpp"
#include "dataplane/worker/punt.hpp"

namespace sluice::dp {

namespace {

constexpr uint16_t kEthHdr = 14;
constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86DD;
constexpr uint16_t kEtherArp = 0x0806;
constexpr unsigned kPrefetchAhead = 4;

inline uint16_t load_be16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t load_be32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return rte_be_to_cpu_32(v);
}

using Scratch = BurstScratch;

inline bool is_unspecified(const uint8_t* a) {
    uint64_t x, y;
    std::memcpy(&x, a, 8);
    std::memcpy(&y, a + 8, 8);
    return (x | y) == 0;
}

inline void punt(BurstResult& r, rte_mbuf* m, Punt why) {
    set_punt(m, why);
    r.punt[r.n_punt++] = m;
}

inline void drop(BurstResult& r, CoreCounters& c, rte_mbuf* m, DropReason why) {
    c.drop(why);
    r.drop[r.n_drop++] = m;
}

inline uint8_t* l3(rte_mbuf* m) { return rte_pktmbuf_mtod_offset(m, uint8_t*, kEthHdr); }

// The NIC's verdict on the IPv4 header checksum, where it gave one.
inline pkt::RxCsum rx_csum(const rte_mbuf* m) {
    switch (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) {
    case RTE_MBUF_F_RX_IP_CKSUM_GOOD:
        return pkt::RxCsum::good;
    case RTE_MBUF_F_RX_IP_CKSUM_BAD:
        return pkt::RxCsum::bad;
    default:
        return pkt::RxCsum::unknown;
    }
}

// The 48-bit destination MAC at the start of a frame of >= 14 bytes,
// compared with one 8-byte load (the two bytes past it belong to the
// source MAC and are masked off).
static_assert(std::endian::native == std::endian::little, "MAC words are little-endian (x86, arm64)");
inline uint64_t mac48(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v & 0x0000FFFFFFFFFFFFull;  // little-endian: the first six bytes
}

inline uint64_t mac48(const std::array<uint8_t, 6>& mac) {
    uint64_t v = 0;
    std::memcpy(&v, mac.data(), 6);
    return v;
}

// New Ethernet header: destination from the neighbor word (its low six
// bytes, kMacValid in the top bit), source from the egress interface. Two
// stores, 8 + 4 bytes, instead of twelve byte moves.
inline void write_l2(uint8_t* d, uint64_t nbr_word, const Interface& out) {
    uint64_t head;  // dst MAC + the first two bytes of the source MAC
    uint16_t src01;
    std::memcpy(&src01, out.mac.data(), 2);
    head = (nbr_word & 0x0000FFFFFFFFFFFFull) | (uint64_t(src01) << 48);
    std::memcpy(d, &head, 8);
    std::memcpy(d + 8, out.mac.data() + 2, 4);
}

inline void enqueue_tx(BurstResult& r, uint16_t port, rte_mbuf* m) {
    if (r.tx_count[port] == 0) r.ports_used[r.n_ports_used++] = port;
    r.tx[port][r.tx_count[port]++] = m;
}

// Rewrites a packet whose next hop MAC is known and queues it for TX.
// `d`: the packet's data (its Ethernet header).
template <bool V6>
[[gnu::always_inline]] inline void send(const Snapshot& s, rte_mbuf* m, uint8_t* d, uint64_t nbr_word, uint16_t port,
                                        BurstResult& r) {
    write_l2(d, nbr_word, s.ifaces[port]);
    if constexpr (V6)
        pkt::ipv6_decrement_hop_limit(d + kEthHdr);  // IPv6 has no header checksum
    else
        pkt::ipv4_decrement_ttl(d + kEthHdr);
    enqueue_tx(r, port, m);
}

// After the FIB answered: local, no route, TTL, ECMP choice, MTU; then, for
// a gateway (its neighbor slot is in the next hop, no hash lookup), the MAC
// word and the rewrite right here. On-link destinations wait for the bulk
// neighbor lookup. Returns 1 if the packet was queued for TX.
template <bool V6>
[[gnu::always_inline]] inline uint32_t resolve_nexthop(const Snapshot& s, const NeighborTable& nbrs, rte_mbuf* m,
                                                       uint8_t* ip, uint64_t nhv, Scratch& sc,
                                                       BurstResult& r) {
    NhKind kind = nh_kind(nhv);
    if (kind == NhKind::none || kind == NhKind::local) [[unlikely]] {
        punt(r, m, kind == NhKind::none ? Punt::no_route : Punt::local);
        return 0;
    }
    uint8_t* d = ip - kEthHdr;
    // RFC 1812 5.3.1 / RFC 8200 3: a packet that would leave with TTL 0 is
    // not forwarded.
    if ((V6 ? ip[7] : ip[8]) <= 1) [[unlikely]] {
        punt(r, m, Punt::ttl);
        return 0;
    }
    uint32_t nh_idx = nh_index(nhv);
    if (kind == NhKind::group) {
        uint32_t avail = m->data_len - kEthHdr;
        uint32_t h = V6 ? pkt::flow_hash_v6(ip, avail) : pkt::flow_hash_v4(ip, avail);
        nh_idx = s.group_members[ecmp_pick(s.groups[nh_idx], h)];
    }
    const NextHop& nh = s.nexthops[nh_idx];
    uint32_t l3_len = V6 ? 40u + load_be16(ip + 4) : load_be16(ip + 2);
    if (l3_len > nh.mtu) [[unlikely]] {
        punt(r, m, Punt::too_big);
        return 0;
    }
    if (nh.neighbor == kNoNeighbor) {
        uint16_t k = sc.n_fwd++;
        sc.fwd_m[k] = m;
        sc.fwd_port[k] = nh.port;
        return 0;
    }
    uint64_t w = nbrs.word(nh.neighbor);
    if (!(w & kMacValid)) [[unlikely]] {
        punt(r, m, Punt::neighbor);
        return 0;
    }
    send<V6>(s, m, d, w, nh.port, r);
    return 1;
}

// Queues a checked packet for its family's bulk lookup.
inline void gather4(Scratch& sc, uint16_t& n4, rte_mbuf* m, const uint8_t* ip) {
    sc.m4[n4] = m;
    sc.ip4[n4] = const_cast<uint8_t*>(ip);
    sc.dst4[n4++] = load_be32(ip + 16);
}
inline void gather6(Scratch& sc, uint16_t& n6, rte_mbuf* m, const uint8_t* ip) {
    sc.m6[n6] = m;
    sc.ip6[n6] = const_cast<uint8_t*>(ip);
    std::memcpy(sc.dst6[n6++], ip + 24, 16);
}

// Everything the fast paths below do not vouch for: the full checks in
// RFC order, to learn the drop reason or to accept an uncommon but valid
// packet (IPv4 options, NIC checksum verdicts, link-local and multicast
// IPv6, ARP). Appends to the gather lists like the fast paths.
[[gnu::noinline]] void classify_slow(rte_mbuf* m, bool port_ok, uint64_t port_mac,
                                     Scratch& sc, uint16_t& n4, uint16_t& n6, BurstResult& r, CoreCounters& c) {
    const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
    uint32_t len = m->data_len;
    if (len < kEthHdr) {
        drop(r, c, m, DropReason::l2_truncated);
        return;
    }
    if (!port_ok) {
        drop(r, c, m, DropReason::port_down);
        return;
    }
    // Unicast frames must be for us; group frames (broadcast, multicast)
    // are looked at by the protocol handlers.
    if (!(d[0] & 1) && mac48(d) != port_mac) {
        drop(r, c, m, DropReason::l2_not_for_us);
        return;
    }
    const uint8_t* ip = d + kEthHdr;
    uint32_t avail = len - kEthHdr;
    switch (load_be16(d + 12)) {
    case kEtherIpv4: {
        DropReason why = pkt::validate_ipv4(ip, avail, rx_csum(m));
        if (why != DropReason::none) {
            drop(r, c, m, why);
            return;
        }
        uint32_t dst = load_be32(ip + 16);
        // Multicast and limited broadcast are not routed here
        // (RFC 1812 5.3.5.1); they end at this router unprocessed.
        if ((dst >> 28) == 0xE || dst == 0xFFFFFFFFu) {
            drop(r, c, m, DropReason::local_unsupported);
            return;
        }
        gather4(sc, n4, m, ip);
        return;
    }
    case kEtherIpv6: {
        DropReason why = pkt::validate_ipv6(ip, avail);
        const uint8_t* dst = ip + 24;
        if (why == DropReason::ipv6_bad_source && dst[0] == 0xff && (dst[1] & 0x0f) == 2 && is_unspecified(ip + 8)) {
            // Duplicate address detection and MLD come from :: to
            // link-local multicast (RFC 4862 5.4.2): the agent's.
            punt(r, m, Punt::local);
            return;
        }
        if (why != DropReason::none) {
            drop(r, c, m, why);
            return;
        }
        if (dst[0] == 0xff) {
            // Link-local scope multicast carries ND and echo to all-nodes:
            // the agent's. Wider scopes are not routed.
            if ((dst[1] & 0x0f) == 2)
                punt(r, m, Punt::local);
            else
                drop(r, c, m, DropReason::ipv6_multicast);
            return;
        }
        if (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80) {  // fe80::/10 never leaves the link
            punt(r, m, Punt::local);
            return;
        }
        gather6(sc, n6, m, ip);
        return;
    }
    case kEtherArp:
        punt(r, m, Punt::local);
        return;
    default:
        drop(r, c, m, DropReason::l2_unknown_ethertype);
        return;
    }
}

// Ethertypes as they sit in memory, compared without a byte swap.
constexpr uint16_t kRawEtherIpv4 = std::endian::native == std::endian::little ? 0x0008 : 0x0800;
constexpr uint16_t kRawEtherIpv6 = std::endian::native == std::endian::little ? 0xDD86 : 0x86DD;
constexpr uint32_t kMinV4Frame = kEthHdr + 20;
constexpr uint32_t kMinV6Frame = kEthHdr + 40;

// The common IPv4 packet in one breath: header without options, lengths
// sane, checksum good (NIC or software), source and destination ordinary
// unicast (kV4SpecialOctet also covers multicast and broadcast, which the
// slow path drops). Anything else goes to classify_slow, which gives the
// exact verdict; this only ever says "certainly fine".
[[gnu::always_inline]] inline bool ipv4_fast_ok(const uint8_t* ip, uint32_t avail, uint64_t ol_flags) {
    if (ip[0] != 0x45) return false;
    uint32_t total = load_be16(ip + 2);
    if (total < 20 || total > avail) return false;
    uint64_t ck = ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    if (ck != RTE_MBUF_F_RX_IP_CKSUM_GOOD && (ck == RTE_MBUF_F_RX_IP_CKSUM_BAD || !pkt::ipv4_header20_checksum_ok(ip)))
        return false;
    return !(pkt::kV4SpecialOctet.v[ip[12]] | pkt::kV4SpecialOctet.v[ip[16]]);
}

// The common IPv6 packet: version 6, payload within the frame, global or
// ULA unicast source and destination (first byte neither 0x00, 0xfe nor
// 0xff covers unspecified, loopback, link-local and multicast).
[[gnu::always_inline]] inline bool ipv6_fast_ok(const uint8_t* ip, uint32_t avail) {
    if ((ip[0] >> 4) != 6) return false;
    if (40u + load_be16(ip + 4) > avail) return false;
    auto ordinary = [](uint8_t b) { return b != 0x00 && b != 0xfe && b != 0xff; };
    return ordinary(ip[8]) && ordinary(ip[24]);
}

}  // namespace

void forward_burst(const Snapshot& s, const NeighborTable& nbrs, rte_mbuf** pkts, uint16_t n, BurstResult& r,
                   CoreCounters& c) {
    Scratch& sc = r.scratch;
    uint16_t n4 = 0, n6 = 0;
    sc.n_fwd = 0;

    for (unsigned i = 0; i < n && i < kPrefetchAhead; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));

    // A burst comes from one port: the interface is looked up when the port
    // changes, not per packet.
    uint16_t cur_port = UINT16_MAX;
    bool port_ok = false;
    uint64_t port_mac = 0;

    // 1. Parse and validate; gather destinations per family. The common
    // cases are checked inline; the rest (and every drop) in classify_slow.
    for (uint16_t i = 0; i < n; ++i) {
        if (i + kPrefetchAhead < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetchAhead], void*));
        rte_mbuf* m = pkts[i];
        const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
        uint32_t len = m->data_len;
        if (m->port != cur_port) [[unlikely]] {
            cur_port = m->port;
            port_ok = cur_port < kMaxPorts && s.ifaces[cur_port].present;
            port_mac = port_ok ? mac48(s.ifaces[cur_port].mac) : ~0ull;  // ~0: matches no frame
        }
        // Read before the length check: harmless for a runt (the mbuf's data
        // room is far larger), and only used once the frame is known long enough.
        uint16_t et;
        std::memcpy(&et, d + 12, 2);
        if (len >= kMinV4Frame && mac48(d) == port_mac) [[likely]] {
            const uint8_t* ip = d + kEthHdr;
            if (et == kRawEtherIpv4 && ipv4_fast_ok(ip, len - kEthHdr, m->ol_flags)) [[likely]] {
                gather4(sc, n4, m, ip);
                continue;
            }
            if (et == kRawEtherIpv6 && len >= kMinV6Frame && ipv6_fast_ok(ip, len - kEthHdr)) {
                gather6(sc, n6, m, ip);
                continue;
            }
        }
        classify_slow(m, port_ok, port_mac, sc, n4, n6, r, c);
    }

    // 2. One bulk lookup per family, then the next hop; packets to a
    // gateway are rewritten and queued right away.
    uint32_t sent = 0;
    if (n4) {
        rte_fib_lookup_bulk(s.fib4, sc.dst4, sc.nh4, n4);
        for (uint16_t k = 0; k < n4; ++k)
            sent += resolve_nexthop<false>(s, nbrs, sc.m4[k], sc.ip4[k], sc.nh4[k], sc, r);
    }
    if (n6) {
        rte_fib6_lookup_bulk(s.fib6, sc.dst6, sc.nh6, n6);
        for (uint16_t k = 0; k < n6; ++k)
            sent += resolve_nexthop<true>(s, nbrs, sc.m6[k], sc.ip6[k], sc.nh6[k], sc, r);
    }

    // 3. On-link destinations: one bulk neighbor lookup, then the rewrite.
    if (sc.n_fwd) [[unlikely]] {
        for (uint16_t k = 0; k < sc.n_fwd; ++k) {
            const uint8_t* ip = l3(sc.fwd_m[k]);
            bool v6 = (ip[0] >> 4) == 6;
            sc.keys[k] = v6 ? NeighborKey::v6addr(sc.fwd_port[k], ip + 24) : NeighborKey::v4(sc.fwd_port[k], ip + 16);
            sc.key_ptr[k] = &sc.keys[k];
        }
        for (uint16_t off = 0; off < sc.n_fwd; off += 64) {
            uint16_t cnt = uint16_t(sc.n_fwd - off < 64 ? sc.n_fwd - off : 64);
            nbrs.lookup_bulk(sc.key_ptr + off, cnt, sc.fwd_slot + off);
        }
        for (uint16_t k = 0; k < sc.n_fwd; ++k) {
            rte_mbuf* m = sc.fwd_m[k];
            uint64_t w = sc.fwd_slot[k] == kNoNeighbor ? 0 : nbrs.word(sc.fwd_slot[k]);
            if (!(w & kMacValid)) {
                punt(r, m, Punt::neighbor);
                continue;
            }
            uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
            if ((d[kEthHdr] >> 4) == 4)
                send<false>(s, m, d, w, sc.fwd_port[k], r);
            else
                send<true>(s, m, d, w, sc.fwd_port[k], r);
            ++sent;
        }
    }
    bump(c.forwarded, sent);
}

}  // namespace sluice::dp
