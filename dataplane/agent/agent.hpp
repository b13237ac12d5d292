// The agent runs on the main lcore: everything the workers hand off (ARP,
// ND, ICMP to and from the router, packets waiting for a neighbor), the
// neighbor state machines, signals, and the data behind telemetry. The
// tables are built elsewhere (the table builder's thread, which asks the
// agent for neighbor slots through its mailbox); the agent reads the
// published root like any reader. Nothing here is on the per-packet fast
// path.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/settings.hpp"
#include "dataplane/agent/mailbox.hpp"
#include "dataplane/counters.hpp"
#include "dataplane/neighbor/fsm.hpp"
#include "dataplane/pkt/eth.hpp"
#include "dataplane/neighbor/pending_queue.hpp"
#include "dataplane/neighbor/table.hpp"
#include "dataplane/neighbor/table_view.hpp"
#include "dataplane/neighbor/timer_wheel.hpp"
#include "dataplane/neighbor/token_bucket.hpp"
#include "dataplane/rcu/domain.hpp"
#include "dataplane/shared.hpp"
#include "dataplane/tables/neighbor_service.hpp"
#include "dataplane/worker/punt.hpp"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

namespace sluice::dp {

// The Ethernet header every frame the agent reads or builds starts with.
inline constexpr uint16_t kEthHdr = pkt::kEthHdrLen;

class SignalSource;

struct IcmpCounters {
    Counter v4_sent[256]{};
    Counter v6_sent[256]{};
    Counter rate_limited{};
};

struct NeighborView {
    std::string port, address, mac, state;
    bool is_static = false;
    uint32_t pending = 0;
};

// One page of the neighbor table for telemetry: counts for the whole table
// and the entries of page `page` (of `pages`).
struct NeighborPage {
    nbr::ViewSummary summary;
    uint32_t page = 0, pages = 0;
    std::vector<NeighborView> entries;
};

class Agent {
public:
    Agent(Shared& sh, const api::NeighborSettings& nbr, const api::IcmpSettings& icmp);
    ~Agent();

    // Main-lcore loop until `stop`. Asks `signals` what arrived: SIGHUP
    // calls `on_reload` (which hands the reload to the table builder),
    // SIGINT/SIGTERM set `stop` (which the workers watch too). Serves the
    // mailbox and reports quiescent to RCU once per iteration; offline
    // when it returns.
    void run(SignalSource& signals, std::atomic<bool>& stop, const std::function<void()>& on_reload);
    // Runs the calls other threads queued (shutdown keeps serving it while
    // the table builder finishes).
    void serve_mailbox() { mailbox_.serve(); }
    Mailbox& mailbox() { return mailbox_; }
    // Frees everything queued (shutdown).
    void drain_all();

    const IcmpCounters& icmp() const { return icmp_; }
    // Any thread (telemetry): reads only the view's own locked copy, O(page_size).
    NeighborPage neighbors_page(uint32_t page, uint32_t page_size);

    // --- for the table builder, on the agent's thread (agent/neighbor_service.cpp)
    std::vector<uint32_t> acquire_gateways(const std::vector<GatewayRef>& gws);
    void release_gateways(const std::vector<uint32_t>& slots);
    void apply_neighbor_changes(const std::vector<StaticNeighborOp>& ops, const std::optional<api::NeighborSettings>& n,
                                const std::optional<api::IcmpSettings>& i);
    void resolve_new_gateways();

    // Punted packets go to the handler registered for their kind (dispatch
    // by table, not a central switch: a module adds its kind and handler).
    using PuntHandler = void (Agent::*)(rte_mbuf*);
    void on_punt(Punt kind, PuntHandler h) { punt_handlers_[uint32_t(kind)] = h; }

private:
    // agent/dispatch.cpp
    void handle(rte_mbuf* m);
    void handle_local(rte_mbuf* m);
    void handle_arp(rte_mbuf* m);
    void handle_local4(rte_mbuf* m);
    void handle_local6(rte_mbuf* m);
    void handle_nd(rte_mbuf* m);
    // agent/icmp_errors.cpp
    void icmp_error(rte_mbuf* m);
    // Sends an ICMP/ICMPv6 error quoting m (m itself is left to the caller),
    // subject to RFC 1812 4.3.2.7 / RFC 4443 2.4(e) and the rate limit.
    void icmp_send(const rte_mbuf* m, bool v6, uint8_t type, uint8_t code, uint32_t rest);
    uint16_t egress_mtu(const rte_mbuf* m);
    // agent/lb_punts.cpp: the load balancer's punts
    void handle_vip_echo(rte_mbuf* m);
    void lb_resolve(rte_mbuf* m);
    // agent/tx.cpp
    void route_and_send(rte_mbuf* m, bool forwarded);
    // Sends m on `port` to the neighbor in `slot` (a valid slot), or parks
    // it there until the neighbor resolves.
    void deliver(rte_mbuf* m, uint16_t port, uint32_t slot);
    void forward_resolved(rte_mbuf* m) { route_and_send(m, true); }
    void send_on(uint16_t port, rte_mbuf* m);
    void send_with_mac(uint16_t port, rte_mbuf* m, uint64_t mac_word);
    rte_mbuf* alloc();
    void drop(rte_mbuf* m, DropReason why);
    // Accounting (docs/architecture.md, "Counters"): every mbuf the agent
    // holds is either a punted packet (its punt kind as the worker set it)
    // or one it built (alloc() marks it kOriginated); drop(), send_on(),
    // consumed() and the pending queue count each under its own identity.
    static constexpr Punt kOriginated = Punt::none;  // no worker punts with it
    static bool originated(const rte_mbuf* m) { return punt_of(m) == kOriginated; }
    void consumed(rte_mbuf* m);                   // a punted packet fully dealt with, nothing sent
    void park(uint32_t slot, rte_mbuf* m);        // queue for a neighbor (or drop neighbor_queue_full)
    void unpark(const rte_mbuf* m);               // taken off a pending queue; its fate follows
    void drop_pending(uint32_t slot, DropReason why);
    // agent/neighbors.cpp
    uint32_t ensure_slot(const NeighborKey& k);
    void apply(uint32_t slot, uint32_t actions);
    void solicit(uint32_t slot, bool unicast);
    void neighbor_timers(uint64_t now);
    void learn(uint16_t port, const uint8_t* addr, bool v6, const std::array<uint8_t, 6>& mac, bool confirmed,
               bool override_flag, bool create);
    void set_static(uint32_t slot, const net::MacAddr& mac);
    void clear_static(uint32_t slot);
    // After any change to a slot's entry (FSM event, creation, deletion):
    // re-arms its timer with the entry's deadline and refreshes its row in
    // the telemetry view. Every change goes through apply() or ensure_slot().
    void sync_slot(uint32_t slot);
    struct SlotMeta {
        nbr::Entry fsm;
        bool is_static = false;
        uint32_t gateway_refs = 0;  // next hops holding this slot (tables/nexthop_registry.hpp)
    };

    uint64_t now_ns() const;

    Shared& sh_;
    CoreCounters& c_;
    Mailbox mailbox_;
    PuntHandler punt_handlers_[kPuntKinds] = {};
    nbr::Fsm fsm_;
    nbr::PendingQueues<rte_mbuf*> pending_;
    nbr::TokenBucket icmp_bucket_;
    std::vector<SlotMeta> meta_;
    std::vector<uint32_t> new_gateways_;   // acquired since the last publication
    std::vector<uint32_t> static_slots_;   // slots of the configured static neighbors
    nbr::TimerWheel timers_;               // neighbor deadlines, by slot
    std::vector<uint32_t> due_;            // scratch for neighbor_timers
    nbr::TableView neighbor_view_;         // what /sluice/neighbors shows; locked inside
    IcmpCounters icmp_;
    uint64_t next_timer_scan_ = 0;
};

}  // namespace sluice::dp
