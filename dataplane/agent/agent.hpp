// The agent runs on the main lcore: everything the workers hand off (ARP,
// ND, ICMP to and from the router, packets waiting for a neighbor), the
// neighbor state machines, config reload and snapshot publication, and the
// data behind telemetry. Nothing here is on the per-packet fast path.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "dataplane/counters.hpp"
#include "dataplane/fib/snapshot.hpp"
#include "dataplane/neighbor/fsm.hpp"
#include "dataplane/neighbor/pending_queue.hpp"
#include "dataplane/neighbor/table.hpp"
#include "dataplane/neighbor/table_view.hpp"
#include "dataplane/neighbor/timer_wheel.hpp"
#include "dataplane/neighbor/token_bucket.hpp"
#include "dataplane/rcu/domain.hpp"
#include "dataplane/worker/punt.hpp"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

namespace sluice::dp {

class SignalSource;

struct PortRuntime {
    bool open = false;
    uint16_t port_id = 0;
    std::string name;
    std::string device;
    std::string driver;
    std::array<uint8_t, 6> mac{};
    uint16_t rx_queues = 0;
    uint16_t tx_queues = 0;
    bool rss = false;
};

// Everything the agent shares with workers and telemetry; owned by main.
struct Shared {
    rte_mempool* pool = nullptr;
    std::unique_ptr<RcuDomain> rcu;
    std::unique_ptr<NeighborTable> neighbors;
    std::unique_ptr<Published<Snapshot>> snapshot;
    std::vector<rte_ring*> punt_rings;            // one per worker
    std::vector<std::unique_ptr<CoreCounters>> cores;  // workers..., then the agent
    std::unique_ptr<QueueCounters[][kMaxQueuesPerPort]> queues;
    std::vector<PortRuntime> ports;               // indexed by DPDK port id
    uint16_t agent_txq = 0;                       // TX queue index the agent uses
    std::string config_path;
};

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
    Agent(Shared& sh, std::shared_ptr<const config::Config> cfg);
    ~Agent();

    // Builds and publishes the first snapshot; false + message on failure.
    bool start(std::string* error);
    // Main-lcore loop until `stop`. Asks `signals` what arrived: SIGHUP
    // reloads, SIGINT/SIGTERM set `stop` (which the workers watch too).
    void run(SignalSource& signals, std::atomic<bool>& stop);
    // Re-reads the config file; applies it or logs why not. Returns applied.
    bool reload();
    // Frees everything queued (shutdown).
    void drain_all();

    uint64_t version() const { return version_.load(); }
    const IcmpCounters& icmp() const { return icmp_; }
    // Any thread (telemetry): reads only the view's own locked copy, O(page_size).
    NeighborPage neighbors_page(uint32_t page, uint32_t page_size);
    std::string config_source();

private:
    // agent/dispatch.cpp
    void handle(rte_mbuf* m);
    void handle_arp(rte_mbuf* m);
    void handle_local4(rte_mbuf* m);
    void handle_local6(rte_mbuf* m);
    void handle_nd(rte_mbuf* m);
    // agent/icmp_errors.cpp
    void icmp_error(rte_mbuf* m, Punt why);
    // Sends an ICMP/ICMPv6 error quoting m (m itself is left to the caller),
    // subject to RFC 1812 4.3.2.7 / RFC 4443 2.4(e) and the rate limit.
    void icmp_send(const rte_mbuf* m, bool v6, uint8_t type, uint8_t code, uint32_t rest);
    uint16_t egress_mtu(const rte_mbuf* m);
    // agent/tx.cpp
    void route_and_send(rte_mbuf* m, bool forwarded);
    void send_on(uint16_t port, rte_mbuf* m);
    void send_with_mac(uint16_t port, rte_mbuf* m, uint64_t mac_word);
    rte_mbuf* alloc();
    void drop(rte_mbuf* m, DropReason why);
    // agent/neighbors.cpp
    uint32_t gateway_slot(uint16_t port, const config::IpAddr& gw);
    uint32_t ensure_slot(const NeighborKey& k);
    void apply(uint32_t slot, uint32_t actions);
    void solicit(uint32_t slot, bool unicast);
    void neighbor_timers(uint64_t now);
    void learn(uint16_t port, const uint8_t* addr, bool v6, const std::array<uint8_t, 6>& mac, bool confirmed,
               bool override_flag, bool create);
    void apply_static_neighbors(const config::Config& cfg);
    // After any change to a slot's entry (FSM event, creation, deletion):
    // re-arms its timer with the entry's deadline and refreshes its row in
    // the telemetry view. Every change goes through apply() or ensure_slot().
    void sync_slot(uint32_t slot);
    // agent/reload.cpp
    bool build_and_publish(std::shared_ptr<const config::Config> cfg, std::string* error);

    struct SlotMeta {
        nbr::Entry fsm;
        bool is_static = false;
        bool gateway = false;   // referenced by the current snapshot
    };

    uint64_t now_ns() const;

    Shared& sh_;
    std::shared_ptr<const config::Config> cfg_;
    CoreCounters& c_;
    nbr::Fsm fsm_;
    nbr::PendingQueues<rte_mbuf*> pending_;
    nbr::TokenBucket icmp_bucket_;
    std::vector<SlotMeta> meta_;
    std::vector<uint32_t> new_gateways_;   // created by the snapshot being built
    std::vector<uint32_t> static_slots_;   // slots of the configured static neighbors
    nbr::TimerWheel timers_;               // neighbor deadlines, by slot
    std::vector<uint32_t> due_;            // scratch for neighbor_timers
    nbr::TableView neighbor_view_;         // what /sluice/neighbors shows; locked inside
    IcmpCounters icmp_;
    std::atomic<uint64_t> version_{0};
    uint64_t next_timer_scan_ = 0;
    std::mutex view_mu_;
    std::string source_;
};

}  // namespace sluice::dp
