#include "dataplane/worker/worker.hpp"

#include <memory>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include "dataplane/lb/lb_worker.hpp"
#include "dataplane/lb/stage.hpp"
#include "dataplane/rdma/rdma_ports.hpp"
#include "dataplane/rdma/worker_rdma.hpp"
#include "dataplane/sleep.hpp"
#include "dataplane/tx_contract.hpp"
#include "dataplane/worker/forward.hpp"

namespace sluice::dp {

namespace {

// Every packet of the burst ends here in exactly one of: forwarded (what
// the TX queue accepted), punted (what the ring took) or a drop reason
// (forward_burst's, tx_full, punt_ring_full), so that per worker
// rx = forwarded + punted + dropped (docs/architecture.md, "Counters").
void flush(const WorkerSetup& w, BurstResult& r) {
    CoreCounters& c = *w.counters;
    uint32_t forwarded = 0;
    for (uint16_t i = 0; i < r.n_ports_used; ++i) {
        uint16_t port = r.ports_used[i];
        uint16_t cnt = r.tx_count[port];
#ifndef NDEBUG
        for (uint16_t k = 0; k < cnt; ++k) RTE_VERIFY(tx_checked(r.tx[port][k], w.pool));
#endif
        // An RDMA peer's port (one test per port used, only when peers are
        // configured): the peer frees and counts what it does not take.
        if (w.rdma) [[unlikely]] {
            if (RdmaPort* rp = w.rdma->by_port[port]) {
                uint16_t sent = rdma_send(*rp, w.id, r.tx[port], cnt, c);
                bump(c.tx[port], sent);
                forwarded += sent;
                continue;
            }
        }
        uint16_t sent = rte_eth_tx_burst(port, uint16_t(w.id), r.tx[port], cnt);
        bump(c.tx[port], sent);
        forwarded += sent;
        if (sent < cnt) {
            c.drop(DropReason::tx_full, cnt - sent);
            rte_pktmbuf_free_bulk(&r.tx[port][sent], cnt - sent);
        }
    }
    if (forwarded) bump(c.forwarded, forwarded);
    if (r.n_punt) {
        unsigned q = rte_ring_sp_enqueue_burst(w.punt_ring, reinterpret_cast<void* const*>(r.punt), r.n_punt, nullptr);
        bump(c.punted, q);
        if (q < r.n_punt) {
            c.drop(DropReason::punt_ring_full, r.n_punt - q);
            rte_pktmbuf_free_bulk(&r.punt[q], r.n_punt - q);
        }
    }
    if (r.n_drop) rte_pktmbuf_free_bulk(r.drop, r.n_drop);
    r.clear();
}

// Once per poll loop: the clock the flow table's timeouts read, the guard's
// rate when a reload changed it, a slice of the idle-flow sweep, and a
// telemetry question if one waits.
void lb_tick(const Root& root, LbWorker& lb, uint64_t hz) {
    uint64_t cyc = rte_get_timer_cycles();
    // In two parts so the product never overflows (hz below 2^33).
    lb.now_ns = cyc / hz * 1000000000u + cyc % hz * 1000000000u / hz;
    lb.now_ms = uint32_t(lb.now_ns / 1000000u);
    const api::LbSettings& s = *root.lb_settings;
    if (s.new_flow_rate != lb.guard_rate || s.new_flow_burst != lb.guard_burst) {
        lb.guard.configure(s.new_flow_rate, s.new_flow_burst);
        lb.guard_rate = s.new_flow_rate;
        lb.guard_burst = s.new_flow_burst;
    }
    // 4 buckets per loop: a million-flow table is swept in well under a
    // minute at any loop rate above a few thousand per second.
    const lb::FlowTimeouts to{{s.tcp_timeout_s * 1000u, s.tcp_closing_timeout_s * 1000u, s.udp_timeout_s * 1000u}};
    lb.flows.sweep(4, lb.now_ms, to);
    if (lb.query.load(std::memory_order_relaxed)) [[unlikely]]
        lb_answer_query(root, lb);
}

}  // namespace

int worker_main(void* arg) {
    const WorkerSetup& w = *static_cast<const WorkerSetup*>(arg);
    CoreCounters& c = *w.counters;
    // Allocated once, before the loop: the loop itself never allocates.
    auto res = std::make_unique<BurstResult>();
    rte_mbuf* pkts[kMaxBurst];
    uint32_t empty_polls = 0;

    const uint64_t hz = rte_get_timer_hz();
    w.rcu->register_reader(w.id);
    while (!w.stop->load(std::memory_order_relaxed)) {
        // One root per loop: tables and settings stay consistent until the
        // quiescent report below.
        const Root* root = w.tables->get();
        const api::WorkerSettings& ws = *root->workers;
        uint16_t burst = ws.burst < kMaxBurst ? ws.burst : kMaxBurst;
        // Without VIPs a router pays nothing per loop for the balancer (the
        // clock and the sweep cost about 4 instructions a packet at bursts
        // of 32 under callgrind) but still answers telemetry's questions.
        if (w.lb) {
            if (root->lb->vip_count) [[unlikely]]
                lb_tick(*root, *w.lb, hz);
            else if (w.lb->query.load(std::memory_order_relaxed)) [[unlikely]]
                lb_answer_query(*root, *w.lb);
        }
        uint32_t got = 0;
        for (const RxQueueRef& q : w.rx) {
            uint16_t n = rte_eth_rx_burst(q.port, q.queue, pkts, burst);
            if (n == 0) continue;
            got += n;
            bump(c.rx[q.port], n);
            bump(w.queue_counters[q.port][q.queue].rx, n);
            forward_burst(*root, *w.neighbors, pkts, n, *res, c, w.lb, q.port);
            flush(w, *res);
        }
        // The RDMA peers this worker owns enter the same path as a port's
        // RX queue (rdma/worker_rdma.hpp).
        for (RdmaPort* rp : w.rdma_owned) {
            uint16_t n = rdma_owner_step(*rp, pkts, burst);
            if (n == 0) continue;
            got += n;
            bump(c.rx[rp->port_id], n);
            bump(w.queue_counters[rp->port_id][0].rx, n);
            forward_burst(*root, *w.neighbors, pkts, n, *res, c, w.lb, rp->port_id);
            flush(w, *res);
        }
        // A copy: the root may be gone after the quiescent report below.
        const api::IdleBackoff idle = ws.idle;
        w.rcu->quiescent(w.id);
        bump(c.polls);
        if (got) {
            empty_polls = 0;
            continue;
        }
        bump(c.idle_polls);
        // Idle back-off (as l3fwd-power / VPP adaptive mode): pause after a
        // run of empty polls, sleep after a longer one. Off on dedicated
        // cores; needed where the worker shares a core.
        if (!idle.enabled) continue;
        ++empty_polls;
        if (empty_polls >= idle.sleep_after) {
            w.rcu->offline(w.id);
            sleep_us(idle.sleep_us);
            w.rcu->online(w.id);
            bump(c.sleeps);
        } else if (empty_polls >= idle.pause_after) {
            rte_pause();
        }
    }
    w.rcu->unregister_reader(w.id);
    return 0;
}

}  // namespace sluice::dp
