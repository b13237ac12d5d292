// The health checker: every probe of every backend on one thread, event
// driven (epoll over non-blocking sockets, a timer wheel for intervals and
// timeouts), so 10 000 backends at a 1 s interval fit on one core. Probes:
// TCP connect, HTTP/1.1 GET with expected status (path, Host header), and
// UDP request/expected reply (docs/control.md, "Health checks").
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/net.hpp"
#include "config/model.hpp"

namespace sluice::health {

// One backend to probe. `id` is the caller's; a target whose id, address,
// port and spec are unchanged across set_targets() keeps its state.
struct Target {
    uint64_t id = 0;
    net::IpAddr address;
    uint16_t port = 0;  // already resolved (spec.port, else the backend's, else the VIP's)
    config::HealthCheckConfig spec;
    bool initially_up = true;  // state before the first probe (control restart: what the data plane has)
};

struct ProbeResult {
    bool ok = false;
    uint32_t latency_us = 0;  // start of the probe to its outcome
    std::string error;        // failures: "connect: Connection refused", "timeout", "status 503", ...
};

struct TargetStatus {
    uint64_t id = 0;
    bool up = true;
    bool probed = false;       // at least one probe finished
    uint32_t progress = 0;     // consecutive outcomes towards the next change
    uint64_t checks = 0, failures = 0;
    uint64_t transitions = 0;
    ProbeResult last;
};

struct CheckerStats {
    uint64_t probes = 0, failures = 0, timeouts = 0;
    uint64_t socket_errors = 0;  // could not even start a probe (EMFILE, ...)
    uint32_t targets = 0;
    uint32_t in_flight = 0;
    // Added: probes that waited in the FIFO for a free slot (max_in_flight),
    // and the most probes open at once since start.
    uint64_t delayed = 0;
    uint32_t peak_in_flight = 0;
};

class Checker {
public:
    // Called on the checker's thread for every state change (and only then).
    using OnChange = std::function<void(uint64_t id, bool up, const ProbeResult& last)>;
    struct Options {
        std::vector<uint32_t> cpus;  // pin the checker's thread (empty: not pinned)
        uint32_t max_in_flight = 16384;  // probes open at once (fds); more wait for a slot
        uint64_t seed = 0;  // jitter's random source; 0 = from the clock
        // Added: observers for tests and benchmarks, called on the checker's
        // thread when a probe opens its socket and when it has an outcome
        // (empty: none). They must not block.
        std::function<void(uint64_t id)> on_probe_start;
        std::function<void(uint64_t id, const ProbeResult& result)> on_probe_done;
    };
    Checker(Options opt, OnChange on_change);
    ~Checker();
    Checker(const Checker&) = delete;
    Checker& operator=(const Checker&) = delete;

    void start();
    void stop();
    // Any thread. Replaces the target list; unchanged targets keep their
    // state, new ones start with initially_up and their start-up jitter.
    void set_targets(std::vector<Target> targets);
    // Any thread: a copy of every target's status (metrics, CLI).
    std::vector<TargetStatus> snapshot() const;
    CheckerStats stats() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::health
