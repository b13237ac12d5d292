#include "dataplane/lb/stage.hpp"

#include <cstring>

#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_mbuf.h>

#include "dataplane/lb/maglev.hpp"
#include "dataplane/lb/nat_fast.hpp"
#include "dataplane/lb/rewrite.hpp"
#include "dataplane/pkt/bytes.hpp"
#include "dataplane/pkt/checksum.hpp"
#include "dataplane/pkt/flow_hash.hpp"
#include "dataplane/pkt/ip.hpp"
#include "dataplane/tables/fib_direct.hpp"
#include "dataplane/worker/burst_ops.hpp"

namespace sluice::dp {

namespace {

using burst::drop;
using burst::punt;
using pkt::kEthHdrLen;

// Not the ECMP seed (pkt/flow_hash.hpp): the balancer's choice and the
// next router's ECMP choice should not be correlated.
constexpr uint32_t kLbHashSeed = 0x4d61676cu;  // "Magl"
constexpr uint32_t kNone = UINT32_MAX;

enum Flag : uint8_t {
    kTrack = 1,     // TCP or UDP, not a fragment: looked up and inserted
    kSyn = 2,       // TCP SYN without ACK: a new connection
    kFinRst = 4,    // TCP FIN or RST: the flow is closing
    kIcmpErr = 8,   // an ICMP too-big about a VIP flow: looked up, never inserted
    kTcp = 16,
};

// The Maglev slot for a hash: multiply-shift (Lemire) instead of a modulo,
// as uniform over the slots and without a division per packet.
inline uint32_t maglev_slot(const LbVip& v, uint32_t h) { return uint32_t((uint64_t(h) * v.m) >> 32); }
inline uint32_t maglev_backend(const LbVip& v, uint32_t h) {
    uint16_t i = v.slot[maglev_slot(v, h)];
    return i == lb::kNoBackend ? kNone : v.members[i];
}

// The VIP for (protocol, destination port) on an address: exact port first
// (LbTables keeps them first), then the all-ports VIP.
inline uint32_t match_vip(const LbAddress& a, uint8_t proto_bit, uint16_t dport_be) {
    for (const auto& e : a.vips)
        if ((e.protos & proto_bit) && (e.port_be == 0 || e.port_be == dport_be)) return e.vip;
    return kNone;
}

// A non-first fragment has no ports: the all-ports VIP of its protocol, else
// the address's only VIP of that protocol, else none (docs/lb.md).
inline uint32_t match_fragment(const LbAddress& a, uint8_t proto_bit) {
    uint32_t only = kNone, count = 0;
    for (const auto& e : a.vips) {
        if (!(e.protos & proto_bit)) continue;
        if (e.port_be == 0) return e.vip;
        only = e.vip;
        ++count;
    }
    return count == 1 ? only : kNone;
}

inline uint8_t proto_bit(uint8_t proto) {
    return proto == pkt::kProtoTcp ? kLbTcp : proto == pkt::kProtoUdp ? kLbUdp : 0;
}

inline bool fits_or_punt(BurstResult& r, CoreCounters& c, rte_mbuf* m, const uint8_t* ip, bool v6, uint32_t l3_len,
                         uint32_t mtu) {
    if (l3_len <= mtu) return true;
    // RFC 1191 / RFC 8201: the client learns the MTU left after the headers
    // we add. IPv4 without DF would need fragmenting; the balancer does not
    // fragment (as Katran), it drops and counts.
    if (v6 || (ip[6] & 0x40))
        punt(r, m, Punt::lb_too_big, mtu);
    else
        drop(r, c, m, DropReason::lb_too_big);
    return false;
}

// An on-link backend's MAC: from the worker's neighbor cache when it holds
// the backend's slot still (lb_worker.hpp), else through forward_burst's
// bulk lookup, which fills the cache. `dsr`: the packet still names the
// VIP, so the agent must be told which backend to resolve if it must.
// `ov6`: the family of the packet as it leaves (its EtherType is set).
inline void to_onlink_backend(const Root::Hot& s, const LbBackend* backends, const NeighborTable& nbrs, LbWorker& w,
                              BurstScratch& sc, BurstResult& r, rte_mbuf* m, uint16_t port, uint32_t backend, bool dsr,
                              bool ov6) {
    const LbBackend& b = backends[backend];
    const NeighborCacheEntry& e = w.nbr_cache[backend];
    if (e.backend_uid == b.uid && e.port == port && nbrs.generation(e.slot) == e.generation) [[likely]] {
        uint64_t word = nbrs.word(e.slot);
        if (!(word & kMacValid)) [[unlikely]] {
            punt(r, m, Punt::lb_neighbor, dsr ? backend + 1 : 0);
            return;
        }
        burst::write_l2_word(rte_pktmbuf_mtod(m, uint8_t*), word, (ov6 ? s.eth_src6 : s.eth_src4)[port]);
        burst::enqueue_tx(r, port, m);
        return;
    }
    burst::queue_onlink(sc, m, port, b.addr.data(), dsr ? 2 + backend : 1, backend);
}

// Sends a rewritten packet to the next hop's MAC, or queues it for the
// on-link lookup, or hands it to the agent to resolve. Load-balanced
// packets keep their TTL here (NAT decremented it already; DSR and
// encapsulation do not route the client's packet).
inline void to_nexthop(const Root::Hot& s, const LbBackend* backends, const NeighborTable& nbrs, LbWorker& w,
                       BurstScratch& sc, BurstResult& r, rte_mbuf* m, const NhHot& nh, uint32_t backend, bool ov6) {
    if (nh.nbr1 == 0) {  // on-link: the packet's destination is the backend
        to_onlink_backend(s, backends, nbrs, w, sc, r, m, nh.port, backend, false, ov6);
        return;
    }
    uint64_t word = nbrs.word(nh.nbr1 - 1);
    if (!(word & kMacValid)) [[unlikely]] {
        punt(r, m, Punt::lb_neighbor, 0);
        return;
    }
    burst::write_l2_word(rte_pktmbuf_mtod(m, uint8_t*), word, (ov6 ? s.eth_src6 : s.eth_src4)[nh.port]);
    burst::enqueue_tx(r, nh.port, m);
}

// The flow hash (lb_flow_hash), inline with the families apart: through a
// call and the word loop it cost 48 instructions a packet under callgrind,
// inline 35 (IPv4). The same Murmur3 steps over the same words, so the same
// value: every instance keeps choosing the same backend for a flow (a CRC32C
// hash would be cheaper still but would move every untracked flow).
inline uint32_t flow_hash(const lb::FlowKey& k) {
    using pkt::detail::murmur_fmix;
    using pkt::detail::murmur_step;
    uint32_t h = kLbHashSeed;
    uint32_t n;
    if (k.v6) {
        for (unsigned i = 0; i < 16; i += 4) h = murmur_step(h, pkt::load_be32(k.src.data() + i));
        for (unsigned i = 0; i < 16; i += 4) h = murmur_step(h, pkt::load_be32(k.dst.data() + i));
        n = 4 * 8 + 8;
    } else {
        h = murmur_step(h, pkt::load_be32(k.src.data()));
        h = murmur_step(h, pkt::load_be32(k.dst.data()));
        n = 1 * 8 + 8;
    }
    uint8_t ports[4];
    std::memcpy(ports, &k.sport, 2);
    std::memcpy(ports + 2, &k.dport, 2);
    h = murmur_step(h, pkt::load_be32(ports));
    h = murmur_step(h, k.proto);
    return murmur_fmix(h ^ n);
}

// Phase A for one packet: parse, match the VIP, make the flow key and its
// hash. False when the packet was punted or dropped.
// Always inlined (one call site): left to GCC's size heuristics it was
// outlined once the rewrites grew, costing 40 instructions a packet more
// under callgrind (L2 DSR).
[[gnu::always_inline]] inline bool classify_lb(const Root::Hot& s, rte_mbuf* m, uint32_t addr, LbScratch& L,
                                               uint16_t j, BurstResult& r, CoreCounters& c) {
    const LbTables& t = *s.lb;
    uint8_t* ip = burst::l3(m);
    const bool v6 = (ip[0] >> 4) == 6;
    // classify() checked the IP header and that the lengths fit the frame.
    uint32_t end, l4;
    uint8_t proto;
    bool frag, nonfirst;
    if (v6) {
        end = pkt::kIpv6HdrLen + pkt::ipv6_payload_length(ip);
        pkt::Ipv6Chain ch = pkt::ipv6_walk_chain(ip, end, /*stop_at_fragment=*/true);
        if (!ch.ok) {
            drop(r, c, m, DropReason::lb_l4_truncated);
            return false;
        }
        proto = ch.proto;
        l4 = ch.offset;
        frag = ch.fragmented;
        nonfirst = ch.nonfirst_fragment;
    } else {
        end = pkt::load_be16(ip + 2);
        l4 = uint32_t(ip[0] & 0x0f) * 4;
        proto = ip[9];
        frag = pkt::ipv4_is_fragment(ip);
        nonfirst = pkt::ipv4_is_fragment_nonfirst(ip);
    }
    const LbAddress& a = t.addresses[addr];
    lb::FlowKey& k = L.key[j];
    uint8_t flags = 0;
    uint32_t vip = kNone;
    if (proto == (v6 ? pkt::kProtoIcmpv6 : pkt::kProtoIcmp)) {
        if (frag || l4 + 8 > end) {
            drop(r, c, m, DropReason::lb_icmp_unsupported);
            return false;
        }
        uint8_t type = ip[l4], code = ip[l4 + 1];
        if (type == (v6 ? 128 : 8)) {  // echo request: answered from the VIP (docs/lb.md)
            punt(r, m, Punt::vip_echo);
            return false;
        }
        bool too_big = v6 ? type == 2 : (type == 3 && code == 4);
        std::optional<lb::FlowKey> inner = too_big ? lb::icmp_error_inner_flow(ip, end) : std::nullopt;
        // The quote must be of a packet from this VIP address.
        if (!inner || std::memcmp(inner->dst.data(), ip + (v6 ? 24 : 16), v6 ? 16 : 4) != 0) {
            drop(r, c, m, DropReason::lb_icmp_unsupported);
            return false;
        }
        k = *inner;
        vip = match_vip(a, proto_bit(k.proto), k.dport);
        flags = kIcmpErr;
    } else {
        uint8_t bit = proto_bit(proto);
        if (!bit) {
            drop(r, c, m, DropReason::lb_no_vip_port);
            return false;
        }
        // The key written once, in fixed-size pieces per family, instead of
        // zeroing all 40 bytes and then copying addresses of a variable
        // length. IPv4: the address in the first four bytes of each 16, the
        // rest zero (flow_table.hpp).
        if (v6) {
            std::memcpy(k.src.data(), ip + 8, 16);
            std::memcpy(k.dst.data(), ip + 24, 16);
        } else {
            std::memcpy(k.src.data(), ip + 12, 4);
            std::memset(k.src.data() + 4, 0, 12);
            std::memcpy(k.dst.data(), ip + 16, 4);
            std::memset(k.dst.data() + 4, 0, 12);
        }
        k.sport = k.dport = 0;
        k.proto = proto;
        k.v6 = v6;
        k.pad = 0;
        if (nonfirst) {
            vip = match_fragment(a, bit);
            if (vip == kNone) {
                drop(r, c, m, DropReason::lb_fragment);
                return false;
            }
        } else {
            uint32_t need = proto == pkt::kProtoTcp ? 20 : 8;
            // ipv6_walk_chain's offset is past the fragment header already.
            uint32_t at = l4;
            if (at + need > end) {
                drop(r, c, m, DropReason::lb_l4_truncated);
                return false;
            }
            std::memcpy(&k.sport, ip + at, 2);
            std::memcpy(&k.dport, ip + at + 2, 2);
            vip = match_vip(a, bit, k.dport);
            if (!frag) {
                flags = kTrack;
                if (proto == pkt::kProtoTcp) {
                    uint8_t tf = ip[at + 13];
                    flags |= kTcp;
                    if ((tf & 0x12) == 0x02) flags |= kSyn;
                    if (tf & 0x05) flags |= kFinRst;
                }
            }
        }
    }
    if (vip == kNone) {
        drop(r, c, m, DropReason::lb_no_vip_port);
        return false;
    }
    // Fragments: addresses and protocol only, so that every fragment of a
    // datagram, the first included, reaches the same backend.
    if (frag || t.vips[vip].hash == api::LbHash::addresses) k.sport = k.dport = 0;
    L.vip[j] = vip;
    L.flags[j] = flags;
    L.hash[j] = flow_hash(k);
    return true;
}

}  // namespace

uint32_t lb_flow_hash(const lb::FlowKey& k) { return flow_hash(k); }

void lb_burst(const Root::Hot& s, const NeighborTable& nbrs, LbWorker* w, BurstScratch& sc, BurstResult& r,
              CoreCounters& c) {
    const uint16_t n = sc.n_lb;
    sc.n_lb = 0;
    if (!w) {
        for (uint16_t i = 0; i < n; ++i) drop(r, c, sc.lb_m[i], DropReason::lb_no_backend);
        return;
    }
    const LbTables& t = *s.lb;
    LbScratch& L = sc.lb;
    const api::LbSettings& set = *s.lb_settings;
    const lb::FlowTimeouts to{{set.tcp_timeout_s * 1000u, set.tcp_closing_timeout_s * 1000u, set.udp_timeout_s * 1000u}};
    LbCounters& lc = *w->counters;
    // Per-burst constants in locals: the packet and key writes below are
    // byte stores, which may alias anything, so the compiler reloaded these
    // through their owners for every packet.
    const LbVip* const vips = t.vips.data();
    const LbBackend* const backends = t.backends.data();
    const size_t n_backends = t.backends.size();
    const uint32_t* const keeps_flows = t.keeps_flows.data();
    const size_t n_keeps = t.keeps_flows.size();
    lb::FlowTable& flows = w->flows;
    const uint32_t now_ms = w->now_ms;

    // A. Parse, match, hash; the flow table's buckets towards the cache.
    bool ok[kMaxBurst];
    for (uint16_t j = 0; j < n; ++j) {
        ok[j] = classify_lb(s, sc.lb_m[j], sc.lb_addr[j], L, j, r, c);
        if (ok[j] && (L.flags[j] & (kTrack | kIcmpErr))) flows.prefetch(L.hash[j]);
    }

    // The matching entries too, now that the buckets' first lines are on
    // their way (a two-step prefetch: the 1M-flow rate depends on it).
    for (uint16_t j = 0; j < n; ++j)
        if (ok[j] && (L.flags[j] & (kTrack | kIcmpErr))) flows.prefetch_entry(L.hash[j]);

    // Next hop, MTU, rewrite, send: for one packet whose backend is chosen,
    // given the FIB's answer for the backend's address. Always inlined: as a
    // called function its entry, exit and reloads through the closure cost
    // about 24 instructions a packet under callgrind.
    auto finish = [&](rte_mbuf* m, uint32_t h, uint8_t f, const LbVip& v, uint32_t backend,
                      uint64_t nhv) __attribute__((always_inline)) {
        NhKind kind = nh_kind(nhv);
        if (kind != NhKind::single && kind != NhKind::group) [[unlikely]] {
            drop(r, c, m, DropReason::lb_backend_unreachable);
            return;
        }
        uint32_t idx = nh_index(nhv);
        if (kind == NhKind::group) idx = s.members[ecmp_pick(s.groups[idx], h)];
        const NhHot& nh = s.nh[idx];
        const LbBackend& b = backends[backend];
        uint8_t* ip = burst::l3(m);
        const bool v6 = (ip[0] >> 4) == 6;
        const uint32_t l3_len = v6 ? 40u + pkt::load_be16(ip + 4) : pkt::load_be16(ip + 2);
        switch (v.mode) {
        case api::LbMode::l2_dsr:
            // The backend must be on a connected subnet: its own MAC.
            if (nh.nbr1 != 0) {
                drop(r, c, m, DropReason::lb_backend_unreachable);
                return;
            }
            if (!fits_or_punt(r, c, m, ip, v6, l3_len, nh.mtu)) return;
            to_onlink_backend(s, backends, nbrs, *w, sc, r, m, nh.port, backend, true, v6);
            return;
        case api::LbMode::nat: {
            if ((v6 ? ip[7] : ip[8]) <= 1) [[unlikely]] {
                punt(r, m, Punt::ttl);
                return;
            }
            if (!fits_or_punt(r, c, m, ip, v6, l3_len, nh.mtu)) return;
            // The common packet (IPv4, TCP or UDP, no options): rewrite and
            // TTL in one (lb/nat_fast.hpp); the rest below.
            if (!v6 && !(f & kIcmpErr) && lb::nat_v4_dst_and_ttl(ip, l3_len, b.addr.data(), b.port_be)) {
                to_nexthop(s, backends, nbrs, *w, sc, r, m, nh, backend, v6);
                return;
            }
            bool done = (f & kIcmpErr) ? lb::nat_icmp_error_to_backend(ip, l3_len, b.addr.data(), b.port_be)
                                       : lb::nat_set_dst(ip, l3_len, b.addr.data(), b.port_be);
            if (!done) [[unlikely]] {
                drop(r, c, m, (f & kIcmpErr) ? DropReason::lb_icmp_unsupported : DropReason::lb_l4_truncated);
                return;
            }
            if (v6)
                pkt::ipv6_decrement_hop_limit(ip);
            else
                pkt::ipv4_decrement_ttl(ip);
            to_nexthop(s, backends, nbrs, *w, sc, r, m, nh, backend, v6);
            return;
        }
        case api::LbMode::ipip:
        case api::LbMode::gue: {
            const bool gue = v.mode == api::LbMode::gue;
            const bool ov6 = b.v6;
            const uint32_t over = lb::encap_overhead(ov6, gue);
            // The client learns the MTU left after our headers.
            if (nh.mtu <= over || !fits_or_punt(r, c, m, ip, v6, l3_len, nh.mtu - over)) {
                if (nh.mtu <= over) drop(r, c, m, DropReason::lb_too_big);
                return;
            }
            uint8_t plen = ov6 ? v.src6_len : v.src4_len;
            if (plen == 0xff) [[unlikely]] {
                drop(r, c, m, DropReason::lb_backend_unreachable);
                return;
            }
            if (rte_pktmbuf_headroom(m) < over) [[unlikely]] {
                drop(r, c, m, DropReason::lb_no_headroom);
                return;
            }
            // Ethernet padding after the IP packet is cut first: the outer
            // length covers exactly the inner packet.
            if (m->data_len > kEthHdrLen + l3_len) rte_pktmbuf_trim(m, uint16_t(m->data_len - kEthHdrLen - l3_len));
            uint8_t* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, uint16_t(over)));
            lb::Outer o;
            o.v6 = ov6;
            lb::encap_source(ov6 ? v.src6.data() : v.src4.data(), plen, ov6, h, o.src);
            // Fixed-size copies: with the length a variable this memcpy cost
            // 16 instructions a packet under callgrind.
            if (ov6)
                std::memcpy(o.dst, b.addr.data(), 16);
            else
                std::memcpy(o.dst, b.addr.data(), 4);
            uint8_t* out = d + kEthHdrLen;
            uint32_t wrote;
            if (gue)
                wrote = lb::write_gue(out, o, l3_len, lb::gue_source_port(h), v.gue_port_be, h & 0xFFFFF);
            else if (!ov6 && !v6 && l3_len >= pkt::kIpv4MinHdrLen)  // classify_lb saw version 4 or 6
                wrote = lb::write_ipip4(out, o.src, o.dst, l3_len);
            else
                wrote = lb::write_ipip(out, o, l3_len, h & 0xFFFFF);
            if (wrote == 0) [[unlikely]] {
                drop(r, c, m, DropReason::lb_l4_truncated);
                return;
            }
            // Set here too: an on-link backend's packet may be sent by the
            // bulk neighbor lookup's path or by the agent.
            pkt::store_be16(d + 12, ov6 ? pkt::kEtherTypeIpv6 : pkt::kEtherTypeIpv4);
            to_nexthop(s, backends, nbrs, *w, sc, r, m, nh, backend, ov6);
            return;
        }
        }
    };
    // B. The tracked backend, else Maglev's (tracking the new flow when
    // the guard allows).
    uint16_t n4 = 0, n6 = 0;  // queued for the bulk FIB lookups (no inline lookup)
    const bool d4 = s.fib4d.tbl24 != nullptr, d6 = s.fib6d.tbl24 != nullptr;
    // A VIP's packets and bytes are added once per run of packets to it
    // (a burst is mostly one VIP's): two counter updates a burst instead of
    // two a packet. Backends are bumped per packet: with more than one
    // backend, runs are short.
    uint32_t run_vip = kNone;
    uint64_t run_packets = 0, run_bytes = 0;
    auto flush_vip = [&] {
        if (run_vip == kNone) return;
        bump(lc.vip[run_vip].packets, run_packets);
        bump(lc.vip[run_vip].bytes, run_bytes);
    };
    for (uint16_t j = 0; j < n; ++j) {
        if (!ok[j]) continue;
        rte_mbuf* m = sc.lb_m[j];
        const uint32_t vs = L.vip[j];
        const LbVip& v = vips[vs];
        const uint32_t h = L.hash[j];
        const uint8_t f = L.flags[j];
        uint32_t chosen = kNone;
        if (f & (kTrack | kIcmpErr)) {
            lb::FlowValue* fv = flows.find(L.key[j], h, now_ms, to);
            // The common case first: tracked to this VIP, to a backend that
            // keeps its flows (LbTables::keeps_flows, one load). IPv4 L2
            // DSR, 1k flows: 668.0 -> 665.2 instructions a packet under
            // callgrind against the full check alone.
            if (fv && fv->vip == vs && fv->vip_uid == v.uid && fv->backend < n_keeps &&
                keeps_flows[fv->backend] == fv->backend_uid) [[likely]] {
                chosen = fv->backend;
                if ((f & kFinRst)) flows.set_class(L.key[j], h, lb::FlowClass::tcp_closing);
            } else if (fv && fv->vip == vs && fv->vip_uid == v.uid) {
                const LbBackend* b = fv->backend < n_backends ? &backends[fv->backend] : nullptr;
                if (b && b->uid == fv->backend_uid && b->state != api::BackendState::down) {
                    chosen = fv->backend;  // drain keeps its tracked flows
                    if ((f & kFinRst)) flows.set_class(L.key[j], h, lb::FlowClass::tcp_closing);
                } else if (f & kIcmpErr) {
                    chosen = maglev_backend(v, h);
                    if (chosen == kNone) {
                        drop(r, c, m, DropReason::lb_no_backend);
                        continue;
                    }
                } else if (v.on_down == api::DownRule::drop && !(f & kSyn)) {
                    drop(r, c, m, DropReason::lb_backend_down);
                    continue;
                } else {
                    // Down or removed: the backend Maglev gives now, remembered.
                    chosen = maglev_backend(v, h);
                    if (chosen == kNone) {
                        drop(r, c, m, DropReason::lb_no_backend);
                        continue;
                    }
                    flows.rebind(fv, chosen, backends[chosen].uid);
                    bump(lc.rescheduled);
                }
            } else {
                chosen = maglev_backend(v, h);
                if (chosen == kNone) {
                    drop(r, c, m, DropReason::lb_no_backend);
                    continue;
                }
                if (f & kTrack) {
                    if (w->guard.allow(w->now_ns)) {
                        lb::FlowClass cls = !(f & kTcp)  ? lb::FlowClass::udp
                                            : (f & kFinRst) ? lb::FlowClass::tcp_closing
                                                            : lb::FlowClass::tcp;
                        flows.insert(L.key[j], h, {vs, v.uid, chosen, backends[chosen].uid}, cls, now_ms, to);
                        bump(lc.vip[vs].new_flows);
                        bump(lc.backend[chosen].new_flows);
                    } else {
                        bump(lc.untracked);
                    }
                }
            }
        } else {
            chosen = maglev_backend(v, h);
            if (chosen == kNone) {
                drop(r, c, m, DropReason::lb_no_backend);
                continue;
            }
        }
        L.backend[j] = chosen;
        if (vs != run_vip) {
            flush_vip();
            run_vip = vs;
            run_packets = run_bytes = 0;
        }
        ++run_packets;
        run_bytes += m->pkt_len;
        bump(lc.backend[chosen].packets);
        bump(lc.backend[chosen].bytes, m->pkt_len);
        if (f & kIcmpErr) bump(lc.icmp_to_backend);
        // C. The backend's next hop and the rewrite, in the same pass where
        // the inline FIB lookup (tables/fib_direct.hpp) passed its check.
        // Queueing every packet for a later pass stored and reloaded its
        // packet, hash, VIP and backend: IPv4 L2 DSR, 1k flows, 685.3 ->
        // 668.0 instructions a packet under callgrind (with keeps_flows
        // too: NAT 838.8 -> 820.6, IPIP 815.4 -> 810.2). Without the inline
        // lookup: queued for one bulk lookup per family below.
        const LbBackend& b = backends[chosen];
        if (b.v6) {
            if (d6) [[likely]] {
                finish(m, h, f, v, chosen, fib6_direct_lookup(s.fib6d, b.addr.data()));
            } else {
                std::memcpy(L.dst6[n6], b.addr.data(), 16);
                L.i6[n6++] = j;
            }
        } else {
            const uint32_t dst = pkt::load_be32(b.addr.data());
            if (d4) [[likely]] {
                finish(m, h, f, v, chosen, fib_direct_lookup(s.fib4d, dst));
            } else {
                L.dst4[n4] = dst;
                L.i4[n4++] = j;
            }
        }
    }

    flush_vip();

    // Without the inline lookup: one bulk FIB lookup per family for the
    // backends' addresses.
    auto finish_queued = [&](uint16_t j, uint64_t nhv) {
        finish(sc.lb_m[j], L.hash[j], L.flags[j], vips[L.vip[j]], L.backend[j], nhv);
    };
    if (n4) [[unlikely]] {
        rte_fib_lookup_bulk(s.fib4, L.dst4, L.nh4, n4);
        for (uint16_t q = 0; q < n4; ++q) finish_queued(L.i4[q], L.nh4[q]);
    }
    if (n6) [[unlikely]] {
        rte_fib6_lookup_bulk(s.fib6, L.dst6, L.nh6, n6);
        for (uint16_t q = 0; q < n6; ++q) finish_queued(L.i6[q], L.nh6[q]);
    }
}

void lb_remember_neighbors(const Root::Hot& s, const NeighborTable& nbrs, LbWorker& w, const BurstScratch& sc) {
    for (uint16_t k = 0; k < sc.n_fwd; ++k) {
        const uint32_t b = sc.fwd_backend[k];
        const uint32_t slot = sc.fwd_slot[k];
        if (b == UINT32_MAX || slot == kNoNeighbor) continue;
        // The generation is read after the lookup found the key: if the key
        // went meanwhile, the slot's next key changes it again (table.hpp).
        w.nbr_cache[b] = {s.lb->backends[b].uid, slot, nbrs.generation(slot), sc.fwd_port[k]};
    }
}

void lb_nat_return_match(const Root::Hot& s, uint8_t* ip, uint32_t avail, bool v6) {
    const uint8_t* src = ip + (v6 ? 8 : 12);
    uint8_t proto;
    uint32_t l4, end;
    if (v6) {
        end = pkt::kIpv6HdrLen + pkt::ipv6_payload_length(ip);
        pkt::Ipv6Chain ch = pkt::ipv6_walk_chain(ip, end, true);
        if (!ch.ok) return;
        proto = ch.proto;
        l4 = ch.nonfirst_fragment ? 0 : ch.offset;
    } else {
        end = pkt::load_be16(ip + 2);
        proto = ip[9];
        l4 = pkt::ipv4_is_fragment_nonfirst(ip) ? 0 : uint32_t(ip[0] & 0x0f) * 4;
    }
    if (proto != pkt::kProtoTcp && proto != pkt::kProtoUdp) return;
    NatReturnKey k{};
    std::memcpy(k.addr.data(), src, v6 ? 16 : 4);
    k.proto = proto;
    k.v6 = v6;
    const auto& map = s.lb->nat_return;
    auto it = map.end();
    if (l4 && l4 + 4 <= end) {
        std::memcpy(&k.port_be, ip + l4, 2);
        it = map.find(k);
    }
    if (it == map.end()) {
        k.port_be = 0;  // a port-keeping backend of an all-ports VIP
        it = map.find(k);
        if (it == map.end()) return;
    }
    lb::nat_set_src(ip, end <= avail ? end : avail, it->second.vip_addr.data(), it->second.vip_port_be);
}

void lb_answer_query(const Root& root, LbWorker& w) {
    WhichQuery* q = w.query.load(std::memory_order_acquire);
    if (!q) return;
    w.query.store(nullptr, std::memory_order_relaxed);
    const LbTables& t = *root.lb;
    const lb::FlowKey& k0 = q->key;
    net::IpAddr dst = k0.v6 ? net::IpAddr::v6(k0.dst.data()) : net::IpAddr::v4(k0.dst.data());
    uint64_t nhv = k0.v6 ? root.fib6->lookup(k0.dst.data()) : root.fib4->lookup(dst.v4_host());
    q->reason = "not a VIP address";
    if (nh_kind(nhv) == NhKind::vip && nh_index(nhv) < t.addresses.size()) {
        uint32_t vs = match_vip(t.addresses[nh_index(nhv)], proto_bit(k0.proto), k0.dport);
        if (vs == kNone) {
            q->reason = "no VIP serves this protocol and port";
        } else {
            const LbVip& v = t.vips[vs];
            lb::FlowKey k = k0;
            if (v.hash == api::LbHash::addresses) k.sport = k.dport = 0;
            uint32_t h = lb_flow_hash(k);
            q->matched = true;
            q->vip = vs;
            q->maglev_slot = maglev_slot(v, h);
            q->maglev_backend = maglev_backend(v, h);
            q->chosen = q->maglev_backend;
            q->reason = q->chosen == kNone ? "no backend up" : "Maglev";
            const api::LbSettings& set = *root.lb_settings;
            const lb::FlowTimeouts to{{set.tcp_timeout_s * 1000u, set.tcp_closing_timeout_s * 1000u,
                                       set.udp_timeout_s * 1000u}};
            // find() refreshes the entry: asking keeps a flow alive no
            // longer than a packet would, which is acceptable for a probe.
            if (const lb::FlowValue* fv = w.flows.find(k, h, w.now_ms, to);
                fv && fv->vip == vs && fv->vip_uid == v.uid) {
                const LbBackend* b = fv->backend < t.backends.size() ? &t.backends[fv->backend] : nullptr;
                q->tracked_backend = fv->backend;
                if (b && b->uid == fv->backend_uid && b->state != api::BackendState::down) {
                    q->chosen = fv->backend;
                    q->reason = "tracked flow";
                } else {
                    // Down or removed: as the stage treats the next packet
                    // (a SYN would be rescheduled even under drop).
                    bool gone = !b || b->uid != fv->backend_uid;
                    if (gone) q->tracked_backend = kRemovedBackend;
                    q->reason = v.on_down == api::DownRule::drop
                                    ? (gone ? "tracked flow's backend was removed: dropped"
                                            : "tracked flow's backend is down: dropped")
                                    : (gone ? "tracked flow's backend was removed: Maglev"
                                            : "tracked flow's backend is down: Maglev");
                    if (v.on_down == api::DownRule::drop) q->chosen = kNone;
                }
            }
        }
    }
    w.answered.store(q, std::memory_order_release);
}

}  // namespace sluice::dp
