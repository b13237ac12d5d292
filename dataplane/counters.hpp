// Per-core counters. Each block is written by exactly one lcore (a worker or
// the agent) and read by the telemetry thread, so there is no sharing on the
// write side: a relaxed load + store (not an atomic RMW) compiles to a plain
// add, and readers still see whole 64-bit values.
#pragma once

#include <atomic>
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

struct alignas(64) CoreCounters {
    Counter drops[kDropReasonCount]{};
    Counter rx[kMaxPorts]{};         // packets received, per port (workers)
    Counter tx[kMaxPorts]{};         // packets sent, per port
    Counter forwarded{};             // rewritten and handed to TX on the fast path
    Counter punted{};                // handed to the agent
    Counter polls{};                 // rx polls
    Counter idle_polls{};            // polls that returned nothing
    Counter sleeps{};                // idle back-off sleeps taken

    void drop(DropReason r, uint64_t n = 1) { bump(drops[size_t(r)], n); }
};

// Per (port, rx queue) receive counts: which queue, hence which core, got
// the traffic (shows RSS spreading).
struct alignas(64) QueueCounters {
    Counter rx{};
};

}  // namespace sluice::dp
