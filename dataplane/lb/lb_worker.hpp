// A worker's own load balancer state: its flow table, its new-flow guard,
// its per-VIP and per-backend counters, and the mailbox through which the
// telemetry thread asks it which backend a 5-tuple would get (the flow
// table is the worker's alone, so the worker answers). Allocated once per
// worker before the loop, cache-aligned, never shared for writing.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "dataplane/counters.hpp"
#include "dataplane/lb/flow_table.hpp"
#include "dataplane/tables/lb_tables.hpp"

namespace sluice::dp {

struct LbCounters {
    struct Vip {
        Counter packets{}, bytes{}, new_flows{};
    };
    struct Backend {
        Counter packets{}, bytes{}, new_flows{};
    };
    Vip vip[lb::kMaxVips];
    Backend backend[kMaxLbBackends];
    Counter untracked{};      // new flows the guard did not let in (Maglev only)
    Counter rescheduled{};    // tracked flows moved off a backend that went down or away
    Counter icmp_to_backend{};  // ICMP too-big errors delivered to a flow's backend
};

inline constexpr uint32_t kRemovedBackend = UINT32_MAX - 1;

// What /sluice/lb/which asks and the worker answers (lb/stage.cpp, lb_which).
struct WhichQuery {
    lb::FlowKey key;
    // Answer.
    bool matched = false;        // the 5-tuple is for a VIP
    uint32_t vip = 0;            // its slot
    uint32_t maglev_slot = 0;
    uint32_t maglev_backend = UINT32_MAX;   // backend slot, UINT32_MAX: none
    uint32_t tracked_backend = UINT32_MAX;  // backend slot of a live tracked flow; kRemovedBackend:
                                            // tracked to a backend no longer in the tables
    uint32_t chosen = UINT32_MAX;           // where a packet would go now
    const char* reason = "";
};

// An on-link backend's neighbor slot as this worker last found it, so the
// per-packet hash lookup of the backend's address happens once (a lookup
// cost about 200 instructions per packet under callgrind, docs/perf.md).
// Valid while the backend's uid, the egress port and the slot's generation
// are unchanged (NeighborTable::generation).
struct NeighborCacheEntry {
    uint32_t backend_uid = 0;  // 0: empty
    uint32_t slot = 0;
    uint32_t generation = 0;
    uint16_t port = 0;
};

struct alignas(64) LbWorker {
    explicit LbWorker(uint32_t flow_capacity) : flows(flow_capacity) {}
    lb::FlowTable flows;
    lb::NewFlowGuard guard{0, 1};
    uint32_t guard_rate = 0, guard_burst = 0;  // as configured into `guard`
    uint64_t now_ns = 0;                       // set once per poll loop
    uint32_t now_ms = 0;
    std::unique_ptr<LbCounters> counters = std::make_unique<LbCounters>();
    std::unique_ptr<NeighborCacheEntry[]> nbr_cache = std::make_unique<NeighborCacheEntry[]>(kMaxLbBackends);
    // Telemetry's question (null: none); the worker answers and sets `answered`.
    std::atomic<WhichQuery*> query{nullptr};
    std::atomic<WhichQuery*> answered{nullptr};
};

}  // namespace sluice::dp
