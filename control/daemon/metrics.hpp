// The Prometheus endpoint (control.metrics, loopback only; docs/control.md,
// "Metrics"): GET /metrics renders the control process's own metrics (link,
// syncs, desired backend states, health checks) and, fetched from the data
// plane with `show` at each scrape (short timeouts), its port, queue, drop,
// VIP and backend counters. With the data plane away only the control
// process's own metrics are exported, with sluice_dataplane_up 0.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "control/api/client.hpp"
#include "control/daemon/prom.hpp"
#include "control/daemon/service.hpp"

namespace httplib {
class Server;
}

namespace sluice::control {

class ControlArena;

// Health-check latencies per VIP. The checker reports each target's last
// probe (latency, count of checks); sampling it often (every 250 ms) and
// counting each completed probe since the previous sample at the latest
// latency turns that into a histogram. Exact for intervals above the
// sampling period; with several probes between two samples the older ones
// are counted at the latest one's latency.
class HealthAggregator {
public:
    explicit HealthAggregator(ControlArena* arena) : arena_(arena) {}
    static std::vector<double> bounds();
    // Thousands of targets: processed in parallel on the control arena
    // (per-thread histograms, merged at the end).
    void sample(const std::vector<HealthRow>& rows);
    std::map<std::string, prom::Histogram> histograms() const;

private:
    ControlArena* arena_;
    mutable std::mutex mu_;
    std::unordered_map<uint64_t, uint64_t> prev_checks_;  // target id -> checks at the last sample
    std::map<std::string, prom::Histogram> per_vip_;
};

class Metrics {
public:
    Metrics(Service& service, std::string dp_socket,
            std::chrono::milliseconds dp_timeout = std::chrono::milliseconds(500));
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    // One scrape's families / text. Never throws.
    std::vector<prom::Family> collect();
    std::string scrape();

    // "127.0.0.1:9642", "[::1]:9642", "localhost:9642": loopback only (the
    // endpoint has no authentication). False and *err otherwise.
    static bool parse_listen(const std::string& text, std::string* host, int* port, std::string* err);
    // Serves GET /metrics on `listen` and starts the health sampler.
    bool start(const std::string& listen, std::string* err);
    void stop();
    HealthAggregator& aggregator() { return agg_; }

private:
    void own(std::vector<prom::Family>& out);
    bool dataplane(std::vector<prom::Family>& out);

    Service& service_;
    std::string dp_socket_;
    std::chrono::milliseconds dp_timeout_;
    HealthAggregator agg_;
    std::mutex client_mu_;
    channel::Client client_;

    std::unique_ptr<httplib::Server> http_;
    std::thread http_thread_, sampler_;
    std::mutex stop_mu_;
    std::condition_variable stop_cv_;
    bool stopping_ = false;
};

}  // namespace sluice::control
