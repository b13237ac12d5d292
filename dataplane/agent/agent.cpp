#include "dataplane/agent/agent.hpp"

#include <chrono>
#include <cstdio>

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dataplane/signals.hpp"
#include "dataplane/sleep.hpp"

namespace sluice::dp {

namespace {

nbr::Params fsm_params(const api::NeighborSettings& n) {
    return nbr::Params{uint64_t(n.reachable_ms) * 1000000, uint64_t(n.retrans_ms) * 1000000,
                       uint64_t(n.gc_ms) * 1000000, n.max_probes};
}

constexpr uint64_t kTimerScanNs = 10'000'000;   // neighbor timers every 10 ms
constexpr unsigned kAgentBurst = 64;
constexpr uint64_t kSignalPollNs = 1'000'000;   // a signalfd read per ms at most

}  // namespace

Agent::Agent(Shared& sh, const api::NeighborSettings& nbr, const api::IcmpSettings& icmp)
    : sh_(sh),
      c_(*sh.cores.back()),
      fsm_(fsm_params(nbr)),
      pending_(sh.neighbors->capacity(), nbr.max_pending),
      icmp_bucket_(icmp.rate_pps, icmp.burst),
      meta_(sh.neighbors->capacity()),
      timers_(sh.neighbors->capacity()),
      neighbor_view_(sh.neighbors->capacity()) {
    on_punt(Punt::local, &Agent::handle_local);
    on_punt(Punt::no_route, &Agent::icmp_error);
    on_punt(Punt::ttl, &Agent::icmp_error);
    on_punt(Punt::too_big, &Agent::icmp_error);
    on_punt(Punt::neighbor, &Agent::forward_resolved);
    on_punt(Punt::vip_echo, &Agent::handle_vip_echo);
    on_punt(Punt::lb_too_big, &Agent::icmp_error);
    on_punt(Punt::lb_neighbor, &Agent::lb_resolve);
}

Agent::~Agent() = default;

uint64_t Agent::now_ns() const {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
}

void Agent::run(SignalSource& signals, std::atomic<bool>& stop, const std::function<void()>& on_reload) {
    rte_mbuf* pkts[kAgentBurst];
    uint64_t next_signal_poll = 0;   // first pass: signals that came during start-up
    mailbox_.set_owner(std::this_thread::get_id());
    // The agent reads the published tables (ARP, ND, ICMP, its own sends):
    // a reader like the workers, quiescent once per loop.
    sh_.rcu->register_reader(sh_.agent_reader);
    while (!stop.load(std::memory_order_relaxed)) {
        unsigned work = 0;
        for (rte_ring* r : sh_.punt_rings) {
            unsigned n = rte_ring_sc_dequeue_burst(r, reinterpret_cast<void**>(pkts), kAgentBurst, nullptr);
            for (unsigned i = 0; i < n; ++i) handle(pkts[i]);
            work += n;
        }
        mailbox_.serve();
        uint64_t now = now_ns();
        if (now >= next_signal_poll) {
            SignalSource::Arrived sig = signals.poll();
            if (sig.stop) stop.store(true);   // a reload asked with it is moot
            else if (sig.reload && on_reload) on_reload();
            next_signal_poll = now + kSignalPollNs;
        }
        if (now >= next_timer_scan_) {
            neighbor_timers(now);
            next_timer_scan_ = now + kTimerScanNs;
        }
        sh_.rcu->quiescent(sh_.agent_reader);
        sh_.rcu->reclaim();
        // The agent shares its core with the OS, telemetry and the table
        // builder: back off when there is nothing to do (slow-path latency
        // stays ~50 us). Offline meanwhile, so a grace period never waits
        // for the agent's sleep.
        if (work == 0) {
            sh_.rcu->offline(sh_.agent_reader);
            sleep_us(50);
            sh_.rcu->online(sh_.agent_reader);
        }
    }
    sh_.rcu->unregister_reader(sh_.agent_reader);
}

// Shutdown: what is still in the rings was punted and now ends as a
// `shutdown` drop (so punted_in = handled + dropped + pending still holds),
// and so does every packet waiting for a neighbor.
void Agent::drain_all() {
    rte_mbuf* m = nullptr;
    for (rte_ring* r : sh_.punt_rings)
        while (rte_ring_sc_dequeue(r, reinterpret_cast<void**>(&m)) == 0) {
            bump(c_.agent.punted_in);
            drop(m, DropReason::shutdown);
        }
    for (uint32_t s = 0; s < sh_.neighbors->capacity(); ++s) drop_pending(s, DropReason::shutdown);
}

}  // namespace sluice::dp
