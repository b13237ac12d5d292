#include "dataplane/worker/forward.hpp"

#include <cstring>
#include <type_traits>

#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "dataplane/pkt/bytes.hpp"
#include "dataplane/pkt/checksum.hpp"
#include "dataplane/pkt/classify.hpp"
#include "dataplane/pkt/eth.hpp"
#include "dataplane/pkt/flow_hash.hpp"
#include "dataplane/tables/fib_direct.hpp"
#include "dataplane/lb/stage.hpp"
#include "dataplane/worker/burst_ops.hpp"
#include "dataplane/worker/punt.hpp"

namespace sluice::dp {

namespace {

using pkt::kEthHdrLen;
constexpr unsigned kPrefetchAhead = 4;

// classify() reads the NIC's IPv4 checksum verdict from the raw ol_flags.
static_assert(pkt::kRxIpCksumGood == RTE_MBUF_F_RX_IP_CKSUM_GOOD && pkt::kRxIpCksumBad == RTE_MBUF_F_RX_IP_CKSUM_BAD &&
              pkt::kRxIpCksumMask == RTE_MBUF_F_RX_IP_CKSUM_MASK);

using Scratch = BurstScratch;

using burst::drop;
using burst::enqueue_tx;
using burst::punt;
using burst::write_l2;

// What the classification reads of an mbuf.
inline pkt::RxFrame rx_frame(const rte_mbuf* m) {
    return {rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, m->pkt_len, m->ol_flags};
}

// What one burst reads from the published root: a local copy of its raw
// pointers (tables/root.hpp), so that writes to packet bytes, which may
// alias anything, do not force them to be reloaded.
using View = Root::Hot;

// The bases the lookup loop indexes per packet, copied into locals whose
// address never escapes: read through the View (whose address lb_burst
// takes) or through the neighbor table, each was reloaded after every store
// to a packet's bytes, which may alias anything. 1k x 1k under callgrind:
// IPv4 316.1 -> 311.4, IPv6 335.6 -> 332.8 instructions a packet.
struct Bases {
    const NhHot* nh;
    const uint64_t* src;  // Interfaces::eth_src4 or eth_src6, by the family
    const std::atomic<uint64_t>* words;  // NeighborTable::words()
};
template <bool V6>
inline Bases bases(const View& s, const NeighborTable& nbrs) {
    return {s.nh, V6 ? s.eth_src6 : s.eth_src4, nbrs.words()};
}

// Rewrites a packet whose next hop MAC is known and queues it for TX.
// `d`: the packet's data (its Ethernet header).
template <bool V6>
[[gnu::always_inline]] inline void send(const Bases& b, rte_mbuf* m, uint8_t* d, uint64_t nbr_word, size_t port,
                                        BurstResult& r) {
    burst::write_l2_word(d, nbr_word, b.src[port]);
    if constexpr (V6)
        pkt::ipv6_decrement_hop_limit(d + kEthHdrLen);  // IPv6 has no header checksum
    else
        pkt::ipv4_decrement_ttl(d + kEthHdrLen);
    enqueue_tx(r, port, m);
}

// After the FIB answered: local, no route, TTL, ECMP choice, MTU; then, for
// a gateway (its neighbor slot is in the next hop, no hash lookup), the MAC
// word and the rewrite right here. On-link destinations wait for the bulk
// neighbor lookup. Counts nothing: what TX accepts is counted as forwarded
// after the TX call (worker.cpp, flush).
// `e`: the FIB's raw entry for the destination (fib_direct.hpp: next hop
// << 1 | extended). Only an IPv4 entry from the inline lookup is ever
// extended (its tbl8 group is read here, from the destination's last byte);
// the IPv6 walk and the bulk calls give leaves (entry_of).
template <bool V6>
[[gnu::always_inline]] inline void resolve_nexthop(const View& s, const Bases& b, rte_mbuf* m, uint8_t* ip,
                                                   uint32_t e, Scratch& sc, BurstResult& r) {
    // A single next hop in a plain entry is the common answer: one mask and
    // compare of the raw entry decides it (kind and extended bit together),
    // the rest is off the straight path. IPv4 1k x 1k under callgrind:
    // 318.6 -> 316.1 instructions a packet against testing the extended bit,
    // then decoding the value's kind (IPv6 unchanged, 335.6). That
    // benchmark's routes are /30s, so its packets all take the extended
    // branch below: the saving is the restructured decode there, and the
    // plain-entry test itself is not what it measured (a re-test of the
    // tbl8 entry with the same mask is the next step to measure).
    // The plain single entry's index bits, unshifted, are the index times
    // two: times four more is NhHot's 8 bytes, all in the load's address
    // (no shift, no separate mask of the shifted value): IPv4 310.7 ->
    // 308.8, IPv6 330.0 -> 328.0.
    static_assert(sizeof(NhHot) == 8);
    size_t nh_off2 = e & (kNhIndexMask << 1);
    if (!entry_is_single(e)) [[unlikely]] {
        if constexpr (!V6) {
            if (e & 1) e = s.fib4d.tbl8[size_t(e >> 1) * 256 + ip[19]];
        }
        uint32_t nh_idx = entry_index(e);
        const NhKind kind = nh_kind(e >> 1);
        // A VIP's address is tested first: it is all of a load balancer's
        // traffic, and usually a /32 or /128 in an extended entry.
        if (kind == NhKind::vip) {  // to the load balancer stage (lb/stage.cpp)
            sc.lb_m[sc.n_lb] = m;
            sc.lb_addr[sc.n_lb++] = nh_idx;
            return;
        }
        if (kind == NhKind::group) {
            // ECMP (RFC 2992): the flow's member. Before the TTL check, which
            // gives the same verdict for every member.
            uint32_t avail = m->data_len - uint32_t(kEthHdrLen);
            uint32_t h = V6 ? pkt::flow_hash_v6(ip, avail) : pkt::flow_hash_v4(ip, avail);
            nh_idx = s.members[ecmp_pick(s.groups[nh_idx], h)];
        } else if (kind != NhKind::single) {
            punt(r, m, kind == NhKind::none ? Punt::no_route : Punt::local);
            return;
        }
        nh_off2 = size_t(nh_idx) * 2;
    }
    uint8_t* d = ip - kEthHdrLen;
    // RFC 1812 5.3.1 / RFC 8200 3: a packet that would leave with TTL 0 is
    // not forwarded.
    if ((V6 ? ip[7] : ip[8]) <= 1) [[unlikely]] {
        punt(r, m, Punt::ttl);
        return;
    }
    const NhHot& nh = *reinterpret_cast<const NhHot*>(reinterpret_cast<const char*>(b.nh) + nh_off2 * 4);
    uint32_t l3_len = V6 ? 40u + pkt::load_be16(ip + 4) : pkt::load_be16(ip + 2);
    if (l3_len > nh.mtu) [[unlikely]] {
        punt(r, m, Punt::too_big);
        return;
    }
    // A gateway's MAC word; an on-link next hop (nbr1 0) reads word 0,
    // never valid, so one test covers both (1k x 1k under callgrind: IPv4
    // 308.8 -> 306.8, IPv6 328.0 -> 327.0, against testing the slot for
    // on-link first).
    uint64_t w = b.words[nh.nbr1].load(std::memory_order_acquire);
    if (!(w & kMacValid)) [[unlikely]] {
        if (nh.nbr1 == 0)
            burst::queue_onlink(sc, m, nh.port, nullptr, 0);
        else
            punt(r, m, Punt::neighbor);
        return;
    }
    send<V6>(b, m, d, w, nh.port, r);
}

// Queues a checked packet for its family's lookup, and starts bringing the
// tbl24 entry the lookup reads first towards the cache: by the time the
// burst's lookups run it has arrived, so at 10^6 prefixes (a 64 MiB tbl24)
// the lookup loop does not wait on memory (as rte_fib_lookup_bulk's own
// prefetch pass, without the pass). The entry's address is kept for the
// lookup (resolve_nexthop reads it); the bulk call's fallback reads the
// destinations again.
inline void gather4(const View& s, Scratch& sc, unsigned& n4, rte_mbuf* m, const uint8_t* ip) {
    const void* line = fib_direct_line(s.fib4d, pkt::load_be32(ip + 16));
    rte_prefetch0(line);
    sc.m4[n4] = m;
    sc.ip4[n4] = const_cast<uint8_t*>(ip);
    sc.line4[n4++] = line;
}
// IPv6 destinations are read in place by the inline lookup; only the bulk
// call's fallback copies them out (7 instructions per packet less).
inline void gather6(const View& s, Scratch& sc, unsigned& n6, rte_mbuf* m, const uint8_t* ip) {
    rte_prefetch0(fib6_direct_line(s.fib6d, ip + 24));
    sc.m6[n6] = m;
    sc.ip6[n6++] = const_cast<uint8_t*>(ip);
}

// Everything the fast path does not vouch for, every drop included:
// pkt::classify_slow decides, this carries out a punt or a drop and returns
// the family to gather into (FastPath::slow: nothing to gather). Out of
// line, from the mbuf alone, so the fast path keeps no frame fields alive
// across the call; the gather stays with the caller so that its counts live
// in registers rather than behind a pointer (2 instructions per packet less
// under callgrind).
[[gnu::noinline]] pkt::FastPath classify_slow(rte_mbuf* m, uint64_t port_mac, BurstResult& r, CoreCounters& c) {
    pkt::Verdict v = pkt::classify_slow(rx_frame(m), port_mac);
    switch (v.action) {
    case pkt::Action::gather_v4:
        return pkt::FastPath::v4;
    case pkt::Action::gather_v6:
        return pkt::FastPath::v6;
    case pkt::Action::punt_local:
        punt(r, m, Punt::local);
        break;
    case pkt::Action::drop:
        drop(r, c, m, v.why);
        break;
    }
    return pkt::FastPath::slow;
}

}  // namespace

void forward_burst(const Root& root, const NeighborTable& nbrs, rte_mbuf** pkts, uint16_t n, BurstResult& r,
                   CoreCounters& c, LbWorker* lbw, uint16_t rx_port) {
    const View s = root.hot;
#ifndef NDEBUG
    RTE_VERIFY(s.ifaces && s.fib4 && s.fib6);  // published roots are sealed (Root::seal)
#endif
    Scratch& sc = r.scratch;
    // unsigned, not uint16_t: a 16-bit count was zero-extended again for
    // every store that indexes with it (with HeaderMatch's masks and
    // enqueue_tx's size_t port, 1k x 1k under callgrind: IPv4 311.4 ->
    // 310.7, IPv6 332.8 -> 330.0).
    unsigned n4 = 0, n6 = 0;
    sc.n_fwd = 0;
    sc.n_lb = 0;

    for (unsigned i = 0; i < n && i < kPrefetchAhead; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));

    // The port's MAC, which a packet must be sent to: looked up once when
    // the caller names the burst's port (the worker, from its RX queue),
    // else whenever the port changes. IPv4 1k x 1k under callgrind: 323.3 ->
    // 320.3 instructions a packet without the per-packet test (IPv6 338.4 ->
    // 335.6; L2 DSR 660.1 -> 657.2). With NAT VIPs the port is still read
    // per packet: a fourth parse loop made every loop slower (IPv4 325.3,
    // NAT 817.2), as GCC then lays them out and inlines them differently.
    auto mac_of = [&](uint16_t port) {
        bool present = port < kMaxPorts && s.ifaces[port].present;
        return present ? pkt::mac48(s.ifaces[port].mac) : pkt::kNoPortMac;
    };
    uint16_t cur_port = rx_port;
    uint64_t port_mac = rx_port == kAnyRxPort ? pkt::kNoPortMac : mac_of(rx_port);
    pkt::HeaderMatch hm = pkt::header_match(port_mac);
#ifndef NDEBUG
    if (rx_port != kAnyRxPort)
        for (uint16_t i = 0; i < n; ++i) RTE_VERIFY(pkts[i]->port == rx_port);
#endif

    // 1. Parse and validate; gather destinations per family. The common
    // cases are checked inline; the rest (and every drop) in classify_slow.
    // `nat`: std::true_type when some VIP uses NAT (the loop is chosen once
    // per burst, so routing without NAT VIPs pays no test per packet: 4
    // instructions per packet under callgrind, docs/perf.md).
    // `any_port`: std::true_type when the packets may come from different
    // ports.
    auto parse = [&](rte_mbuf* m, auto nat, auto any_port) __attribute__((always_inline)) {
        if constexpr (decltype(any_port)::value) {
            if (m->port != cur_port) [[unlikely]] {
                cur_port = m->port;
                port_mac = mac_of(cur_port);
                hm = pkt::header_match(port_mac);
            }
        }
        // pkt::classify(), with the slow half out of line.
        pkt::RxFrame f = rx_frame(m);
        pkt::FastPath fp = pkt::fast_path(f, hm);
        if (fp == pkt::FastPath::slow) [[unlikely]] {
            fp = classify_slow(m, port_mac, r, c);
        }
        // A NAT backend's reply leaves from its VIP (lb/stage.cpp).
        if constexpr (decltype(nat)::value) {
            if (fp != pkt::FastPath::slow)
                lb_nat_return(s, const_cast<uint8_t*>(f.data) + kEthHdrLen, f.len - uint32_t(kEthHdrLen));
        }
        switch (fp) {
        case pkt::FastPath::v4:
            gather4(s, sc, n4, m, f.data + kEthHdrLen);
            return;
        case pkt::FastPath::v6:
            gather6(s, sc, n6, m, f.data + kEthHdrLen);
            return;
        case pkt::FastPath::slow:
            return;
        }
    };
    // Prefetching a fixed distance ahead, then the remainder without (as
    // l3fwd does): no per-packet test of the distance to the burst's end.
    auto parse_all = [&](auto nat, auto any_port) __attribute__((always_inline)) {
        uint16_t i = 0;
        // Unrolled by four here and in the IPv4 lookup loop: 2 instructions
        // per packet less under callgrind (IPv4, 1k prefixes, 1k flows).
#pragma GCC unroll 4
        for (; i + kPrefetchAhead < n; ++i) {
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetchAhead], void*));
            parse(pkts[i], nat, any_port);
        }
        for (; i < n; ++i) parse(pkts[i], nat, any_port);
    };
    if (s.nat_filter) [[unlikely]] {
        parse_all(std::true_type{}, std::true_type{});  // NAT VIPs: each mbuf's port (see above)
    } else if (rx_port == kAnyRxPort) [[unlikely]] {
        parse_all(std::false_type{}, std::true_type{});
    } else {
        parse_all(std::false_type{}, std::false_type{});
    }

    // 2. The FIB lookup per packet, inline (tables/fib_direct.hpp), else
    // one bulk call per family; then the next hop. Packets to a gateway are
    // rewritten and queued right away.
    if (n4) {
        const Bases b = bases<false>(s, nbrs);
        if (s.fib4d.tbl24) [[likely]] {
#pragma GCC unroll 4
            for (unsigned k = 0; k < n4; ++k)
                resolve_nexthop<false>(s, b, sc.m4[k], sc.ip4[k], *static_cast<const uint32_t*>(sc.line4[k]), sc,
                                       r);
        } else {
            for (unsigned k = 0; k < n4; ++k) sc.dst4[k] = pkt::load_be32(sc.ip4[k] + 16);
            rte_fib_lookup_bulk(s.fib4, sc.dst4, sc.nh4, n4);
            for (unsigned k = 0; k < n4; ++k)
                resolve_nexthop<false>(s, b, sc.m4[k], sc.ip4[k], entry_of(sc.nh4[k]), sc, r);
        }
    }
    if (n6) {
        const Bases b = bases<true>(s, nbrs);
        if (s.fib6d.tbl24) [[likely]] {
            for (unsigned k = 0; k < n6; ++k)
                resolve_nexthop<true>(s, b, sc.m6[k], sc.ip6[k], fib6_direct_entry(s.fib6d, sc.ip6[k] + 24), sc, r);
        } else {
            for (unsigned k = 0; k < n6; ++k) std::memcpy(sc.dst6[k], sc.ip6[k] + 24, 16);
            rte_fib6_lookup_bulk(s.fib6, sc.dst6, sc.nh6, n6);
            for (unsigned k = 0; k < n6; ++k)
                resolve_nexthop<true>(s, b, sc.m6[k], sc.ip6[k], entry_of(sc.nh6[k]), sc, r);
        }
    }

    // 2b. Packets to VIP addresses: the load balancer, which queues its
    // on-link ones for step 3 like everyone else.
    if (sc.n_lb) [[unlikely]]
        lb_burst(s, nbrs, lbw, sc, r, c);

    // 3. On-link destinations: one bulk neighbor lookup, then the rewrite.
    if (sc.n_fwd) [[unlikely]] {
        for (uint16_t k = 0; k < sc.n_fwd; ++k) {
            const uint8_t* ip = burst::l3(sc.fwd_m[k]);
            bool v6 = (ip[0] >> 4) == 6;
            const uint8_t* a = sc.fwd_addr[k] ? sc.fwd_addr[k] : ip + (v6 ? 24 : 16);
            sc.keys[k] = v6 ? NeighborKey::v6addr(sc.fwd_port[k], a) : NeighborKey::v4(sc.fwd_port[k], a);
            sc.key_ptr[k] = &sc.keys[k];
        }
        for (uint16_t off = 0; off < sc.n_fwd; off += 64) {
            uint16_t cnt = uint16_t(sc.n_fwd - off < 64 ? sc.n_fwd - off : 64);
            nbrs.lookup_bulk(sc.key_ptr + off, cnt, sc.fwd_slot + off);
        }
        if (lbw) lb_remember_neighbors(s, nbrs, *lbw, sc);
        for (uint16_t k = 0; k < sc.n_fwd; ++k) {
            rte_mbuf* m = sc.fwd_m[k];
            uint64_t w = sc.fwd_slot[k] == kNoNeighbor ? 0 : nbrs.word(sc.fwd_slot[k]);
            const uint32_t lb = sc.fwd_lb[k];
            if (!(w & kMacValid)) {
                if (lb)
                    punt(r, m, Punt::lb_neighbor, lb - 1);
                else
                    punt(r, m, Punt::neighbor);
                continue;
            }
            uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
            if (lb) {  // load-balanced: rewritten already, sent as it is
                write_l2(d, w, s.ifaces[sc.fwd_port[k]]);
                enqueue_tx(r, sc.fwd_port[k], m);
            } else if ((d[kEthHdrLen] >> 4) == 4)
                send<false>(bases<false>(s, nbrs), m, d, w, sc.fwd_port[k], r);
            else
                send<true>(bases<true>(s, nbrs), m, d, w, sc.fwd_port[k], r);
        }
    }
    r.list_ports_used(s.tx_ports);
#ifndef NDEBUG
    // Nothing queued beyond the bound: it would never be sent, and its list
    // would grow past its end over the next bursts.
    for (uint16_t p = s.tx_ports; p < kMaxPorts; ++p) RTE_VERIFY(r.tail[p] == r.tx[p]);
#endif
}

}  // namespace sluice::dp
