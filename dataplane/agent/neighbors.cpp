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

#include "config/load.hpp"
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
        // moves on (the gateway of a snapshot that failed to build) is
        // deleted then unless a route or the config holds it.
        sync_slot(slot);
    }
    return slot;
}

uint32_t Agent::gateway_slot(uint16_t port, const config::IpAddr& gw) {
    NeighborKey k = gw.is_v4() ? NeighborKey::v4(port, gw.bytes.data()) : NeighborKey::v6addr(port, gw.bytes.data());
    bool existed = sh_.neighbors->lookup(k) != kNoNeighbor;
    uint32_t slot = ensure_slot(k);
    // Resolve gateways before traffic needs them, once the snapshot that
    // knows the port's addresses is published (build_and_publish).
    if (slot != kNoNeighbor && !existed) new_gateways_.push_back(slot);
    return slot;
}

void Agent::apply_static_neighbors(const config::Config& cfg) {
    std::vector<uint32_t> configured;
    for (const auto& n : cfg.neighbors) {
        int port = -1;
        for (const auto& p : sh_.ports)
            if (p.open && p.name == n.port) port = p.port_id;
        if (port < 0) continue;
        NeighborKey k = n.address.is_v4() ? NeighborKey::v4(uint16_t(port), n.address.bytes.data())
                                          : NeighborKey::v6addr(uint16_t(port), n.address.bytes.data());
        uint32_t slot = ensure_slot(k);
        if (slot == kNoNeighbor) continue;
        configured.push_back(slot);
        meta_[slot].is_static = true;
        meta_[slot].fsm = fsm_.make_static(n.mac, now_ns());
        apply(slot, nbr::kPublish | nbr::kFlushPending);
    }
    // Static entries dropped from the config become ordinary learned entries
    // (Stale with the same MAC, so traffic continues while they are probed).
    std::sort(configured.begin(), configured.end());
    for (uint32_t s : static_slots_) {
        if (!meta_[s].is_static || std::binary_search(configured.begin(), configured.end(), s)) continue;
        meta_[s].is_static = false;
        auto mac = meta_[s].fsm.mac;
        meta_[s].fsm = nbr::Entry{};
        apply(s, fsm_.on_hint(meta_[s].fsm, mac, true, now_ns()));
    }
    static_slots_ = std::move(configured);
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
        pending_.drain(slot, [&](rte_mbuf* p) { send_with_mac(port, p, w); });
    }
    if (a & nbr::kDropPending) pending_.drain(slot, [&](rte_mbuf* p) { drop(p, DropReason::neighbor_failed); });
    if ((a & nbr::kDelete) && !m.is_static && !m.gateway) {
        pending_.drain(slot, [&](rte_mbuf* p) { drop(p, DropReason::neighbor_failed); });
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
    const Snapshot* s = sh_.snapshot->get();
    const NeighborKey& k = sh_.neighbors->key(slot);
    if (!s || k.port >= kMaxPorts || !s->ifaces[k.port].present) return;
    const Interface& ifc = s->ifaces[k.port];
    const auto& mac = meta_[slot].fsm.mac;
    rte_mbuf* m = alloc();
    if (!m) return;
    uint8_t* out = rte_pktmbuf_mtod(m, uint8_t*);
    size_t cap = rte_pktmbuf_tailroom(m);
    size_t len = 0;
    if (!k.v6) {
        config::IpAddr target;
        std::memcpy(target.bytes.data(), k.addr, 4);
        const config::Prefix* src = nullptr;
        for (const auto& a : ifc.v4)
            if (config::contains(a, target)) src = &a;
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
        config::IpAddr target;
        target.family = config::IpAddr::Family::V6;
        std::memcpy(target.bytes.data(), k.addr, 16);
        const uint8_t* src = ifc.link_local.data();
        for (const auto& a : ifc.v6)
            if (config::contains(a, target)) src = a.addr.bytes.data();
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
        n.port = r.port < sh_.ports.size() ? sh_.ports[r.port].name : std::to_string(r.port);
        config::IpAddr a;
        a.family = r.v6 ? config::IpAddr::Family::V6 : config::IpAddr::Family::V4;
        std::memcpy(a.bytes.data(), r.addr.data(), r.v6 ? 16 : 4);
        n.address = config::to_string(a);
        n.mac = r.mac_valid ? config::to_string(r.mac) : "";
        n.state = nbr::to_string(r.state);
        n.is_static = r.is_static;
        n.pending = r.pending;
        out.entries.push_back(std::move(n));
    }
    return out;
}

}  // namespace sluice::dp
