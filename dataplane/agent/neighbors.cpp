// Driving the neighbor state machines (dataplane/neighbor/fsm.hpp): slots in
// the shared table, timers, solicitations (ARP requests, RFC 826; neighbor
// solicitations, RFC 4861 7.2.2), and the bounded queues of packets waiting
// for an answer.
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
    if (slot != kNoNeighbor) meta_[slot] = SlotMeta{};
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
    std::vector<bool> keep(meta_.size(), false);
    for (const auto& n : cfg.neighbors) {
        int port = -1;
        for (const auto& p : sh_.ports)
            if (p.open && p.name == n.port) port = p.port_id;
        if (port < 0) continue;
        NeighborKey k = n.address.is_v4() ? NeighborKey::v4(uint16_t(port), n.address.bytes.data())
                                          : NeighborKey::v6addr(uint16_t(port), n.address.bytes.data());
        uint32_t slot = ensure_slot(k);
        if (slot == kNoNeighbor) continue;
        keep[slot] = true;
        meta_[slot].is_static = true;
        meta_[slot].fsm = fsm_.make_static(n.mac, now_ns());
        apply(slot, nbr::kPublish | nbr::kFlushPending);
    }
    // Static entries dropped from the config become ordinary learned entries
    // (Stale with the same MAC, so traffic continues while they are probed).
    for (uint32_t s = 0; s < meta_.size(); ++s) {
        if (!meta_[s].is_static || keep[s]) continue;
        meta_[s].is_static = false;
        auto mac = meta_[s].fsm.mac;
        meta_[s].fsm = nbr::Entry{};
        apply(s, fsm_.on_hint(meta_[s].fsm, mac, true, now_ns()));
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
        pending_.drain(slot, [&](rte_mbuf* p) { send_with_mac(port, p, w); });
    }
    if (a & nbr::kDropPending) pending_.drain(slot, [&](rte_mbuf* p) { drop(p, DropReason::neighbor_failed); });
    if ((a & nbr::kDelete) && !m.is_static && !m.gateway) {
        pending_.drain(slot, [&](rte_mbuf* p) { drop(p, DropReason::neighbor_failed); });
        t.remove(slot, *sh_.rcu);
        m = SlotMeta{};
    }
}

void Agent::neighbor_timers(uint64_t now) {
    NeighborTable& t = *sh_.neighbors;
    for (uint32_t s = 0; s < t.capacity(); ++s) {
        if (!t.in_use(s)) continue;
        if (meta_[s].fsm.deadline_ns <= now) apply(s, fsm_.on_timer(meta_[s].fsm, now));
    }
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

void Agent::publish_neighbor_view() {
    std::vector<NeighborView> v;
    const NeighborTable& t = *sh_.neighbors;
    for (uint32_t s = 0; s < t.capacity(); ++s) {
        if (!t.in_use(s)) continue;
        const NeighborKey& k = t.key(s);
        NeighborView n;
        n.port = k.port < sh_.ports.size() ? sh_.ports[k.port].name : std::to_string(k.port);
        config::IpAddr a;
        a.family = k.v6 ? config::IpAddr::Family::V6 : config::IpAddr::Family::V4;
        std::memcpy(a.bytes.data(), k.addr, k.v6 ? 16 : 4);
        n.address = config::to_string(a);
        n.mac = meta_[s].fsm.mac_valid ? config::to_string(meta_[s].fsm.mac) : "";
        n.state = nbr::to_string(meta_[s].fsm.state);
        n.is_static = meta_[s].is_static;
        n.pending = pending_.size(s);
        v.push_back(std::move(n));
    }
    std::lock_guard<std::mutex> g(view_mu_);
    view_ = std::move(v);
}

std::vector<NeighborView> Agent::neighbors_view() {
    std::lock_guard<std::mutex> g(view_mu_);
    return view_;
}

}  // namespace sluice::dp
