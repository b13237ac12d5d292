#include "dataplane/worker/forward.hpp"

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

// Common tail for both families once the FIB answered: local, no route,
// TTL, ECMP choice, MTU, then queue for the neighbor step.
inline void resolve_nexthop(const Snapshot& s, rte_mbuf* m, uint16_t i, uint64_t nhv, bool v6, Scratch& sc,
                            BurstResult& r) {
    uint8_t* ip = l3(m);
    switch (nh_kind(nhv)) {
    case NhKind::none:
        punt(r, m, Punt::no_route);
        return;
    case NhKind::local:
        punt(r, m, Punt::local);
        return;
    default:
        break;
    }
    // RFC 1812 5.3.1 / RFC 8200 3: a packet that would leave with TTL 0 is
    // not forwarded.
    if ((v6 ? ip[7] : ip[8]) <= 1) {
        punt(r, m, Punt::ttl);
        return;
    }
    uint32_t nh_idx = nh_index(nhv);
    if (nh_kind(nhv) == NhKind::group) {
        uint32_t avail = m->data_len - kEthHdr;
        uint32_t h = v6 ? pkt::flow_hash_v6(ip, avail) : pkt::flow_hash_v4(ip, avail);
        nh_idx = s.group_members[ecmp_pick(s.groups[nh_idx], h)];
    }
    const NextHop& nh = s.nexthops[nh_idx];
    uint32_t l3_len = v6 ? 40u + load_be16(ip + 4) : load_be16(ip + 2);
    if (l3_len > nh.mtu) {
        punt(r, m, Punt::too_big);
        return;
    }
    uint16_t k = sc.n_fwd++;
    sc.fwd_idx[k] = i;
    sc.fwd_port[k] = nh.port;
    sc.fwd_slot[k] = nh.neighbor;
}

}  // namespace

void forward_burst(const Snapshot& s, const NeighborTable& nbrs, rte_mbuf** pkts, uint16_t n, BurstResult& r,
                   CoreCounters& c) {
    Scratch& sc = r.scratch;
    uint16_t n4 = 0, n6 = 0;
    sc.n_fwd = 0;

    for (unsigned i = 0; i < n && i < kPrefetchAhead; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));

    // 1. Parse and validate; gather destinations per family.
    for (uint16_t i = 0; i < n; ++i) {
        if (i + kPrefetchAhead < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetchAhead], void*));
        rte_mbuf* m = pkts[i];
        const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
        uint32_t len = m->data_len;
        if (len < kEthHdr) {
            drop(r, c, m, DropReason::l2_truncated);
            continue;
        }
        if (m->port >= kMaxPorts || !s.ifaces[m->port].present) {
            drop(r, c, m, DropReason::port_down);
            continue;
        }
        // Unicast frames must be for us; group frames (broadcast, multicast)
        // are looked at by the protocol handlers.
        if (!(d[0] & 1) && std::memcmp(d, s.ifaces[m->port].mac.data(), 6) != 0) {
            drop(r, c, m, DropReason::l2_not_for_us);
            continue;
        }
        const uint8_t* ip = d + kEthHdr;
        uint32_t avail = len - kEthHdr;
        switch (load_be16(d + 12)) {
        case kEtherIpv4: {
            DropReason why = pkt::validate_ipv4(ip, avail);
            if (why != DropReason::none) {
                drop(r, c, m, why);
                continue;
            }
            uint32_t dst = load_be32(ip + 16);
            // Multicast and limited broadcast are not routed here
            // (RFC 1812 5.3.5.1); they end at this router unprocessed.
            if ((dst >> 28) == 0xE || dst == 0xFFFFFFFFu) {
                drop(r, c, m, DropReason::local_unsupported);
                continue;
            }
            sc.idx4[n4] = i;
            sc.dst4[n4++] = dst;
            break;
        }
        case kEtherIpv6: {
            DropReason why = pkt::validate_ipv6(ip, avail);
            const uint8_t* dst = ip + 24;
            if (why == DropReason::ipv6_bad_source && dst[0] == 0xff && (dst[1] & 0x0f) == 2 &&
                is_unspecified(ip + 8)) {
                // Duplicate address detection and MLD come from :: to
                // link-local multicast (RFC 4862 5.4.2): the agent's.
                punt(r, m, Punt::local);
                continue;
            }
            if (why != DropReason::none) {
                drop(r, c, m, why);
                continue;
            }
            if (dst[0] == 0xff) {
                // Link-local scope multicast carries ND and echo to
                // all-nodes: the agent's. Wider scopes are not routed.
                if ((dst[1] & 0x0f) == 2)
                    punt(r, m, Punt::local);
                else
                    drop(r, c, m, DropReason::ipv6_multicast);
                continue;
            }
            if (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80) {  // fe80::/10 never leaves the link
                punt(r, m, Punt::local);
                continue;
            }
            sc.idx6[n6] = i;
            std::memcpy(sc.dst6[n6++], dst, 16);
            break;
        }
        case kEtherArp:
            punt(r, m, Punt::local);
            break;
        default:
            drop(r, c, m, DropReason::l2_unknown_ethertype);
            break;
        }
    }

    // 2. One bulk lookup per family.
    if (n4) rte_fib_lookup_bulk(s.fib4, sc.dst4, sc.nh4, n4);
    if (n6) rte_fib6_lookup_bulk(s.fib6, sc.dst6, sc.nh6, n6);
    for (uint16_t k = 0; k < n4; ++k) resolve_nexthop(s, pkts[sc.idx4[k]], sc.idx4[k], sc.nh4[k], false, sc, r);
    for (uint16_t k = 0; k < n6; ++k) resolve_nexthop(s, pkts[sc.idx6[k]], sc.idx6[k], sc.nh6[k], true, sc, r);

    // 3. On-link destinations: one bulk neighbor lookup.
    uint16_t nk = 0;
    for (uint16_t k = 0; k < sc.n_fwd; ++k) {
        if (sc.fwd_slot[k] != kNoNeighbor) continue;
        const uint8_t* ip = l3(pkts[sc.fwd_idx[k]]);
        bool v6 = (ip[0] >> 4) == 6;
        sc.keys[nk] = v6 ? NeighborKey::v6addr(sc.fwd_port[k], ip + 24) : NeighborKey::v4(sc.fwd_port[k], ip + 16);
        sc.key_ptr[nk] = &sc.keys[nk];
        sc.key_fwd[nk++] = k;
    }
    for (uint16_t off = 0; off < nk; off += 64) {
        uint16_t cnt = uint16_t(nk - off < 64 ? nk - off : 64);
        uint32_t slots[64];
        nbrs.lookup_bulk(sc.key_ptr + off, cnt, slots);
        for (uint16_t j = 0; j < cnt; ++j) sc.fwd_slot[sc.key_fwd[off + j]] = slots[j];
    }

    // 4. Rewrite and scatter to per-port TX lists.
    uint16_t sent = 0;
    for (uint16_t k = 0; k < sc.n_fwd; ++k) {
        rte_mbuf* m = pkts[sc.fwd_idx[k]];
        uint64_t w = sc.fwd_slot[k] == kNoNeighbor ? 0 : nbrs.word(sc.fwd_slot[k]);
        if (!(w & kMacValid)) {
            punt(r, m, Punt::neighbor);
            continue;
        }
        uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
        uint16_t port = sc.fwd_port[k];
        mac_from_word(w, d);
        std::memcpy(d + 6, s.ifaces[port].mac.data(), 6);
        uint8_t* ip = d + kEthHdr;
        if ((ip[0] >> 4) == 4)
            pkt::ipv4_decrement_ttl(ip);
        else
            ip[7]--;  // IPv6 has no header checksum
        if (r.tx_count[port] == 0) r.ports_used[r.n_ports_used++] = port;
        r.tx[port][r.tx_count[port]++] = m;
        ++sent;
    }
    bump(c.forwarded, sent);
}

}  // namespace sluice::dp
