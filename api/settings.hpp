// Run-time settings of the data plane: the config file's `workers`,
// `neighbor` and `icmp` sections, and what an update request may change.
// Every field here takes effect on reload, except those marked
// "restart only" (the data plane rejects a change to them, naming the field).
#pragma once

#include <cstdint>

namespace sluice::api {

struct IdleBackoff {
    bool enabled = false;          // off by default: bare metal busy-polls
    uint32_t pause_after = 64;     // empty polls before rte_pause() between polls
    uint32_t sleep_after = 1024;   // empty polls before sleeping
    uint32_t sleep_us = 100;       // sleep length once past sleep_after
    friend bool operator==(const IdleBackoff&, const IdleBackoff&) = default;
};

// Read by the workers once per poll loop (published with the tables).
struct WorkerSettings {
    uint16_t burst = 32;           // rx/tx burst size, 1..256
    IdleBackoff idle;
    friend bool operator==(const WorkerSettings&, const WorkerSettings&) = default;
};

// Bounds the data plane needs (it preallocates capacity x max_pending
// queue slots of 8 bytes for packets waiting on resolution).
inline constexpr uint32_t kMaxPendingPerNeighbor = 1024;
inline constexpr uint64_t kMaxPendingSlots = uint64_t(1) << 24;  // 128 MiB of slots

struct NeighborSettings {
    uint32_t capacity = 4096;      // neighbor entries per family (restart only: sizes the table)
    uint32_t reachable_ms = 30000; // RFC 4861 REACHABLE_TIME
    uint32_t retrans_ms = 1000;    // RFC 4861 RETRANS_TIMER
    uint32_t max_probes = 3;       // solicitations before FAILED
    uint32_t max_pending = 16;     // packets queued per unresolved neighbor
    uint32_t gc_ms = 60000;        // FAILED/unused entries are deleted after this
    friend bool operator==(const NeighborSettings&, const NeighborSettings&) = default;
};

struct IcmpSettings {
    uint32_t rate_pps = 1000;      // token bucket refill, ICMP errors per second; 0 sends none
    uint32_t burst = 100;          // bucket depth
    friend bool operator==(const IcmpSettings&, const IcmpSettings&) = default;
};

}  // namespace sluice::api
