// Per-core counters. Each block is written by exactly one lcore (a worker or
// the agent) and read by the telemetry thread, so there is no sharing on the
// write side: a relaxed load + store (not an atomic RMW) compiles to a plain
// add, and readers still see whole 64-bit values.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "dataplane/drop_reasons.hpp"

namespace sluice::dp {

inline constexpr uint16_t kMaxPorts = 32;
inline constexpr uint16_t kMaxQueuesPerPort = 64;

using Counter = std::atomic<uint64_t>;

inline void bump(Counter& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
inline uint64_t read(const Counter& c) { return c.load(std::memory_order_relaxed); }
// The total of a block of counters: a core's drops by reason, rx by port, ...
template <size_t N>
uint64_t read_sum(const Counter (&cs)[N]) {
    uint64_t t = 0;
    for (const auto& x : cs) t += read(x);
    return t;
}
// For a level (packets held right now) rather than a total.
inline void lower(Counter& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
}

// The agent's own accounting (docs/architecture.md, "Counters"). Two
// identities, exact whenever the data plane is quiet:
//   punted_in = handled + drops[] (of the agent's block) + pending
//   every packet the agent built itself = originated + originated_drops[] + originated_pending
// Punted packets and the agent's own never mix: an ICMP error or a
// solicitation is not a punted packet's fate.
struct AgentCounters {
    Counter punted_in{};             // dequeued from the workers' punt rings
    Counter handled{};               // punted packets consumed or sent on (a reply in place included)
    Counter pending{};               // punted packets queued for a neighbor now (a level)
    Counter originated{};            // packets the agent built and transmitted
    Counter originated_pending{};    // of those built, queued for a neighbor now (a level)
    Counter originated_drops[kDropReasonCount]{};  // built (or wanted: no_mbuf) and not sent
    Counter neighbor_slot_refused{};  // a static neighbor found the table full (no packet involved)
};

// Every packet a worker takes in ends in exactly one of forwarded (accepted
// by rte_eth_tx_burst), punted (enqueued on the punt ring) or one drop
// reason: per worker, sum(rx) = forwarded + punted + sum(drops).
struct alignas(64) CoreCounters {
    Counter drops[kDropReasonCount]{};
    Counter rx[kMaxPorts]{};         // packets received, per port (workers)
    Counter tx[kMaxPorts]{};         // packets sent, per port
    Counter forwarded{};             // accepted by the TX queue (workers)
    Counter punted{};                // enqueued on the punt ring (workers)
    Counter polls{};                 // rx polls
    Counter idle_polls{};            // polls that returned nothing
    Counter sleeps{};                // idle back-off sleeps taken
    AgentCounters agent;             // the agent's block only; zero in the workers'

    void drop(DropReason r, uint64_t n = 1) { bump(drops[size_t(r)], n); }
};

// Per (port, rx queue) receive counts: which queue, hence which core, got
// the traffic (shows RSS spreading).
struct alignas(64) QueueCounters {
    Counter rx{};
};

}  // namespace sluice::dp
