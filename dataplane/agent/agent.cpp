#include "dataplane/agent/agent.hpp"

#include <chrono>
#include <cstdio>

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "config/load.hpp"
#include "dataplane/signals.hpp"

namespace sluice::dp {

namespace {

nbr::Params fsm_params(const config::NeighborConfig& n) {
    return nbr::Params{uint64_t(n.reachable_ms) * 1000000, uint64_t(n.retrans_ms) * 1000000,
                       uint64_t(n.gc_ms) * 1000000, n.max_probes};
}

constexpr uint64_t kTimerScanNs = 10'000'000;   // neighbor timers every 10 ms
constexpr unsigned kAgentBurst = 64;
constexpr uint64_t kSignalPollNs = 1'000'000;   // a signalfd read per ms at most

}  // namespace

Agent::Agent(Shared& sh, std::shared_ptr<const config::Config> cfg)
    : sh_(sh),
      cfg_(cfg),
      c_(*sh.cores.back()),
      fsm_(fsm_params(cfg->neighbor)),
      pending_(sh.neighbors->capacity(), cfg->neighbor.max_pending),
      icmp_bucket_(cfg->icmp.rate_pps, cfg->icmp.burst),
      meta_(sh.neighbors->capacity()),
      timers_(sh.neighbors->capacity()),
      neighbor_view_(sh.neighbors->capacity()) {}

Agent::~Agent() = default;

uint64_t Agent::now_ns() const {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
}

bool Agent::start(std::string* error) {
    if (!build_and_publish(cfg_, error)) return false;
    source_ = cfg_->source;
    return true;
}

void Agent::run(SignalSource& signals, std::atomic<bool>& stop) {
    rte_mbuf* pkts[kAgentBurst];
    uint64_t next_signal_poll = 0;   // first pass: signals that came during start-up
    while (!stop.load(std::memory_order_relaxed)) {
        unsigned work = 0;
        for (rte_ring* r : sh_.punt_rings) {
            unsigned n = rte_ring_sc_dequeue_burst(r, reinterpret_cast<void**>(pkts), kAgentBurst, nullptr);
            for (unsigned i = 0; i < n; ++i) handle(pkts[i]);
            work += n;
        }
        uint64_t now = now_ns();
        if (now >= next_signal_poll) {
            SignalSource::Arrived sig = signals.poll();
            if (sig.stop) stop.store(true);   // a reload asked with it is moot
            else if (sig.reload) reload();
            next_signal_poll = now + kSignalPollNs;
        }
        if (now >= next_timer_scan_) {
            neighbor_timers(now);
            next_timer_scan_ = now + kTimerScanNs;
        }
        sh_.rcu->reclaim();
        // The agent shares its core with the OS and telemetry: back off
        // when there is nothing to do (slow-path latency stays ~50 us).
        if (work == 0) rte_delay_us_sleep(50);
    }
}

void Agent::drain_all() {
    rte_mbuf* m = nullptr;
    for (rte_ring* r : sh_.punt_rings)
        while (rte_ring_sc_dequeue(r, reinterpret_cast<void**>(&m)) == 0) drop(m, DropReason::shutdown);
    for (uint32_t s = 0; s < sh_.neighbors->capacity(); ++s)
        pending_.drain(s, [&](rte_mbuf* p) { drop(p, DropReason::shutdown); });
}

std::string Agent::config_source() {
    std::lock_guard<std::mutex> g(view_mu_);
    return source_;
}

}  // namespace sluice::dp
