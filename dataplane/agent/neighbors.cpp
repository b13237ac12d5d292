// Driving the neighbor state machines (dataplane/neighbor/fsm.hpp): slots in
// the shared table, timers, solicitations (ARP requests, RFC 826; neighbor
// solicitations, RFC 4861 7.2.2), the bounded queues of packets waiting
// for an answer, and the telemetry view of the table.
//
// Cost model: with up to 2^20 slots, nothing periodic may walk the table.
// Deadlines live in a timer wheel (nbr::TimerWheel) and the telemetry rows in
// nbr::TableView; both are updated per slot by sync_slot() whenever an entry
// changes, so a timer tick costs the entries that are due and a telemetry
// request one page.
#include <algorithm>
#include <cstring>

#include <rte_mbuf.h>

#include "dataplane/agent/agent.hpp"
#include "dataplane/pkt/arp.hpp"
#include "dataplane/pkt/nd.hpp"

namespace sluice::dp {

uint32_t Agent::ensure_slot(const NeighborKey& k) {
    uint32_t slot = sh_.neighbors->lookup(k);
    if (slot != kNoNeighbor) return slot;
    slot = sh_.neighbors->insert(k);
    if (slot != kNoNeighbor) {
        meta_[slot] = SlotMeta{};
        // A new entry is Failed with deadline 0, so due at the next tick: the
        // caller moves it on at once (resolve, learn, static), and one nobody
        // moves on (the gateway of a batch that was then refused) is
        // deleted then unless a route or the config holds it.
        sync_slot(slot);
    }
    return slot;
}

// --- what the table builder asks for (through the mailbox) ---------------

std::vector<uint32_t> Agent::acquire_gateways(const std::vector<GatewayRef>& gws) {
    std::vector<uint32_t> slots;
    slots.reserve(gws.size());
    for (const auto& g : gws) {
        NeighborKey k = g.addr.is_v4() ? NeighborKey::v4(g.port, g.addr.bytes.data())
                                       : NeighborKey::v6addr(g.port, g.addr.bytes.data());
        uint32_t slot = ensure_slot(k);
        if (slot != kNoNeighbor) {
            // A gateway not yet resolved is resolved ahead of traffic, once
            // the tables that know its port's addresses are published.
            if (meta_[slot].gateway_refs++ == 0 && !meta_[slot].fsm.mac_valid) new_gateways_.push_back(slot);
        }
        slots.push_back(slot);
    }
    return slots;
}

void Agent::release_gateways(const std::vector<uint32_t>& slots) {
    for (uint32_t slot : slots) {
        if (slot >= meta_.size() || !sh_.neighbors->in_use(slot) || meta_[slot].gateway_refs == 0) continue;
        if (--meta_[slot].gateway_refs > 0 || meta_[slot].is_static) continue;
        // No route holds it any more: an ordinary entry. One that had failed
        // was kept only for the routes (the state machine offered to delete
        // it then): it goes now.
        if (meta_[slot].fsm.state == nbr::State::Failed) apply(slot, nbr::kDelete);
    }
}

void Agent::resolve_new_gateways() {
    for (uint32_t slot : new_gateways_)
        if (sh_.neighbors->in_use(slot) && meta_[slot].gateway_refs > 0 && !meta_[slot].fsm.mac_valid)
            apply(slot, fsm_.on_resolve(meta_[slot].fsm, now_ns()));
    new_gateways_.clear();
}

void Agent::set_static(uint32_t slot, const net::MacAddr& mac) {
    meta_[slot].is_static = true;
    meta_[slot].fsm = fsm_.make_static(mac, now_ns());
    if (std::find(static_slots_.begin(), static_slots_.end(), slot) == static_slots_.end())
        static_slots_.push_back(slot);
    apply(slot, nbr::kPublish | nbr::kFlushPending);
}

// A static entry removed from the config becomes an ordinary learned entry
// (Stale with the same MAC, so traffic continues while it is probed).
void Agent::clear_static(uint32_t slot) {
    if (!meta_[slot].is_static) return;
    meta_[slot].is_static = false;
    static_slots_.erase(std::remove(static_slots_.begin(), static_slots_.end(), slot), static_slots_.end());
    auto mac = meta_[slot].fsm.mac;
    meta_[slot].fsm = nbr::Entry{};
    apply(slot, fsm_.on_hint(meta_[slot].fsm, mac, true, now_ns()));
}

void Agent::apply_neighbor_changes(const std::vector<StaticNeighborOp>& ops,
                                   const std::optional<api::NeighborSettings>& n,
                                   const std::optional<api::IcmpSettings>& i) {
    if (n) {
        // Later state changes use the new timings; a timer already running
        // keeps its deadline (docs/config.md, "Reload").
        fsm_ = nbr::Fsm(nbr::Params{uint64_t(n->reachable_ms) * 1000000, uint64_t(n->retrans_ms) * 1000000,
                                    uint64_t(n->gc_ms) * 1000000, n->max_probes});
        pending_.reshape(n->max_pending, [&](rte_mbuf* p) {
            unpark(p);
            drop(p, DropReason::neighbor_queue_full);
        });
    }
    if (i) icmp_bucket_ = nbr::TokenBucket(i->rate_pps, i->burst);
    for (const auto& op : ops) {
        NeighborKey k = op.addr.is_v4() ? NeighborKey::v4(op.port, op.addr.bytes.data())
                                        : NeighborKey::v6addr(op.port, op.addr.bytes.data());
        if (op.set) {
            uint32_t slot = ensure_slot(k);
            if (slot == kNoNeighbor) {
                // Not a packet: counted apart, so the drop reasons stay packets.
                bump(c_.agent.neighbor_slot_refused);
                continue;
            }
            set_static(slot, op.mac);
        } else if (uint32_t slot = sh_.neighbors->lookup(k); slot != kNoNeighbor) {
            clear_static(slot);
        }
    }
}

void Agent::apply(uint32_t slot, uint32_t a) {
    SlotMeta& m = meta_[slot];
    NeighborTable& t = *sh_.neighbors;
    uint16_t port = t.key(slot).port;
    if (a & nbr::kInvalidate) t.invalidate(slot);
    if (a & nbr::kPublish) t.set_mac(slot, m.fsm.mac);
    if (a & nbr::kSendMulticast) solicit(slot, false);
    if (a & nbr::kSendUnicast) solicit(slot, true);
    if (a & nbr::kFlushPending) {
        uint64_t w = mac_word(m.fsm.mac);
        pending_.drain(slot, [&](rte_mbuf* p) {
            unpark(p);
            send_with_mac(port, p, w);
        });
    }
    if (a & nbr::kDropPending) drop_pending(slot, DropReason::neighbor_failed);
    if ((a & nbr::kDelete) && !m.is_static && m.gateway_refs == 0) {
        drop_pending(slot, DropReason::neighbor_failed);
        t.remove(slot, *sh_.rcu);
        m = SlotMeta{};
    }
    sync_slot(slot);
}

void Agent::sync_slot(uint32_t slot) {
    const NeighborTable& t = *sh_.neighbors;
    if (!t.in_use(slot)) {
        timers_.cancel(slot);
        neighbor_view_.erase(slot);
        return;
    }
    const SlotMeta& m = meta_[slot];
    timers_.schedule(slot, m.fsm.deadline_ns);  // kNoDeadline disarms
    const NeighborKey& k = t.key(slot);
    nbr::ViewRow r;
    r.port = k.port;
    r.v6 = k.v6 != 0;
    std::memcpy(r.addr.data(), k.addr, sizeof k.addr);
    r.state = m.fsm.state;
    r.mac_valid = m.fsm.mac_valid;
    r.mac = m.fsm.mac;
    r.is_static = m.is_static;
    r.pending = pending_.size(slot);
    neighbor_view_.set(slot, r);
}

// Every 10 ms: only the entries whose deadline has passed, in deadline order;
// apply() re-arms each with the deadline on_timer gave it.
void Agent::neighbor_timers(uint64_t now) {
    due_.clear();
    timers_.expire(now, due_);
    for (uint32_t s : due_)
        if (sh_.neighbors->in_use(s)) apply(s, fsm_.on_timer(meta_[s].fsm, now));
}

void Agent::learn(uint16_t port, const uint8_t* addr, bool v6, const std::array<uint8_t, 6>& mac, bool confirmed,
                  bool override_flag, bool create) {
    NeighborKey k = v6 ? NeighborKey::v6addr(port, addr) : NeighborKey::v4(port, addr);
    uint32_t slot = sh_.neighbors->lookup(k);
    if (slot == kNoNeighbor) {
        if (!create) return;
        slot = ensure_slot(k);
        if (slot == kNoNeighbor) return;  // table full: learning is best effort
    }
    uint64_t now = now_ns();
    nbr::Entry& e = meta_[slot].fsm;
    apply(slot, confirmed ? fsm_.on_confirmed(e, mac, override_flag, now) : fsm_.on_hint(e, mac, override_flag, now));
}

void Agent::solicit(uint32_t slot, bool unicast) {
    const Interfaces& ifs = *sh_.tables->get()->ifaces;
    const NeighborKey& k = sh_.neighbors->key(slot);
    if (k.port >= kMaxPorts || !ifs.port[k.port].present) return;
    const Interface& ifc = ifs.port[k.port];
    const auto& mac = meta_[slot].fsm.mac;
    rte_mbuf* m = alloc();
    if (!m) return;
    uint8_t* out = rte_pktmbuf_mtod(m, uint8_t*);
    size_t cap = rte_pktmbuf_tailroom(m);
    size_t len = 0;
    if (!k.v6) {
        net::IpAddr target;
        std::memcpy(target.bytes.data(), k.addr, 4);
        const net::Prefix* src = nullptr;
        for (const auto& a : ifc.v4)
            if (net::contains(a, target)) src = &a;
        if (!src && !ifc.v4.empty()) src = &ifc.v4.front();
        if (!src) {
            rte_pktmbuf_free(m);
            return;
        }
        pkt::ArpPacket a{};
        a.op = 1;
        a.sha = ifc.mac;
        a.spa = src->addr.v4_host();
        if (unicast) a.tha = mac;
        a.tpa = target.v4_host();
        std::array<uint8_t, 6> dst = unicast ? mac : std::array<uint8_t, 6>{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        len = pkt::build_arp_frame(out, cap, dst, ifc.mac, a);
    } else {
        net::IpAddr target;
        target.family = net::IpAddr::Family::V6;
        std::memcpy(target.bytes.data(), k.addr, 16);
        const uint8_t* src = ifc.link_local.data();
        for (const auto& a : ifc.v6)
            if (net::contains(a, target)) src = a.addr.bytes.data();
        len = pkt::build_ns_frame(out, cap, ifc.mac, src, k.addr,
                                  unicast ? std::optional<std::array<uint8_t, 6>>(mac) : std::nullopt);
    }
    if (len == 0) {
        rte_pktmbuf_free(m);
        return;
    }
    m->data_len = uint16_t(len);
    m->pkt_len = uint32_t(len);
    send_on(k.port, m);
}

NeighborPage Agent::neighbors_page(uint32_t page, uint32_t page_size) {
    NeighborPage out;
    std::vector<nbr::ViewRow> rows;
    out.summary = neighbor_view_.page(page, page_size, rows);
    out.page = page;
    out.pages = page_size ? uint32_t((uint64_t(out.summary.total) + page_size - 1) / page_size) : 0;
    out.entries.reserve(rows.size());
    for (const nbr::ViewRow& r : rows) {
        NeighborView n;
        n.port = sh_.ports.name(r.port);
        net::IpAddr a;
        a.family = r.v6 ? net::IpAddr::Family::V6 : net::IpAddr::Family::V4;
        std::memcpy(a.bytes.data(), r.addr.data(), r.v6 ? 16 : 4);
        n.address = net::to_string(a);
        n.mac = r.mac_valid ? net::to_string(r.mac) : "";
        n.state = nbr::to_string(r.state);
        n.is_static = r.is_static;
        n.pending = r.pending;
        out.entries.push_back(std::move(n));
    }
    return out;
}

}  // namespace sluice::dp
